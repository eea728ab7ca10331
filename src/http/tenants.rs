//! Tenants of an app (`/admin/apps/{app_id}/tenants…`): create or change, read, list (deleting
//! one is `deletions`').

use super::context::Ctx;
use super::dto::{PageBody, TenantBody, TenantEnvelope};
use super::extract::{allowed, app_id, caller, json_body, page_request, place, query};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::links::WebUrl;
use crate::domain::tenancy::{parse_redirect_uris, LoginMethod};
use crate::domain::Error;
use crate::service::tenancy::{self, Put, TenantSettings};
use serde::{Deserialize, Deserializer};
use worker::{Request, Response};

#[derive(Deserialize)]
struct PutTenantBody {
    login_methods: Option<Vec<String>>,
    /// Absent: kept; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    link_base_url: Option<Option<String>>,
    /// Absent: kept.
    redirect_uris: Option<Vec<String>>,
}

/// A field that is present, `null` or not.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PUT /admin/apps/{app_id}/tenants/{tenant_id}` — `tenants:write`. `201` created, `200`
/// updated.
pub async fn put(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::TenantsWrite), target).await?;
    let body: PutTenantBody = json_body(&mut req).await?;
    let settings = TenantSettings {
        login_methods: body
            .login_methods
            .as_deref()
            .map(LoginMethod::parse_list)
            .transpose()?,
        link_base_url: body
            .link_base_url
            .map(|url| url.as_deref().map(WebUrl::parse_link_base).transpose())
            .transpose()?,
        redirect_uris: body
            .redirect_uris
            .as_deref()
            .map(parse_redirect_uris)
            .transpose()?,
    };
    let (tenant, put) = tenancy::put_tenant(cx, &caller, &app_id, &tenant_id, settings).await?;
    let status = match put {
        Put::Created => 201,
        Put::Updated => 200,
    };
    respond::json(
        status,
        &TenantEnvelope {
            tenant: (&tenant).into(),
        },
    )
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}` — `tenants:read`.
pub async fn get(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let caller = caller(cx, &req).await?;
    let tenant = tenancy::get_tenant(cx, &caller, &app_id, &tenant_id).await?;
    respond::json(
        200,
        &TenantEnvelope {
            tenant: (&tenant).into(),
        },
    )
}

/// `GET /admin/apps/{app_id}/tenants` — `tenants:read` on the app.
pub async fn list(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let caller = allowed(
        cx,
        &req,
        Some(Permission::TenantsRead),
        Target::App(&app_id),
    )
    .await?;
    let page = page_request(&query(&req)?)?;
    let tenants = tenancy::list_tenants(cx, &caller, &app_id, &page).await?;
    respond::json(200, &PageBody::of(&tenants, TenantBody::from))
}
