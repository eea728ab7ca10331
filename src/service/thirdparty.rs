//! Third-party sign-in per tenant (login method `thirdparty`): the providers operators
//! configure (`/admin/apps/{app}/tenants/{tenant}/providers/{id}`), and the flow end users go
//! through — `start` (an authorization URL with state, PKCE S256 and, for OIDC, a nonce) and
//! `callback` (the code exchanged at the provider, the ID token verified, or GitHub's user and
//! emails read; then sign-in, sign-up or a link by email, and a session).
//!
//! The rules:
//! - the worker calls only the URLs fixed when the provider was configured (the issuer's
//!   discovery document, read then, or GitHub's), through the `Federation` port: https (or
//!   loopback http), no redirect followed, a timeout and a size bound per answer;
//! - a start and a callback are counted per client before anything else is done (a callback
//!   under sign-in's per-client policy, given back when it signs in);
//! - the state works once (taken by one `DELETE … RETURNING`), for 10 minutes, at the tenant,
//!   provider and redirect URI it was made for;
//! - an ID token is accepted only with an asymmetric signature of the issuer's current keys,
//!   the issuer, our client as audience, unexpired, with the flow's nonce (`domain::jose`);
//! - a subject is linked to one user per tenant; a first sign-in links by email only when the
//!   provider asserts the email verified (`domain::thirdparty::first_sign_in`); a link to a user
//!   who never verified the email removes its password and revokes its sessions;
//! - nothing of a provider's answer, and no secret, reaches a client or a log: failures are
//!   `502 provider_error` with a fixed sentence.
//!
//! Must not depend on `http`.

use super::cache::{self, OnKvFailure};
use super::credentials::device_token;
use super::edge;
use super::passwordless::Consumed;
use super::principal::{actor, audit_entry, Change};
use super::sessions;
use super::signin::SignedIn;
use super::tenancy::existing_tenant;
use super::users::EndUser;
use super::{Ctx, Stores};
use crate::domain::audit::AuditAction;
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::deletion::Target as DeletionTarget;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ProviderId, TenantId};
use crate::domain::jose::{check_claims, CompactJws, Expected, IdTokenClaims, Jwk, JwkSet};
use crate::domain::links::WebUrl;
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::tenancy::{App, LoginMethod, Tenant};
use crate::domain::thirdparty::{
    authorization_url, check_client_secret, discovery_url, endpoints_of, first_sign_in,
    github_endpoints, github_profile, parse_client_id, parse_scopes, DiscoveryDocument, Endpoints,
    FirstSignIn, Flow, FlowKey, GithubEmail, GithubUser, Identity, Profile, Provider, ProviderKind,
    TokenAuth, FLOW_TTL_MS,
};
use crate::domain::throttle::{ThrottlePolicy, CLIENT, SIGNUP};
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{
    DeletionStore, Federation, OutboundLimits, OutboundMethod, OutboundRequest, ProviderHttp,
    Settlement, ThirdPartyStore, UserStore, MAX_OUTBOUND_BODY_BYTES,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::rc::Rc;

/// How long a fetched key set is trusted before it is fetched again.
pub const JWKS_TTL_MS: i64 = 10 * 60 * 1000;
/// The shortest wait between two fetches of one key set for an unknown `kid` (a rotation).
pub const JWKS_REFETCH_MS: i64 = 30 * 1000;
/// Key sets an isolate keeps at most.
pub const MAX_CACHED_JWKS: usize = 256;
/// Longest authorization code accepted.
const MAX_CODE_CHARS: usize = 2048;
/// The `User-Agent` the GitHub API requires.
const USER_AGENT: &str = "tessera";

/// What an operator sets with `PUT …/providers/{id}`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    /// The OpenID issuer (oidc, required).
    pub issuer: Option<WebUrl>,
    /// A GitHub Enterprise Server's web origin (github; github.com when absent).
    pub enterprise_url: Option<WebUrl>,
    pub client_id: String,
    /// Required when the provider is created; absent on an update, the stored one is kept.
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Whether `user` has a face in a tenant of `app` other than `tenant`.
async fn has_face_elsewhere<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &AppId,
    tenant: &TenantId,
    user: &UserId,
) -> Result<bool, Error> {
    let everywhere = DeletionTarget::User {
        app: app.clone(),
        tenant: None,
        user: *user,
    };
    let faces = cx.db.find_faces(&everywhere, 2).await?;
    Ok(faces.iter().any(|(t, _)| t != tenant))
}

