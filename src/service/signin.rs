//! End-user sign-up and sign-in with email and password.
//!
//! Both are throttled before any hashing: sign-ups per client address, sign-in attempts per
//! account (tenant + email, known or not) and per client, counted atomically by the store in
//! the same round trip as the user lookup. Sign-in is timing-safe (`credentials`): unknown
//! email and wrong password cost one hash each and answer the same `401`. A weaker stored hash
//! is upgraded after a success.

use super::cache::{self, OnKvFailure};
use super::credentials::{
    account_subject, attempt_subject, device_token, end_user_device_account, rehash_if_weaker,
    verify_password,
};
use super::sessions::{self, IssuedSession};
use super::users::EndUser;
use super::{Ctx, Stores};
use crate::domain::device::DeviceToken;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::password::Password;
use crate::domain::tenancy::{App, LoginMethod, Tenant};
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{Attempt, SessionStore, UserStore};

/// A user signed in: as the tenant sees it, with a new session, and a device token for the
/// browser (`domain::device`).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: EndUser,
    pub session: IssuedSession,
    pub device: DeviceToken,
}

fn require_email_password(tenant: &Tenant) -> Result<(), Error> {
    if tenant.allows(LoginMethod::EmailPassword) {
        Ok(())
    } else {
        Err(Error::LoginMethodDisabled)
    }
}

/// `POST …/auth/signup`: a new user with email and password in this tenant, signed in.
/// `409 email_taken` when the tenant has the email (nothing is written then).
pub async fn signup<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    email: Email,
    password: &Password,
    client: Option<&str>,
) -> Result<SignedIn, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    require_email_password(&tenant)?;
    // Each sign-up costs a password hash: count it per client address before hashing.
    if let Some(client) = client {
        if let Some(seconds) = cx
            .db
            .count_signup(&app.id, &tenant.id, client, cx.now)
            .await?
        {
            return Err(Error::RateLimited(seconds));
        }
    }
    let policy = cx.app_password_policy(&app.settings)?;
    let user = User {
        app_id: app.id.clone(),
        id: UserId::generate(cx.now, cx.random()?),
        email,
        password_hash: Some(policy.hash(password, cx.random()?)),
        email_verified: false,
        passwordless: false,
        created_at: cx.now,
    };
    let face = TenantUser::new(&user, &tenant.id, cx.now);
    // Everything the answer needs is read and signed before anything is written, so a failure
    // after the write cannot answer 503 for a user that exists.
    let policy = cache::policy(cx, &app.id, OnKvFailure::ReadD1).await?;
    let (session, issued) = sessions::start(cx, &app, &tenant, user.id).await?;
    if !cx
        .db
        .create_user(&user, &face, &session, &issued.refresh_token.hash())
        .await?
    {
        return Err(Error::EmailTaken);
    }
    Ok(SignedIn {
        device: device_token(
            cx,
            &end_user_device_account(&app.id, &tenant.id, &face.email),
        )?,
        user: EndUser::with(&user, face, &policy),
        session: issued,
    })
}

/// A password that proved right for an active user of the tenant, with the attempt that
/// must now be settled (by the session's write, or `settle_signin`).
pub(super) struct CheckedPassword {
    pub user: User,
    pub face: TenantUser,
    pub attempt: Attempt,
    pub device_account: String,
}

/// `POST …/auth/signin`: throttled before hashing — per account, or per device when the
/// attempt carries a valid device token of that account — and per client; unknown email and
/// wrong password answer alike (`401 invalid_credentials`) and cost alike; a suspended user
/// with the right password is `403 user_suspended` (and that attempt is not a failure).
pub async fn signin<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    email: Email,
    password: &Password,
    client: Option<String>,
    device: Option<&str>,
) -> Result<SignedIn, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let CheckedPassword {
        user,
        face,
        attempt,
        device_account,
    } = check_password(cx, &app, &tenant, email, password, client, device).await?;
    let policy = cache::policy(cx, &app.id, OnKvFailure::ReadD1).await?;
    let (session, issued) = sessions::start(cx, &app, &tenant, user.id).await?;
    cx.db
        .create_session(&session, &issued.refresh_token.hash(), &attempt)
        .await?;
    Ok(SignedIn {
        user: EndUser::with(&user, face, &policy),
        session: issued,
        device: device_token(cx, &device_account)?,
    })
}

/// The checks of a password sign-in, in order (see `signin`), up to the session: throttling,
/// the timing-safe password check, suspension, and the re-hash of a weaker hash. The attempt
/// is left for the caller to settle.
pub(super) async fn check_password<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    email: Email,
    password: &Password,
    client: Option<String>,
    device: Option<&str>,
) -> Result<CheckedPassword, Error> {
    require_email_password(tenant)?;
    let account = account_subject(&email);
    let device_account = end_user_device_account(&app.id, &tenant.id, &email);
    let attempt = Attempt {
        account: attempt_subject(cx, &account, &device_account, device)?,
        client,
        now: cx.now,
    };
    let record = cx
        .db
        .begin_signin(&app.id, &tenant.id, &email, &attempt)
        .await?;
    if let Some(seconds) = record.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    let policy = cx.app_password_policy(&app.settings)?;
    let stored = record
        .user
        .as_ref()
        .and_then(|(user, _)| user.password_hash.as_ref());
    let owner = KeyOwner::App(app.id.clone());
    let verified = verify_password(cx, &owner, &policy, stored, password).await?;
    // The attempt is already counted: a failure needs no further write.
    let (Some((user, face)), true) = (record.user, verified) else {
        return Err(Error::InvalidCredentials);
    };
    if face.status == UserStatus::Suspended {
        // The password was right: this is no failed attempt.
        cx.db.settle_signin(&app.id, &tenant.id, &attempt).await?;
        return Err(Error::UserSuspended);
    }
    if let Some(hash) = &user.password_hash {
        let (app_id, user_id) = (&app.id, &user.id);
        rehash_if_weaker(cx, &policy, hash, password, |upgraded| async move {
            cx.db.update_user_password(app_id, user_id, &upgraded).await
        })
        .await?;
    }
    Ok(CheckedPassword {
        user,
        face,
        attempt,
        device_account,
    })
}
