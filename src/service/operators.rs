//! Operator accounts: the bootstrap of the first platform owner, self-serve sign-up of
//! operators (when the deployment opens it), operator sign-in, and what an operator may do
//! (`me`, for the console).
//!
//! Operator sign-in is throttled like end-user sign-in (every attempt counted per email and
//! per client before any hashing) and timing-safe (`credentials`); operator tokens are signed
//! with the operator plane's own key and audience, so they are never end-user tokens.
//!
//! Sign-up makes an app with its `public` tenant and the operator its owner. Until the
//! operator has proved its email (`recovery::verify_operator_email`, through the delivery of
//! the app `public`), the app offers only its settings (`domain::authz::SETTINGS`) and no
//! end-user flow.

use super::cache;
use super::credentials::{attempt_subject, device_token, rehash_if_weaker, verify_password};
use super::principal::{audit_entry, Change};
use super::{keyring, recovery, Ctx, Stores};
use crate::domain::audit::{Actor, AuditAction};
use crate::domain::authz::{Grant, Principal};
use crate::domain::device::DeviceToken;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, MemberId, OperatorId};
use crate::domain::keys::KeyOwner;
use crate::domain::member::{Member, MemberStatus, MembershipSource, MembershipType, OperatorRole};
use crate::domain::operator::Operator;
use crate::domain::password::Password;
use crate::domain::secret::secrets_match;
use crate::domain::tenancy::{App, AppSettings, Tenant};
use crate::domain::time::Timestamp;
use crate::domain::token::{self, OperatorClaims};
use crate::domain::Error;
use crate::store::{Attempt, MemberStore, OperatorStore};
use serde_json::json;

