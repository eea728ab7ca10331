//! The end-user role and plan catalogue of an app: roles (with permissions) and plans (with
//! roles and a default rate limit). Defined per app, assigned per tenant; a redefinition
//! applies to every user at once because introspection derives the effective view from the
//! current catalogue (`domain::policy`).

use super::cache;
use super::principal::{actor, audit_entry, Change};
use super::tenancy::existing_app;
use super::{Ctx, Stores};
use crate::domain::audit::AuditAction;
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::ids::AppId;
use crate::domain::names::{PlanTier, RoleName, UserPermission};
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::policy::{check_rate_limit, Plan};
use crate::domain::Error;
use crate::store::UserStateStore;
use serde_json::json;

async fn allow<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    permission: Permission,
    app_id: &AppId,
) -> Result<(), Error> {
    authorize(caller, Some(permission), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await.map(drop)
}

/// `PUT /admin/apps/{app}/roles/{role}` — `roles:write`. Defines (or redefines) an end-user
/// role; every user holding it has the new permissions at once.
pub async fn put_role<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    name: &RoleName,
    permissions: Vec<UserPermission>,
) -> Result<Vec<UserPermission>, Error> {
    allow(cx, caller, Permission::RolesWrite, app_id).await?;
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::RolePut,
            target: name.to_string(),
            tenant_id: None,
            detail: json!({ "permissions": permissions }),
        },
    )?;
    cx.db
        .put_role(app_id, name, &permissions, cx.now, &audit)
        .await?;
    cache::policy_changed(cx, app_id).await;
    Ok(permissions)
}

/// `GET /admin/apps/{app}/roles` — `users:read`. The app's end-user roles, by name.
pub async fn list_roles<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    page: &PageRequest,
) -> Result<Page<(RoleName, Vec<UserPermission>)>, Error> {
    allow(cx, caller, Permission::UsersRead, app_id).await?;
    let policy = cx.db.find_policy(app_id).await?;
    let roles: Vec<(RoleName, Vec<UserPermission>)> = policy
        .roles
        .into_iter()
        .filter(|(name, _)| page.after.as_deref().is_none_or(|a| name.as_str() > a))
        .take(page.limit + 1)
        .collect();
    Ok(finish_page(roles, page.limit, |(name, _)| name.to_string()))
}

/// `PUT /admin/apps/{app}/plans/{tier}` — `roles:write`. Defines a plan: its roles (`422
/// unknown_role` for undefined ones) and default rate limit (0 to 1,000,000,000 or none).
pub async fn put_plan<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tier: &PlanTier,
    mut roles: Vec<RoleName>,
    rate_limit: Option<i64>,
) -> Result<Plan, Error> {
    allow(cx, caller, Permission::RolesWrite, app_id).await?;
    check_rate_limit(rate_limit, "rate_limit")?;
    roles.sort();
    roles.dedup();
    cx.db.find_policy(app_id).await?.check_roles(&roles)?;
    let plan = Plan { roles, rate_limit };
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::PlanPut,
            target: tier.to_string(),
            tenant_id: None,
            detail: json!({ "roles": plan.roles, "rate_limit": plan.rate_limit }),
        },
    )?;
    cx.db.put_plan(app_id, tier, &plan, cx.now, &audit).await?;
    cache::policy_changed(cx, app_id).await;
    Ok(plan)
}
