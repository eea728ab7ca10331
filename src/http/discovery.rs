//! Health, the OpenAPI document, and the public keys of an app (a tenant's discovery document
//! is its authorization server's metadata: `authorization`).

use super::context::Ctx;
use super::dto::{Jwk, Jwks, Status};
use super::extract::app_id;
use super::respond;
use super::routes::Params;
use super::OPENAPI_JSON;
use crate::domain::keys::{encode_public_key, KeyOwner};
use crate::domain::Error;
use crate::service::cache::{self, OnKvFailure};
use crate::service::keyring;
use crate::service::sessions::access_ttl_ms;
use worker::Response;

/// `GET /healthz`.
pub fn health() -> Result<Response, Error> {
    respond::json(200, &Status { status: "ok" })
}

/// `GET /openapi.json`.
pub fn openapi() -> Result<Response, Error> {
    let response = Response::ok(OPENAPI_JSON)?;
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}

/// `GET /apps/{app_id}/.well-known/jwks.json`: the app's end-user signing keys — pending,
/// signing and still-verifying ones. Clients may cache the set exactly as long as a
/// rotated-in key is published before it signs, so a cached set knows every token's key.
pub async fn jwks(cx: &Ctx<'_>, params: &Params) -> Result<Response, Error> {
    let app_id = app_id(params)?;
    let app = cache::app(cx, &app_id, OnKvFailure::ReadD1).await?;
    let owner = KeyOwner::App(app_id);
    let keys = keyring::published_keys(cx, &owner, access_ttl_ms(&app)).await?;
    let keys = keys
        .into_iter()
        .map(|(kid, public)| Jwk::ed25519(kid, encode_public_key(&public)))
        .collect();
    respond::cacheable(&Jwks { keys }, cx.config.jwks_max_age_seconds)
}
