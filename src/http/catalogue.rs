//! The end-user role and plan catalogue of an app (`/admin/apps/{app_id}/roles…`, `/plans…`).

use super::context::Ctx;
use super::dto::{PageBody, PlanBody, PlanEnvelope, RoleBody, RoleEnvelope};
use super::extract::{allowed, app_id, json_body, page_request, param, query};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::names::{PlanTier, RoleName, UserPermission};
use crate::domain::Error;
use crate::service::catalogue;
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct RoleBodyIn {
    permissions: Vec<String>,
}

/// `PUT /admin/apps/{app_id}/roles/{role}` — `roles:write`.
pub async fn put_role(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(cx, &req, Some(Permission::RolesWrite), Target::App(&app_id)).await?;
    let name = RoleName::parse(param(params, "role"))?;
    let body: RoleBodyIn = json_body(&mut req).await?;
    let permissions = UserPermission::parse_set(&body.permissions)?;
    let permissions = catalogue::put_role(cx, &caller, &app_id, &name, permissions).await?;
    respond::json(
        200,
        &RoleEnvelope {
            role: RoleBody { name, permissions },
        },
    )
}

/// `GET /admin/apps/{app_id}/roles` — `users:read`.
pub async fn list_roles(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(cx, &req, Some(Permission::UsersRead), Target::App(&app_id)).await?;
    let page = page_request(&query(&req)?)?;
    let roles = catalogue::list_roles(cx, &caller, &app_id, &page).await?;
    respond::json(
        200,
        &PageBody::of(&roles, |(name, permissions)| RoleBody {
            name: name.clone(),
            permissions: permissions.clone(),
        }),
    )
}

#[derive(Deserialize)]
struct PlanBodyIn {
    roles: Vec<String>,
    rate_limit: Option<i64>,
}

/// `PUT /admin/apps/{app_id}/plans/{plan_tier}` — `roles:write`.
pub async fn put_plan(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(cx, &req, Some(Permission::RolesWrite), Target::App(&app_id)).await?;
    let tier = PlanTier::parse(param(params, "plan_tier"))?;
    let body: PlanBodyIn = json_body(&mut req).await?;
    let roles = RoleName::parse_assigned(&body.roles)?;
    let plan = catalogue::put_plan(cx, &caller, &app_id, &tier, roles, body.rate_limit).await?;
    respond::json(
        200,
        &PlanEnvelope {
            plan: PlanBody::new(tier, plan),
        },
    )
}
