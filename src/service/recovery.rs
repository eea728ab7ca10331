//! Proving an email by mail: email verification of end users and of operators, password reset
//! of end users and of operators — and the two steps every such flow shares with passwordless: sending a challenge
//! (`send_challenge`) and finding the one a link token opens (`link_challenge`).
//!
//! Sending does the same work for every address: the send is counted (per address and per
//! client, fixed windows), a challenge is stored (the store finds the address's account in
//! the same statement), and a sealed message is enqueued — a decoy when there is no account
//! to reach, which the queue's consumer drops. So the answer, its body and its timing are the
//! same for known and unknown addresses. Consuming is counted before any work (sign-in's
//! per-client policy), and a challenge works once (a compare-and-swap in the store, in the
//! batch that applies what it proves).
//!
//! Operators' messages go through the delivery of the app `public` (the deployment's own), and
//! their links to `OPERATOR_LINK_BASE_URL`. Must not depend on `http`.

use super::cache::{self, OnKvFailure};
use super::credentials::account_subject;
use super::email::{enqueue, require_delivery};
use super::introspection::active_user;
use super::users::EndUser;
use super::{edge, Ctx, Stores};
use crate::domain::authz::Principal;
use crate::domain::challenge::{
    address_send_subject, Challenge, Code, Plane, Purpose, StoredChallenge, Subject,
};
use crate::domain::delivery::Message;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ChallengeId, MessageId, TenantId};
use crate::domain::links::WebUrl;
use crate::domain::operator::Operator;
use crate::domain::password::Password;
use crate::domain::secret::{PlainSecret, SecretHash, SecretKind};
use crate::domain::tenancy::{LoginMethod, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{ConsumeCount, EmailStore, OperatorStore, SendCount, Settlement, UserStore};

/// A message about to be sent: for whom, from which app, for what.
pub(super) struct Outgoing<'a> {
    /// The app whose delivery carries it.
    pub app_id: &'a AppId,
    /// `None` for operators.
    pub tenant_id: Option<&'a TenantId>,
    pub plane: Plane,
    pub purpose: Purpose,
    pub email: Email,
    pub link_base: &'a WebUrl,
    /// A 6-digit code too (passwordless).
    pub with_code: bool,
    pub client: Option<String>,
}

/// A challenge that was sent.
pub(super) struct Sent {
    pub id: ChallengeId,
    pub expires_at: Timestamp,
}

/// Counts the send, stores the challenge and enqueues its message — the same work whatever
/// the address. `deliver` decides, from the account the address belongs to, whether the
/// message is real or a decoy.
pub(super) async fn send_challenge<S: Stores>(
    cx: &Ctx<'_, S>,
    out: Outgoing<'_>,
    deliver: impl FnOnce(Option<Subject>) -> bool,
) -> Result<Sent, Error> {
    let count = SendCount {
        address: address_send_subject(&out.email),
        client: out.client,
        now: cx.now,
    };
    if let Some(seconds) = cx.db.count_send(&out.plane, &count).await? {
        return Err(Error::RateLimited(seconds));
    }
    let id = ChallengeId::generate(cx.now, cx.random()?);
    let token = PlainSecret::generate(SecretKind::LinkToken, cx.random()?);
    let code = if out.with_code {
        Some(Code::generate(cx.random()?))
    } else {
        None
    };
    let code_hash = match &code {
        Some(code) => Some(cx.code_key()?.hash(&id, code)?),
        None => None,
    };
    let challenge = Challenge::new(
        id,
        out.plane,
        out.purpose,
        out.email,
        token.hash(),
        code_hash,
        cx.now,
    );
    let subject = cx.db.create_challenge(&challenge).await?;
    let message = Message {
        id: MessageId::generate(cx.now, cx.random()?),
        purpose: challenge.purpose,
        app_id: out.app_id.clone(),
        tenant_id: out.tenant_id.cloned(),
        to: challenge.email.clone(),
        code: code.as_ref().map(|c| c.expose().to_owned()),
        link: Some(
            out.link_base
                .link(challenge.purpose.as_str(), token.expose()),
        ),
        expires_at: challenge.expires_at,
        created_at: cx.now,
    };
    enqueue(cx, &message, deliver(subject)).await?;
    Ok(Sent {
        id,
        expires_at: challenge.expires_at,
    })
}

