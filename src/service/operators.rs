//! Operator accounts: the bootstrap of the first platform owner and operator sign-in.
//!
//! Operator sign-in is throttled like end-user sign-in (every attempt counted per email and
//! per client before any hashing) and timing-safe (`credentials`); operator tokens are signed
//! with the operator plane's own key and audience, so they are never end-user tokens.

use super::credentials::{attempt_subject, device_token, rehash_if_weaker, verify_password};
use super::{keyring, Ctx, Stores};
use crate::domain::device::DeviceToken;
use crate::domain::email::Email;
use crate::domain::ids::OperatorId;
use crate::domain::keys::KeyOwner;
use crate::domain::operator::Operator;
use crate::domain::password::Password;
use crate::domain::secret::secrets_match;
use crate::domain::token::{self, OperatorClaims};
use crate::domain::Error;
use crate::store::{Attempt, OperatorStore};

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
    };
    if !cx.db.create_platform_owner(&operator).await? {
        return Err(Error::AlreadyBootstrapped);
    }
    Ok(operator)
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
