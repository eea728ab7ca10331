//! The audit log (`/admin/apps/{app_id}/audit`).

use super::context::Ctx;
use super::dto::{AuditBody, PageBody};
use super::extract::{app_id, caller, page_request, query};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{authorize, Permission, Target};
use crate::domain::ids::TenantId;
use crate::domain::Error;
use crate::service::audit;
use worker::{Request, Response};

/// `GET /admin/apps/{app_id}/audit` — `audit:read` on the app, or on `?tenant_id=`.
pub async fn list(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = caller(cx, &req).await?;
    let query = query(&req)?;
    let tenant_id = query
        .get("tenant_id")
        .map(|t| TenantId::parse(t))
        .transpose()?;
    let target = match &tenant_id {
        Some(t) => Target::Tenant(&app_id, t),
        None => Target::App(&app_id),
    };
    authorize(&caller, Some(Permission::AuditRead), &target).into_result()?;
    let page = page_request(&query)?;
    let entries = audit::list(cx, &caller, &app_id, tenant_id.as_ref(), &page).await?;
    respond::json(200, &PageBody::of(&entries, AuditBody::from))
}