/// `PUT /admin/apps/{app}/tenants/{tenant}/providers/{id}` — `tenants:write`. Creates or
/// replaces a provider: an OIDC issuer's discovery document is read now (its endpoints are the
/// only URLs the worker will call for it); the client secret is sealed. `true` when created.
pub async fn put_provider<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    caller: &Principal,
    (app_id, tenant_id, id): (&AppId, &TenantId, &ProviderId),
    settings: ProviderSettings,
) -> Result<(Provider, bool), Error> {
    authorize(
        caller,
        Some(Permission::TenantsWrite),
        &Target::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    let client_id = parse_client_id(&settings.client_id)?;
    let scopes = parse_scopes(settings.kind, settings.scopes.as_deref())?;
    if let Some(secret) = &settings.client_secret {
        check_client_secret(secret)?;
    }
    existing_tenant(cx, app_id, tenant_id).await?;
    let existing = cx.db.find_provider(app_id, tenant_id, id).await?;
    let context = Provider::secret_context(app_id, tenant_id, id);
    let (issuer, endpoints) = match settings.kind {
        ProviderKind::Oidc => {
            let issuer = settings
                .issuer
                .ok_or_else(|| Error::validation("an oidc provider needs an issuer"))?;
            let endpoints = discover(net, &issuer).await?;
            (issuer, endpoints)
        }
        ProviderKind::Github => github_endpoints(settings.enterprise_url.as_ref())?,
    };
    let sealed_secret =
        match (&settings.client_secret, &existing) {
            (Some(secret), _) => {
                cx.encryption_key()?
                    .seal_bytes(&context, secret.as_bytes(), cx.random()?)?
            }
            (None, Some(existing))
                if existing.secret_may_stay_for(settings.kind, &issuer, &client_id, &endpoints) =>
            {
                existing.sealed_secret.clone()
            }
            (None, Some(_)) => return Err(Error::validation(
                "client_secret is required when the kind, issuer, client id or endpoints change",
            )),
            (None, None) => return Err(Error::validation("client_secret is required")),
        };
    let provider = Provider {
        app_id: app_id.clone(),
        tenant_id: tenant_id.clone(),
        id: id.clone(),
        kind: settings.kind,
        issuer,
        client_id,
        sealed_secret,
        scopes,
        endpoints,
        created_at: existing.as_ref().map_or(cx.now, |p| p.created_at),
        updated_at: cx.now,
    };
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::ProviderPut,
            target: id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({
                "kind": provider.kind.as_str(),
                "issuer": provider.issuer.as_str(),
                "client_id": provider.client_id,
                "scopes": provider.scopes,
                "secret_replaced": settings.client_secret.is_some(),
            }),
        },
    )?;
    let created = cx
        .db
        .put_provider(&provider, &audit)
        .await?
        .ok_or(Error::TenantNotFound)?;
    Ok((provider, created))
}

/// Reads an issuer's discovery document and the endpoints it names.
async fn discover(net: &impl ProviderHttp, issuer: &WebUrl) -> Result<Endpoints, Error> {
    let request = OutboundRequest {
        method: OutboundMethod::Get,
        url: discovery_url(issuer)?,
        headers: vec![("Accept", "application/json".to_owned())],
        form: None,
        limits: OutboundLimits::PROVIDER,
    };
    let doc: DiscoveryDocument = call(net, &request, "discovery").await?;
    endpoints_of(issuer, &doc)
}

