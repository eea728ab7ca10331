//! End users as operators manage them: creation (imports, support), listing, suspension,
//! plans and rate limits, hand-assigned roles, association with another tenant, session
//! revocation and per-app metadata.
//!
//! D1 is the source of truth. Each change bumps the user's edge document
//! (`flags:<app>:<tenant>:<user>`) in the same D1 batch, and the document is then rewritten
//! from what D1 now holds — never patched from a stale copy — through `edge`, the one writer
//! of mirrored documents. A KV write that fails (a `429` for two changes within a second
//! included) neither refuses nor undoes the change: the document converges (retried by this
//! isolate after KV's per-key gap, swept by the cron).

use super::cache::{self, OnKvFailure};
use super::principal::{actor, audit_entry, Change};
use super::tenancy::{existing_app, existing_tenant};
use super::{edge, Ctx, Stores};
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::names::{PlanTier, RoleName};
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::password::Password;
use crate::domain::policy::{
    check_rate_limit, merge_patch, AppPolicy, Effective, MAX_METADATA_BYTES,
};
use crate::domain::tenancy::LoginMethod;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{UserFilter, UserStateStore, UserStore};
use serde_json::{json, Value};

/// An end user as one tenant sees it, with its effective rate limit, roles and permissions
/// under the app's current roles and plans, and what it holds app-wide: whether its email is
/// verified and its sign-in methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser {
    pub face: TenantUser,
    pub effective: Effective,
    pub email_verified: bool,
    pub methods: Vec<LoginMethod>,
}

impl EndUser {
    /// `user` as its `face` shows it, under `policy`.
    pub fn with(user: &User, face: TenantUser, policy: &AppPolicy) -> Self {
        let effective = policy.effective(&face.state());
        EndUser {
            face,
            effective,
            email_verified: user.email_verified,
            methods: user.methods(),
        }
    }

    /// `user` and its `face` under the app's current policy (from the cache, KV or D1).
    pub async fn of<S: Stores>(
        cx: &Ctx<'_, S>,
        user: &User,
        face: TenantUser,
    ) -> Result<Self, Error> {
        let policy = cache::policy(cx, &face.app_id, OnKvFailure::ReadD1).await?;
        Ok(EndUser::with(user, face, &policy))
    }
}

/// Checks `permission` on the tenant (`403 forbidden`).
fn allow_tenant(
    caller: &Principal,
    permission: Permission,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<(), Error> {
    authorize(caller, Some(permission), &Target::Tenant(app_id, tenant_id)).into_result()
}

/// Checks `permission` on the app (`403 forbidden`), then that the app exists (`404`).
async fn allow_app<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    permission: Permission,
    app_id: &AppId,
) -> Result<(), Error> {
    authorize(caller, Some(permission), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await.map(drop)
}

/// The user's face in the tenant; `404 tenant_not_found` / `user_not_found`.
pub(super) async fn face_of<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<TenantUser, Error> {
    user_of(cx, app_id, tenant_id, user_id)
        .await
        .map(|(_, face)| face)
}

/// The user and its face in the tenant; `404 tenant_not_found` / `user_not_found`.
async fn user_of<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<(User, TenantUser), Error> {
    existing_tenant(cx, app_id, tenant_id).await?;
    cx.db
        .find_tenant_user(app_id, tenant_id, user_id)
        .await?
        .ok_or(Error::UserNotFound)
}

/// Rewrites the edge document of `face`'s user in its tenant from D1, after a change made
/// elsewhere (another store's batch) that did not bump it: bumps it first, so it converges
/// even when KV fails now. `Err` only when D1 cannot record the bump.
pub async fn publish_flags<S: Stores>(cx: &Ctx<'_, S>, face: &TenantUser) -> Result<(), Error> {
    let doc = edge::user_doc(&face.app_id, &face.tenant_id, &face.user_id);
    edge::publish_changed(cx, &doc).await.map(drop)
}

/// Rewrites a user's edge document from D1 (what a replayed event or a retried request does
/// to heal an earlier failure); never fails.
pub async fn heal_flags<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) {
    edge::publish_after_change(cx, &edge::user_doc(app_id, tenant_id, user_id)).await;
}

/// Writes `updated` over `current` in D1 (compare-and-swap on the version; the edge document
/// is bumped in the same batch), then rewrites the edge document from D1. The answer is built
/// from what the compare-and-swap wrote (and the policy read before it): nothing read after
/// the commit can fail a change that is made.
async fn change_face<S: Stores>(
    cx: &Ctx<'_, S>,
    user: &User,
    current: &TenantUser,
    updated: &TenantUser,
    audit: &AuditEntry,
) -> Result<EndUser, Error> {
    let policy = cache::policy(cx, &current.app_id, OnKvFailure::ReadD1).await?;
    if !cx.db.update_face(updated, current.version, audit).await? {
        return Err(Error::Conflict(
            "the user changed concurrently; read it again".to_owned(),
        ));
    }
    heal_flags(cx, &current.app_id, &current.tenant_id, &current.user_id).await;
    let written = TenantUser {
        version: current.version + 1,
        ..updated.clone()
    };
    Ok(EndUser::with(user, written, &policy))
}

