//! The OAuth 2.1 authorization server of each tenant: its metadata (at the three discovery
//! URLs), the authorization endpoint's pages and their forms, the token endpoint, and the
//! tenant's OAuth settings and clients under `/admin`, a confidential client's secret rotation
//! included (`service::oauth` decides everything).
//!
//! The pages keep their state in two cookies scoped to the tenant's `/oauth` path (`Secure`,
//! `HttpOnly`, `SameSite=Lax`): `tessera_oauth_csrf` (random, whose MAC each form carries) and
//! `tessera_oauth_session` (the signed sign-in). The token endpoint answers RFC 6749 JSON,
//! never problem documents, with `Cache-Control: no-store`.

use super::context::Ctx;
use super::dto::{
    ClientBody, ClientCreated, ClientEnvelope, Discovery, GrantBody, OAuthErrorBody,
    OAuthSettingsEnvelope, PageBody, RegisteredClient, TokenBody,
};
use super::extract::{
    allowed, basic_credentials, bearer, bounded_body, caller, client_subject_of, cookie,
    cookie_up_to, header, json_body, page_request, param, place, query,
};
use super::federation::WorkerFederation;
use super::pages::{self, FormState};
use super::respond;
use super::routes::Params;
use crate::domain::authz::{Permission, Target};
use crate::domain::oauth::{ClientSpec, ClientStatus, OAuthSettings, Registration};
use crate::domain::Error;
use crate::service::oauth::{
    self, Browser, PageContext, PageForm, PageOutcome, ProviderAnswer, RegisterFailure,
    RegistrationRequest, TokenFailure, TokenRequest,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use worker::{Request, Response};

const CSRF_COOKIE: &str = "tessera_oauth_csrf";
const SESSION_COOKIE: &str = "tessera_oauth_session";
const FLOW_COOKIE: &str = "tessera_oauth_flow";

/// The metadata document of a tenant's issuer (RFC 8414), at each of its three URLs.
pub async fn metadata(cx: &Ctx<'_>, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let found = oauth::metadata(cx, &app_id, &tenant_id).await?;
    let jwks_uri = format!("{}/apps/{app_id}/.well-known/jwks.json", cx.origin);
    respond::cacheable(
        &Discovery::new(found.issuer, jwks_uri, &found.settings),
        cx.config.jwks_max_age_seconds,
    )
}

// ---------------------------------------------------------------------------------------
// The pages.
// ---------------------------------------------------------------------------------------

/// The browser's CSRF cookie, or a new one (`true`: it must be set on the answer).
fn csrf_cookie(cx: &Ctx<'_>, req: &Request) -> Result<(String, bool), Error> {
    match cookie(req, CSRF_COOKIE).filter(|c| c.len() == 43) {
        Some(existing) => Ok((existing, false)),
        None => Ok((B64URL.encode(cx.random::<32>()?), true)),
    }
}

fn cookie_path(params: &Params) -> Result<String, Error> {
    let (app_id, tenant_id) = place(params)?;
    Ok(format!("/apps/{app_id}/tenants/{tenant_id}/oauth"))
}

fn set_cookie(
    response: &Response,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) -> Result<(), Error> {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    response.headers().append(
        "Set-Cookie",
        &format!("{name}={value}; Path={path}{age}; Secure; HttpOnly; SameSite=Lax"),
    )?;
    Ok(())
}

fn html(status: u16, body: String, csp: &str) -> Result<Response, Error> {
    let response = Response::from_html(body)?.with_status(status);
    let headers = response.headers();
    headers.set("Content-Security-Policy", csp)?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("X-Frame-Options", "DENY")?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    headers.set("Referrer-Policy", "no-referrer")?;
    Ok(response)
}

fn redirect(status: u16, location: &str) -> Result<Response, Error> {
    let response = Response::empty()?.with_status(status);
    response.headers().set("Location", location)?;
    response.headers().set("Cache-Control", "no-store")?;
    response.headers().set("Referrer-Policy", "no-referrer")?;
    Ok(response)
}

/// The policy of a page: forms post to the issuer, and what follows may redirect to the
/// client (a decision) — or, from the sign-in page only, to one of the tenant's identity
/// providers (a third-party sign-in).
fn page_csp(context: &PageContext, sign_in: bool) -> String {
    let mut others = vec![context.redirect_origin.as_str()];
    if sign_in {
        others.extend(context.provider_origins.iter().map(String::as_str));
    }
    pages::content_security_policy(pages::origin_of(&context.issuer).unwrap_or(""), &others)
}

/// What every form of a page carries, posting to `action`.
fn form_of<'a>(context: &'a PageContext, action: &'a str) -> FormState<'a> {
    FormState {
        action,
        csrf: &context.csrf,
        request: &context.request,
    }
}

/// Writes what the service decided as the browser's answer.
fn answer(
    outcome: PageOutcome,
    params: &Params,
    new_csrf: Option<&str>,
) -> Result<Response, Error> {
    let action = |context: &PageContext| format!("{}/oauth/authorize", context.issuer);
    let response = match outcome {
        PageOutcome::SignIn {
            context,
            status,
            error,
        } => {
            let action = action(&context);
            let form = form_of(&context, &action);
            let methods = pages::Methods {
                password: context.password,
                passwordless: context.passwordless,
                providers: &context.providers,
            };
            let body = pages::sign_in(&form, &context.client_name, methods, error.as_deref());
            html(status, body, &page_csp(&context, true))?
        }
        PageOutcome::Code {
            context,
            attempt_id,
            email,
            status,
            error,
        } => {
            let action = action(&context);
            let form = form_of(&context, &action);
            let body = pages::code(
                &form,
                &context.client_name,
                &email,
                &attempt_id,
                error.as_deref(),
            );
            html(status, body, &page_csp(&context, false))?
        }
        PageOutcome::Consent { context, email } => {
            let action = action(&context);
            let form = form_of(&context, &action);
            let body = pages::consent(
                &form,
                &context.client_name,
                &context.redirect_host,
                &context.scopes,
                context.resource.as_deref(),
                &email,
            );
            html(200, body, &page_csp(&context, false))?
        }
        PageOutcome::ToClient(location) => redirect(302, &location)?,
        PageOutcome::SignedIn { location, session } => {
            let response = redirect(303, &location)?;
            set_cookie(
                &response,
                SESSION_COOKIE,
                &session,
                &cookie_path(params)?,
                Some(crate::domain::oauth::BROWSER_SESSION_TTL_SECONDS),
            )?;
            set_cookie(&response, FLOW_COOKIE, "", &cookie_path(params)?, Some(0))?;
            response
        }
        PageOutcome::ToProvider { location, flow } => {
            let response = redirect(303, &location)?;
            set_cookie(
                &response,
                FLOW_COOKIE,
                &flow,
                &cookie_path(params)?,
                Some(oauth::FLOW_COOKIE_TTL_SECONDS),
            )?;
            response
        }
        PageOutcome::Refused { status, message } => html(
            status,
            pages::error(&message),
            &pages::content_security_policy("", &[]),
        )?,
    };
    if let Some(csrf) = new_csrf {
        set_cookie(&response, CSRF_COOKIE, csrf, &cookie_path(params)?, None)?;
    }
    Ok(response)
}

/// `GET {issuer}/oauth/authorize`.
pub async fn authorize(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let url = req
        .url()
        .map_err(|_| Error::validation("the request URL cannot be parsed"))?;
    let (csrf, fresh) = csrf_cookie(cx, &req)?;
    let session = cookie(&req, SESSION_COOKIE);
    let browser = Browser {
        csrf_cookie: &csrf,
        session: session.as_deref(),
    };
    let outcome = oauth::authorize(
        cx,
        &WorkerFederation,
        &app_id,
        &tenant_id,
        url.query().unwrap_or(""),
        &browser,
    )
    .await?;
    answer(outcome, params, fresh.then_some(csrf.as_str()))
}

/// `POST {issuer}/oauth/authorize`: the pages' forms.
pub async fn submit(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let bytes = bounded_body(&mut req).await?;
    let mut form = PageForm::default();
    for (name, value) in super::form::pairs(&bytes) {
        let slot = match name.as_ref() {
            "step" => &mut form.step,
            "csrf" => &mut form.csrf,
            "request" => &mut form.request,
            "email" => &mut form.email,
            "password" => &mut form.password,
            "decision" => &mut form.decision,
            "attempt_id" => &mut form.attempt_id,
            "code" => &mut form.code,
            "provider" => &mut form.provider,
            _ => continue,
        };
        *slot = Some(value.into_owned());
    }
    let (csrf, fresh) = csrf_cookie(cx, &req)?;
    let session = cookie(&req, SESSION_COOKIE);
    let browser = Browser {
        csrf_cookie: if fresh { "" } else { &csrf },
        session: session.as_deref(),
    };
    let outcome = oauth::submit(
        cx,
        &WorkerFederation,
        &app_id,
        &tenant_id,
        form,
        &browser,
        client_subject_of(&req),
    )
    .await?;
    answer(outcome, params, fresh.then_some(csrf.as_str()))
}

/// `GET {issuer}/oauth/callback`: a third-party sign-in of the pages comes back from the
/// provider (`code`, `state`, or the provider's `error`).
pub async fn callback(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let url = req
        .url()
        .map_err(|_| Error::validation("the request URL cannot be parsed"))?;
    let mut answer_in = ProviderAnswer::default();
    for (name, value) in url.query_pairs() {
        let slot = match name.as_ref() {
            "code" => &mut answer_in.code,
            "state" => &mut answer_in.state,
            "error" => &mut answer_in.error,
            _ => continue,
        };
        *slot = Some(value.into_owned());
    }
    let (csrf, fresh) = csrf_cookie(cx, &req)?;
    let session = cookie(&req, SESSION_COOKIE);
    let flow = cookie_up_to(&req, FLOW_COOKIE, oauth::FLOW_COOKIE_MAX_CHARS);
    let browser = Browser {
        csrf_cookie: &csrf,
        session: session.as_deref(),
    };
    let outcome = oauth::provider_callback(
        cx,
        &WorkerFederation,
        (&app_id, &tenant_id),
        answer_in,
        &browser,
        flow.as_deref(),
        client_subject_of(&req),
    )
    .await?;
    answer(outcome, params, fresh.then_some(csrf.as_str()))
}

// ---------------------------------------------------------------------------------------
// The token endpoint.
// ---------------------------------------------------------------------------------------

fn token_json<T: serde::Serialize>(status: u16, body: &T) -> Result<Response, Error> {
    let response = Response::from_json(body)?.with_status(status);
    response.headers().set("Cache-Control", "no-store")?;
    response.headers().set("Pragma", "no-cache")?;
    Ok(response)
}

/// `POST {issuer}/oauth/token`.
pub async fn token(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let oauth_error = |status: u16, error: &'static str, description: &str| {
        token_json(
            status,
            &OAuthErrorBody {
                error,
                error_description: description.to_owned(),
            },
        )
    };
    let is_form = header(&req, "Content-Type").is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !is_form {
        return oauth_error(
            400,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let bytes = bounded_body(&mut req).await?;
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in super::form::pairs(&bytes) {
        if fields
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return oauth_error(400, "invalid_request", "a parameter is repeated");
        }
    }
    let (basic, bad_basic) = match basic_credentials(&req) {
        Ok(basic) => (basic, false),
        Err(()) => (None, true),
    };
    let mut take = |name: &str| fields.remove(name);
    let request = TokenRequest {
        grant_type: take("grant_type"),
        code: take("code"),
        redirect_uri: take("redirect_uri"),
        code_verifier: take("code_verifier"),
        refresh_token: take("refresh_token"),
        scope: take("scope"),
        resource: take("resource"),
        client_id: take("client_id"),
        client_secret: take("client_secret"),
        client_assertion_type: take("client_assertion_type"),
        client_assertion: take("client_assertion"),
        basic,
        bad_basic,
    };
    match oauth::token(cx, &WorkerFederation, &app_id, &tenant_id, request).await {
        Ok(issued) => token_json(
            200,
            &TokenBody {
                access_token: issued.access_token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                refresh_token: issued.refresh_token.map(|r| r.expose().to_owned()),
                scope: issued.scope,
            },
        ),
        Err(TokenFailure::OAuth(e)) => {
            let response = oauth_error(e.status, e.code, &e.description)?;
            if e.basic_challenge {
                response
                    .headers()
                    .set("WWW-Authenticate", "Basic realm=\"token\"")?;
            }
            Ok(response)
        }
        Err(TokenFailure::Service(e)) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// Management.
// ---------------------------------------------------------------------------------------

/// A field that may be absent but is never `null` (the document gives none of them a null).
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The settings whole (a PUT replaces them): every field is required, none may be `null`.
#[derive(Deserialize)]
struct SettingsBody {
    registration: String,
    client_id_metadata_documents: bool,
    scopes: BTreeMap<String, String>,
    access_token_ttl_seconds: i64,
}

/// `PUT /admin/apps/{app_id}/tenants/{tenant_id}/oauth` — `clients:write`.
pub async fn put_settings(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::ClientsWrite), target).await?;
    let body: SettingsBody = json_body(&mut req).await?;
    let settings = OAuthSettings {
        registration: Registration::parse(&body.registration)?,
        client_id_metadata_documents: body.client_id_metadata_documents,
        scopes: body.scopes,
        access_token_ttl_seconds: body.access_token_ttl_seconds,
    };
    let oauth = oauth::put_settings(cx, &caller, &app_id, &tenant_id, settings).await?;
    respond::json(200, &OAuthSettingsEnvelope { oauth })
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}/oauth` — `clients:read`.
pub async fn get_settings(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let caller = caller(cx, &req).await?;
    let oauth = oauth::get_settings(cx, &caller, &app_id, &tenant_id).await?;
    respond::json(200, &OAuthSettingsEnvelope { oauth })
}

#[derive(Deserialize)]
struct ClientBodyIn {
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "not_null")]
    client_type: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    redirect_uris: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    grant_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    token_endpoint_auth_method: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    jwks: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "not_null")]
    status: Option<String>,
}

impl ClientBodyIn {
    fn spec(self) -> (ClientSpec, Option<String>) {
        (
            ClientSpec {
                name: self.name,
                client_type: self.client_type,
                redirect_uris: self.redirect_uris,
                grant_types: self.grant_types,
                scopes: self.scopes,
                auth_method: self.token_endpoint_auth_method,
                jwks: self.jwks,
            },
            self.status,
        )
    }
}

/// `POST /admin/apps/{app_id}/tenants/{tenant_id}/clients` — `clients:write`.
pub async fn create_client(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::ClientsWrite), target).await?;
    let body: ClientBodyIn = json_body(&mut req).await?;
    let (spec, status) = body.spec();
    if status.is_some() {
        return Err(Error::validation(
            "a new client is active; set its status afterwards",
        ));
    }
    let (client, secret) = oauth::create_client(cx, &caller, &app_id, &tenant_id, spec).await?;
    respond::json(
        201,
        &ClientCreated {
            client: (&client).into(),
            client_secret: secret.map(|s| s.expose().to_owned()),
        },
    )
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}/clients` — `clients:read`.
pub async fn list_clients(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let caller = caller(cx, &req).await?;
    let page = page_request(&query(&req)?)?;
    let clients = oauth::list_clients(cx, &caller, &app_id, &tenant_id, &page).await?;
    respond::json(200, &PageBody::of(&clients, ClientBody::from))
}

/// `GET /admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}` — `clients:read`.
pub async fn get_client(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let caller = caller(cx, &req).await?;
    let client =
        oauth::get_client(cx, &caller, &app_id, &tenant_id, param(params, "client_id")).await?;
    respond::json(
        200,
        &ClientEnvelope {
            client: (&client).into(),
        },
    )
}

/// `PATCH /admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}` — `clients:write`.
pub async fn patch_client(
    cx: &Ctx<'_>,
    mut req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let target = Target::Tenant(&app_id, &tenant_id);
    let caller = allowed(cx, &req, Some(Permission::ClientsWrite), target).await?;
    let body: ClientBodyIn = json_body(&mut req).await?;
    let (spec, status) = body.spec();
    let status = status.as_deref().map(ClientStatus::parse).transpose()?;
    let id = param(params, "client_id");
    let client = oauth::update_client(cx, &caller, &app_id, &tenant_id, id, spec, status).await?;
    respond::json(
        200,
        &ClientEnvelope {
            client: (&client).into(),
        },
    )
}

/// `DELETE /admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}` — `clients:write`.
pub async fn delete_client(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let caller = caller(cx, &req).await?;
    oauth::delete_client(cx, &caller, &app_id, &tenant_id, param(params, "client_id")).await?;
    respond::no_content()
}

/// `POST /admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}/secret` —
/// `clients:write`. A confidential client's new secret, shown here once.
pub async fn rotate_client_secret(
    cx: &Ctx<'_>,
    req: Request,
    params: &Params,
) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let caller = caller(cx, &req).await?;
    let id = param(params, "client_id");
    let (client, secret) =
        oauth::rotate_client_secret(cx, &caller, &app_id, &tenant_id, id).await?;
    respond::json(
        200,
        &ClientCreated {
            client: (&client).into(),
            client_secret: Some(secret.expose().to_owned()),
        },
    )
}