/// `GET /admin/apps/{app}/tenants/{tenant}/providers/{id}` — `tenants:read`.
pub async fn get_provider<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    (app_id, tenant_id, id): (&AppId, &TenantId, &ProviderId),
) -> Result<Provider, Error> {
    authorize(
        caller,
        Some(Permission::TenantsRead),
        &Target::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    existing_tenant(cx, app_id, tenant_id).await?;
    cx.db
        .find_provider(app_id, tenant_id, id)
        .await?
        .ok_or_else(no_provider)
}

/// `GET /admin/apps/{app}/tenants/{tenant}/providers` — `tenants:read`.
pub async fn list_providers<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    page: &PageRequest,
) -> Result<Page<Provider>, Error> {
    authorize(
        caller,
        Some(Permission::TenantsRead),
        &Target::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    existing_tenant(cx, app_id, tenant_id).await?;
    let providers = cx
        .db
        .list_providers(app_id, tenant_id, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(providers, page.limit, |p| p.id.to_string()))
}

/// `DELETE /admin/apps/{app}/tenants/{tenant}/providers/{id}` — `tenants:write`. The provider
/// goes with its identities (its users keep their accounts and other methods) and its flows.
pub async fn delete_provider<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    (app_id, tenant_id, id): (&AppId, &TenantId, &ProviderId),
) -> Result<(), Error> {
    authorize(
        caller,
        Some(Permission::TenantsWrite),
        &Target::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::ProviderDelete,
            target: id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({}),
        },
    )?;
    if cx.db.delete_provider(app_id, tenant_id, id, &audit).await? {
        return Ok(());
    }
    existing_tenant(cx, app_id, tenant_id).await?;
    Err(no_provider())
}

fn no_provider() -> Error {
    Error::NotFound("no such provider".to_owned())
}

/// A started flow: where to send the browser, and the state the callback must bring back.
#[derive(Clone, PartialEq, Eq)]
pub struct Started {
    pub authorization_url: String,
    pub state: PlainSecret,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// `POST …/auth/thirdparty/{provider}/start` — no credential. Counted per client (`start:`
/// under the sign-up policy), then a flow bound to the tenant, provider and `redirect_uri`
/// (one of the tenant's, exactly).
pub async fn start<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    provider_id: &ProviderId,
    redirect_uri: &str,
    client: Option<&str>,
) -> Result<Started, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    tenant.require(LoginMethod::ThirdParty)?;
    let redirect_uri = tenant.redirect_uri(redirect_uri)?;
    begin(cx, (&app, &tenant), provider_id, redirect_uri, client).await
}

/// A flow that comes back to the tenant's OAuth authorization pages (`return_to`, the
/// issuer's `/oauth/callback`) instead of one of the tenant's redirect URIs: the pages' own
/// sign-in with the tenant's providers. Counted and bound like `start`; only `callback` with
/// the same `return_to` completes it.
pub(super) async fn start_at_pages<S: Stores>(
    cx: &Ctx<'_, S>,
    (app, tenant): (&App, &Tenant),
    provider_id: &ProviderId,
    return_to: WebUrl,
    client: Option<&str>,
) -> Result<Started, Error> {
    tenant.require(LoginMethod::ThirdParty)?;
    begin(cx, (app, tenant), provider_id, return_to, client).await
}

async fn begin<S: Stores>(
    cx: &Ctx<'_, S>,
    (app, tenant): (&App, &Tenant),
    provider_id: &ProviderId,
    redirect_uri: WebUrl,
    client: Option<&str>,
) -> Result<Started, Error> {
    let subject = client.map(|c| format!("start:{c}"));
    let counted = subject.as_deref().map(|s| (s, &SIGNUP));
    let provider = counted_provider(cx, (&app.id, &tenant.id, provider_id), counted).await?;
    let state = PlainSecret::generate(SecretKind::FlowState, cx.random()?);
    let flow = Flow {
        state_hash: state.hash(),
        app_id: app.id.clone(),
        tenant_id: tenant.id.clone(),
        provider_id: provider.id.clone(),
        redirect_uri: redirect_uri.clone(),
        created_at: cx.now,
        expires_at: cx.now.plus_ms(FLOW_TTL_MS),
    };
    cx.db.create_flow(&flow).await?;
    let key = flow_key(cx)?;
    Ok(Started {
        authorization_url: authorization_url(&provider, &redirect_uri, &state, &key),
        state,
    })
}

