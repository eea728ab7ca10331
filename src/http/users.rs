//! End users as operators manage them (`/admin/apps/{app_id}/tenants/{tenant_id}/users…`) and
//! their per-app metadata (`/admin/apps/{app_id}/users/{user_id}/metadata`).

use super::context::Ctx;
use super::dto::{ManagedUserBody, ManagedUserEnvelope, MetadataEnvelope, PageBody, Revoked};
use super::extract::{
    allowed, app_id, json_body, optional_json_body, page_request, place, query, user_id,
};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::email::Email;
use crate::domain::names::{PlanTier, RoleName};
use crate::domain::nfkc::nfkc_lowercase;
use crate::domain::password::Password;
use crate::domain::user::UserStatus;
use crate::domain::Error;
use crate::service::users::{self, EndUser, PlanChange};
use crate::store::UserFilter;
use serde::Deserialize;
use serde_json::Value;
use worker::{Request, Response};

fn user(status: u16, user: &EndUser) -> Result<Response, Error> {
    respond::json(status, &ManagedUserEnvelope { user: user.into() })
}

#[derive(Deserialize)]
struct CreateUserBody {
    email: String,
    password: Option<String>,
}

/// `POST …/users` — `users:write`. A user (the password is optional).
pub async fn create(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersWrite), target).await?;
    let body: CreateUserBody = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let password = body.password.as_deref().map(Password::parse).transpose()?;
    let created = users::create(cx, &caller, &app_id, &tenant_id, email, password.as_ref()).await?;
    user(201, &created)
}

/// `GET …/users` — `users:read`. Filters `status`, `plan_tier`, `email` (prefix).
pub async fn list(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersRead), target).await?;
    let q = query(&req)?;
    let filter = UserFilter {
        status: q.get("status").map(|s| UserStatus::parse(s)).transpose()?,
        plan_tier: q.get("plan_tier").map(|t| PlanTier::parse(t)).transpose()?,
        email_prefix: q
            .get("email")
            // Folded as stored addresses are (NFKC, then the runtime's lower case).
            .map(|e| nfkc_lowercase(e.trim()))
            .filter(|e| !e.is_empty()),
    };
    let page = page_request(&q)?;
    let users = users::list(cx, &caller, &app_id, &tenant_id, &filter, &page).await?;
    respond::json(200, &PageBody::of(&users, ManagedUserBody::from))
}

/// `GET …/users/{user_id}` — `users:read`.
pub async fn get(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersRead), target).await?;
    let found = users::get(cx, &caller, &app_id, &tenant_id, &user_id(params)?).await?;
    user(200, &found)
}

#[derive(Deserialize, Default)]
struct SuspendBody {
    reason: Option<String>,
}

async fn set_status(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
    status: UserStatus,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersSuspend), target).await?;
    // The reason is optional, and so is the body.
    let body: SuspendBody = optional_json_body(&mut req).await?;
    let user_id = user_id(params)?;
    let changed = users::set_status(
        cx,
        &caller,
        &app_id,
        &tenant_id,
        &user_id,
        status,
        body.reason.as_deref(),
    )
    .await?;
    user(200, &changed)
}

/// `POST …/users/{user_id}/suspend` — `users:suspend`.
pub async fn suspend(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    set_status(cx, req, params, UserStatus::Suspended).await
}

/// `POST …/users/{user_id}/unsuspend` — `users:suspend`.
pub async fn unsuspend(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    set_status(cx, req, params, UserStatus::Active).await
}

#[derive(Deserialize)]
struct PlanChangeBody {
    plan_tier: Option<String>,
    #[serde(default, deserialize_with = "present")]
    rate_limit_override: Option<Option<i64>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// `PATCH …/users/{user_id}` — `users:plan`. Plan tier and rate-limit override.
pub async fn patch(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersPlan), target).await?;
    let body: PlanChangeBody = json_body(&mut req).await?;
    let change = PlanChange {
        plan_tier: body.plan_tier.as_deref().map(PlanTier::parse).transpose()?,
        rate_limit_override: body.rate_limit_override,
    };
    let user_id = user_id(params)?;
    let changed = users::change_plan(cx, &caller, &app_id, &tenant_id, &user_id, change).await?;
    user(200, &changed)
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

/// `PUT …/users/{user_id}/roles` — `users:write`. The roles assigned by hand.
pub async fn put_roles(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersWrite), target).await?;
    let body: RolesBody = json_body(&mut req).await?;
    let roles = RoleName::parse_assigned(&body.roles)?;
    let user_id = user_id(params)?;
    let changed = users::set_roles(cx, &caller, &app_id, &tenant_id, &user_id, roles).await?;
    user(200, &changed)
}

/// `POST …/users/{user_id}/associate` — `users:write`.
pub async fn associate(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersWrite), target).await?;
    let associated = users::associate(cx, &caller, &app_id, &tenant_id, &user_id(params)?).await?;
    user(200, &associated)
}

/// `POST …/users/{user_id}/sessions/revoke` — `users:suspend`.
pub async fn revoke_sessions(
    cx: &Ctx<'_>,
    req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersSuspend), target).await?;
    let revoked =
        users::revoke_sessions(cx, &caller, &app_id, &tenant_id, &user_id(params)?).await?;
    respond::json(200, &Revoked { revoked })
}

/// `GET /admin/apps/{app_id}/users/{user_id}/metadata` — `users:read` on the app.
pub async fn get_metadata(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(cx, &req, Some(Permission::UsersRead), Target::App(&app_id)).await?;
    let metadata = users::metadata(cx, &caller, &app_id, &user_id(params)?).await?;
    respond::json(200, &MetadataEnvelope { metadata })
}

/// `PATCH /admin/apps/{app_id}/users/{user_id}/metadata` — `users:write` on the app. An RFC
/// 7396 merge patch.
pub async fn patch_metadata(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(cx, &req, Some(Permission::UsersWrite), Target::App(&app_id)).await?;
    let patch: Value = json_body(&mut req).await?;
    let metadata = users::patch_metadata(cx, &caller, &app_id, &user_id(params)?, &patch).await?;
    respond::json(200, &MetadataEnvelope { metadata })
}
