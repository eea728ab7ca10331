//! The data plane: end users of a tenant (`/apps/{app_id}/tenants/{tenant_id}/…`).
//!
//! Sign-up and sign-in (`/auth/*`), refresh rotation, sign-out, `/auth/me`, and the RFC 7662 /
//! RFC 7009 endpoints (`/oauth/*`) that an app's backend calls with a tenant API key. App and
//! tenant come from the isolate cache. Introspection touches no D1 once the isolate is warm:
//! keys are held in memory (loaded from KV) and the session's state is read from KV; any KV
//! failure answers `{"active": false}`.

use super::admin::respond;
use super::cache::{self, OnKvFailure};
use super::context::{random, Ctx};
use super::keyring;
use super::request::{bearer, bounded_body, json_body};
use super::routes::Params;
use super::users::user_view;
use crate::domain::authz::Scope;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::password::Password;
use crate::domain::policy::UserFlags;
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::session::{decide, RefreshDecision, Session, SessionId, SuccessorKey};
use crate::domain::tenancy::{App, LoginMethod, Tenant, MAX_ACCESS_TOKEN_TTL_SECONDS};
use crate::domain::throttle::client_subject;
use crate::domain::token::{self, AccessClaims, ACCESS_TOKEN_TYPE};
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{Attempt, EdgeStore, SessionStore, UserStore};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{console_error, Request, Response};

/// The app and tenant a request addresses, from the isolate cache (see `cache`).
async fn place(
    ctx: &Ctx,
    params: &Params,
    on_failure: OnKvFailure,
) -> Result<(App, Tenant), Error> {
    let app_id = AppId::parse(params.get("app_id").map(String::as_str).unwrap_or(""))?;
    let tenant_id = TenantId::parse(params.get("tenant_id").map(String::as_str).unwrap_or(""))?;
    let app = cache::app(ctx, &app_id, on_failure).await?;
    let tenant = cache::tenant(ctx, &app_id, &tenant_id, on_failure).await?;
    Ok((app, tenant))
}

fn issuer(ctx: &Ctx, tenant: &Tenant) -> String {
    format!(
        "{}/apps/{}/tenants/{}",
        ctx.origin, tenant.app_id, tenant.id
    )
}

fn access_ttl_ms(app: &App) -> i64 {
    app.settings.access_token_ttl_seconds * 1000
}

/// The user as this tenant sees it, with effective rate limit, roles and permissions.
async fn user_body(ctx: &Ctx, face: &TenantUser) -> Result<Value, Error> {
    let policy = cache::policy(ctx, &face.app_id, OnKvFailure::ReadD1).await?;
    Ok(user_view(face, &policy))
}

fn successor_key(ctx: &Ctx) -> Result<SuccessorKey, Error> {
    SuccessorKey::from_secret(&ctx.secret("KEY_ENCRYPTION_SECRET").unwrap_or_default())
}

/// Signs an access token for a session and builds the `session` object of `API.md`.
async fn session_body(
    ctx: &Ctx,
    app: &App,
    tenant: &Tenant,
    session: &Session,
    refresh: &PlainSecret,
) -> Result<Value, Error> {
    let key = keyring::signing_key(ctx, &KeyOwner::App(app.id.clone()), access_ttl_ms(app)).await?;
    let claims = AccessClaims {
        iss: issuer(ctx, tenant),
        sub: session.user_id.to_string(),
        app: app.id.to_string(),
        tid: tenant.id.to_string(),
        sid: session.id.to_string(),
        typ: ACCESS_TOKEN_TYPE.to_owned(),
    };
    let ttl = app.settings.access_token_ttl_seconds;
    let access_token = token::sign(&key, claims, ctx.now_ms, ttl)?;
    Ok(json!({
        "session_id": session.id.to_string(),
        "access_token": access_token,
        "refresh_token": refresh.expose(),
        "token_type": "Bearer",
        "expires_in": ttl,
    }))
}