/// Counts a step of a flow against the client (`429` when it is blocked) and finds the
/// provider (`404` when there is none), in one round trip.
async fn counted_provider<S: Stores>(
    cx: &Ctx<'_, S>,
    (app_id, tenant_id, id): (&AppId, &TenantId, &ProviderId),
    client: Option<(&str, &'static ThrottlePolicy)>,
) -> Result<Provider, Error> {
    let counted = cx
        .db
        .begin_flow_step(app_id, tenant_id, id, client, cx.now)
        .await?;
    if let Some(seconds) = counted.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    counted.found.ok_or_else(no_provider)
}

fn flow_key<S: Stores>(cx: &Ctx<'_, S>) -> Result<FlowKey, Error> {
    FlowKey::from_secret(&cx.config.key_encryption_secret)
}

/// `POST …/auth/thirdparty/{provider}/callback` — the provider's `code` and the flow's
/// `state`. Counted per client first (sign-in's policy); the state taken (once); then the code
/// exchanged and the person identified at the provider; then signed in, signed up or linked.
/// A state that is unknown, used, expired or of another place is `400 invalid_code` — and so
/// is one of a flow that returns elsewhere: the pages' flows (`return_to`, see
/// `start_at_pages`) complete only there, the API's only at one of the tenant's redirect URIs.
pub async fn callback<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl Federation,
    (app_id, tenant_id, provider_id): (&AppId, &TenantId, &ProviderId),
    code: &str,
    state: &str,
    client: Option<String>,
    return_to: Option<&WebUrl>,
) -> Result<Consumed, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    tenant.require(LoginMethod::ThirdParty)?;
    let state = PlainSecret::from_client(SecretKind::FlowState, state).ok_or(Error::InvalidCode)?;
    if code.is_empty()
        || code.chars().count() > MAX_CODE_CHARS
        || !code.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(Error::validation(
            "code must be 1 to 2048 printable characters",
        ));
    }
    let counted = client.as_deref().map(|c| (c, &CLIENT));
    let provider = counted_provider(cx, (&app.id, &tenant.id, provider_id), counted).await?;
    let flow = cx
        .db
        .take_flow(&state.hash())
        .await?
        .filter(|f| f.is_open_for(&app.id, &tenant.id, &provider.id, cx.now))
        .filter(|f| match return_to {
            Some(pages) => f.redirect_uri == *pages,
            None => tenant.redirect_uri(f.redirect_uri.as_str()).is_ok(),
        })
        .ok_or(Error::InvalidCode)?;
    let profile = match provider.kind {
        ProviderKind::Oidc => oidc_profile(cx, net, &provider, &flow, &state, code).await?,
        ProviderKind::Github => github_person(cx, net, &provider, &flow, &state, code).await?,
    };
    let settle = Settlement {
        clear: None,
        give_back: client,
    };
    let session_of = |user_id: UserId| sessions::start(cx, &app, &tenant, user_id);
    let policy = cache::policy(cx, &app.id, OnKvFailure::ReadD1).await?;
    let linked = cx
        .db
        .find_identity(
            &app.id,
            &tenant.id,
            &provider.id,
            provider.issuer.as_str(),
            &profile.subject,
        )
        .await?;
    if let Some(linked) = linked {
        if linked.face.status == UserStatus::Suspended {
            return Err(Error::UserSuspended);
        }
        let (session, issued) = session_of(linked.user.id).await?;
        cx.db
            .thirdparty_sign_in(&session, &issued.refresh_token.hash(), &settle)
            .await?;
        return signed_in(cx, &linked.user, linked.face, issued, &policy, false);
    }
    let existing = match &profile.email {
        Some(email) => {
            cx.db
                .find_tenant_user_by_email(&app.id, &tenant.id, email)
                .await?
        }
        None => None,
    };
    let identity_of = |user_id: UserId| Identity {
        app_id: app.id.clone(),
        tenant_id: tenant.id.clone(),
        provider_id: provider.id.clone(),
        subject: profile.subject.clone(),
        issuer: provider.issuer.as_str().to_owned(),
        user_id,
        email: profile.email.clone(),
        created_at: cx.now,
    };
    match first_sign_in(&profile, existing.as_ref().map(|(user, _)| user))? {
        FirstSignIn::SignUp => {
            let email = profile.email.clone().ok_or(Error::EmailNotVerified)?;
            let user = User {
                app_id: app.id.clone(),
                id: UserId::generate(cx.now, cx.random()?),
                email,
                password_hash: None,
                email_verified: true,
                passwordless: false,
                created_at: cx.now,
            };
            let mut face = TenantUser::new(&user, &tenant.id, cx.now);
            let (session, issued) = session_of(user.id).await?;
            let written = cx
                .db
                .thirdparty_sign_up(
                    &user,
                    &face,
                    &identity_of(user.id),
                    (&session, &issued.refresh_token.hash()),
                    &settle,
                )
                .await?;
            if !written {
                // Someone signed the email up between the lookup and the write.
                return Err(Error::EmailTaken);
            }
            face.providers = vec![provider.id.clone()];
            signed_in(cx, &user, face, issued, &policy, true)
        }
        FirstSignIn::Link { takeover } => {
            let (mut user, mut face) = existing.ok_or(Error::EmailTaken)?;
            if face.status == UserStatus::Suspended {
                return Err(Error::UserSuspended);
            }
            if takeover && has_face_elsewhere(cx, &app.id, &tenant.id, &user.id).await? {
                // A takeover removes the app-wide password and revokes sessions in every
                // tenant; a provider that one tenant's operators configured must not do that
                // to the user's other tenants. The user verifies the email first (then the
                // link takes nothing away).
                return Err(Error::EmailTaken);
            }
            let (session, issued) = session_of(user.id).await?;
            let revoked = cx
                .db
                .link_identity(
                    &identity_of(user.id),
                    &face.email,
                    takeover,
                    (&session, &issued.refresh_token.hash()),
                    &settle,
                )
                .await?
                .ok_or_else(|| {
                    Error::Conflict("the account changed during the sign-in; try again".into())
                })?;
            if !revoked.is_empty() {
                // The link's batch bumped the user's document in each of its tenants: here,
                // as a takeover needs no face elsewhere (one made meanwhile is the sweep's).
                let doc = edge::user_doc(&app.id, &tenant.id, &user.id);
                edge::publish_after_change(cx, &doc).await;
            }
            if takeover {
                user.password_hash = None;
                user.email_verified = true;
            }
            face.providers.push(provider.id.clone());
            face.providers.sort();
            face.providers.dedup();
            signed_in(cx, &user, face, issued, &policy, false)
        }
    }
}

