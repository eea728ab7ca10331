//! Operators' memberships in apps (invite, accept, list, change) and the audit log.
//!
//! Every handler states the permission it needs; `domain::authz::authorize` decides, and it
//! checks first that the caller's membership is active. An invitation is a one-time `tsi_`
//! token, stored hashed, valid for 7 days.

use super::admin::{
    app_param, audit_entry, find_tenant, operator_view, page_body, page_request, principal, respond,
};
use super::context::{random, Ctx};
use super::request::{json_body, query};
use super::routes::Params;
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::email::Email;
use crate::domain::ids::{OperatorId, TenantId};
use crate::domain::member::{
    parse_membership_type, Member, MemberId, MemberStatus, OperatorRole, INVITE_TTL_MS,
};
use crate::domain::operator::Operator;
use crate::domain::page::{encode_cursor, finish_page};
use crate::domain::password::Password;
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::time::rfc3339;
use crate::domain::Error;
use crate::store::{MemberStore, OperatorStore, TenancyStore};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

fn member_view(m: &Member) -> Value {
    let roles: Vec<&str> = m.roles.iter().map(|r| r.as_str()).collect();
    json!({
        "id": m.id.to_string(),
        "app_id": m.app_id,
        "email": m.email,
        "operator_id": m.operator_id.map(|id| id.to_string()),
        "tenant_id": m.tenant_id,
        "membership_type": m.membership_type,
        "roles": roles,
        "status": m.status.as_str(),
        "invite_expires_at": m.invite_expires_at_ms.map(rfc3339),
        "created_at": rfc3339(m.created_at_ms),
        "updated_at": rfc3339(m.updated_at_ms),
    })
}

fn role_names(roles: &[OperatorRole]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

#[derive(Deserialize)]
struct InviteBody {
    email: String,
    membership_type: String,
    roles: Vec<String>,
    #[serde(default)]
    tenant_id: Option<String>,
}

/// `POST /admin/apps/{app_id}/members` — permission: `members:write` on the app, or on the
/// tenant the invitation is narrowed to. Answers the member and the one-time invite token.
pub async fn invite(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let caller = principal(ctx, &req).await?;
    let body: InviteBody = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let membership_type = parse_membership_type(&body.membership_type)?;
    let roles = OperatorRole::parse_list(&body.roles)?;
    let tenant_id = body.tenant_id.as_deref().map(TenantId::parse).transpose()?;
    let target = match &tenant_id {
        Some(t) => Target::Tenant(&app_id, t),
        None => Target::App(&app_id),
    };
    authorize(&caller, Some(Permission::MembersWrite), &target).into_result()?;
    match &tenant_id {
        Some(t) => drop(find_tenant(ctx, &app_id, t).await?),
        None => drop(
            ctx.store
                .find_app(&app_id)
                .await?
                .ok_or(Error::AppNotFound)?,
        ),
    }
    let token = PlainSecret::generate(SecretKind::InviteToken, random()?);
    let member = Member {
        id: MemberId::generate(ctx.now_ms, random()?),
        app_id: app_id.clone(),
        operator_id: None,
        email,
        tenant_id,
        membership_type,
        roles,
        status: MemberStatus::Invited,
        invite_expires_at_ms: Some(ctx.now_ms + INVITE_TTL_MS),
        created_at_ms: ctx.now_ms,
        updated_at_ms: ctx.now_ms,
    };
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "member.invite",
        member.id.to_string(),
        member.tenant_id.as_ref(),
        json!({
            "email": member.email,
            "membership_type": member.membership_type,
            "roles": role_names(&member.roles),
        }),
    )?;
    if !ctx
        .store
        .create_member(&member, &token.hash(), &audit)
        .await?
    {
        return Err(Error::Conflict(
            "this email already has a membership in the app".to_owned(),
        ));
    }
    respond(
        201,
        &json!({ "member": member_view(&member), "invite_token": token.expose() }),
    )
}

#[derive(Deserialize)]
struct AcceptBody {
    invite_token: String,
    password: String,
}

/// `POST /admin/invites/accept` — permission: none (the invite token). Creates the operator
/// with this password, or links an existing operator of that email whose password it is.
pub async fn accept(ctx: &Ctx, mut req: Request) -> Result<Response, Error> {
    let body: AcceptBody = json_body(&mut req).await?;
    let token = PlainSecret::from_client(SecretKind::InviteToken, &body.invite_token)
        .ok_or(Error::InvalidToken)?;
    let password = Password::parse(&body.password)?;
    let mut member = ctx
        .store
        .find_invite(&token.hash())
        .await?
        .filter(|m| {
            m.status == MemberStatus::Invited
                && m.invite_expires_at_ms.is_some_and(|at| at > ctx.now_ms)
        })
        .ok_or(Error::InvalidToken)?;
    let policy = ctx.password_policy()?;
    let existing = ctx
        .store
        .find_operator_by_email(member.email.as_str())
        .await?;
    let (operator_id, new_operator) = match existing {
        Some(operator) => {
            let verified = match &operator.password_hash {
                Some(hash) => hash.verify(&password),
                None => {
                    policy.dummy_hash().verify(&password);
                    false
                }
            };
            if !verified {
                return Err(Error::InvalidCredentials);
            }
            (operator.id, None)
        }
        None => {
            let operator = Operator {
                id: OperatorId::generate(ctx.now_ms, random()?),
                email: member.email.clone(),
                password_hash: Some(policy.hash(&password, random()?)),
                is_platform_owner: false,
                created_at_ms: ctx.now_ms,
            };
            (operator.id, Some(operator))
        }
    };
    let actor = Principal::Operator {
        id: operator_id,
        grants: Vec::new(),
    };
    let audit = audit_entry(
        ctx,
        &actor,
        &member.app_id,
        "member.accept",
        member.id.to_string(),
        member.tenant_id.as_ref(),
        json!({}),
    )?;
    let accepted = ctx
        .store
        .accept_invite(
            &token.hash(),
            &operator_id,
            new_operator.as_ref(),
            ctx.now_ms,
            &audit,
        )
        .await?;
    if !accepted {
        return Err(Error::InvalidToken);
    }
    member.status = MemberStatus::Active;
    member.operator_id = Some(operator_id);
    member.invite_expires_at_ms = None;
    member.updated_at_ms = ctx.now_ms;
    let mut body = json!({ "member": member_view(&member) });
    if let Some(operator) = &new_operator {
        body["operator"] = operator_view(operator);
    }
    respond(200, &body)
}