/// A new session for `user_id`, its first refresh token, and the `session` body with a signed
/// access token. Nothing is written yet: signing comes first, so a failure to sign leaves no
/// session behind that no client holds.
async fn new_session(
    ctx: &Ctx,
    app: &App,
    tenant: &Tenant,
    user_id: UserId,
) -> Result<(Session, PlainSecret, Value), Error> {
    let settings = &app.settings;
    let session = Session {
        id: SessionId::generate(ctx.now_ms, random()?),
        app_id: app.id.clone(),
        tenant_id: tenant.id.clone(),
        user_id,
        generation: 0,
        rotated_at_ms: ctx.now_ms,
        created_at_ms: ctx.now_ms,
        last_used_at_ms: ctx.now_ms,
        expires_at_ms: ctx.now_ms + settings.session_absolute_ttl_seconds * 1000,
        idle_timeout_ms: settings.session_idle_ttl_seconds * 1000,
        revoked_at_ms: None,
    };
    let refresh = PlainSecret::generate(SecretKind::RefreshToken, random()?);
    let body = session_body(ctx, app, tenant, &session, &refresh).await?;
    Ok((session, refresh, body))
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

fn require_email_password(tenant: &Tenant) -> Result<(), Error> {
    if tenant.allows(LoginMethod::EmailPassword) {
        Ok(())
    } else {
        Err(Error::LoginMethodDisabled)
    }
}

fn account_subject(email: &Email) -> String {
    format!("account:{email}")
}

/// The throttling subject of the client address. Cloudflare always sets `CF-Connecting-IP`;
/// without it (a local run) there is no address to count, and lumping every such request under
/// one key would lock everyone out at once.
pub fn client_subject_of(req: &Request) -> Option<String> {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .map(|ip| client_subject(ip.trim()))
}

/// `POST …/auth/signup`: a new user with email and password in this tenant, signed in.
pub async fn signup(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app, tenant) = place(ctx, params, OnKvFailure::ReadD1).await?;
    require_email_password(&tenant)?;
    let body: Credentials = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password)?;
    // Each sign-up costs a password hash: count it per client address before hashing.
    if let Some(client) = client_subject_of(&req) {
        if let Some(seconds) = ctx
            .store
            .count_signup(&app.id, &tenant.id, &client, ctx.now_ms)
            .await?
        {
            return Err(Error::RateLimited(seconds));
        }
    }
    let policy = ctx.app_password_policy(&app.settings)?;
    let user = User {
        app_id: app.id.clone(),
        id: UserId::generate(ctx.now_ms, random()?),
        email: email.clone(),
        password_hash: Some(policy.hash(&password, random()?)),
        created_at_ms: ctx.now_ms,
    };
    let face = TenantUser::new(&user, &tenant.id, ctx.now_ms);
    let (session, refresh, body) = new_session(ctx, &app, &tenant, user.id).await?;
    if !ctx
        .store
        .create_user(&user, &face, &session, &refresh.hash())
        .await?
    {
        return Err(Error::EmailTaken);
    }
    respond(
        201,
        &json!({ "user": user_body(ctx, &face).await?, "session": body }),
    )
}

/// `POST …/auth/signin`: throttling is decided before any hashing; unknown email and wrong
/// password answer alike and cost alike.
pub async fn signin(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app, tenant) = place(ctx, params, OnKvFailure::ReadD1).await?;
    require_email_password(&tenant)?;
    let body: Credentials = json_body(&mut req).await?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password)?;
    let attempt = Attempt {
        account: account_subject(&email),
        client: client_subject_of(&req),
        now_ms: ctx.now_ms,
    };
    let record = ctx
        .store
        .begin_signin(&app.id, &tenant.id, &email, &attempt)
        .await?;
    if let Some(seconds) = record.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    let policy = ctx.app_password_policy(&app.settings)?;
    let stored = record
        .user
        .as_ref()
        .and_then(|(user, _)| user.password_hash.clone());
    let verified = match &stored {
        Some(hash) => hash.verify(&password),
        None => {
            policy.dummy_hash().verify(&password);
            false
        }
    };
    // The attempt is already counted: a failure needs no further write.
    let (Some((user, face)), Some(hash), true) = (record.user, stored, verified) else {
        return Err(Error::InvalidCredentials);
    };
    if face.status == UserStatus::Suspended {
        // The password was right: this is no failed attempt.
        ctx.store
            .settle_signin(&app.id, &tenant.id, &attempt)
            .await?;
        return Err(Error::UserSuspended);
    }
    if policy.needs_rehash(&hash) {
        let upgraded = policy.hash(&password, random()?);
        // A failed upgrade must not fail the sign-in: the old hash still verifies.
        if let Err(e) = ctx
            .store
            .update_user_password(&app.id, &user.id, &upgraded)
            .await
        {
            console_error!("password rehash failed: {e:?}");
        }
    }
    let (session, refresh, body) = new_session(ctx, &app, &tenant, user.id).await?;
    ctx.store
        .create_session(&session, &refresh.hash(), &attempt)
        .await?;
    respond(
        200,
        &json!({ "user": user_body(ctx, &face).await?, "session": body }),
    )
}