fn user_change<'a>(face: &'a TenantUser, action: AuditAction, detail: Value) -> Change<'a> {
    Change {
        app_id: &face.app_id,
        action,
        target: face.user_id.to_string(),
        tenant_id: Some(&face.tenant_id),
        detail,
    }
}

/// `POST /admin/apps/{app}/tenants/{tenant}/users` — `users:write`. Creates a user (imports,
/// support); without a password it cannot sign in until one is set. `409 email_taken`.
pub async fn create<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    email: Email,
    password: Option<&Password>,
) -> Result<EndUser, Error> {
    allow_tenant(caller, Permission::UsersWrite, app_id, tenant_id)?;
    let tenant = existing_tenant(cx, app_id, tenant_id).await?;
    let app = existing_app(cx, app_id).await?;
    let policy = cx.app_password_policy(&app.settings)?;
    let password_hash = match password {
        Some(p) => Some(policy.hash(p, cx.random()?)),
        None => None,
    };
    let user = User {
        app_id: app_id.clone(),
        id: UserId::generate(cx.now, cx.random()?),
        email,
        password_hash,
        email_verified: false,
        passwordless: false,
        created_at: cx.now,
    };
    let face = TenantUser::new(&user, &tenant.id, cx.now);
    let audit = audit_entry(
        cx,
        actor(caller),
        user_change(
            &face,
            AuditAction::UserCreate,
            json!({ "has_password": password.is_some() }),
        ),
    )?;
    let policy = cache::policy(cx, app_id, OnKvFailure::ReadD1).await?;
    if !cx.db.create_user_only(&user, &face, &audit).await? {
        return Err(Error::EmailTaken);
    }
    Ok(EndUser::with(&user, face, &policy))
}

/// `GET /admin/apps/{app}/tenants/{tenant}/users` — `users:read`. Filters by status, plan and
/// email prefix; keyset pages over an index (by user id, or by email under a prefix).
pub async fn list<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    filter: &UserFilter,
    page: &PageRequest,
) -> Result<Page<EndUser>, Error> {
    allow_tenant(caller, Permission::UsersRead, app_id, tenant_id)?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let faces = cx
        .db
        .list_tenant_users(
            app_id,
            tenant_id,
            filter,
            page.after.as_deref(),
            page.limit + 1,
        )
        .await?;
    let by_email = filter.email_prefix.is_some();
    let page = finish_page(faces, page.limit, |(_, f)| {
        if by_email {
            f.email.to_string()
        } else {
            f.user_id.to_string()
        }
    });
    let policy = cache::policy(cx, app_id, OnKvFailure::ReadD1).await?;
    Ok(page.map(|(user, face)| EndUser::with(&user, face, &policy)))
}

/// `GET /admin/apps/{app}/tenants/{tenant}/users/{user}` — `users:read`.
pub async fn get<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<EndUser, Error> {
    allow_tenant(caller, Permission::UsersRead, app_id, tenant_id)?;
    let (user, face) = user_of(cx, app_id, tenant_id, user_id).await?;
    EndUser::of(cx, &user, face).await
}

/// `POST …/suspend` and `…/unsuspend` — `users:suspend`. At once: sign-in and refresh answer
/// `403 user_suspended` and every token of the user in this tenant introspects inactive
/// (within the KV bound). Other tenants are untouched.
pub async fn set_status<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
    status: UserStatus,
    reason: Option<&str>,
) -> Result<EndUser, Error> {
    allow_tenant(caller, Permission::UsersSuspend, app_id, tenant_id)?;
    let reason: Option<String> = reason.map(|r| r.chars().take(500).collect());
    let (user, current) = user_of(cx, app_id, tenant_id, user_id).await?;
    let mut updated = current.clone();
    updated.status = status;
    let action = match status {
        UserStatus::Suspended => AuditAction::UserSuspend,
        UserStatus::Active => AuditAction::UserUnsuspend,
    };
    let audit = audit_entry(
        cx,
        actor(caller),
        user_change(&current, action, json!({ "reason": reason })),
    )?;
    change_face(cx, &user, &current, &updated, &audit).await
}

/// What `PATCH …/users/{user}` changes: the plan tier and/or the rate-limit override
/// (`Some(None)` removes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanChange {
    pub plan_tier: Option<PlanTier>,
    pub rate_limit_override: Option<Option<i64>>,
}

