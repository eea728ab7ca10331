//! RFC 7662 introspection and RFC 7009 revocation of a tenant's tokens
//! (`/apps/{app_id}/tenants/{tenant_id}/oauth/…`), called by an app's backend with a tenant
//! API key (Bearer), or by a confidential OAuth client of the tenant (Basic) for its own
//! tokens. Introspection answers `{"active": false}` for every inactive cause, KV failures
//! included (fail closed); revocation answers `200 {}` whatever the token.

use super::context::Ctx;
use super::dto::{ActiveIntrospection, ClientIntrospection, Empty, InactiveIntrospection};
use super::extract::{basic_credentials, bearer, place, token_parameter};
use super::respond;
use super::routes::Params;
use crate::domain::Error;
use crate::service::introspection::{self, ActiveToken, ClientCheck, Credentials, Introspection};
use worker::{Request, Response};

/// The caller's credentials as written: a Bearer API key, or HTTP Basic client credentials.
enum Written {
    Bearer(String),
    Basic(String, String),
    None,
}

impl Written {
    fn as_ref(&self) -> Credentials<'_> {
        match self {
            Written::Bearer(key) => Credentials::Bearer(key),
            Written::Basic(id, secret) => Credentials::Basic(id, secret),
            Written::None => Credentials::None,
        }
    }
}

fn credentials(req: &Request) -> Written {
    if let Some(key) = bearer(req) {
        return Written::Bearer(key);
    }
    match basic_credentials(req) {
        Ok(Some((id, secret))) => Written::Basic(id, secret),
        _ => Written::None,
    }
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
    let client = match introspection::introspection_client(
        cx,
        &app_id,
        &tenant_id,
        credentials(&req).as_ref(),
    )
    .await?
    {
        ClientCheck::Authenticated(client) => client,
        ClientCheck::FailedClosed => return inactive(),
    };
    let token = token_parameter(&mut req).await?;
    match introspection::introspect(cx, &client, &token).await {
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
    let client =
        introspection::revocation_client(cx, &app_id, &tenant_id, credentials(&req).as_ref())
            .await?;
    let token = token_parameter(&mut req).await?;
    introspection::revoke_token(cx, &client, &token).await?;
    respond::json(200, &Empty {})
}