/// Revokes a session in D1, then records the revocation in KV so that introspection sees it.
/// Idempotent: a session revoked earlier has its KV record written again, which repairs a KV
/// write that failed the first time.
async fn revoke(ctx: &Ctx, session: &SessionId) -> Result<(), Error> {
    ctx.store.revoke_session(session, ctx.now_ms).await?;
    // The longest lifetime any access token can have, not the app's current one: tokens
    // issued before the lifetime was shortened must stay revoked until they expire.
    ctx.edge()?
        .put_session_revoked(session, MAX_ACCESS_TOKEN_TTL_SECONDS)
        .await
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// `POST …/auth/refresh`: rotation with theft detection (see `domain::session`).
pub async fn refresh(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app, tenant) = place(ctx, params, OnKvFailure::ReadD1).await?;
    let body: RefreshBody = json_body(&mut req).await?;
    let token = PlainSecret::from_client(SecretKind::RefreshToken, &body.refresh_token)
        .ok_or(Error::InvalidToken)?;
    let presented = ctx
        .store
        .find_by_refresh_token(&token.hash())
        .await?
        .ok_or(Error::InvalidToken)?;
    let session = presented.session;
    if session.app_id != app.id || session.tenant_id != tenant.id {
        return Err(Error::InvalidToken);
    }
    let grace_ms = app.settings.refresh_grace_seconds * 1000;
    match decide(&session, presented.generation, ctx.now_ms, grace_ms) {
        RefreshDecision::Dead => {
            if session
                .revoked_at_ms
                .is_some_and(|at| ctx.now_ms - at < access_ttl_ms(&app))
            {
                revoke(ctx, &session.id).await?;
            }
            return Err(Error::InvalidToken);
        }
        RefreshDecision::Theft => {
            revoke(ctx, &session.id).await?;
            return Err(Error::TokenReused);
        }
        RefreshDecision::Rotate | RefreshDecision::Replay => {}
    }
    if presented.status == UserStatus::Suspended {
        return Err(Error::UserSuspended);
    }
    let successor = successor_key(ctx)?.successor(&token)?;
    if presented.generation == session.generation {
        let rotated = ctx
            .store
            .rotate_session(
                &session.id,
                presented.generation,
                &successor.hash(),
                ctx.now_ms,
            )
            .await?;
        if !rotated {
            // Someone else rotated this very token a moment ago (or revoked the session):
            // answer as a replay if that is what it now is, else refuse.
            let fresh = ctx
                .store
                .find_session(&session.id)
                .await?
                .ok_or(Error::InvalidToken)?;
            if decide(&fresh, presented.generation, ctx.now_ms, grace_ms) != RefreshDecision::Replay
            {
                return Err(Error::InvalidToken);
            }
        }
    }
    let body = session_body(ctx, &app, &tenant, &session, &successor).await?;
    respond(200, &json!({ "session": body }))
}

/// Verifies an end-user access token presented at this app and tenant and checks that its
/// session is not revoked. Anything else is `401 invalid_token`.
async fn authenticate(
    ctx: &Ctx,
    req: &Request,
    app: &App,
    tenant: &Tenant,
) -> Result<AccessClaims, Error> {
    let credential = bearer(req).ok_or(Error::InvalidToken)?;
    let (claims, _, _) = verify_access(ctx, &credential, app, tenant)
        .await?
        .ok_or(Error::InvalidToken)?;
    let sid = SessionId::parse(&claims.sid).map_err(|_| Error::InvalidToken)?;
    if ctx.edge()?.is_session_revoked(&sid).await? {
        return Err(Error::InvalidToken);
    }
    Ok(claims)
}

