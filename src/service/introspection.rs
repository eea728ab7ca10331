//! Access tokens at the edge: verifying a bearer token at its app and tenant, `/auth/me`,
//! sign-out, and the RFC 7662 / RFC 7009 endpoints an app's backend calls with a tenant API
//! key.
//!
//! Introspection reads no D1 and, in steady state, ONE KV value: the app, tenant, API key,
//! policy and signing keys come from the isolate (KV on a miss), the token's session
//! revocation and the user's state from the user's edge document (`domain::edge`). Every
//! inactive cause — and any KV failure (fail closed) — is the same `Introspection::Inactive`.
//! (A `private_key_jwt` client calling for itself is the exception: its assertion's `jti` is
//! written to D1 once, which is what makes a replayed assertion worthless.)
//!
//! `/auth/me` and sign-out are D1 paths: they must honour a revocation or suspension at once,
//! whatever KV says, and `/auth/me` answers the email, which KV does not hold. So they read
//! D1 once (the live session joined with the user's face) and no KV at all.

use super::cache::{self, OnKvFailure, VerifiedToken};
use super::sessions::{self, access_ttl_ms};
use super::users::EndUser;
use super::{keyring, oauth, Ctx, Stores, Verifier};
use crate::domain::authz::Scope;
use crate::domain::edge::is_active;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::oauth::ClientId;
use crate::domain::policy::{Effective, UserFlags};
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::session::SessionId;
use crate::domain::tenancy::{App, Tenant};
use crate::domain::token;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{EdgeStore, SessionStore, SignatureVerifier};
use std::rc::Rc;

/// Signature, expiry, type, app and tenant of an access token; `None` for any defect.
async fn verify_access<S: Stores>(
    cx: &Ctx<'_, S>,
    credential: &str,
    app: &App,
    tenant: &Tenant,
) -> Result<Option<Rc<VerifiedToken>>, Error> {
    let verified = match cx.caches.verified_token(credential, cx.now) {
        // Verified before in this isolate and not expired: check the place again below.
        Some(verified) => verified,
        None => {
            let Some(parsed) = token::parse_access(credential) else {
                return Ok(None);
            };
            let owner = KeyOwner::App(app.id.clone());
            let ttl = access_ttl_ms(app);
            let Some(key) = keyring::public_key(cx, &owner, &parsed.kid, ttl).await? else {
                return Ok(None);
            };
            let valid = cx
                .verifier
                .verify_ed25519(&key, parsed.signing_input.as_bytes(), &parsed.signature)
                .await?;
            if !valid {
                return Ok(None);
            }
            let Some((claims, iat, exp)) =
                parsed.accept(cx.now, app.id.as_str(), tenant.id.as_str())
            else {
                return Ok(None);
            };
            let verified = Rc::new(VerifiedToken { claims, iat, exp });
            cx.caches.remember_verified(credential, verified.clone());
            verified
        }
    };
    // The token must belong here, and not to a deleted namesake of the tenant (issued before
    // the tenant (re)appeared).
    let here = verified.claims.app == app.id.as_str()
        && verified.claims.tid == tenant.id.as_str()
        && verified.iat >= tenant.created_at.unix_seconds();
    Ok(here.then_some(verified))
}

/// The session and user a verified token names; `None` when either id does not parse.
fn subject(verified: &VerifiedToken) -> Option<(SessionId, UserId)> {
    let sid = SessionId::parse(&verified.claims.sid).ok()?;
    let user = UserId::parse(&verified.claims.sub).ok()?;
    Some((sid, user))
}

/// Verifies an end-user access token of the tenant's own app presented at this app and tenant
/// (signature, time, place; an OAuth client's token is not one). Anything else is
/// `401 invalid_token`; whether its session is live is D1's to say.
async fn authenticate<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    bearer: Option<&str>,
) -> Result<(SessionId, UserId), Error> {
    let credential = bearer.ok_or(Error::InvalidToken)?;
    let verified = verify_access(cx, credential, app, tenant)
        .await?
        .filter(|v| !v.claims.is_oauth())
        .ok_or(Error::InvalidToken)?;
    subject(&verified).ok_or(Error::InvalidToken)
}