fn signed_in<S: Stores>(
    cx: &Ctx<'_, S>,
    user: &User,
    face: TenantUser,
    session: sessions::IssuedSession,
    policy: &crate::domain::policy::AppPolicy,
    created: bool,
) -> Result<Consumed, Error> {
    Ok(Consumed {
        signed_in: SignedIn {
            device: device_token(cx, &format!("account:{}", face.email))?,
            user: EndUser::with(user, face, policy),
            session,
        },
        created,
    })
}

/// Sends `request` and reads a `200` JSON answer; anything else is `502 provider_error` with
/// only `what` and the status in its (log-only) text.
async fn call<T: DeserializeOwned>(
    net: &impl ProviderHttp,
    request: &OutboundRequest,
    what: &str,
) -> Result<T, Error> {
    let body = fetch(net, request, what).await?;
    serde_json::from_slice(&body)
        .map_err(|_| Error::ProviderError(format!("{what}: the answer does not parse")))
}

/// Sends `request` and returns the body of a `200` answer; anything else is `502
/// provider_error`.
async fn fetch(
    net: &impl ProviderHttp,
    request: &OutboundRequest,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let answer = net
        .send(request)
        .await
        .map_err(|reason| Error::ProviderError(format!("{what}: {reason}")))?;
    if answer.status != 200 {
        return Err(Error::ProviderError(format!(
            "{what} answered {}",
            answer.status
        )));
    }
    if answer.body.len() > MAX_OUTBOUND_BODY_BYTES {
        return Err(Error::ProviderError(format!("{what}: answer too large")));
    }
    Ok(answer.body)
}

