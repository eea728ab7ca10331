//! Operators' memberships (`/admin/apps/{app_id}/members…`), invite acceptance
//! (`/admin/invites/accept`) and the operator roles of an app
//! (`/admin/apps/{app_id}/operator-roles…`).

use super::context::Ctx;
use super::dto::{
    Invited, MemberBody, MemberEnvelope, OperatorRoleBody, OperatorRoleEnvelope, PageBody,
};
use super::extract::{
    allowed, app_id, caller, client_subject_of, json_body, page_request, param, query,
};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::email::Email;
use crate::domain::ids::TenantId;
use crate::domain::member::{MemberId, MemberStatus, MembershipType, OperatorRole};
use crate::domain::password::Password;
use crate::domain::Error;
use crate::service::members::{self, Invitation, MemberPatch};
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct InviteBody {
    email: String,
    membership_type: String,
    roles: Vec<String>,
    #[serde(default)]
    tenant_id: Option<String>,
}

/// `POST /admin/apps/{app_id}/members` — `members:write` on the app, or on the tenant the
/// invitation is narrowed to. The invite token is in this answer only.
pub async fn invite(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    let body: InviteBody = json_body(&mut req).await?;
    let invitation = Invitation {
        email: Email::parse(&body.email)?,
        membership_type: MembershipType::parse(&body.membership_type)?,
        roles: OperatorRole::parse_list(&body.roles)?,
        tenant_id: body.tenant_id.as_deref().map(TenantId::parse).transpose()?,
    };
    let (member, token) = members::invite(cx, &caller, &app_id, invitation).await?;
    respond::json(
        201,
        &Invited {
            member: (&member).into(),
            invite_token: token.expose().to_owned(),
        },
    )
}

#[derive(Deserialize)]
struct AcceptBody {
    invite_token: String,
    password: String,
}

/// `POST /admin/invites/accept` — the invite token.
pub async fn accept(cx: &Ctx<'_>, mut req: Request) -> Result<Response, Error> {
    let body: AcceptBody = json_body(&mut req).await?;
    let password = Password::parse(&body.password)?;
    let client = client_subject_of(&req);
    let accepted = members::accept(cx, &body.invite_token, &password, client).await?;
    respond::json(
        200,
        &MemberEnvelope {
            member: (&accepted.member).into(),
            operator: accepted.new_operator.as_ref().map(Into::into),
        },
    )
}

/// `GET /admin/apps/{app_id}/members` — `members:read` on the app.
pub async fn list(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    let page = page_request(&query(&req)?)?;
    let members = members::list(cx, &caller, &app_id, &page).await?;
    respond::json(200, &PageBody::of(&members, MemberBody::from))
}

#[derive(Deserialize)]
struct PatchBody {
    status: Option<String>,
    roles: Option<Vec<String>>,
    membership_type: Option<String>,
}

/// `PATCH /admin/apps/{app_id}/members/{member_id}` — `members:write` where the membership
/// acts.
pub async fn patch(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let member_id = MemberId::parse(param(params, "member_id"))?;
    let caller = caller(cx, &req).await?;
    let body: PatchBody = json_body(&mut req).await?;
    let patch = MemberPatch {
        status: body
            .status
            .as_deref()
            .map(MemberStatus::parse)
            .transpose()?,
        roles: body
            .roles
            .as_deref()
            .map(OperatorRole::parse_list)
            .transpose()?,
        membership_type: body
            .membership_type
            .as_deref()
            .map(MembershipType::parse)
            .transpose()?,
    };
    let member = members::update(cx, &caller, &app_id, &member_id, patch).await?;
    respond::json(
        200,
        &MemberEnvelope {
            member: (&member).into(),
            operator: None,
        },
    )
}

/// `GET /admin/apps/{app_id}/operator-roles` — `members:read` on the app.
pub async fn list_roles(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let target = Target::App(&app_id);
    let caller = allowed(cx, &req, Some(Permission::MembersRead), target).await?;
    let page = page_request(&query(&req)?)?;
    let roles = members::list_roles(cx, &caller, &app_id, &page).await?;
    respond::json(200, &PageBody::of(&roles, OperatorRoleBody::from))
}

#[derive(Deserialize)]
struct RoleBody {
    permissions: Vec<String>,
}

/// `PUT /admin/apps/{app_id}/operator-roles/{role}` — `members:write` on the app, and every
/// permission the role binds.
pub async fn put_role(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let target = Target::App(&app_id);
    let caller = allowed(cx, &req, Some(Permission::MembersWrite), target).await?;
    let body: RoleBody = json_body(&mut req).await?;
    let permissions = Permission::parse_set(&body.permissions)?;
    let role = members::put_role(cx, &caller, &app_id, param(params, "role"), permissions).await?;
    respond::json(
        200,
        &OperatorRoleEnvelope {
            role: OperatorRoleBody::from(&role),
        },
    )
}

/// `DELETE /admin/apps/{app_id}/operator-roles/{role}` — `members:write` on the app.
pub async fn delete_role(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let target = Target::App(&app_id);
    let caller = allowed(cx, &req, Some(Permission::MembersWrite), target).await?;
    members::delete_role(cx, &caller, &app_id, param(params, "role")).await?;
    respond::no_content()
}
