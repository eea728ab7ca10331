//! Access tokens at the edge: verifying a bearer token at its app and tenant, `/auth/me`,
//! sign-out, and the RFC 7662 / RFC 7009 endpoints an app's backend calls with a tenant API
//! key.
//!
//! Introspection reads no D1: the app, tenant, API key and signing keys come from the isolate
//! or KV, the token's session and user state from KV. Every inactive cause — and any KV
//! failure (fail closed) — is the same `Introspection::Inactive`.

use super::cache::{self, OnKvFailure, VerifiedToken};
use super::sessions::{self, access_ttl_ms};
use super::users::EndUser;
use super::{keyring, Ctx, Stores};
use crate::domain::authz::Scope;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::policy::{Effective, UserFlags};
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::session::SessionId;
use crate::domain::tenancy::{App, Tenant};
use crate::domain::token;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{EdgeStore, SessionStore, UserStore};
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
            let Some(kid) = token::peek_kid(credential) else {
                return Ok(None);
            };
            let owner = KeyOwner::App(app.id.clone());
            let Some(key) = keyring::public_key(cx, &owner, &kid, access_ttl_ms(app)).await? else {
                return Ok(None);
            };
            let Some((claims, iat, exp)) = token::verify_access_token(
                credential,
                |_| Some(key),
                cx.now,
                app.id.as_str(),
                tenant.id.as_str(),
            ) else {
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

/// Verifies an end-user access token presented at this app and tenant and checks that its
/// session is not revoked. Anything else is `401 invalid_token`.
async fn authenticate<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    bearer: Option<&str>,
) -> Result<(SessionId, UserId), Error> {
    let credential = bearer.ok_or(Error::InvalidToken)?;
    let verified = verify_access(cx, credential, app, tenant)
        .await?
        .ok_or(Error::InvalidToken)?;
    let (sid, user) = subject(&verified).ok_or(Error::InvalidToken)?;
    if cx.edge.is_session_revoked(&sid).await? {
        return Err(Error::InvalidToken);
    }
    Ok((sid, user))
}

/// The caller of an end-user endpoint: its session, and its user as the tenant sees it. A
/// defect of the token, or a user that is not active here, is `401 invalid_token`.
pub(super) async fn active_user<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    bearer: Option<&str>,
) -> Result<(SessionId, User, TenantUser), Error> {
    let (session, user_id) = authenticate(cx, app, tenant, bearer).await?;
    let (user, face) = cx
        .db
        .find_tenant_user(&app.id, &tenant.id, &user_id)
        .await?
        .filter(|(_, face)| face.status == UserStatus::Active)
        .ok_or(Error::InvalidToken)?;
    Ok((session, user, face))
}

/// `GET …/auth/me`: the user as this tenant sees it.
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

/// `POST …/auth/signout`: revokes the session of the presented access token.
pub async fn signout<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<(), Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let (sid, _) = authenticate(cx, &app, &tenant, bearer).await?;
    sessions::revoke(cx, &sid).await
}

/// A caller of `/oauth/*` that proved to be an API key of this tenant with `introspect`.
pub struct Client {
    app: Rc<App>,
    tenant: Rc<Tenant>,
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
    tenant: &Tenant,
    bearer: Option<&str>,
) -> Result<(), Error> {
    let credential = bearer.ok_or(Error::InvalidClient)?;
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
    allowed.then_some(()).ok_or(Error::InvalidClient)
}

/// The client of `POST …/oauth/introspect`. Where KV fails, introspection fails closed
/// (`FailedClosed`) rather than `503`; unknown places are `404`, bad keys `401`.
pub async fn introspection_client<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<ClientCheck, Error> {
    let (app, tenant) = match cache::place(cx, app_id, tenant_id, OnKvFailure::FailClosed).await {
        Err(Error::Unavailable(cause)) => {
            cx.warn(&format!("introspection failed closed: {cause}"));
            return Ok(ClientCheck::FailedClosed);
        }
        other => other?,
    };
    match check_client(cx, &tenant, bearer).await {
        Ok(()) => Ok(ClientCheck::Authenticated(Client { app, tenant })),
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
        Ok(Some(active)) => Introspection::Active(Box::new(active)),
        Ok(None) => Introspection::Inactive,
        Err(e) => {
            cx.warn(&format!("introspection failed closed: {e:?}"));
            Introspection::Inactive
        }
    }
}

async fn active<S: Stores>(
    cx: &Ctx<'_, S>,
    client: &Client,
    token: &str,
) -> Result<Option<ActiveToken>, Error> {
    let Some(verified) = verify_access(cx, token, &client.app, &client.tenant).await? else {
        return Ok(None);
    };
    let Some((sid, user_id)) = subject(&verified) else {
        return Ok(None);
    };
    // Two KV reads at once — the session's revocation and the user's flags — and the app's
    // roles and plans from the isolate (KV on a cold isolate).
    let (revoked, flags, policy) = futures_util::join!(
        cx.edge.is_session_revoked(&sid),
        cx.edge
            .find_flags(&client.app.id, &client.tenant.id, &user_id),
        cache::policy(cx, &client.app.id, OnKvFailure::FailClosed),
    );
    let (revoked, flags, policy) = (revoked?, flags?, policy?);
    // A user with no document yet (just signed up) is judged from the token: never suspended.
    let flags = flags.unwrap_or_else(UserFlags::from_token);
    if revoked || flags.status != UserStatus::Active {
        return Ok(None);
    }
    let effective = policy.effective(&flags);
    Ok(Some(ActiveToken {
        token: verified,
        flags,
        effective,
    }))
}

/// The client of `POST …/oauth/revoke`: as for introspection, but a storage failure is
/// `503` (a revocation that did not happen must not look like one that did).
pub async fn revocation_client<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<Client, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    check_client(cx, &tenant, bearer).await?;
    Ok(Client { app, tenant })
}

/// `POST …/oauth/revoke` (RFC 7009): revokes the session of a refresh or access token of this
/// tenant. Whatever the token, the caller answers `200 {}`, so it reveals nothing.
pub async fn revoke_token<S: Stores>(
    cx: &Ctx<'_, S>,
    client: &Client,
    token: &str,
) -> Result<(), Error> {
    let (app, tenant) = (&client.app, &client.tenant);
    let session = if let Some(refresh) = PlainSecret::from_client(SecretKind::RefreshToken, token) {
        cx.db
            .find_by_refresh_token(&refresh.hash())
            .await?
            .map(|found| found.session)
            .filter(|s| s.app_id == app.id && s.tenant_id == tenant.id)
            .map(|s| s.id)
    } else {
        verify_access(cx, token, app, tenant)
            .await?
            .and_then(|verified| SessionId::parse(&verified.claims.sid).ok())
    };
    if let Some(session) = session {
        sessions::revoke(cx, &session).await?;
    }
    Ok(())
}