/// Counts a link consume (per client) and finds the open challenge of `purpose` its token
/// opens: `429 rate_limited`, or `400 invalid_code` for a token that is malformed, unknown,
/// expired or used.
pub(super) async fn link_challenge<S: Stores>(
    cx: &Ctx<'_, S>,
    plane: &Plane,
    purpose: Purpose,
    presented: &str,
    client: Option<String>,
) -> Result<StoredChallenge, Error> {
    // A malformed token is counted like any other, against a hash that matches nothing.
    let hash = PlainSecret::from_client(SecretKind::LinkToken, presented)
        .map_or_else(|| SecretHash::from_stored(String::new()), |t| t.hash());
    let count = ConsumeCount {
        address: None,
        client,
        now: cx.now,
    };
    let counted = cx.db.begin_link_try(plane, purpose, &hash, &count).await?;
    if let Some(seconds) = counted.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    counted.found.ok_or(Error::InvalidCode)
}

/// The tenant's link base; without one, flows that send links cannot run.
pub(super) fn link_base(tenant: &Tenant) -> Result<&WebUrl, Error> {
    tenant
        .link_base_url
        .as_ref()
        .ok_or(Error::EmailDeliveryNotConfigured)
}

/// `POST …/auth/email-verification/send` — bearer access token. Sends a verification link
/// (24 h) to the user's email.
pub async fn send_verification<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    bearer: Option<&str>,
    client: Option<String>,
) -> Result<(), Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let (_, _, face) = active_user(cx, &app, &tenant, bearer).await?;
    require_delivery(cx, &app.id).await?;
    let out = Outgoing {
        app_id: &app.id,
        tenant_id: Some(&tenant.id),
        plane: Plane::Tenant(app.id.clone(), tenant.id.clone()),
        purpose: Purpose::EmailVerification,
        email: face.email,
        link_base: link_base(&tenant)?,
        with_code: false,
        client,
    };
    send_challenge(cx, out, |subject| subject.is_some()).await?;
    Ok(())
}

/// `POST …/auth/email-verification/verify` — the link's token. The user, its email verified.
pub async fn verify_email<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    token: &str,
    client: Option<String>,
) -> Result<EndUser, Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    let plane = Plane::Tenant(app.id.clone(), tenant.id.clone());
    let found = link_challenge(
        cx,
        &plane,
        Purpose::EmailVerification,
        token,
        client.clone(),
    )
    .await?;
    let Some(Subject::User(user_id)) = found.subject else {
        return Err(Error::InvalidCode);
    };
    // Read before the change, so the answer needs nothing after it: a verification that is
    // made is answered as made.
    let (mut user, face) = cx
        .db
        .find_tenant_user(&app.id, &tenant.id, &user_id)
        .await?
        .ok_or(Error::InvalidCode)?;
    let policy = cache::policy(cx, &app.id, OnKvFailure::ReadD1).await?;
    let settle = Settlement {
        clear: None,
        give_back: client,
    };
    let verified = cx
        .db
        .verify_email(
            &found.challenge.id,
            (&app.id, &tenant.id),
            &user_id,
            cx.now,
            &settle,
        )
        .await?;
    if !verified {
        return Err(Error::InvalidCode);
    }
    user.email_verified = true;
    Ok(EndUser::with(&user, face, &policy))
}

