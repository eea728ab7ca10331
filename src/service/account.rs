//! An end user's self-service with its own access token: changing its password (the other
//! sessions are revoked), listing and ending its sessions, and leaving the tenant.
//!
//! Every call authenticates as `/auth/me` does (a valid, unrevoked access token of this tenant
//! whose user is active here). A password change checks the current password as sign-in does
//! — counted before hashing, timing-safe. What KV mirrors (the user's edge document: its
//! revoked sessions, or no face after leaving) is bumped in the change's own D1 batch and then
//! rewritten through `edge` (`sessions::revoke` for one session), so it converges even when
//! KV fails now. Must not depend on `http`.

use super::cache::{self, OnKvFailure};
use super::credentials::{account_subject, verify_password};
use super::introspection::active_user;
use super::sessions;
use super::{edge, Ctx, Stores};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::password::Password;
use crate::domain::session::{Session, SessionId};
use crate::domain::tenancy::{App, LoginMethod, Tenant};
use crate::domain::user::{TenantUser, User};
use crate::domain::Error;
use crate::store::{Attempt, EmailStore, SessionStore, Settlement, UserStore};
use std::rc::Rc;

/// The caller: its place, its session and its user, active in the tenant.
pub(super) struct Caller {
    pub(super) app: Rc<App>,
    pub(super) tenant: Rc<Tenant>,
    pub(super) session: SessionId,
    pub(super) user: User,
    pub(super) face: TenantUser,
}

pub(super) async fn caller<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<Caller, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let (session, user, face) = active_user(cx, &app, &tenant, bearer).await?;
    Ok(Caller {
        app,
        tenant,
        session,
        user,
        face,
    })
}

/// The passwords of a change as the client sent them.
#[derive(Debug)]
pub struct PasswordChange {
    /// Required when the user has a password.
    pub current: Option<Password>,
    pub new: Password,
}

/// `POST …/auth/password` — bearer access token. Replaces the password; `current` must be the
/// current one when the user has one (`400` when missing, `401 invalid_credentials` when
/// wrong). Every other session of the user in the tenant is revoked. `change` is the parsed
/// body, judged only once the bearer token is: a request without a valid token is `401`
/// whatever its body.
pub async fn change_password<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
    change: Result<PasswordChange, Error>,
    client: Option<String>,
) -> Result<(), Error> {
    let me = caller(cx, app_id, tenant_id, bearer).await?;
    let PasswordChange { current, new } = change?;
    let (current, new) = (current.as_ref(), &new);
    me.tenant.require(LoginMethod::EmailPassword)?;
    let policy = cx.app_password_policy(&me.app.settings)?;
    let mut settle = Settlement::default();
    if me.user.password_hash.is_some() || current.is_some() {
        let current = current.ok_or_else(|| Error::validation("current_password is required"))?;
        // Counted as a sign-in attempt before any hashing, and checked as one.
        let attempt = Attempt {
            account: account_subject(&me.face.email),
            client,
            now: cx.now,
        };
        let record = cx
            .db
            .begin_signin(&me.app.id, &me.tenant.id, &me.face.email, &attempt)
            .await?;
        if let Some(seconds) = record.retry_after {
            return Err(Error::RateLimited(seconds));
        }
        let stored = record
            .user
            .as_ref()
            .filter(|(user, _)| user.id == me.user.id)
            .and_then(|(user, _)| user.password_hash.as_ref());
        let owner = KeyOwner::App(me.app.id.clone());
        if !verify_password(cx, &owner, &policy, stored, current).await? {
            return Err(Error::InvalidCredentials);
        }
        settle = Settlement {
            clear: Some(attempt.account),
            give_back: attempt.client,
        };
    }
    let hash = policy.hash(new, cx.random()?);
    let revoked = cx
        .db
        .change_password(
            (&me.app.id, &me.tenant.id),
            &me.user.id,
            &hash,
            &me.session,
            cx.now,
            &settle,
        )
        .await?;
    if !revoked.is_empty() {
        let doc = edge::user_doc(&me.app.id, &me.tenant.id, &me.user.id);
        edge::publish_after_change(cx, &doc).await;
    }
    Ok(())
}

/// A page of the caller's live sessions, and which of them is the caller's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnSessions {
    pub page: Page<Session>,
    pub current: SessionId,
}

/// `GET …/auth/sessions` — bearer access token. The user's live sessions in the tenant,
/// newest first.
pub async fn sessions<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
    page: &PageRequest,
) -> Result<OwnSessions, Error> {
    let me = caller(cx, app_id, tenant_id, bearer).await?;
    let sessions = cx
        .db
        .list_live_sessions(
            (&me.app.id, &me.tenant.id),
            &me.user.id,
            cx.now,
            page.after.as_deref(),
            page.limit + 1,
        )
        .await?;
    Ok(OwnSessions {
        page: finish_page(sessions, page.limit, |s| s.id.to_string()),
        current: me.session,
    })
}

/// `DELETE …/auth/sessions/{id}` — bearer access token. Ends one of the user's own sessions in
/// the tenant (the caller's included); any other session is `404`. Ending an ended one again
/// answers alike and writes its edge revocation again (`sessions::revoke`), which heals a KV
/// write that failed the first time.
pub async fn end_session<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
    session: Option<&SessionId>,
) -> Result<(), Error> {
    let me = caller(cx, app_id, tenant_id, bearer).await?;
    let not_found = || Error::NotFound("no such session".to_owned());
    let session = session.ok_or_else(not_found)?;
    let own = cx.db.find_session(session).await?.is_some_and(|s| {
        s.app_id == me.app.id && s.tenant_id == me.tenant.id && s.user_id == me.user.id
    });
    if !own {
        return Err(not_found());
    }
    sessions::revoke(cx, session).await.map(drop)
}

/// `DELETE …/auth/me` — bearer access token. The user leaves the tenant: its state there and
/// its sessions are deleted (their access tokens revoked at the edge), and the user itself —
/// with its metadata — when it has no other tenant.
pub async fn leave<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
) -> Result<(), Error> {
    let me = caller(cx, app_id, tenant_id, bearer).await?;
    // A deletion of the user from the tenant (`service::deletion::leave`): its document says
    // at once that the user has no face here (every token refused), and goes by itself once
    // no token can be alive, so leaving leaves nothing behind.
    super::deletion::leave(cx, &me.app.id, &me.tenant.id, &me.user.id)
        .await
        .map(drop)
}
