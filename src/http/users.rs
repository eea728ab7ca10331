//! End-user state managed from `/admin` (and the billing webhook): users of a tenant,
//! suspension, plans and rate limits, roles, association across tenants, metadata.
//!
//! D1 is the source of truth. After each change the user's KV flags document
//! (`flags:<app>:<tenant>:<user>`) is rewritten from what D1 now holds — never patched from a
//! stale copy — and roles and plans are mirrored as `policy:<app>`. Introspection combines the
//! two. A change whose KV rewrite fails is undone in D1 and answered `503`, so D1 and KV never
//! disagree about a suspension.

use super::admin::{
    app_param, audit_entry, find_tenant, page_body, page_request, principal, respond, tenant_param,
};
use super::cache::{self, OnKvFailure};
use super::context::{random, Ctx};
use super::request::{bounded_body, json_body, query};
use super::routes::Params;
use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::email::Email;
use crate::domain::ids::{new_uuid_v7, AppId, TenantId};
use crate::domain::keys::KeyEncryptionKey;
use crate::domain::page::{encode_cursor, PageRequest};
use crate::domain::password::Password;
use crate::domain::policy::{
    merge_patch, parse_name, parse_permission, AppPolicy, Plan, MAX_METADATA_BYTES,
};
use crate::domain::time::rfc3339;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::webhook;
use crate::domain::Error;
use crate::store::{EdgeStore, EventOutcome, TenancyStore, UserFilter, UserStateStore, UserStore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{console_error, Request, Response};

/// The end user as one tenant sees it, with its effective rate limit, roles and permissions.
pub fn user_view(face: &TenantUser, policy: &AppPolicy) -> Value {
    let effective = policy.effective(&face.state());
    json!({
        "id": face.user_id.to_string(),
        "email": face.email,
        "tenant_id": face.tenant_id,
        "status": face.status.as_str(),
        "plan_tier": face.plan_tier,
        "roles": effective.roles,
        "permissions": effective.permissions,
        "rate_limit": effective.rate_limit,
        "created_at": rfc3339(face.created_at_ms),
    })
}

fn user_param(params: &Params) -> Result<UserId, Error> {
    UserId::parse(params.get("user_id").map(String::as_str).unwrap_or(""))
        .map_err(|_| Error::UserNotFound)
}

/// Authenticates, then checks `permission` on the tenant of the path.
async fn allow_tenant(
    ctx: &Ctx,
    req: &Request,
    params: &Params,
    permission: Permission,
) -> Result<(Principal, AppId, TenantId), Error> {
    let (app_id, tenant_id) = (app_param(params)?, tenant_param(params)?);
    let caller = principal(ctx, req).await?;
    authorize(
        &caller,
        Some(permission),
        &Target::Tenant(&app_id, &tenant_id),
    )
    .into_result()?;
    Ok((caller, app_id, tenant_id))
}

/// Authenticates, then checks `permission` on the app of the path.
async fn allow_app(
    ctx: &Ctx,
    req: &Request,
    params: &Params,
    permission: Permission,
) -> Result<(Principal, AppId), Error> {
    let app_id = app_param(params)?;
    let caller = principal(ctx, req).await?;
    authorize(&caller, Some(permission), &Target::App(&app_id)).into_result()?;
    ctx.store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    Ok((caller, app_id))
}

/// The user's face in the tenant; `404 tenant_not_found` / `user_not_found`.
async fn face(
    ctx: &Ctx,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<TenantUser, Error> {
    find_tenant(ctx, app_id, tenant_id).await?;
    ctx.store
        .find_tenant_user(app_id, tenant_id, user_id)
        .await?
        .map(|(_, face)| face)
        .ok_or(Error::UserNotFound)
}

/// Writes `updated` over `current` in D1 (compare-and-swap on the version), then rewrites the
/// flags document from D1. If KV cannot be written, D1 is put back and the answer is `503`.
async fn change_face(
    ctx: &Ctx,
    current: &TenantUser,
    updated: &TenantUser,
    audit: &AuditEntry,
) -> Result<TenantUser, Error> {
    if !ctx
        .store
        .update_face(updated, current.version, audit)
        .await?
    {
        return Err(Error::Conflict(
            "the user changed concurrently; read it again".to_owned(),
        ));
    }
    let fresh = face(ctx, &current.app_id, &current.tenant_id, &current.user_id).await?;
    let published = async {
        let policy = cache::policy(ctx, &fresh.app_id, OnKvFailure::ReadD1).await?;
        ctx.edge()?
            .put_flags(
                &fresh.app_id,
                &fresh.tenant_id,
                &fresh.user_id,
                &fresh.flags(&policy),
            )
            .await
    }
    .await;
    if let Err(e) = published {
        // Undo, so that D1 and the edge keep saying the same thing.
        let undo = AuditEntry {
            id: new_uuid_v7(ctx.now_ms, random()?).to_string(),
            action: "user.revert",
            detail: json!({ "reason": "edge flags could not be written" }),
            ..audit.clone()
        };
        if let Err(undo_error) = ctx.store.update_face(current, fresh.version, &undo).await {
            console_error!("could not undo a user change after a KV failure: {undo_error:?}");
        }
        return Err(e);
    }
    Ok(fresh)
}

async fn respond_user(ctx: &Ctx, status: u16, face: &TenantUser) -> Result<Response, Error> {
    let policy = cache::policy(ctx, &face.app_id, OnKvFailure::ReadD1).await?;
    respond(status, &json!({ "user": user_view(face, &policy) }))
}

#[derive(Deserialize)]
struct CreateUserBody {
    email: String,
    password: Option<String>,
}

/// `POST /admin/apps/{app_id}/tenants/{tenant_id}/users` — permission: `users:write`.
/// Creates a user (for imports and support); without a password it cannot sign in until one
/// is set.
pub async fn create_user(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (caller, app_id, tenant_id) =
        allow_tenant(ctx, &req, params, Permission::UsersWrite).await?;
    let body: CreateUserBody = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let password = body.password.as_deref().map(Password::parse).transpose()?;
    let tenant = find_tenant(ctx, &app_id, &tenant_id).await?;
    let app = ctx
        .store
        .find_app(&app_id)
        .await?
        .ok_or(Error::AppNotFound)?;
    let policy = ctx.app_password_policy(&app.settings)?;
    let user = User {
        app_id: app_id.clone(),
        id: UserId::generate(ctx.now_ms, random()?),
        email,
        password_hash: match &password {
            Some(p) => Some(policy.hash(p, random()?)),
            None => None,
        },
        created_at_ms: ctx.now_ms,
    };
    let face = TenantUser::new(&user, &tenant.id, ctx.now_ms);
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "user.create",
        user.id.to_string(),
        Some(&tenant_id),
        json!({ "has_password": password.is_some() }),
    )?;
    if !ctx.store.create_user_only(&user, &face, &audit).await? {
        return Err(Error::EmailTaken);
    }
    respond_user(ctx, 201, &face).await
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}/users` — permission: `users:read`. Filters
/// `status`, `plan_tier`, `email` (prefix); keyset pages over an index.
pub async fn list_users(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (_, app_id, tenant_id) = allow_tenant(ctx, &req, params, Permission::UsersRead).await?;
    let q = query(&req)?;
    let filter = UserFilter {
        status: q.get("status").map(|s| UserStatus::parse(s)).transpose()?,
        plan_tier: q
            .get("plan_tier")
            .map(|t| parse_name(t, "plan_tier"))
            .transpose()?,
        email_prefix: q
            .get("email")
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty()),
    };
    let page = PageRequest::parse(
        q.get("limit").map(String::as_str),
        q.get("cursor").map(String::as_str),
    )?;
    find_tenant(ctx, &app_id, &tenant_id).await?;
    let mut faces = ctx
        .store
        .list_tenant_users(
            &app_id,
            &tenant_id,
            &filter,
            page.after.as_deref(),
            page.limit + 1,
        )
        .await?;
    let next = if faces.len() > page.limit {
        faces.truncate(page.limit);
        faces.last().map(|f| {
            encode_cursor(&match filter.email_prefix {
                Some(_) => f.email.to_string(),
                None => f.user_id.to_string(),
            })
        })
    } else {
        None
    };
    let policy = cache::policy(ctx, &app_id, OnKvFailure::ReadD1).await?;
    respond(
        200,
        &page_body(faces.iter().map(|f| user_view(f, &policy)).collect(), next),
    )
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}` — permission: `users:read`.
pub async fn get_user(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (_, app_id, tenant_id) = allow_tenant(ctx, &req, params, Permission::UsersRead).await?;
    let face = face(ctx, &app_id, &tenant_id, &user_param(params)?).await?;
    respond_user(ctx, 200, &face).await
}

/// `POST …/users/{user_id}/suspend` — permission: `users:suspend`. At once: sign-in and
/// refresh answer `403 user_suspended`, every token of the user in this tenant introspects
/// inactive. Other tenants are untouched.
pub async fn suspend(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    set_status(ctx, &mut req, params, UserStatus::Suspended).await
}

/// `POST …/users/{user_id}/unsuspend` — permission: `users:suspend`.
pub async fn unsuspend(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    set_status(ctx, &mut req, params, UserStatus::Active).await
}

#[derive(Deserialize, Default)]
struct SuspendBody {
    reason: Option<String>,
}

async fn set_status(
    ctx: &Ctx,
    req: &mut Request,
    params: &Params,
    status: UserStatus,
) -> Result<Response, Error> {
    let (caller, app_id, tenant_id) =
        allow_tenant(ctx, req, params, Permission::UsersSuspend).await?;
    // The reason is optional, and so is the body.
    let raw = bounded_body(req).await?;
    let body: SuspendBody = if raw.iter().all(u8::is_ascii_whitespace) {
        SuspendBody::default()
    } else {
        serde_json::from_slice(&raw)
            .map_err(|e| Error::validation(format!("invalid JSON body: {e}")))?
    };
    let reason: Option<String> = body.reason.map(|r| r.chars().take(500).collect());
    let current = face(ctx, &app_id, &tenant_id, &user_param(params)?).await?;
    let mut updated = current.clone();
    updated.status = status;
    let action = match status {
        UserStatus::Suspended => "user.suspend",
        UserStatus::Active => "user.unsuspend",
    };
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        action,
        current.user_id.to_string(),
        Some(&tenant_id),
        json!({ "reason": reason }),
    )?;
    let fresh = change_face(ctx, &current, &updated, &audit).await?;
    respond_user(ctx, 200, &fresh).await
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

/// `PATCH …/users/{user_id}` — permission: `users:plan`. Sets the plan tier (`422
/// unknown_plan` for a tier the app does not define; `free` always exists) and the
/// rate-limit override (`null` removes it).
pub async fn patch_user(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (caller, app_id, tenant_id) =
        allow_tenant(ctx, &req, params, Permission::UsersPlan).await?;
    let body: PlanChangeBody = json_body(&mut req).await?;
    let current = face(ctx, &app_id, &tenant_id, &user_param(params)?).await?;
    let mut updated = current.clone();
    if let Some(tier) = body.plan_tier {
        let tier = parse_name(&tier, "plan_tier")?;
        if !ctx.store.find_policy(&app_id).await?.has_plan(&tier) {
            return Err(Error::UnknownPlan(tier));
        }
        updated.plan_tier = tier;
    }
    if let Some(limit) = body.rate_limit_override {
        if limit.is_some_and(|l| !(0..=1_000_000_000).contains(&l)) {
            return Err(Error::validation(
                "rate_limit_override must be 0 to 1000000000 or null",
            ));
        }
        updated.rate_limit_override = limit;
    }
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "user.plan",
        current.user_id.to_string(),
        Some(&tenant_id),
        json!({
            "plan_tier": { "from": current.plan_tier, "to": updated.plan_tier },
            "rate_limit_override": { "from": current.rate_limit_override, "to": updated.rate_limit_override },
        }),
    )?;
    let fresh = change_face(ctx, &current, &updated, &audit).await?;
    respond_user(ctx, 200, &fresh).await
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

/// `PUT …/users/{user_id}/roles` — permission: `users:write`. Replaces the roles assigned by
/// hand in this tenant (plan roles come with the plan); `422 unknown_role` for undefined ones.
pub async fn put_user_roles(
    ctx: &Ctx,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (caller, app_id, tenant_id) =
        allow_tenant(ctx, &req, params, Permission::UsersWrite).await?;
    let body: RolesBody = json_body(&mut req).await?;
    let mut roles = Vec::new();
    for role in &body.roles {
        let role = parse_name(role, "role").map_err(|_| Error::UnknownRole(role.clone()))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    ctx.store.find_policy(&app_id).await?.check_roles(&roles)?;
    let current = face(ctx, &app_id, &tenant_id, &user_param(params)?).await?;
    let mut updated = current.clone();
    updated.roles = roles;
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "user.roles",
        current.user_id.to_string(),
        Some(&tenant_id),
        json!({ "roles": { "from": current.roles, "to": updated.roles } }),
    )?;
    let fresh = change_face(ctx, &current, &updated, &audit).await?;
    respond_user(ctx, 200, &fresh).await
}

/// `POST …/users/{user_id}/associate` — permission: `users:write`. The app user may now sign
/// in to this tenant with the same credentials; sessions stay per tenant. `409 email_taken`
/// when the tenant has that email.
pub async fn associate(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (caller, app_id, tenant_id) =
        allow_tenant(ctx, &req, params, Permission::UsersWrite).await?;
    let user_id = user_param(params)?;
    let tenant = find_tenant(ctx, &app_id, &tenant_id).await?;
    let user = ctx
        .store
        .find_user(&app_id, &user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let face = TenantUser::new(&user, &tenant.id, ctx.now_ms);
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "user.associate",
        user_id.to_string(),
        Some(&tenant_id),
        json!({}),
    )?;
    if !ctx.store.associate(&face, &audit).await? {
        return Err(Error::EmailTaken);
    }
    respond_user(ctx, 200, &face).await
}

/// `POST …/users/{user_id}/sessions/revoke` — permission: `users:suspend`. Revokes every
/// session of the user in this tenant (D1, then a KV revocation per session).
pub async fn revoke_sessions(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (caller, app_id, tenant_id) =
        allow_tenant(ctx, &req, params, Permission::UsersSuspend).await?;
    let user_id = user_param(params)?;
    face(ctx, &app_id, &tenant_id, &user_id).await?;
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "user.sessions_revoke",
        user_id.to_string(),
        Some(&tenant_id),
        json!({}),
    )?;
    let revoked = ctx
        .store
        .revoke_user_sessions(&app_id, &tenant_id, &user_id, ctx.now_ms, &audit)
        .await?;
    let edge = ctx.edge()?;
    for session in &revoked {
        edge.put_session_revoked(
            session,
            crate::domain::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS,
        )
        .await?;
    }
    respond(200, &json!({ "revoked": revoked.len() }))
}