/// `POST …/auth/password-reset/send` — no credential. Sends a reset link (15 min) when the
/// address has an account in the tenant; the answer is the same either way.
pub async fn send_reset<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    email: Email,
    client: Option<String>,
) -> Result<(), Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    tenant.require(LoginMethod::EmailPassword)?;
    require_delivery(cx, &app.id).await?;
    let out = Outgoing {
        app_id: &app.id,
        tenant_id: Some(&tenant.id),
        plane: Plane::Tenant(app.id.clone(), tenant.id.clone()),
        purpose: Purpose::PasswordReset,
        email,
        link_base: link_base(&tenant)?,
        with_code: false,
        client,
    };
    send_challenge(cx, out, |subject| subject.is_some()).await?;
    Ok(())
}

/// `POST …/auth/password-reset` — the link's token and a new password. Sets the password,
/// marks the email verified, revokes every session of the user in the tenant and clears the
/// address's failed sign-ins; signs nobody in.
pub async fn reset_password<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    token: &str,
    password: &Password,
    client: Option<String>,
) -> Result<(), Error> {
    let (app, tenant) = cache::place(cx, app_id, tenant_id, OnKvFailure::ReadD1).await?;
    tenant.require(LoginMethod::EmailPassword)?;
    let plane = Plane::Tenant(app.id.clone(), tenant.id.clone());
    let found = link_challenge(cx, &plane, Purpose::PasswordReset, token, client.clone()).await?;
    let Some(Subject::User(user_id)) = found.subject else {
        return Err(Error::InvalidCode);
    };
    let hash = cx
        .app_password_policy(&app.settings)?
        .hash(password, cx.random()?);
    let settle = Settlement {
        clear: Some(account_subject(&found.challenge.email)),
        give_back: client,
    };
    let revoked = cx
        .db
        .reset_user_password(
            &found.challenge.id,
            (&app.id, &tenant.id),
            &user_id,
            &hash,
            cx.now,
            &settle,
        )
        .await?
        .ok_or(Error::InvalidCode)?;
    // The store bumped the user's edge document with the revocations: rewrite it.
    if !revoked.is_empty() {
        edge::publish_after_change(cx, &edge::user_doc(&app.id, &tenant.id, &user_id)).await;
    }
    Ok(())
}

/// The app whose delivery carries operators' messages: the deployment's own.
fn operator_app() -> Result<AppId, Error> {
    AppId::parse(crate::domain::ids::PUBLIC_TENANT)
        .map_err(|_| Error::Internal("the public app id does not parse".to_owned()))
}

/// Where operators' links point; `409 email_delivery_not_configured` unless the app `public`
/// delivers email and `OPERATOR_LINK_BASE_URL` is set.
pub(super) async fn require_operator_delivery<'a, S: Stores>(
    cx: &Ctx<'a, S>,
) -> Result<&'a WebUrl, Error> {
    require_delivery(cx, &operator_app()?).await?;
    cx.config
        .operator_link_base_url
        .as_ref()
        .ok_or(Error::EmailDeliveryNotConfigured)
}

/// Sends an operator's message of `purpose` to `email` (a real one only when an operator has
/// that email).
async fn send_to_operator<S: Stores>(
    cx: &Ctx<'_, S>,
    purpose: Purpose,
    email: Email,
    client: Option<String>,
) -> Result<(), Error> {
    let app_id = operator_app()?;
    let link_base = require_operator_delivery(cx).await?;
    let out = Outgoing {
        app_id: &app_id,
        tenant_id: None,
        plane: Plane::Operators,
        purpose,
        email,
        link_base,
        with_code: false,
        client,
    };
    send_challenge(cx, out, |subject| subject.is_some()).await?;
    Ok(())
}

/// `POST /admin/auth/password-reset/send` — no credential. As for end users, for operators.
pub async fn send_operator_reset<S: Stores>(
    cx: &Ctx<'_, S>,
    email: Email,
    client: Option<String>,
) -> Result<(), Error> {
    send_to_operator(cx, Purpose::OperatorPasswordReset, email, client).await
}