/// `GET /admin/apps/{app_id}/members` — permission: `members:read` on the app.
pub async fn list(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let caller = principal(ctx, &req).await?;
    authorize(
        &caller,
        Some(Permission::MembersRead),
        &Target::App(&app_id),
    )
    .into_result()?;
    let page = page_request(&req)?;
    ctx.store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    let members = ctx
        .store
        .list_members(&app_id, page.after.as_deref(), page.limit + 1)
        .await?;
    let (members, next) = finish_page(members, page.limit, |m| m.id.to_string());
    respond(
        200,
        &page_body(members.iter().map(member_view).collect(), next),
    )
}

#[derive(Deserialize)]
struct PatchBody {
    status: Option<String>,
    roles: Option<Vec<String>>,
}

/// `PATCH /admin/apps/{app_id}/members/{member_id}` — permission: `members:write` on the
/// member's tenant if it is narrowed to one, else on the app. Suspends, reactivates, ends
/// (`left` is final) or re-roles a membership; the last active admin of an app cannot be
/// suspended, removed or stripped of `admin` (`409 conflict`).
pub async fn patch(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let member_id = MemberId::parse(params.get("member_id").map(String::as_str).unwrap_or(""))?;
    let caller = principal(ctx, &req).await?;
    let body: PatchBody = json_body(&mut req).await?;
    let Some(member) = ctx.store.find_member(&app_id, &member_id).await? else {
        // Say "not found" only to someone who could have changed it.
        authorize(
            &caller,
            Some(Permission::MembersWrite),
            &Target::App(&app_id),
        )
        .into_result()?;
        return Err(Error::MemberNotFound);
    };
    let target = match &member.tenant_id {
        Some(t) => Target::Tenant(&app_id, t),
        None => Target::App(&app_id),
    };
    authorize(&caller, Some(Permission::MembersWrite), &target).into_result()?;
    let mut updated = member.clone();
    if let Some(status) = body.status.as_deref() {
        updated.status = MemberStatus::parse(status)?;
    }
    if let Some(roles) = &body.roles {
        updated.roles = OperatorRole::parse_list(roles)?;
    }
    if !member.status.can_become(updated.status) {
        return Err(Error::Conflict(format!(
            "a membership that is {} cannot become {}",
            member.status.as_str(),
            updated.status.as_str()
        )));
    }
    updated.updated_at_ms = ctx.now_ms;
    let keep_an_admin = member.is_active_app_admin() && !updated.is_active_app_admin();
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "member.update",
        member.id.to_string(),
        member.tenant_id.as_ref(),
        json!({
            "status": { "from": member.status.as_str(), "to": updated.status.as_str() },
            "roles": { "from": role_names(&member.roles), "to": role_names(&updated.roles) },
        }),
    )?;
    let written = ctx
        .store
        .update_member(&updated, member.status, keep_an_admin, &audit)
        .await?;
    if !written {
        return Err(Error::Conflict(if keep_an_admin {
            "the last active admin of an app cannot be suspended, removed or demoted".to_owned()
        } else {
            "the membership changed concurrently; read it again".to_owned()
        }));
    }
    respond(200, &json!({ "member": member_view(&updated) }))
}

/// `GET /admin/apps/{app_id}/audit` — permission: `audit:read` on the app, or on the tenant
/// named by `?tenant_id=` (which a tenant-scoped member must give). Newest first.
pub async fn audit(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let caller = principal(ctx, &req).await?;
    let q = query(&req)?;
    let tenant_id = q.get("tenant_id").map(|t| TenantId::parse(t)).transpose()?;
    let target = match &tenant_id {
        Some(t) => Target::Tenant(&app_id, t),
        None => Target::App(&app_id),
    };
    authorize(&caller, Some(Permission::AuditRead), &target).into_result()?;
    let page = page_request(&req)?;
    ctx.store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    let entries = ctx
        .store
        .list_audit(
            &app_id,
            tenant_id.as_ref(),
            page.after.as_deref(),
            page.limit + 1,
        )
        .await?;
    let has_more = entries.len() > page.limit;
    let entries: Vec<_> = entries.into_iter().take(page.limit).collect();
    let next = has_more
        .then(|| entries.last().map(|e| encode_cursor(&e.id)))
        .flatten();
    let items = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": rfc3339(e.at_ms),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "tenant_id": e.tenant_id,
                "detail": e.detail,
            })
        })
        .collect();
    respond(200, &page_body(items, next))
}
