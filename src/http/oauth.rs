//! RFC 7662 introspection and RFC 7009 revocation of a tenant's tokens
//! (`/apps/{app_id}/tenants/{tenant_id}/oauth/…`), called by an app's backend with a tenant
//! API key (Bearer), or by a confidential OAuth client of the tenant for its own tokens: HTTP
//! Basic with its secret, or (`private_key_jwt`) an RFC 7523 assertion in the body. Introspection answers `{"active": false}` for every inactive cause, KV failures
//! included (fail closed); revocation answers `200 {}` whatever the token.

use super::context::Ctx;
use super::dto::{ActiveIntrospection, ClientIntrospection, Empty, InactiveIntrospection};
use super::extract::{basic_credentials, bearer, place, token_parameters, TokenParameters};
use super::federation::WorkerFederation;
use super::respond;
use super::routes::Params;
use crate::domain::Error;
use crate::service::introspection::{self, ActiveToken, ClientCheck, Credentials, Introspection};
use worker::{Request, Response};

/// The caller's credentials as written: a Bearer API key, HTTP Basic client credentials, or
/// (in the body) a `private_key_jwt` client's assertion.
enum Written {
    Bearer(String),
    Basic(String, String),
    InBody,
    None,
}

impl Written {
    fn as_ref<'a>(&'a self, body: &'a TokenParameters) -> Credentials<'a> {
        match self {
            Written::Bearer(key) => Credentials::Bearer(key),
            Written::Basic(id, secret) => Credentials::Basic(id, secret),
            Written::InBody => Credentials::Assertion {
                assertion_type: body.client_assertion_type.as_deref(),
                assertion: body.client_assertion.as_deref(),
                client_id: body.client_id.as_deref(),
            },
            Written::None => Credentials::None,
        }
    }
}

/// The body and the one way its caller authenticates: a header, or an assertion in the body
/// — both at once is `401 invalid_client`, and so is a body that does not parse from a caller
/// that shows no header (it is unauthenticated before it is malformed).
async fn read(req: &mut Request) -> Result<(TokenParameters, Written), Error> {
    let header = if let Some(key) = bearer(req) {
        Written::Bearer(key)
    } else {
        match basic_credentials(req) {
            Ok(Some((id, secret))) => Written::Basic(id, secret),
            _ => Written::None,
        }
    };
    let body = match token_parameters(req).await {
        Ok(body) => body,
        Err(Error::Validation(_)) if matches!(header, Written::None) => {
            return Err(Error::InvalidClient)
        }
        Err(e) => return Err(e),
    };
    let in_body = body.client_assertion.is_some() || body.client_assertion_type.is_some();
    let written = match (header, in_body) {
        (Written::None, true) => Written::InBody,
        (_, true) => return Err(Error::InvalidClient),
        (header, false) => header,
    };
    Ok((body, written))
}

fn inactive() -> Result<Response, Error> {
    respond::json(200, &InactiveIntrospection { active: false })
}

/// `POST …/oauth/introspect` — API key with scope `introspect`.
pub async fn introspect(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let (body, written) = read(&mut req).await?;
    let client = match introspection::introspection_client(
        cx,
        &WorkerFederation,
        &app_id,
        &tenant_id,
        written.as_ref(&body),
    )
    .await?
    {
        ClientCheck::Authenticated(client) => client,
        ClientCheck::FailedClosed => return inactive(),
    };
    match introspection::introspect(cx, &client, &body.token).await {
        Introspection::Active(active) => {
            let ActiveToken {
                token,
                flags,
                effective,
            } = *active;
            respond::json(200, &ActiveIntrospection::new(&token, flags, effective))
        }
        Introspection::Client(token) => respond::json(200, &ClientIntrospection::new(&token)),
        Introspection::Inactive => inactive(),
    }
}

/// `POST …/oauth/revoke` — API key with scope `introspect`.
pub async fn revoke(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let (body, written) = read(&mut req).await?;
    let client = introspection::revocation_client(
        cx,
        &WorkerFederation,
        &app_id,
        &tenant_id,
        written.as_ref(&body),
    )
    .await?;
    introspection::revoke_token(cx, &client, &body.token).await?;
    respond::json(200, &Empty {})
}
