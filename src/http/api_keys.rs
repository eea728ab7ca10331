//! Tenant API keys (`/admin/apps/{app_id}/tenants/{tenant_id}/api-keys…`).

use super::context::Ctx;
use super::dto::{ApiKeyBody, ApiKeyWithSecret, PageBody};
use super::extract::{allowed, caller, json_body, page_request, param, place, query};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Scope, Target};
use crate::domain::ids::ApiKeyId;
use crate::domain::tenancy::ApiKeyName;
use crate::domain::Error;
use crate::service::api_keys;
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct CreateApiKeyBody {
    name: String,
    scopes: Vec<String>,
}

/// `POST …/api-keys` — `apikeys:write`. The key's secret is in this answer only.
pub async fn create(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::ApiKeysWrite), target).await?;
    let body: CreateApiKeyBody = json_body(&mut req).await?;
    let name = ApiKeyName::parse(&body.name)?;
    let scopes = Scope::parse_list(&body.scopes)?;
    let (key, secret) = api_keys::create(cx, &caller, &app_id, &tenant_id, name, scopes).await?;
    respond::json(
        201,
        &ApiKeyWithSecret {
            body: (&key).into(),
            key: secret.expose().to_owned(),
        },
    )
}

/// `GET …/api-keys` — `apikeys:write`. Without secrets.
pub async fn list(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::ApiKeysWrite), target).await?;
    let page = page_request(&query(&req)?)?;
    let keys = api_keys::list(cx, &caller, &app_id, &tenant_id, &page).await?;
    respond::json(200, &PageBody::of(&keys, ApiKeyBody::from))
}

/// `DELETE …/api-keys/{key_id}` — `apikeys:write`. The key stops working at once.
pub async fn delete(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let key_id = ApiKeyId::parse(param(params, "key_id"))?;
    let caller = caller(cx, &req).await?;
    api_keys::delete(cx, &caller, &app_id, &tenant_id, &key_id).await?;
    respond::no_content()
}