/// `GET /admin/apps/{app_id}/users/{user_id}/metadata` — permission: `users:read` (on the app:
/// metadata is shared by all tenants).
pub async fn get_metadata(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (_, app_id) = allow_app(ctx, &req, params, Permission::UsersRead).await?;
    let user_id = user_param(params)?;
    ctx.store
        .find_user(&app_id, &user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let metadata = ctx.store.find_metadata(&app_id, &user_id).await?;
    respond(200, &json!({ "metadata": metadata }))
}

/// `PATCH /admin/apps/{app_id}/users/{user_id}/metadata` — permission: `users:write` on the
/// app. An RFC 7396 merge patch; the result may be at most 16 KiB (`413` beyond).
pub async fn patch_metadata(
    ctx: &Ctx,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (caller, app_id) = allow_app(ctx, &req, params, Permission::UsersWrite).await?;
    let patch: Value = json_body(&mut req).await?;
    let user_id = user_param(params)?;
    ctx.store
        .find_user(&app_id, &user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let mut metadata = ctx.store.find_metadata(&app_id, &user_id).await?;
    merge_patch(&mut metadata, &patch);
    if !metadata.is_object() {
        return Err(Error::validation("metadata must stay a JSON object"));
    }
    if metadata.to_string().len() > MAX_METADATA_BYTES {
        return Err(Error::PayloadTooLarge(MAX_METADATA_BYTES));
    }
    let keys: Vec<&String> = patch
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "user.metadata",
        user_id.to_string(),
        None,
        json!({ "keys": keys }),
    )?;
    ctx.store
        .put_metadata(&app_id, &user_id, &metadata, ctx.now_ms, &audit)
        .await?;
    respond(200, &json!({ "metadata": metadata }))
}

#[derive(Deserialize)]
struct RoleBody {
    permissions: Vec<String>,
}

/// `PUT /admin/apps/{app_id}/roles/{role}` — permission: `roles:write`. Defines an end-user
/// role; every user holding it has the new permissions at once.
pub async fn put_role(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (caller, app_id) = allow_app(ctx, &req, params, Permission::RolesWrite).await?;
    let name = parse_name(params.get("role").map(String::as_str).unwrap_or(""), "role")?;
    let body: RoleBody = json_body(&mut req).await?;
    let mut permissions: Vec<String> = body
        .permissions
        .iter()
        .map(|p| parse_permission(p))
        .collect::<Result<_, _>>()?;
    permissions.sort();
    permissions.dedup();
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "role.put",
        name.clone(),
        None,
        json!({ "permissions": permissions }),
    )?;
    ctx.store
        .put_role(&app_id, &name, &permissions, ctx.now_ms, &audit)
        .await?;
    cache::policy_changed(ctx, &app_id).await?;
    respond(
        200,
        &json!({ "role": { "name": name, "permissions": permissions } }),
    )
}