/// The caller of an end-user endpoint: its session, and its user as the tenant sees it, in one
/// D1 read (the token's session, live, joined with the user's face) and no KV: a revoked
/// session or a user that is not active here is `401 invalid_token` at once, whatever KV says.
pub(super) async fn active_user<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    bearer: Option<&str>,
) -> Result<(SessionId, User, TenantUser), Error> {
    let (session, user_id) = authenticate(cx, app, tenant, bearer).await?;
    let (user, face) = cx
        .db
        .find_session_user(&app.id, &tenant.id, &user_id, &session)
        .await?
        .filter(|(_, face)| face.status == UserStatus::Active)
        .ok_or(Error::InvalidToken)?;
    Ok((session, user, face))
}

/// `GET …/auth/me`: the user as this tenant sees it (`active_user`: one D1 read).
pub async fn me<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<EndUser, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let (_, user, face) = active_user(cx, &app, &tenant, bearer).await?;
    EndUser::of(cx, &user, face).await
}

/// `POST …/auth/signout`: revokes the session of the presented access token. A token whose
/// session was revoked already is `401 invalid_token` (its edge document is rewritten all the
/// same, which heals a KV write that failed before).
pub async fn signout<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<(), Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let (sid, _) = authenticate(cx, &app, &tenant, bearer).await?;
    if sessions::revoke(cx, &sid).await? {
        Ok(())
    } else {
        Err(Error::InvalidToken)
    }
}

/// A caller of `/oauth/*` that proved to be an API key of this tenant with `introspect`, or an
/// active confidential OAuth client of this tenant (which sees and revokes its own tokens only).
pub struct Client {
    app: Rc<App>,
    tenant: Rc<Tenant>,
    /// An OAuth client calling for itself: it sees and revokes its own tokens only.
    oauth: Option<ClientId>,
}

/// How the caller of `/oauth/introspect` and `/oauth/revoke` authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `Authorization: Bearer` — a tenant API key with `introspect`.
    Bearer(&'a str),
    /// `Authorization: Basic` — an active confidential OAuth client of the tenant (its id and
    /// secret, form-decoded).
    Basic(&'a str, &'a str),
    /// RFC 7523 in the body — a `private_key_jwt` client of the tenant: the assertion's type,
    /// the assertion, and the `client_id` when given.
    Assertion {
        assertion_type: Option<&'a str>,
        assertion: Option<&'a str>,
        client_id: Option<&'a str>,
    },
    None,
}

impl<'a> From<Option<&'a str>> for Credentials<'a> {
    fn from(bearer: Option<&'a str>) -> Self {
        bearer.map_or(Credentials::None, Credentials::Bearer)
    }
}

impl<'a> From<Option<&'a String>> for Credentials<'a> {
    fn from(bearer: Option<&'a String>) -> Self {
        bearer.map_or(Credentials::None, |b| Credentials::Bearer(b))
    }
}

/// Whether introspection may go on.
pub enum ClientCheck {
    Authenticated(Client),
    /// KV could not be read: answer inactive without looking at the token.
    FailedClosed,
}

/// Checks the bearer API key of an `/oauth/*` call, found in the isolate or KV (no D1): of
/// this app and tenant, with the `introspect` scope. Anything else is `401 invalid_client`.
async fn check_client<S: Stores>(
    cx: &Ctx<'_, S>,
    verifier: &impl SignatureVerifier,
    tenant: &Tenant,
    credentials: Credentials<'_>,
) -> Result<Option<ClientId>, Error> {
    let credential = match credentials {
        Credentials::Bearer(credential) => credential,
        Credentials::Basic(id, secret) => return check_oauth_client(cx, tenant, id, secret).await,
        Credentials::Assertion {
            assertion_type,
            assertion,
            client_id,
        } => {
            let client = oauth::client_by_assertion(
                cx,
                verifier,
                tenant,
                assertion_type,
                assertion,
                client_id,
            )
            .await?;
            return client.map(|c| Some(c.id)).ok_or(Error::InvalidClient);
        }
        Credentials::None => return Err(Error::InvalidClient),
    };
    let secret =
        PlainSecret::from_client(SecretKind::ApiKey, credential).ok_or(Error::InvalidClient)?;
    let key = cache::api_key(cx, &secret.hash())
        .await?
        .ok_or(Error::InvalidClient)?;
    // A key older than its tenant belongs to a deleted namesake whose KV copy lingered.
    let allowed = key.app_id == tenant.app_id
        && key.tenant_id == tenant.id
        && key.created_at >= tenant.created_at
        && key.scopes.contains(&Scope::Introspect);
    allowed.then_some(None).ok_or(Error::InvalidClient)
}