/// Signature, expiry, type, app and tenant of an access token; `None` for any defect.
async fn verify_access(
    ctx: &Ctx,
    credential: &str,
    app: &App,
    tenant: &Tenant,
) -> Result<Option<(AccessClaims, i64, i64)>, Error> {
    let verified = match cache::verified_token(credential, ctx.now_ms) {
        // Verified before in this isolate and not expired: check the place again below.
        Some(verified) => Some(verified),
        None => {
            let Some(kid) = token::peek_kid(credential) else {
                return Ok(None);
            };
            let owner = KeyOwner::App(app.id.clone());
            let Some(key) = keyring::public_key(ctx, &owner, &kid, access_ttl_ms(app)).await?
            else {
                return Ok(None);
            };
            let verified = token::verify_access_token(
                credential,
                |_| Some(key),
                ctx.now_ms,
                app.id.as_str(),
                tenant.id.as_str(),
            );
            if let Some(verified) = &verified {
                cache::remember_verified(credential, verified);
            }
            verified
        }
    };
    // The token must belong here, and not to a deleted namesake of the tenant (issued before
    // the tenant (re)appeared).
    Ok(verified.filter(|(claims, iat, _)| {
        claims.app == app.id.as_str()
            && claims.tid == tenant.id.as_str()
            && *iat >= tenant.created_at_ms.div_euclid(1000)
    }))
}

