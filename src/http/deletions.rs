//! Deleting apps, tenants and users, and reading how far a deletion got
//! (`/admin/apps/{app_id}…`). A deletion that finishes within the request answers `204` (a
//! user's also when all that is left is to wait for its access tokens to expire); one that
//! does not answers `202 {"deletion"}` with `Location` pointing at its progress, and goes
//! on when the `DELETE` is repeated or the cron runs.

use super::context::Ctx;
use super::dto::{DeletionBody, DeletionEnvelope};
use super::extract::{allowed, app_id, caller, param, place, user_id};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::deletion::Deletion;
use crate::domain::ids::DeletionId;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::service::deletion;
use worker::{Request, Response};

/// `204` for a deletion that is done — or settled: a user's that only waits for its access
/// tokens to expire before its edge documents go (`Deletion::settled`) — `202 {"deletion"}`
/// (with `Location`) for one that is not.
fn answer(deletion: &Deletion, now: Timestamp) -> Result<Response, Error> {
    if deletion.settled(now) {
        return respond::no_content();
    }
    let response = respond::json(
        202,
        &DeletionEnvelope {
            deletion: DeletionBody::from(deletion),
        },
    )?;
    response.headers().set(
        "Location",
        &format!("/admin/apps/{}/deletions/{}", deletion.app_id, deletion.id),
    )?;
    Ok(response)
}

/// `DELETE /admin/apps/{app_id}` — the platform owner.
pub async fn delete_app(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(cx, &req, None, Target::App(&app_id)).await?;
    answer(&deletion::delete_app(cx, &caller, &app_id).await?, cx.now)
}

/// `DELETE /admin/apps/{app_id}/tenants/{tenant_id}` — `tenants:write`.
pub async fn delete_tenant(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::TenantsWrite), target).await?;
    answer(
        &deletion::delete_tenant(cx, &caller, &app_id, &tenant_id).await?,
        cx.now,
    )
}

/// `DELETE /admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}` — `users:write` on the
/// tenant.
pub async fn delete_user(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::UsersWrite), target).await?;
    let user_id = user_id(params)?;
    answer(
        &deletion::delete_user(cx, &caller, &app_id, &tenant_id, &user_id).await?,
        cx.now,
    )
}

/// `DELETE /admin/apps/{app_id}/users/{user_id}` — `users:write` on every tenant of the user.
pub async fn erase_user(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    let user_id = user_id(params)?;
    answer(
        &deletion::erase_user(cx, &caller, &app_id, &user_id).await?,
        cx.now,
    )
}

/// `GET /admin/apps/{app_id}/deletions/{deletion_id}` — what starting the deletion took.
pub async fn get(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    let id = DeletionId::parse(param(params, "deletion_id"))
        .map_err(|_| Error::NotFound("no such deletion".to_owned()))?;
    let found = deletion::get(cx, &caller, &app_id, &id).await?;
    respond::json(
        200,
        &DeletionEnvelope {
            deletion: DeletionBody::from(&found),
        },
    )
}