/// An OAuth client of this tenant, by its secret's hash in KV (`ClientKey`: published while
/// it is active; no D1): the client, or `401 invalid_client`.
async fn check_oauth_client<S: Stores>(
    cx: &Ctx<'_, S>,
    tenant: &Tenant,
    id: &str,
    secret: &str,
) -> Result<Option<ClientId>, Error> {
    let id = ClientId::parse(id).ok_or(Error::InvalidClient)?;
    let secret =
        PlainSecret::from_client(SecretKind::ClientSecret, secret).ok_or(Error::InvalidClient)?;
    let key = cx
        .edge
        .find_client_key(&secret.hash())
        .await?
        .ok_or(Error::InvalidClient)?;
    let allowed = key.app_id == tenant.app_id
        && key.tenant_id == tenant.id
        && key.client_id == id
        && key.created_at >= tenant.created_at;
    allowed.then_some(Some(id)).ok_or(Error::InvalidClient)
}

/// The client of `POST …/oauth/introspect`. Where KV fails, introspection fails closed
/// (`FailedClosed`) rather than `503`; unknown places are `404`, bad keys `401`.
pub async fn introspection_client<'c, S: Stores>(
    cx: &Ctx<'_, S>,
    verifier: &impl SignatureVerifier,
    app_id: &AppId,
    tenant_id: &TenantId,
    credentials: impl Into<Credentials<'c>>,
) -> Result<ClientCheck, Error> {
    let (app, tenant) = match cache::place(cx, app_id, tenant_id, OnKvFailure::FailClosed).await {
        Err(Error::Unavailable(cause)) => {
            cx.warn(&format!("introspection failed closed: {cause}"));
            return Ok(ClientCheck::FailedClosed);
        }
        other => other?,
    };
    match check_client(cx, verifier, &tenant, credentials.into()).await {
        Ok(oauth) => Ok(ClientCheck::Authenticated(Client { app, tenant, oauth })),
        Err(Error::Unavailable(cause)) => {
            cx.warn(&format!(
                "introspection client check failed closed: {cause}"
            ));
            Ok(ClientCheck::FailedClosed)
        }
        Err(e) => Err(e),
    }
}

/// What introspection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// Answered exactly `{"active": false}`, whatever the cause.
    Inactive,
    Active(Box<ActiveToken>),
    /// A `client_credentials` token: its subject is the client, with no user state.
    Client(Rc<VerifiedToken>),
}

/// An active token with the state of its user in the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub token: Rc<VerifiedToken>,
    pub flags: UserFlags,
    pub effective: Effective,
}

/// `POST …/oauth/introspect` (RFC 7662) with an authenticated client. Any defect of the
/// token, a revoked session, a suspended user, and any failure to read KV: `Inactive`.
pub async fn introspect<S: Stores>(cx: &Ctx<'_, S>, client: &Client, token: &str) -> Introspection {
    match active(cx, client, token).await {
        Ok(Some(Found::User(active))) => Introspection::Active(active),
        Ok(Some(Found::Client(token))) => Introspection::Client(token),
        Ok(None) => Introspection::Inactive,
        Err(e) => {
            cx.warn(&format!("introspection failed closed: {e:?}"));
            Introspection::Inactive
        }
    }
}

enum Found {
    User(Box<ActiveToken>),
    Client(Rc<VerifiedToken>),
}

async fn active<S: Stores>(
    cx: &Ctx<'_, S>,
    client: &Client,
    token: &str,
) -> Result<Option<Found>, Error> {
    let Some(verified) = verify_access(cx, token, &client.app, &client.tenant).await? else {
        return Ok(None);
    };
    if client
        .oauth
        .as_ref()
        .is_some_and(|caller| verified.claims.client_id.as_deref() != Some(caller.as_str()))
    {
        // An OAuth client sees its own tokens only.
        return Ok(None);
    }
    if verified.claims.is_client() {
        return active_client_token(cx, client, verified).await;
    }
    let Some(user_id) = UserId::parse(&verified.claims.sub).ok() else {
        return Ok(None);
    };
    let (app, tenant) = (&client.app, &client.tenant);
    // ONE KV read — the user's edge document — and the app's roles and plans from the isolate
    // (KV on a cold isolate, once per cache lifetime).
    let (doc, policy) = futures_util::join!(
        cx.edge.find_user_edge(&app.id, &tenant.id, &user_id),
        cache::policy(cx, &app.id, OnKvFailure::FailClosed),
    );
    let (doc, policy) = (doc?, policy?);
    // A document of a deleted namesake of the tenant says nothing about this one; a user with
    // no document yet (never changed, never signed out) is judged from the token.
    let flags = match doc.filter(|d| d.is_of(tenant.created_at)) {
        None => UserFlags::from_token(),
        Some(doc) => match doc.into_admitted(&verified.claims.sid, verified.iat) {
            Some(flags) => flags,
            None => return Ok(None),
        },
    };
    if !is_active(&flags) {
        return Ok(None);
    }
    let mut effective = policy.effective(&flags);
    if verified.claims.is_oauth() {
        // What a client may do for the user is what the user consented to: the user's
        // permissions named by the token's scopes, and no role (roles are not delegated).
        let scopes =
            crate::domain::oauth::parse_scope(verified.claims.scope.as_deref().unwrap_or(""))
                .unwrap_or_default();
        effective.roles.clear();
        effective
            .permissions
            .retain(|p| scopes.iter().any(|s| s == p.as_str()));
    }
    Ok(Some(Found::User(Box::new(ActiveToken {
        token: verified,
        flags,
        effective,
    }))))
}

