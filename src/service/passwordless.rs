//! Passwordless sign-in and sign-up (login method `passwordless`): one message carries a
//! 6-digit code and a link with a 256-bit token, both for the same attempt, valid 15 minutes;
//! the attempt is consumed once, with the code (and its `attempt_id`) or with the link.
//!
//! Starting answers the same for every address (`recovery::send_challenge`). Each code try is
//! counted before the code is compared — on the attempt (the fifth wrong code ends it), on the
//! address (`code:<email>`, sign-in's per-account back-off, so a new attempt does not reset
//! the address's failure budget) and on the client. A link consume is counted on the client.
//!
//! "When the tenant allows sign-up": a tenant allows sign-up by passwordless exactly when its
//! login methods include `passwordless`, as `/auth/signup` is open exactly when they include
//! `emailpassword` — there is no separate sign-up switch (yet), so a tenant that must not take
//! new users this way cannot offer passwordless sign-in either. A new email is signed up with
//! its email verified and no password. Must not depend on `http`.

use super::cache::{self, OnKvFailure};
use super::credentials::{device_token, end_user_device_account};
use super::email::require_delivery;
use super::recovery::{link_base, link_challenge, send_challenge, Outgoing};
use super::sessions;
use super::signin::SignedIn;
use super::users::EndUser;
use super::{Ctx, Stores};
use crate::domain::challenge::{address_code_subject, Code, Plane, Purpose, StoredChallenge};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ChallengeId, TenantId};
use crate::domain::tenancy::{App, LoginMethod, Tenant};
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{ConsumeCount, EmailStore, Settlement, SignUpOutcome, UserStore};

/// A started attempt: its id and how long its code and link live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub attempt_id: ChallengeId,
    pub expires_in: i64,
}

/// `POST …/auth/passwordless/start` — no credential. Sends a code and a link to `email`;
/// the answer is the same for every address.
pub async fn start<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    email: Email,
    client: Option<String>,
) -> Result<Started, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    tenant.require(LoginMethod::Passwordless)?;
    require_delivery(cx, &app.id).await?;
    let out = Outgoing {
        app_id: &app.id,
        tenant_id: Some(&tenant.id),
        plane: Plane::Tenant(app.id.clone(), tenant.id.clone()),
        purpose: Purpose::Passwordless,
        email,
        link_base: link_base(&tenant)?,
        with_code: true,
        client,
    };
    // Known or not, the address gets its message: an unknown one is signed up on consume.
    let sent = send_challenge(cx, out, |_| true).await?;
    Ok(Started {
        attempt_id: sent.id,
        expires_in: sent.expires_at.ms_since(cx.now).div_euclid(1000),
    })
}

/// How a passwordless attempt is proved.
#[derive(Debug, Clone)]
pub enum Proof {
    /// The attempt's id and the code of its message.
    Code { attempt_id: ChallengeId, code: Code },
    /// The token of the message's link.
    Link { token: String },
}

/// A passwordless sign-in: the user, its new session, and whether it was signed up now.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub signed_in: SignedIn,
    pub created: bool,
}

/// `POST …/auth/passwordless/consume` — a code or a link token. Signs the address's user in,
/// or signs it up. A wrong code, or an attempt that is over, is `401 invalid_code`; a bad link
/// token `400 invalid_code`; too many tries `429`.
pub async fn consume<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    proof: Proof,
    client: Option<String>,
) -> Result<Consumed, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    tenant.require(LoginMethod::Passwordless)?;
    let plane = Plane::Tenant(app.id.clone(), tenant.id.clone());
    let (found, gone) = match proof {
        Proof::Code { attempt_id, code } => {
            let found = code_challenge(cx, &plane, &attempt_id, &code, client.clone()).await?;
            (found, Error::WrongCode)
        }
        Proof::Link { token } => {
            let found =
                link_challenge(cx, &plane, Purpose::Passwordless, &token, client.clone()).await?;
            (found, Error::InvalidCode)
        }
    };
    let settle = Settlement {
        clear: Some(address_code_subject(&found.challenge.email)),
        give_back: client,
    };
    complete(cx, &app, &tenant, &found, &settle)
        .await?
        .ok_or(gone)
}