/// The owner membership an operator gets of an app it made (sign-up) or of the app `public`
/// (bootstrap): `owner`, role `admin`, active.
fn owner_membership(
    id: MemberId,
    app_id: &AppId,
    operator: &Operator,
    source: MembershipSource,
    now: Timestamp,
) -> Member {
    Member {
        id,
        app_id: app_id.clone(),
        operator_id: Some(operator.id),
        email: operator.email.clone(),
        tenant_id: None,
        membership_type: MembershipType::Owner,
        roles: vec![OperatorRole::Admin],
        status: MemberStatus::Active,
        source,
        invite_expires_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// `401 unauthorized` unless `presented` is the deployment's root token (compared in constant
/// time, also when none is configured, so a missing secret costs the same as a wrong token).
pub fn check_root_token<S: Stores>(cx: &Ctx<'_, S>, presented: Option<&str>) -> Result<(), Error> {
    let expected = cx.config.admin_root_token.as_deref();
    let matches = secrets_match(presented.unwrap_or(""), expected.unwrap_or(""));
    if !matches || expected.is_none_or(str::is_empty) {
        return Err(Error::Unauthorized);
    }
    Ok(())
}

/// Creates the first operator, a platform owner, when `presented` is the deployment's root
/// token. Once a platform owner exists: `409 already_bootstrapped`.
pub async fn bootstrap<S: Stores>(
    cx: &Ctx<'_, S>,
    presented: Option<&str>,
    email: Email,
    password: &Password,
) -> Result<Operator, Error> {
    check_root_token(cx, presented)?;
    let operator = Operator {
        id: OperatorId::generate(cx.now, cx.random()?),
        email,
        password_hash: Some(cx.operator_password_policy().hash(password, cx.random()?)),
        is_platform_owner: true,
        created_at: cx.now,
        password_reset_at: None,
        email_verified_at: None,
    };
    let public = AppId::parse(crate::domain::ids::PUBLIC_TENANT)
        .map_err(|_| Error::Internal("the public app id does not parse".to_owned()))?;
    let membership = owner_membership(
        MemberId::generate(cx.now, cx.random()?),
        &public,
        &operator,
        MembershipSource::Bootstrap,
        cx.now,
    );
    if !cx.db.create_platform_owner(&operator, &membership).await? {
        return Err(Error::AlreadyBootstrapped);
    }
    Ok(operator)
}

/// A signed-up operator and its new app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUp {
    pub operator: Operator,
    pub app: App,
}

/// `POST /admin/signup` — no credential; only when the deployment sets
/// `OPERATOR_SIGNUP = "open"` (else `404`). Makes the app `app_id` with its `public` tenant
/// and the caller its owner (membership `owner`, role `admin`, source `signup`).
///
/// Throttled like sign-in, before any hashing: the client's sign-ups are counted
/// (`throttle::SIGNUP`, as end users' sign-ups), then the attempt against the operator email
/// and the client (sign-in's counters). An email that is already an operator's signs up a new
/// app only with that operator's password (checked and counted as operator sign-in does);
/// a wrong one is `401 invalid_credentials`. Unless the operator's email is verified already,
/// the app waits for it (`403 app_not_verified` for anything but its settings) and a
/// verification link is sent through the delivery of the app `public` to
/// `OPERATOR_LINK_BASE_URL` — so sign-up needs both (`409 email_delivery_not_configured`). A
/// link that cannot be sent then (its send window is full) does not undo the sign-up: the
/// operator asks for another.
pub async fn signup<S: Stores>(
    cx: &Ctx<'_, S>,
    email: Email,
    password: &Password,
    app_id: AppId,
    client: Option<String>,
) -> Result<SignedUp, Error> {
    if !cx.config.operator_signup_open {
        return Err(Error::RouteNotFound);
    }
    recovery::require_operator_delivery(cx).await?;
    if let Some(client) = &client {
        if let Some(seconds) = cx.db.count_operator_signup(client, cx.now).await? {
            return Err(Error::RateLimited(seconds));
        }
    }
    let attempt = Attempt {
        account: format!("operator:{email}"),
        client: client.clone(),
        now: cx.now,
    };
    let record = cx.db.begin_operator_signin(&email, &attempt).await?;
    if let Some(seconds) = record.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    let policy = cx.operator_password_policy();
    let (operator, new_operator) = match record.user {
        Some(existing) => {
            let stored = existing.password_hash.as_ref();
            if !verify_password(cx, &KeyOwner::Operators, &policy, stored, password).await? {
                return Err(Error::InvalidCredentials);
            }
            (existing, false)
        }
        None => {
            let operator = Operator {
                id: OperatorId::generate(cx.now, cx.random()?),
                email,
                password_hash: Some(policy.hash(password, cx.random()?)),
                is_platform_owner: false,
                created_at: cx.now,
                password_reset_at: None,
                email_verified_at: None,
            };
            (operator, true)
        }
    };
    // The attempt was not a failure: the email's count is cleared, the client's given back.
    cx.db.finish_operator_signin(&attempt).await?;
    let app = App {
        id: app_id,
        settings: AppSettings::default(),
        created_at: cx.now,
        pending_verification: operator.email_verified_at.is_none(),
    };
    let public = Tenant::public_of(&app.id, cx.now);
    let owner = owner_membership(
        MemberId::generate(cx.now, cx.random()?),
        &app.id,
        &operator,
        MembershipSource::Signup,
        cx.now,
    );
    let audit = audit_entry(
        cx,
        Actor::Operator(operator.id.to_string()),
        Change {
            app_id: &app.id,
            action: AuditAction::AppSignup,
            target: app.id.to_string(),
            tenant_id: None,
            detail: json!({ "new_operator": new_operator }),
        },
    )?;
    let created = cx
        .db
        .sign_up_operator(
            new_operator.then_some(&operator),
            &app,
            &public,
            &owner,
            &audit,
        )
        .await?;
    if !created {
        return Err(Error::Conflict(format!("app {} exists already", app.id)));
    }
    cache::app_changed(cx, &app).await?;
    cache::tenant_changed(cx, &app.id, &public.id, Some(&public)).await?;
    if app.pending_verification {
        // The app is made: a link that cannot go now (a full send window, the queue down) is
        // reported, and the operator asks for another (`send_operator_verification`).
        let sent = recovery::send_operator_verification_to(cx, operator.email.clone(), client);
        if let Err(e) = sent.await {
            cx.warn(&format!(
                "operator verification link not sent at sign-up: {e:?}"
            ));
        }
    }
    Ok(SignedUp { operator, app })
}

/// An operator access token and its lifetime. Its `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorToken {
    pub access_token: String,
    pub expires_in: i64,
}

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorToken")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// An operator signed in: its access token, and a device token for the browser.
#[derive(Debug, Clone)]
pub struct OperatorSignedIn {
    pub token: OperatorToken,
    pub device: DeviceToken,
}

