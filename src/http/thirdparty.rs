//! Third-party sign-in: a tenant's providers (`/admin/apps/{app_id}/tenants/{tenant_id}/
//! providers…`) and the flow of end users (`/apps/{app_id}/tenants/{tenant_id}/auth/
//! thirdparty/{provider_id}/start` and `/callback`).

use super::context::Ctx;
use super::dto::{
    PageBody, PasswordlessSignedIn, ProviderBody, ProviderEnvelope, ThirdPartyStarted,
};
use super::extract::{
    allowed, caller, client_subject_of, json_body, page_request, param, place, query,
};
use super::federation::WorkerFederation;
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::ids::{AppId, ProviderId, TenantId};
use crate::domain::links::WebUrl;
use crate::domain::thirdparty::ProviderKind;
use crate::domain::Error;
use crate::service::thirdparty::{self, ProviderSettings};
use serde::Deserialize;
use worker::{Request, Response};

/// `{app_id}`, `{tenant_id}` and `{provider_id}` of the path; a provider id that is not a slug
/// cannot exist: `404`.
fn provider_place(params: &Params) -> Result<(AppId, TenantId, ProviderId), Error> {
    let (app_id, tenant_id) = place(params)?;
    let id = ProviderId::parse(param(params, "provider_id"))
        .map_err(|_| Error::NotFound("no such provider".to_owned()))?;
    Ok((app_id, tenant_id, id))
}

#[derive(Deserialize)]
struct PutProviderBody {
    kind: String,
    issuer: Option<String>,
    enterprise_url: Option<String>,
    client_id: String,
    client_secret: Option<String>,
    scopes: Option<Vec<String>>,
}

/// `PUT …/providers/{provider_id}` — `tenants:write`. `201` created, `200` replaced.
pub async fn put(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id, id) = provider_place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::TenantsWrite), target).await?;
    let body: PutProviderBody = json_body(&mut req).await?;
    let url = |raw: Option<String>, field: &str| {
        raw.map(|u| WebUrl::parse_provider_url(&u, field))
            .transpose()
    };
    let settings = ProviderSettings {
        kind: ProviderKind::parse(&body.kind)?,
        issuer: url(body.issuer, "issuer")?,
        enterprise_url: url(body.enterprise_url, "enterprise_url")?,
        client_id: body.client_id,
        client_secret: body.client_secret,
        scopes: body.scopes,
    };
    let place = (&app_id, &tenant_id, &id);
    let (provider, created) =
        thirdparty::put_provider(cx, &WorkerFederation, &caller, place, settings).await?;
    respond::json(
        if created { 201 } else { 200 },
        &ProviderEnvelope {
            provider: (&provider).into(),
        },
    )
}

/// `GET …/providers/{provider_id}` — `tenants:read`. Without the secret.
pub async fn get(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id, id) = provider_place(params)?;
    let caller = caller(cx, &req).await?;
    let provider = thirdparty::get_provider(cx, &caller, (&app_id, &tenant_id, &id)).await?;
    respond::json(
        200,
        &ProviderEnvelope {
            provider: (&provider).into(),
        },
    )
}

/// `GET …/providers` — `tenants:read`. A page of providers, without secrets.
pub async fn list(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::TenantsRead), target).await?;
    let page = page_request(&query(&req)?)?;
    let providers = thirdparty::list_providers(cx, &caller, &app_id, &tenant_id, &page).await?;
    respond::json(200, &PageBody::of(&providers, ProviderBody::from))
}

/// `DELETE …/providers/{provider_id}` — `tenants:write`.
pub async fn delete(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id, id) = provider_place(params)?;
    let caller = caller(cx, &req).await?;
    thirdparty::delete_provider(cx, &caller, (&app_id, &tenant_id, &id)).await?;
    respond::no_content()
}

#[derive(Deserialize)]
struct StartBody {
    redirect_uri: String,
}

/// `POST …/auth/thirdparty/{provider_id}/start` — no credential.
pub async fn start(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id, id) = provider_place(params)?;
    let body: StartBody = json_body(&mut req).await?;
    let client = client_subject_of(&req);
    let started = thirdparty::start(
        cx,
        &app_id,
        &tenant_id,
        &id,
        &body.redirect_uri,
        client.as_deref(),
    )
    .await?;
    respond::json(
        200,
        &ThirdPartyStarted {
            authorization_url: started.authorization_url,
            state: started.state.expose().to_owned(),
        },
    )
}

#[derive(Deserialize)]
struct CallbackBody {
    code: String,
    state: String,
}

/// `POST …/auth/thirdparty/{provider_id}/callback` — the provider's code and the flow's state.
/// Signs in like `/auth/signin` (with a device cookie).
pub async fn callback(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id, id) = provider_place(params)?;
    let body: CallbackBody = json_body(&mut req).await?;
    let client = client_subject_of(&req);
    let consumed = thirdparty::callback(
        cx,
        &WorkerFederation,
        (&app_id, &tenant_id, &id),
        &body.code,
        &body.state,
        client,
        None,
    )
    .await?;
    let signed = &consumed.signed_in;
    let response = respond::json(
        200,
        &PasswordlessSignedIn {
            user: (&signed.user).into(),
            session: (&signed.session).into(),
            created: consumed.created,
        },
    )?;
    let path = format!("/apps/{app_id}/tenants/{tenant_id}/auth");
    respond::with_device_cookie(response, signed.device.expose(), &path, "None")
}
