//! End-user sessions: issuing one (access token + first refresh token), refresh rotation with
//! theft detection, and revocation (D1 first, then the user's edge document introspection
//! reads, rewritten through `edge`).
//!
//! Rotation is the pure state machine of `domain::session::decide`, made race-free by the
//! HMAC-derived successor (the same token always has the same successor) and the store's
//! compare-and-swap on the generation: of many concurrent refreshes with one token exactly one
//! moves the session; the others find it moved and answer as a grace-window replay — with the
//! very same successor — or fail.

use super::cache::{self, OnKvFailure};
use super::{edge, keyring, Ctx, Stores};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::oauth::ClientId;
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::session::{decide, RefreshDecision, Session, SessionId};
use crate::domain::tenancy::{App, Tenant};
use crate::domain::token::{self, AccessClaims, ACCESS_TOKEN_TYPE};
use crate::domain::user::{UserId, UserStatus};
use crate::domain::Error;
use crate::store::SessionStore;

/// A session as handed to the client: the signed access token and the refresh token (shown
/// only in this answer; the store keeps its hash). Its `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSession {
    pub session_id: SessionId,
    pub access_token: String,
    pub refresh_token: PlainSecret,
    /// Lifetime of the access token, in seconds.
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("session_id", &self.session_id)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The issuer of a tenant's tokens.
pub fn issuer<S: Stores>(cx: &Ctx<'_, S>, tenant: &Tenant) -> String {
    format!("{}/apps/{}/tenants/{}", cx.origin, tenant.app_id, tenant.id)
}

/// How long any access token of the app can live, in ms (what verifying keys must cover).
pub fn access_ttl_ms(app: &App) -> i64 {
    app.settings.access_token_ttl_seconds.saturating_mul(1000)
}

/// Signs an access token for `session` and pairs it with `refresh`.
pub async fn issue<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    session: &Session,
    refresh: PlainSecret,
) -> Result<IssuedSession, Error> {
    let key = keyring::signing_key(cx, &KeyOwner::App(app.id.clone()), access_ttl_ms(app)).await?;
    let claims = AccessClaims {
        iss: issuer(cx, tenant),
        sub: session.user_id.to_string(),
        app: app.id.to_string(),
        tid: tenant.id.to_string(),
        sid: session.id.to_string(),
        typ: ACCESS_TOKEN_TYPE.to_owned(),
        client_id: None,
        scope: None,
        aud: None,
        jti: None,
    };
    let ttl = app.settings.access_token_ttl_seconds;
    Ok(IssuedSession {
        session_id: session.id,
        access_token: token::sign(&key, claims, cx.now, ttl)?,
        refresh_token: refresh,
        expires_in: ttl,
    })
}

/// A new session for `user_id` with its first refresh token, and what the client gets.
/// Nothing is written: signing comes first, so a failure to sign leaves no session behind that
/// no client holds. The caller stores the session (with the token's hash) in its own change.
pub async fn start<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    user_id: UserId,
) -> Result<(Session, IssuedSession), Error> {
    let settings = &app.settings;
    let session = Session {
        id: SessionId::generate(cx.now, cx.random()?),
        app_id: app.id.clone(),
        tenant_id: tenant.id.clone(),
        user_id,
        generation: 0,
        rotated_at: cx.now,
        created_at: cx.now,
        last_used_at: cx.now,
        expires_at: cx.now.plus_seconds(settings.session_absolute_ttl_seconds),
        idle_timeout_ms: settings.session_idle_ttl_seconds.saturating_mul(1000),
        revoked_at: None,
        grant: None,
    };
    let refresh = PlainSecret::generate(SecretKind::RefreshToken, cx.random()?);
    let issued = issue(cx, app, tenant, &session, refresh).await?;
    Ok((session, issued))
}

/// Revokes a session in D1 (bumping its user's edge document in the same batch), then
/// rewrites that document so that introspection sees it. Idempotent: a session revoked earlier
/// has its document rewritten again, which repairs a KV write that failed the first time. A KV
/// failure never fails the revocation (it converges: `edge`). `true` when this call revoked
/// the session, `false` when it was revoked already or does not exist.
pub async fn revoke<S: Stores>(cx: &Ctx<'_, S>, session: &SessionId) -> Result<bool, Error> {
    let Some((session, newly)) = cx.db.revoke_session(session, cx.now).await? else {
        return Ok(false);
    };
    let doc = edge::user_doc(&session.app_id, &session.tenant_id, &session.user_id);
    edge::publish_after_change(cx, &doc).await;
    Ok(newly)
}

/// `POST …/auth/refresh`: rotates the presented refresh token (see the module header).
/// Theft (an older token, or the previous one after the grace window) revokes the session
/// and is `401 token_reused`; a dead session is `401 invalid_token`; a suspended user `403`.
pub async fn refresh<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    presented: &str,
) -> Result<IssuedSession, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let (session, successor) = rotate(cx, &app, &tenant, presented, None).await?;
    issue(cx, &app, &tenant, &session, successor).await
}

/// Rotates a presented refresh token of a session of `app` and `tenant` held by `client`
/// (`None`: the tenant's own app; a token of another holder is `invalid_token` and moves
/// nothing): the session and the successor token to hand out (see `refresh`).
pub async fn rotate<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    presented: &str,
    client: Option<&ClientId>,
) -> Result<(Session, PlainSecret), Error> {
    let token =
        PlainSecret::from_client(SecretKind::RefreshToken, presented).ok_or(Error::InvalidToken)?;
    // The common case — the current token of a live session — rotates in one D1 round trip;
    // every other outcome is decided from the session as that same call found it.
    let successor = cx.successor_key()?.successor(&token)?;
    let (rotated, found) = cx
        .db
        .rotate_presented(
            &app.id,
            &tenant.id,
            &token.hash(),
            &successor.hash(),
            client,
            cx.now,
        )
        .await?;
    let found = found.ok_or(Error::InvalidToken)?;
    let session = found.session;
    let holder = session.grant.as_ref().map(|g| &g.client_id);
    if session.app_id != app.id || session.tenant_id != tenant.id || holder != client {
        return Err(Error::InvalidToken);
    }
    if rotated {
        return Ok((session, successor));
    }
    let grace_ms = app.settings.refresh_grace_seconds.saturating_mul(1000);
    match decide(&session, found.generation, cx.now, grace_ms) {
        RefreshDecision::Dead => {
            // A session revoked within the last access-token lifetime: rewrite its edge
            // document again, in case the write of the revocation failed.
            if session
                .revoked_at
                .is_some_and(|at| cx.now.ms_since(at) < access_ttl_ms(app))
            {
                revoke(cx, &session.id).await?;
            }
            return Err(Error::InvalidToken);
        }
        RefreshDecision::Theft => {
            revoke(cx, &session.id).await?;
            return Err(Error::TokenReused);
        }
        RefreshDecision::Rotate | RefreshDecision::Replay => {}
    }
    if found.status == UserStatus::Suspended {
        return Err(Error::UserSuspended);
    }
    // Not rotated by this call although live: someone else rotated this very token a moment
    // ago. Answer as a replay (the same successor) if that is what it now is, else refuse.
    if decide(&session, found.generation, cx.now, grace_ms) != RefreshDecision::Replay {
        return Err(Error::InvalidToken);
    }
    Ok((session, successor))
}