/// The client secret of a provider, unsealed.
fn client_secret<S: Stores>(cx: &Ctx<'_, S>, provider: &Provider) -> Result<String, Error> {
    let context = Provider::secret_context(&provider.app_id, &provider.tenant_id, &provider.id);
    let bytes = cx
        .encryption_key()?
        .open_bytes(&context, &provider.sealed_secret)?;
    String::from_utf8(bytes).map_err(|_| Error::Internal("a client secret is not text".into()))
}

/// The token request of the authorization-code grant (RFC 6749 §4.1.3, with RFC 7636's
/// verifier), authenticated as the provider asks.
fn token_request<S: Stores>(
    cx: &Ctx<'_, S>,
    provider: &Provider,
    flow: &Flow,
    state: &PlainSecret,
    code: &str,
) -> Result<OutboundRequest, Error> {
    let secret = client_secret(cx, provider)?;
    let verifier = flow_key(cx)?.verifier(state);
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", flow.redirect_uri.as_str())
        .append_pair("code_verifier", &verifier);
    let mut headers = vec![("Accept", "application/json".to_owned())];
    match provider.endpoints.token_auth {
        TokenAuth::Basic => {
            // RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
            let encode =
                |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&provider.client_id), encode(&secret));
            headers.push(("Authorization", format!("Basic {}", B64.encode(pair))));
        }
        TokenAuth::Post => {
            form.append_pair("client_id", &provider.client_id)
                .append_pair("client_secret", &secret);
        }
    }
    Ok(OutboundRequest {
        method: OutboundMethod::Post,
        url: provider.endpoints.token_endpoint.clone(),
        headers,
        form: Some(form.finish()),
        limits: OutboundLimits::PROVIDER,
    })
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::jose::lenient_bool")]
    email_verified: Option<bool>,
}

/// An OIDC provider's person: the code exchanged, the ID token verified (signature with the
/// issuer's keys, then its claims), and its email — from the ID token, or else from the
/// UserInfo endpoint for the same subject.
async fn oidc_profile<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl Federation,
    provider: &Provider,
    flow: &Flow,
    state: &PlainSecret,
    code: &str,
) -> Result<Profile, Error> {
    let request = token_request(cx, provider, flow, state, code)?;
    let answer: TokenAnswer = call(net, &request, "token endpoint").await?;
    let id_token = answer
        .id_token
        .ok_or_else(|| Error::ProviderError("the token answer has no ID token".into()))?;
    let jws = CompactJws::parse(&id_token)?;
    let key = signing_key(cx, net, provider, jws.header.kid.as_deref(), &jws).await?;
    let verified = net
        .verify(jws.alg, &key, jws.signing_input.as_bytes(), &jws.signature)
        .await?;
    if !verified {
        return Err(Error::ProviderError("ID token refused: signature".into()));
    }
    let claims: IdTokenClaims = serde_json::from_slice(&jws.payload)
        .map_err(|_| Error::ProviderError("ID token refused: claims".into()))?;
    let nonce = flow_key(cx)?.nonce(state);
    check_claims(
        &claims,
        &Expected {
            issuer: provider.issuer.as_str(),
            client_id: &provider.client_id,
            nonce: &nonce,
            now: cx.now,
        },
    )?;
    let (mut email, mut verified) = (claims.email.clone(), claims.email_verified);
    if email.is_none() {
        if let (Some(url), Some(token)) =
            (&provider.endpoints.userinfo_endpoint, &answer.access_token)
        {
            let request = OutboundRequest {
                method: OutboundMethod::Get,
                url: url.clone(),
                headers: vec![
                    ("Accept", "application/json".to_owned()),
                    ("Authorization", format!("Bearer {token}")),
                ],
                form: None,
                limits: OutboundLimits::PROVIDER,
            };
            let info: UserInfo = call(net, &request, "userinfo endpoint").await?;
            if info.sub != claims.sub {
                return Err(Error::ProviderError(
                    "userinfo is of another subject".into(),
                ));
            }
            (email, verified) = (info.email, info.email_verified);
        }
    }
    Ok(Profile {
        subject: claims.sub,
        email: email.as_deref().and_then(|e| Email::parse(e).ok()),
        email_verified: verified == Some(true),
    })
}