/// Signs an operator in. Unknown email and wrong password answer alike and cost alike; too
/// many failures for the email (or, with a valid device token of that email, for that
/// device) or the client are `429` before any hashing.
pub async fn signin<S: Stores>(
    cx: &Ctx<'_, S>,
    email: Email,
    password: &Password,
    client: Option<String>,
    device: Option<&str>,
) -> Result<OperatorSignedIn, Error> {
    let account = format!("operator:{email}");
    let attempt = Attempt {
        account: attempt_subject(cx, &account, &account, device)?,
        client,
        now: cx.now,
    };
    let record = cx.db.begin_operator_signin(&email, &attempt).await?;
    if let Some(seconds) = record.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    let policy = cx.operator_password_policy();
    let stored = record.user.as_ref().and_then(|o| o.password_hash.as_ref());
    let verified = verify_password(cx, &KeyOwner::Operators, &policy, stored, password).await?;
    let (Some(operator), true) = (&record.user, verified) else {
        return Err(Error::InvalidCredentials);
    };
    cx.db.finish_operator_signin(&attempt).await?;
    if let Some(hash) = &operator.password_hash {
        rehash_if_weaker(cx, &policy, hash, password, |upgraded| async move {
            cx.db
                .update_operator_password(&operator.id, &upgraded)
                .await
        })
        .await?;
    }
    Ok(OperatorSignedIn {
        token: issue_token(cx, &operator.id).await?,
        device: device_token(cx, &account)?,
    })
}

/// `POST /admin/auth/unlock` — the root token. Clears the sign-in counter of an operator's
/// email, so a platform owner locked out by someone guessing at its email gets back in. The
/// client addresses' own counters are left alone.
pub async fn unlock<S: Stores>(
    cx: &Ctx<'_, S>,
    presented: Option<&str>,
    email: &Email,
) -> Result<(), Error> {
    check_root_token(cx, presented)?;
    cx.db.clear_operator_failures(email).await?;
    cx.warn(&format!(
        "operator sign-in counter of {email} cleared with the root token"
    ));
    Ok(())
}

/// The calling operator and every membership it has not left: what `GET /admin/me` shows,
/// so a client (the console) can offer exactly what the API will allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Myself {
    pub operator: Operator,
    /// Each membership's app, tenant scope, status and roles (`Grant::permissions` tells what
    /// it binds; it grants them only while active). A platform owner may have none: it holds
    /// `admin` on every app without one.
    pub memberships: Vec<Grant>,
}

/// `GET /admin/me` — any operator. Only describes, so it needs no permission; an API key is
/// no operator (`403 forbidden`). The memberships are the ones `principal` read for this very
/// request, so they agree with what the next call will be allowed.
pub async fn me<S: Stores>(cx: &Ctx<'_, S>, caller: &Principal) -> Result<Myself, Error> {
    let (id, memberships) = match caller {
        Principal::PlatformOwner(id) => (id, cx.db.find_grants(id).await?),
        Principal::Operator { id, grants } => (id, grants.clone()),
        Principal::ApiKey { .. } => {
            return Err(Error::Forbidden(
                "an API key is not an operator: it has no memberships".to_owned(),
            ))
        }
    };
    // Gone between authentication and now: as if the token were not valid.
    let operator = cx.db.find_operator(id).await?.ok_or(Error::Unauthorized)?;
    Ok(Myself {
        operator,
        memberships,
    })
}

/// Signs an operator token for `operator`.
async fn issue_token<S: Stores>(
    cx: &Ctx<'_, S>,
    operator: &OperatorId,
) -> Result<OperatorToken, Error> {
    let ttl = cx.config.operator_token_ttl_seconds;
    let key = keyring::signing_key(cx, &KeyOwner::Operators, ttl.saturating_mul(1000)).await?;
    let claims = OperatorClaims::new(cx.origin, &operator.to_string());
    Ok(OperatorToken {
        access_token: token::sign(&key, claims, cx.now, ttl)?,
        expires_in: ttl,
    })
}