// ---------------------------------------------------------------------------------------
// Dynamic registration, and an end user's grants.
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RegistrationBody {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<serde_json::Value>,
}

/// `POST {issuer}/oauth/register` (RFC 7591): `201` with the client's metadata (and its secret,
/// once); errors are RFC 7591 JSON.
pub async fn register(cx: &Ctx<'_>, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let refuse = |status: u16, error: &'static str, description: &str| {
        token_json(
            status,
            &OAuthErrorBody {
                error,
                error_description: description.to_owned(),
            },
        )
    };
    let bytes = bounded_body(&mut req).await?;
    let Ok(body) = serde_json::from_slice::<RegistrationBody>(&bytes) else {
        return refuse(
            400,
            "invalid_client_metadata",
            "the body must be a JSON object of client metadata",
        );
    };
    let request = RegistrationRequest {
        redirect_uris: body.redirect_uris,
        token_endpoint_auth_method: body.token_endpoint_auth_method,
        grant_types: body.grant_types,
        response_types: body.response_types,
        client_name: body.client_name,
        scope: body.scope,
        jwks: body.jwks,
        jwks_uri: body.jwks_uri.is_some(),
    };
    let address = client_subject_of(&req);
    match oauth::register(cx, &app_id, &tenant_id, request, address.as_deref()).await {
        Ok((client, secret)) => token_json(
            201,
            &RegisteredClient::new(&client, secret.map(|s| s.expose().to_owned())),
        ),
        Err(RegisterFailure::Refused(e)) => {
            let response = refuse(e.status, e.code, &e.description)?;
            if let Some(seconds) = e.retry_after {
                response
                    .headers()
                    .set("Retry-After", &seconds.to_string())?;
            }
            Ok(response)
        }
        Err(RegisterFailure::Service(e)) => Err(e),
    }
}

/// `GET …/auth/grants` — bearer access token.
pub async fn grants(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    let grants = oauth::grants(cx, &app_id, &tenant_id, bearer(&req).as_deref()).await?;
    let items = grants
        .into_iter()
        .map(|g| GrantBody {
            client_id: g.client_id.to_string(),
            client_name: g.client_name,
            scopes: g.scopes,
            consented_at: g.consented_at.rfc3339(),
        })
        .collect();
    respond::json(
        200,
        &PageBody {
            items,
            next_cursor: None,
        },
    )
}

/// `DELETE …/auth/grants/{client_id}` — bearer access token. `204`.
pub async fn revoke_grant(cx: &Ctx<'_>, req: Request, params: &Params) -> Result<Response, Error> {
    let (app_id, tenant_id) = place(params)?;
    // A metadata document's client id is a URL: it comes percent-encoded in the path.
    let client_id = form_urlencoded::parse(format!("id={}", param(params, "client_id")).as_bytes())
        .next()
        .map(|(_, id)| id.into_owned())
        .unwrap_or_default();
    oauth::revoke_grant(cx, &app_id, &tenant_id, bearer(&req).as_deref(), &client_id).await?;
    respond::no_content()
}