/// Sends the verification link of an operator's email (24 h): after sign-up, and again on
/// request.
pub(super) async fn send_operator_verification_to<S: Stores>(
    cx: &Ctx<'_, S>,
    email: Email,
    client: Option<String>,
) -> Result<(), Error> {
    send_to_operator(cx, Purpose::OperatorEmailVerification, email, client).await
}

/// `POST /admin/auth/email-verification/send` — an operator token (not an API key). Sends a
/// new verification link to the caller's email.
pub async fn send_operator_verification<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    client: Option<String>,
) -> Result<(), Error> {
    let operator = caller_operator(cx, caller).await?;
    send_operator_verification_to(cx, operator.email, client).await
}

/// The operator a principal is; an API key is none (`403 forbidden`).
async fn caller_operator<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
) -> Result<Operator, Error> {
    let id = match caller {
        Principal::PlatformOwner(id) | Principal::Operator { id, .. } => id,
        Principal::ApiKey { .. } => {
            return Err(Error::Forbidden(
                "only an operator has an email to verify".to_owned(),
            ))
        }
    };
    cx.db.find_operator(id).await?.ok_or(Error::Unauthorized)
}

/// `POST /admin/auth/email-verification/verify` — the link's token. Marks the operator's email
/// verified; the apps it signed up for are usable beyond their settings from now on. Returns
/// the operator.
pub async fn verify_operator_email<S: Stores>(
    cx: &Ctx<'_, S>,
    token: &str,
    client: Option<String>,
) -> Result<Operator, Error> {
    let found = link_challenge(
        cx,
        &Plane::Operators,
        Purpose::OperatorEmailVerification,
        token,
        client.clone(),
    )
    .await?;
    let Some(Subject::Operator(operator_id)) = found.subject else {
        return Err(Error::InvalidCode);
    };
    // Read before the change, so that a verification that is made is answered as made.
    let mut operator = cx
        .db
        .find_operator(&operator_id)
        .await?
        .ok_or(Error::InvalidCode)?;
    let settle = Settlement {
        clear: None,
        give_back: client,
    };
    let apps = cx
        .db
        .verify_operator_email(&found.challenge.id, &operator_id, cx.now, &settle)
        .await?
        .ok_or(Error::InvalidCode)?;
    operator.email_verified_at.get_or_insert(cx.now);
    // Their mirrors say so too, and this isolate forgets its copies. The change is made: a
    // mirror that can be neither rewritten nor withdrawn now is logged, and lives at most
    // its TTL (a day) — the app keeps answering as pending until then.
    for app_id in &apps {
        if let Err(e) = cache::app_refreshed(cx, app_id).await {
            cx.warn(&format!(
                "the mirror of app {app_id} still says it awaits verification: {e:?}"
            ));
        }
    }
    Ok(operator)
}

/// `POST /admin/auth/password-reset` — the link's token and a new password. Sets the
/// operator's password; every operator token issued until now stops working.
pub async fn reset_operator_password<S: Stores>(
    cx: &Ctx<'_, S>,
    token: &str,
    password: &Password,
    client: Option<String>,
) -> Result<(), Error> {
    let found = link_challenge(
        cx,
        &Plane::Operators,
        Purpose::OperatorPasswordReset,
        token,
        client.clone(),
    )
    .await?;
    let Some(Subject::Operator(operator_id)) = found.subject else {
        return Err(Error::InvalidCode);
    };
    let hash = cx.operator_password_policy().hash(password, cx.random()?);
    let settle = Settlement {
        clear: Some(format!("operator:{}", found.challenge.email)),
        give_back: client,
    };
    let reset = cx
        .db
        .reset_operator_password(&found.challenge.id, &operator_id, &hash, cx.now, &settle)
        .await?;
    if reset {
        Ok(())
    } else {
        Err(Error::InvalidCode)
    }
}
