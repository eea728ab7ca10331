//! RFC 7662 introspection and RFC 7009 revocation of a tenant's tokens
//! (`/apps/{app_id}/tenants/{tenant_id}/oauth/…`), called by an app's backend with a tenant
//! API key (Bearer), or by a confidential OAuth client of the tenant for its own tokens: HTTP
//! Basic with its secret, or (`private_key_jwt`) an RFC 7523 assertion in the body. Introspection answers `{"active": false}` for every inactive cause, KV failures
//! included (fail closed); revocation answers `200 {}` whatever the token.

use super::context::Ctx;
use super::dto::{ActiveIntrospection, ClientIntrospection, Empty, InactiveIntrospection};
use super::extract::{
    basic_credentials, bearer, place, token_parameters, Incoming, RuntimeRequest, TokenParameters,
};
use super::federation::WorkerFederation;
use super::respond;
use super::routes::Params;
use crate::domain::Error;
use crate::service::introspection::{self, ActiveToken, ClientCheck, Credentials, Introspection};
use worker::worker_sys::web_sys;
use worker::{Request, Response};

/// The caller's credentials as written: a Bearer API key, HTTP Basic client credentials, or
/// (in the body) a `private_key_jwt` client's assertion.
enum Written {
    Bearer(String),
    Basic(String, String),
    InBody(TokenParameters),
}

impl Written {
    fn as_ref(&self) -> Credentials<'_> {
        match self {
            Written::Bearer(key) => Credentials::Bearer(key),
            Written::Basic(id, secret) => Credentials::Basic(id, secret),
            Written::InBody(body) => Credentials::Assertion {
                assertion_type: body.client_assertion_type.as_deref(),
                assertion: body.client_assertion.as_deref(),
                client_id: body.client_id.as_deref(),
            },
        }
    }
}

fn has_assertion(body: &TokenParameters) -> bool {
    body.client_assertion.is_some() || body.client_assertion_type.is_some()
}

/// How the caller authenticates. A header is checked before the body is read (an API key's
/// introspection reads the body only once the key is known, as before assertions); without
/// one, the body must carry an assertion (else — or if it does not parse — `401
/// invalid_client`: unauthenticated before malformed). A malformed Basic header is `401`.
async fn who(req: &mut impl Incoming) -> Result<Written, Error> {
    if let Some(key) = bearer(req) {
        return Ok(Written::Bearer(key));
    }
    match basic_credentials(req) {
        Ok(Some((id, secret))) => return Ok(Written::Basic(id, secret)),
        Ok(None) => {}
        Err(()) => return Err(Error::InvalidClient),
    }
    match token_parameters(req).await {
        Ok(body) if has_assertion(&body) => Ok(Written::InBody(body)),
        Ok(_) | Err(Error::Validation(_)) => Err(Error::InvalidClient),
        Err(e) => Err(e),
    }
}

/// The request's parameters: the body read by `who`, else read now — where an assertion
/// beside a header is `401 invalid_client` (one way to authenticate).
async fn parameters(req: &mut impl Incoming, written: Written) -> Result<TokenParameters, Error> {
    if let Written::InBody(body) = written {
        return Ok(body);
    }
    let body = token_parameters(req).await?;
    if has_assertion(&body) {
        return Err(Error::InvalidClient);
    }
    Ok(body)
}

fn inactive() -> Result<web_sys::Response, Error> {
    respond::json_raw(200, &InactiveIntrospection { active: false })
}

/// `POST …/oauth/introspect` — API key with scope `introspect`. The hottest path: read from
/// the runtime's request and answered as the runtime's `Response` (`respond::json_raw`), with
/// none of the worker crate's conversions.
pub async fn introspect(
    cx: &Ctx<'_>,
    req: &mut RuntimeRequest,
    params: &Params,
) -> Result<web_sys::Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let written = who(req).await?;
    let client = match introspection::introspection_client(
        cx,
        &WorkerFederation,
        &app_id,
        &tenant_id,
        written.as_ref(),
    )
    .await?
    {
        ClientCheck::Authenticated(client) => client,
        ClientCheck::FailedClosed => return inactive(),
    };
    let body = parameters(req, written).await?;
    match introspection::introspect(cx, &client, &body.token).await {
        Introspection::Active(active) => {
            let ActiveToken {
                token,
                flags,
                effective,
            } = *active;
            respond::json_raw(200, &ActiveIntrospection::new(&token, flags, effective))
        }
        Introspection::Client(token) => respond::json_raw(200, &ClientIntrospection::new(&token)),
        Introspection::Inactive => inactive(),
    }
}

/// `POST …/oauth/revoke` — API key with scope `introspect`.
pub async fn revoke(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let written = who(&mut req).await?;
    let client = introspection::revocation_client(
        cx,
        &WorkerFederation,
        &app_id,
        &tenant_id,
        written.as_ref(),
    )
    .await?;
    let body = parameters(&mut req, written).await?;
    introspection::revoke_token(cx, &client, &body.token).await?;
    respond::json(200, &Empty {})
}