/// `PATCH …/users/{user}` — `users:plan`. `422 unknown_plan` for a tier the app does not
/// define (`free` always exists).
pub async fn change_plan<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
    change: PlanChange,
) -> Result<EndUser, Error> {
    allow_tenant(caller, Permission::UsersPlan, app_id, tenant_id)?;
    let (user, current) = user_of(cx, app_id, tenant_id, user_id).await?;
    let mut updated = current.clone();
    if let Some(tier) = change.plan_tier {
        if !cx.db.find_policy(app_id).await?.has_plan(&tier) {
            return Err(Error::UnknownPlan(tier.to_string()));
        }
        updated.plan_tier = tier;
    }
    if let Some(limit) = change.rate_limit_override {
        check_rate_limit(limit, "rate_limit_override")?;
        updated.rate_limit_override = limit;
    }
    let audit = audit_entry(
        cx,
        actor(caller),
        user_change(
            &current,
            AuditAction::UserPlan,
            json!({
                "plan_tier": { "from": current.plan_tier, "to": updated.plan_tier },
                "rate_limit_override": {
                    "from": current.rate_limit_override,
                    "to": updated.rate_limit_override,
                },
            }),
        ),
    )?;
    change_face(cx, &user, &current, &updated, &audit).await
}

/// `PUT …/users/{user}/roles` — `users:write`. Replaces the roles assigned by hand in this
/// tenant (plan roles come with the plan); `422 unknown_role` for undefined ones.
pub async fn set_roles<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
    roles: Vec<RoleName>,
) -> Result<EndUser, Error> {
    allow_tenant(caller, Permission::UsersWrite, app_id, tenant_id)?;
    cx.db.find_policy(app_id).await?.check_roles(&roles)?;
    let (user, current) = user_of(cx, app_id, tenant_id, user_id).await?;
    let mut updated = current.clone();
    updated.roles = roles;
    let audit = audit_entry(
        cx,
        actor(caller),
        user_change(
            &current,
            AuditAction::UserRoles,
            json!({ "roles": { "from": current.roles, "to": updated.roles } }),
        ),
    )?;
    change_face(cx, &user, &current, &updated, &audit).await
}

/// `POST …/users/{user}/associate` — `users:write`. The app user may now sign in to this
/// tenant with the same credentials; sessions stay per tenant. `409 email_taken` when the
/// tenant has that email.
pub async fn associate<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<EndUser, Error> {
    allow_tenant(caller, Permission::UsersWrite, app_id, tenant_id)?;
    let tenant = existing_tenant(cx, app_id, tenant_id).await?;
    let user = cx
        .db
        .find_user(app_id, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let face = TenantUser::new(&user, &tenant.id, cx.now);
    let audit = audit_entry(
        cx,
        actor(caller),
        user_change(&face, AuditAction::UserAssociate, json!({})),
    )?;
    let policy = cache::policy(cx, app_id, OnKvFailure::ReadD1).await?;
    if !cx.db.associate(&face, &audit).await? {
        return Err(Error::EmailTaken);
    }
    // A document of this user in an older incarnation of the tenant is ignored already; this
    // one says what the new face says.
    heal_flags(cx, app_id, tenant_id, user_id).await;
    Ok(EndUser::with(&user, face, &policy))
}

/// `POST …/users/{user}/sessions/revoke` — `users:suspend`. Revokes every session of the user
/// in this tenant (D1, which bumps the user's edge document), then rewrites the document;
/// returns how many were live. A retry revokes nothing new but republishes every revocation.
pub async fn revoke_sessions<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<usize, Error> {
    allow_tenant(caller, Permission::UsersSuspend, app_id, tenant_id)?;
    let current = face_of(cx, app_id, tenant_id, user_id).await?;
    let audit = audit_entry(
        cx,
        actor(caller),
        user_change(&current, AuditAction::UserSessionsRevoke, json!({})),
    )?;
    let revoked = cx
        .db
        .revoke_user_sessions(app_id, tenant_id, user_id, cx.now, &audit)
        .await?;
    heal_flags(cx, app_id, tenant_id, user_id).await;
    Ok(revoked.len())
}

/// `GET /admin/apps/{app}/users/{user}/metadata` — `users:read` on the app (metadata is shared
/// by all tenants).
pub async fn metadata<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    user_id: &UserId,
) -> Result<Value, Error> {
    allow_app(cx, caller, Permission::UsersRead, app_id).await?;
    cx.db
        .find_user(app_id, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    cx.db.find_metadata(app_id, user_id).await
}

/// `PATCH /admin/apps/{app}/users/{user}/metadata` — `users:write` on the app. An RFC 7396
/// merge patch; the result must stay an object of at most 16 KiB (`413` beyond).
pub async fn patch_metadata<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    user_id: &UserId,
    patch: &Value,
) -> Result<Value, Error> {
    allow_app(cx, caller, Permission::UsersWrite, app_id).await?;
    cx.db
        .find_user(app_id, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let mut metadata = cx.db.find_metadata(app_id, user_id).await?;
    merge_patch(&mut metadata, patch);
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
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::UserMetadata,
            target: user_id.to_string(),
            tenant_id: None,
            detail: json!({ "keys": keys }),
        },
    )?;
    cx.db
        .put_metadata(app_id, user_id, &metadata, cx.now, &audit)
        .await?;
    Ok(metadata)
}