/// `GET /admin/apps/{app_id}/roles` — permission: `users:read`. The app's end-user roles.
pub async fn list_roles(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (_, app_id) = allow_app(ctx, &req, params, Permission::UsersRead).await?;
    let page = page_request(&req)?;
    let policy = ctx.store.find_policy(&app_id).await?;
    let mut roles: Vec<(&String, &Vec<String>)> = policy
        .roles
        .iter()
        .filter(|(name, _)| page.after.as_deref().is_none_or(|a| name.as_str() > a))
        .collect();
    let next = (roles.len() > page.limit).then(|| encode_cursor(roles[page.limit - 1].0));
    roles.truncate(page.limit);
    let items = roles
        .iter()
        .map(|(name, permissions)| json!({ "name": name, "permissions": permissions }))
        .collect();
    respond(200, &page_body(items, next))
}

#[derive(Deserialize)]
struct PlanBody {
    roles: Vec<String>,
    rate_limit: Option<i64>,
}

/// `PUT /admin/apps/{app_id}/plans/{plan_tier}` — permission: `roles:write`. Defines a plan:
/// its roles (`422 unknown_role` for undefined ones) and default rate limit.
pub async fn put_plan(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (caller, app_id) = allow_app(ctx, &req, params, Permission::RolesWrite).await?;
    let tier = parse_name(
        params.get("plan_tier").map(String::as_str).unwrap_or(""),
        "plan_tier",
    )?;
    let body: PlanBody = json_body(&mut req).await?;
    if body
        .rate_limit
        .is_some_and(|l| !(0..=1_000_000_000).contains(&l))
    {
        return Err(Error::validation(
            "rate_limit must be 0 to 1000000000 or null",
        ));
    }
    let mut roles = body.roles.clone();
    roles.sort();
    roles.dedup();
    ctx.store.find_policy(&app_id).await?.check_roles(&roles)?;
    let plan = Plan {
        roles,
        rate_limit: body.rate_limit,
    };
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "plan.put",
        tier.clone(),
        None,
        json!({ "roles": plan.roles, "rate_limit": plan.rate_limit }),
    )?;
    ctx.store
        .put_plan(&app_id, &tier, &plan, ctx.now_ms, &audit)
        .await?;
    cache::policy_changed(ctx, &app_id).await?;
    respond(
        200,
        &json!({ "plan": { "tier": tier, "roles": plan.roles, "rate_limit": plan.rate_limit } }),
    )
}