/// `POST …/auth/signout`: revokes the session of the presented access token.
pub async fn signout(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (app, tenant) = place(ctx, params, OnKvFailure::ReadD1).await?;
    let claims = authenticate(ctx, &req, &app, &tenant).await?;
    let sid = SessionId::parse(&claims.sid).map_err(|_| Error::InvalidToken)?;
    revoke(ctx, &sid).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `GET …/auth/me`: the user as this tenant sees it.
pub async fn me(ctx: &Ctx, req: Request, params: &Params) -> Result<Response, Error> {
    let (app, tenant) = place(ctx, params, OnKvFailure::ReadD1).await?;
    let claims = authenticate(ctx, &req, &app, &tenant).await?;
    let user_id = UserId::parse(&claims.sub).map_err(|_| Error::InvalidToken)?;
    let (_, face) = ctx
        .store
        .find_tenant_user(&app.id, &tenant.id, &user_id)
        .await?
        .filter(|(_, face)| face.status == UserStatus::Active)
        .ok_or(Error::InvalidToken)?;
    respond(200, &json!({ "user": user_body(ctx, &face).await? }))
}

/// The `token` parameter of an RFC 7662/7009 request: a form field or a JSON field.
async fn token_parameter(req: &mut Request) -> Result<String, Error> {
    let is_form = req
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .is_some_and(|t| {
            t.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        #[derive(Deserialize)]
        struct TokenBody {
            token: String,
        }
        return Ok(json_body::<TokenBody>(req).await?.token);
    }
    let bytes = bounded_body(req).await?;
    form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| Error::validation("the token parameter is required"))
}

/// Authenticates the caller of `/oauth/*`: a tenant API key of this app and tenant with the
/// `introspect` scope, found in KV (no D1). Anything else is `401 invalid_client`.
async fn authenticate_client(ctx: &Ctx, req: &Request, tenant: &Tenant) -> Result<(), Error> {
    let credential = bearer(req).ok_or(Error::InvalidClient)?;
    let secret =
        PlainSecret::from_client(SecretKind::ApiKey, &credential).ok_or(Error::InvalidClient)?;
    let key = cache::api_key(ctx, &secret.hash())
        .await?
        .ok_or(Error::InvalidClient)?;
    // A key older than its tenant belongs to a deleted namesake whose KV copy lingered.
    let allowed = key.app_id == tenant.app_id
        && key.tenant_id == tenant.id
        && key.created_at_ms >= tenant.created_at_ms
        && key.scopes.contains(&Scope::Introspect);
    allowed.then_some(()).ok_or(Error::InvalidClient)
}

fn inactive() -> Result<Response, Error> {
    respond(200, &json!({ "active": false }))
}

/// `POST …/oauth/introspect` (RFC 7662). Every inactive cause answers exactly
/// `{"active": false}`; a KV failure too (fail closed).
pub async fn introspect(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app, tenant) = match place(ctx, params, OnKvFailure::FailClosed).await {
        Err(Error::Unavailable(cause)) => {
            console_error!("introspection failed closed: {cause}");
            return inactive();
        }
        other => other?,
    };
    match authenticate_client(ctx, &req, &tenant).await {
        Ok(()) => {}
        Err(Error::Unavailable(cause)) => {
            console_error!("introspection client check failed closed: {cause}");
            return inactive();
        }
        Err(e) => return Err(e),
    }
    let token = token_parameter(&mut req).await?;
    let verified = match verify_access(ctx, &token, &app, &tenant).await {
        Err(Error::Unavailable(cause)) => {
            console_error!("introspection failed closed: {cause}");
            return inactive();
        }
        other => other?,
    };
    let Some((claims, iat, exp)) = verified else {
        return inactive();
    };
    let Ok(sid) = SessionId::parse(&claims.sid) else {
        return inactive();
    };
    let Ok(user_id) = UserId::parse(&claims.sub) else {
        return inactive();
    };
    // Two KV reads at once — the session's revocation and the user's flags — and the app's
    // roles and plans from the isolate (KV on a cold isolate). Any failure: inactive.
    let state = async {
        let edge = ctx.edge()?;
        let (revoked, flags, policy) = futures_util::join!(
            edge.is_session_revoked(&sid),
            edge.find_flags(&app.id, &tenant.id, &user_id),
            cache::policy(ctx, &app.id, OnKvFailure::FailClosed),
        );
        Ok::<_, Error>((revoked?, flags?, policy?))
    }
    .await;
    let (revoked, flags, policy) = match state {
        Ok(state) => state,
        Err(e) => {
            console_error!("introspection failed closed: {e:?}");
            return inactive();
        }
    };
    // A user with no document yet (just signed up) is judged from the token: never suspended.
    let flags = flags.unwrap_or_else(UserFlags::from_token);
    if revoked || flags.status != UserStatus::Active {
        return inactive();
    }
    let effective = policy.effective(&flags);
    respond(
        200,
        &json!({
            "active": true,
            "token_type": "access_token",
            "sub": claims.sub,
            "app_id": claims.app,
            "tenant_id": claims.tid,
            "sid": claims.sid,
            "iss": claims.iss,
            "iat": iat,
            "exp": exp,
            "status": flags.status.as_str(),
            "plan_tier": flags.plan_tier,
            "rate_limit": effective.rate_limit,
            "roles": effective.roles,
            "permissions": effective.permissions,
        }),
    )
}

/// `POST …/oauth/revoke` (RFC 7009): revokes the session of a refresh or access token of this
/// tenant. Answers `200 {}` whatever the token, so it reveals nothing.
pub async fn revoke_token(ctx: &Ctx, mut req: Request, params: &Params) -> Result<Response, Error> {
    let (app, tenant) = place(ctx, params, OnKvFailure::ReadD1).await?;
    authenticate_client(ctx, &req, &tenant).await?;
    let token = token_parameter(&mut req).await?;
    let session = if let Some(refresh) = PlainSecret::from_client(SecretKind::RefreshToken, &token)
    {
        ctx.store
            .find_by_refresh_token(&refresh.hash())
            .await?
            .map(|p| p.session)
            .filter(|s| s.app_id == app.id && s.tenant_id == tenant.id)
            .map(|s| s.id)
    } else {
        verify_access(ctx, &token, &app, &tenant)
            .await?
            .and_then(|(claims, _, _)| SessionId::parse(&claims.sid).ok())
    };
    if let Some(session) = session {
        revoke(ctx, &session).await?;
    }
    respond(200, &json!({}))
}