/// A `client_credentials` token is active unless its client's cut (`ClientTokens`, written by
/// revocation, disabling, narrowing and deletion) says otherwise: ONE KV read, as for users.
async fn active_client_token<S: Stores>(
    cx: &Ctx<'_, S>,
    client: &Client,
    verified: Rc<VerifiedToken>,
) -> Result<Option<Found>, Error> {
    let Some(id) = verified
        .claims
        .client_id
        .as_deref()
        .and_then(ClientId::parse)
    else {
        return Ok(None);
    };
    if verified.claims.sub != id.as_str() {
        return Ok(None);
    }
    let tokens = cx
        .edge
        .find_client_tokens(&client.app.id, &client.tenant.id, &id)
        .await?;
    // No cut: none of its tokens was revoked. A KV failure above fails closed.
    let admitted = tokens.is_none_or(|cut| cut.admits(verified.iat));
    Ok(admitted.then_some(Found::Client(verified)))
}

/// The client of `POST …/oauth/revoke`: as for introspection, but a storage failure is
/// `503` (a revocation that did not happen must not look like one that did).
pub async fn revocation_client<'c, S: Stores>(
    cx: &Ctx<'_, S>,
    verifier: &impl SignatureVerifier,
    app_id: &AppId,
    tenant_id: &TenantId,
    credentials: impl Into<Credentials<'c>>,
) -> Result<Client, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let oauth = check_client(cx, verifier, &tenant, credentials.into()).await?;
    Ok(Client { app, tenant, oauth })
}

/// `POST …/oauth/revoke` (RFC 7009): revokes the session of a refresh or access token of this
/// tenant (an OAuth grant's alike; a `client_credentials` token: every token of its client
/// issued until now). Whatever the token, the caller answers `200 {}`, so it reveals nothing.
pub async fn revoke_token<S: Stores>(
    cx: &Ctx<'_, S>,
    client: &Client,
    token: &str,
) -> Result<(), Error> {
    let (app, tenant) = (&client.app, &client.tenant);
    // An OAuth client revokes its own tokens only.
    let own = |holder: Option<&ClientId>| client.oauth.is_none() || holder == client.oauth.as_ref();
    let session = if let Some(refresh) = PlainSecret::from_client(SecretKind::RefreshToken, token) {
        cx.db
            .find_by_refresh_token(&refresh.hash())
            .await?
            .map(|found| found.session)
            .filter(|s| s.app_id == app.id && s.tenant_id == tenant.id)
            .filter(|s| own(s.grant.as_ref().map(|g| &g.client_id)))
            .map(|s| s.id)
    } else {
        let Some(verified) = verify_access(cx, token, app, tenant).await? else {
            return Ok(());
        };
        let holder = verified
            .claims
            .client_id
            .as_deref()
            .and_then(ClientId::parse);
        if !own(holder.as_ref()) {
            return Ok(());
        }
        if verified.claims.is_client() {
            if let Some(id) = verified
                .claims
                .client_id
                .as_deref()
                .and_then(ClientId::parse)
            {
                super::oauth::revoke_client_tokens(cx, &app.id, &tenant.id, &id).await?;
            }
            return Ok(());
        }
        SessionId::parse(&verified.claims.sid).ok()
    };
    if let Some(session) = session {
        sessions::revoke(cx, &session).await?;
    }
    Ok(())
}
