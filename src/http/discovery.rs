//! Health, the OpenAPI document, and the public discovery documents of an app and tenant.

use super::admin::respond;
use super::cache::{self, OnKvFailure};
use super::context::Ctx;
use super::keyring;
use super::routes::Params;
use super::OPENAPI_JSON;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::{encode_public_key, KeyOwner};
use crate::domain::Error;
use serde_json::json;
use worker::Response;

/// `GET /healthz`.
pub fn health() -> Result<Response, Error> {
    respond(200, &json!({ "status": "ok" }))
}

/// `GET /openapi.json`.
pub fn openapi() -> Result<Response, Error> {
    let response = Response::ok(OPENAPI_JSON)?;
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}

fn app_param(params: &Params) -> Result<AppId, Error> {
    AppId::parse(params.get("app_id").map(String::as_str).unwrap_or(""))
}

/// `GET /apps/{app_id}/.well-known/jwks.json`: the app's end-user signing keys. The first
/// key is generated here if the app has none yet, so what clients cache stays valid.
pub async fn jwks(ctx: &Ctx, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let app = cache::app(ctx, &app_id, OnKvFailure::ReadD1).await?;
    let ttl_ms = app.settings.access_token_ttl_seconds * 1000;
    let owner = KeyOwner::App(app_id);
    let mut keys = keyring::public_keys(ctx, &owner, ttl_ms).await?;
    if keys.is_empty() {
        keyring::signing_key(ctx, &owner, ttl_ms).await?;
        keys = keyring::public_keys(ctx, &owner, ttl_ms).await?;
    }
    let keys: Vec<_> = keys
        .iter()
        .map(|(kid, pk)| {
            json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": encode_public_key(pk),
                "kid": kid,
                "alg": "EdDSA",
                "use": "sig",
            })
        })
        .collect();
    // Clients may cache the set exactly as long as a rotated-in key is published before it
    // signs, so a cached set always knows the key of any token it is shown.
    let response = Response::from_json(&json!({ "keys": keys }))?;
    response.headers().set(
        "Cache-Control",
        &format!("public, max-age={}", ctx.jwks_max_age_seconds()?),
    )?;
    Ok(response)
}

/// `GET /apps/{app_id}/tenants/{tenant_id}/.well-known/openid-configuration`.
pub async fn openid_configuration(ctx: &Ctx, params: &Params) -> Result<Response, Error> {
    let app_id = app_param(params)?;
    let tenant_id = TenantId::parse(params.get("tenant_id").map(String::as_str).unwrap_or(""))?;
    cache::tenant(ctx, &app_id, &tenant_id, OnKvFailure::ReadD1).await?;
    let issuer = format!("{}/apps/{app_id}/tenants/{tenant_id}", ctx.origin);
    let body = json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/apps/{app_id}/.well-known/jwks.json", ctx.origin),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "revocation_endpoint_auth_methods_supported": ["bearer"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "subject_types_supported": ["public"],
        "response_types_supported": [],
        "grant_types_supported": ["refresh_token"],
    });
    let response = Response::from_json(&body)?;
    response.headers().set(
        "Cache-Control",
        &format!("public, max-age={}", ctx.jwks_max_age_seconds()?),
    )?;
    Ok(response)
}