/// The issuer's key for this token: from the isolate's copy of its key set while it is fresh
/// (`JWKS_TTL_MS`), else fetched again — also when the token names a `kid` the copy lacks (a
/// rotation), at most every `JWKS_REFETCH_MS`.
async fn signing_key<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    provider: &Provider,
    kid: Option<&str>,
    jws: &CompactJws,
) -> Result<Jwk, Error> {
    let url = provider
        .endpoints
        .jwks_uri
        .as_ref()
        .ok_or_else(|| Error::Internal("an oidc provider without jwks_uri".into()))?;
    let cached = cx.caches.jwks.borrow().get(url.as_str()).cloned();
    if let Some((set, fetched_at)) = &cached {
        let age = cx.now.ms_since(*fetched_at);
        if age < JWKS_TTL_MS {
            if let Some(key) = set.select(kid, jws.alg) {
                return Ok(key);
            }
            if age < JWKS_REFETCH_MS {
                return Err(Error::ProviderError("ID token refused: unknown key".into()));
            }
        }
    }
    let request = OutboundRequest {
        method: OutboundMethod::Get,
        url: url.clone(),
        headers: vec![("Accept", "application/json".to_owned())],
        form: None,
        limits: OutboundLimits::PROVIDER,
    };
    let set = Rc::new(JwkSet::parse(&fetch(net, &request, "jwks").await?)?);
    {
        let mut cache = cx.caches.jwks.borrow_mut();
        if cache.len() >= MAX_CACHED_JWKS {
            cache.clear();
        }
        cache.insert(url.as_str().to_owned(), (set.clone(), cx.now));
    }
    set.select(kid, jws.alg)
        .ok_or_else(|| Error::ProviderError("ID token refused: unknown key".into()))
}

/// GitHub's person: the code exchanged for an access token, then `GET /user` (the subject)
/// and `GET /user/emails` (the primary email and whether GitHub verified it).
async fn github_person<S: Stores>(
    cx: &Ctx<'_, S>,
    net: &impl ProviderHttp,
    provider: &Provider,
    flow: &Flow,
    state: &PlainSecret,
    code: &str,
) -> Result<Profile, Error> {
    let request = token_request(cx, provider, flow, state, code)?;
    // GitHub answers a refused code with 200 and an `error`: no access token is a failure.
    let answer: TokenAnswer = call(net, &request, "token endpoint").await?;
    let token = answer
        .access_token
        .ok_or_else(|| Error::ProviderError("the token answer has no access token".into()))?;
    let api = provider
        .endpoints
        .userinfo_endpoint
        .as_ref()
        .ok_or_else(|| Error::Internal("a github provider without API".into()))?;
    let get = |path: &str| -> Result<OutboundRequest, Error> {
        let base = api.as_str().trim_end_matches('/');
        Ok(OutboundRequest {
            method: OutboundMethod::Get,
            url: WebUrl::parse_provider_url(&format!("{base}{path}"), "api")?,
            headers: vec![
                ("Accept", "application/vnd.github+json".to_owned()),
                ("Authorization", format!("Bearer {token}")),
                ("User-Agent", USER_AGENT.to_owned()),
                ("X-GitHub-Api-Version", "2022-11-28".to_owned()),
            ],
            form: None,
            limits: OutboundLimits::PROVIDER,
        })
    };
    let user: GithubUser = call(net, &get("/user")?, "user API").await?;
    let emails: Vec<GithubEmail> = call(net, &get("/user/emails")?, "emails API").await?;
    Ok(github_profile(&user, &emails))
}