fn webhook_context(app_id: &AppId) -> String {
    format!("webhook:{app_id}")
}

fn encryption_key(ctx: &Ctx) -> Result<KeyEncryptionKey, Error> {
    KeyEncryptionKey::from_secret(&ctx.secret("KEY_ENCRYPTION_SECRET").unwrap_or_default())
}

/// `POST /admin/apps/{app_id}/webhook-secret` — permission: `webhooks:write`. Rotates the
/// billing webhook secret and shows the new one this once; the old one stops verifying.
pub async fn rotate_webhook_secret(
    ctx: &Ctx,
    req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (caller, app_id) = allow_app(ctx, &req, params, Permission::WebhooksWrite).await?;
    let secret = format!("whsec_{}", B64URL.encode(random::<32>()?));
    let sealed =
        encryption_key(ctx)?.seal_bytes(&webhook_context(&app_id), secret.as_bytes(), random()?)?;
    let audit = audit_entry(
        ctx,
        &caller,
        &app_id,
        "webhook_secret.rotate",
        app_id.as_str(),
        None,
        json!({}),
    )?;
    ctx.store
        .put_webhook_secret(&app_id, &sealed, ctx.now_ms, &audit)
        .await?;
    respond(200, &json!({ "secret": secret }))
}

#[derive(Deserialize)]
struct BillingEvent {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    tenant_id: String,
    user_id: String,
    plan_tier: String,
}