/// Counts a code try and compares the code: the attempt after the try, or `401 invalid_code`.
async fn code_challenge<S: Stores>(
    cx: &Ctx<'_, S>,
    plane: &Plane,
    attempt_id: &ChallengeId,
    code: &Code,
    client: Option<String>,
) -> Result<StoredChallenge, Error> {
    // The address's subject needs the attempt's email, which the try itself cannot name.
    let address = cx
        .db
        .find_challenge(plane, attempt_id)
        .await?
        .filter(|c| c.challenge.purpose == Purpose::Passwordless)
        .map(|c| address_code_subject(&c.challenge.email));
    let count = ConsumeCount {
        address,
        client,
        now: cx.now,
    };
    let counted = cx.db.begin_code_try(plane, attempt_id, &count).await?;
    if let Some(seconds) = counted.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    let found = counted
        .found
        .filter(|c| c.challenge.purpose == Purpose::Passwordless)
        .ok_or(Error::WrongCode)?;
    let key = cx.code_key()?;
    let right = found
        .challenge
        .code_hash
        .as_ref()
        .is_some_and(|stored| key.matches(&found.challenge.id, code, stored));
    if right {
        Ok(found)
    } else {
        Err(Error::WrongCode)
    }
}

/// Signs in the user of the challenge's email, or signs it up; `None` when the challenge was
/// consumed meanwhile.
async fn complete<S: Stores>(
    cx: &Ctx<'_, S>,
    app: &App,
    tenant: &Tenant,
    found: &StoredChallenge,
    settle: &Settlement,
) -> Result<Option<Consumed>, Error> {
    let email = &found.challenge.email;
    let policy = cache::policy(cx, &app.id, OnKvFailure::ReadD1).await?;
    let existing = cx
        .db
        .find_tenant_user_by_email(&app.id, &tenant.id, email)
        .await?;
    if let Some((mut user, face)) = existing {
        if face.status == UserStatus::Suspended {
            return Err(Error::UserSuspended);
        }
        let (session, issued) = sessions::start(cx, app, tenant, user.id).await?;
        let signed_in = cx
            .db
            .passwordless_sign_in(
                &found.challenge.id,
                &session,
                &issued.refresh_token.hash(),
                settle,
            )
            .await?;
        if !signed_in {
            return Ok(None);
        }
        user.email_verified = true;
        user.passwordless = true;
        return Ok(Some(Consumed {
            signed_in: SignedIn {
                device: device_token(
                    cx,
                    &end_user_device_account(&app.id, &tenant.id, &face.email),
                )?,
                user: EndUser::with(&user, face, &policy),
                session: issued,
            },
            created: false,
        }));
    }
    let user = User {
        app_id: app.id.clone(),
        id: UserId::generate(cx.now, cx.random()?),
        email: email.clone(),
        password_hash: None,
        email_verified: true,
        passwordless: true,
        created_at: cx.now,
    };
    let face = TenantUser::new(&user, &tenant.id, cx.now);
    let (session, issued) = sessions::start(cx, app, tenant, user.id).await?;
    let outcome = cx
        .db
        .passwordless_sign_up(
            &found.challenge.id,
            &user,
            &face,
            (&session, &issued.refresh_token.hash()),
            settle,
        )
        .await?;
    match outcome {
        SignUpOutcome::SignedUp => Ok(Some(Consumed {
            signed_in: SignedIn {
                device: device_token(
                    cx,
                    &end_user_device_account(&app.id, &tenant.id, &face.email),
                )?,
                user: EndUser::with(&user, face, &policy),
                session: issued,
            },
            created: true,
        })),
        SignUpOutcome::ChallengeGone => Ok(None),
        // Someone else signed the email up between the lookup and the write.
        SignUpOutcome::EmailTaken => Err(Error::EmailTaken),
    }
}