/// `POST /apps/{app_id}/webhooks/billing`: a signed `plan.updated` event sets the user's plan
/// in a tenant; plan-derived roles follow the plan (hand-assigned ones stay). An event id seen
/// before answers `200` and changes nothing.
pub async fn billing_webhook(
    ctx: &Ctx,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    cache::app(ctx, &app_id, OnKvFailure::ReadD1).await?;
    let body = bounded_body(&mut req).await?;
    let header = req
        .headers()
        .get("Webhook-Signature")
        .ok()
        .flatten()
        .unwrap_or_default();
    let secret = match ctx.store.find_webhook_secret(&app_id).await? {
        Some(sealed) => encryption_key(ctx)?.open_bytes(&webhook_context(&app_id), &sealed)?,
        None => return Err(Error::InvalidSignature),
    };
    let secret = String::from_utf8(secret)
        .map_err(|_| Error::Internal("webhook secret is not text".into()))?;
    if !webhook::verify(&secret, &header, &body, ctx.now_ms.div_euclid(1000)) {
        return Err(Error::InvalidSignature);
    }
    let event: BillingEvent = serde_json::from_slice(&body)
        .map_err(|e| Error::validation(format!("invalid event: {e}")))?;
    if event.kind != "plan.updated" {
        return Err(Error::validation(format!(
            "unknown event type {:?}",
            event.kind
        )));
    }
    if event.event_id.is_empty() || event.event_id.len() > 200 {
        return Err(Error::validation("event_id must be 1 to 200 characters"));
    }
    let tenant_id = TenantId::parse(&event.tenant_id)?;
    let user_id = UserId::parse(&event.user_id)?;
    if ctx.store.has_event(&app_id, &event.event_id).await? {
        // A replay changes nothing — but rewriting the flags from D1 heals an edge write that
        // failed the first time (the sender retries when it sees no 200).
        heal_flags(ctx, &app_id, &tenant_id, &user_id).await;
        return respond(200, &json!({ "status": "duplicate" }));
    }
    let tier = parse_name(&event.plan_tier, "plan_tier")?;
    if !ctx.store.find_policy(&app_id).await?.has_plan(&tier) {
        return Err(Error::UnknownPlan(tier));
    }
    let current = face(ctx, &app_id, &tenant_id, &user_id).await?;
    let mut updated = current.clone();
    updated.plan_tier = tier;
    let audit = AuditEntry {
        id: new_uuid_v7(ctx.now_ms, random()?).to_string(),
        app_id: app_id.clone(),
        at_ms: ctx.now_ms,
        actor: Actor::Webhook,
        action: "user.plan",
        target: user_id.to_string(),
        tenant_id: Some(tenant_id.clone()),
        detail: json!({
            "event_id": event.event_id,
            "plan_tier": { "from": current.plan_tier, "to": updated.plan_tier },
        }),
    };
    let outcome = ctx
        .store
        .apply_plan_event(&app_id, &event.event_id, &updated, ctx.now_ms, &audit)
        .await?;
    if outcome == EventOutcome::Duplicate {
        heal_flags(ctx, &app_id, &tenant_id, &user_id).await;
        return respond(200, &json!({ "status": "duplicate" }));
    }
    let fresh = face(ctx, &app_id, &tenant_id, &user_id).await?;
    let policy = cache::policy(ctx, &app_id, OnKvFailure::ReadD1).await?;
    ctx.edge()?
        .put_flags(&app_id, &tenant_id, &user_id, &fresh.flags(&policy))
        .await?;
    respond(200, &json!({ "status": "applied" }))
}

/// Rewrites a user's flags document from D1, logging (not failing on) any error.
async fn heal_flags(ctx: &Ctx, app_id: &AppId, tenant_id: &TenantId, user_id: &UserId) {
    let healed = async {
        let fresh = face(ctx, app_id, tenant_id, user_id).await?;
        let policy = cache::policy(ctx, app_id, OnKvFailure::ReadD1).await?;
        ctx.edge()?
            .put_flags(app_id, tenant_id, user_id, &fresh.flags(&policy))
            .await
    }
    .await;
    if let Err(e) = healed {
        console_error!("flags of a replayed billing event not rewritten: {e:?}");
    }
}
