//! The one timing-safe password check, shared by end-user sign-in, operator sign-in and
//! invite acceptance, and the re-hash that upgrades a weaker stored hash after a success.
//!
//! Every check verifies one hash per set of hashing parameters in use (the real one where
//! there is one, dummies for the rest), so an unknown email, a user without a password and a
//! user with a hash of any cost in use all take the same time: timing does not tell which
//! emails exist, even after an app changes its hashing cost.

use super::cache::insert;
use super::{Ctx, Stores};
use crate::domain::device::DeviceToken;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::password::{Password, PasswordHash, PasswordParams, PasswordPolicy};
use crate::domain::Error;
use crate::store::{OperatorStore, UserStore};
use std::future::Future;
use std::rc::Rc;

/// The sets of hashing parameters in use among `owner`'s stored passwords, from the isolate's
/// cache (`TENANCY_CACHE_TTL_SECONDS`) or D1.
async fn params_in_use<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
) -> Result<Rc<Vec<PasswordParams>>, Error> {
    let cached = cx
        .caches
        .password_params
        .borrow()
        .get(owner)
        .filter(|(_, expires)| *expires > cx.now)
        .map(|(params, _)| params.clone());
    if let Some(params) = cached {
        return Ok(params);
    }
    let params = Rc::new(match owner {
        KeyOwner::App(app) => cx.db.find_password_params(app).await?,
        KeyOwner::Operators => cx.db.find_operator_password_params().await?,
    });
    let expires = cx.now.plus_ms(cx.cache_ttl_ms());
    insert(
        &cx.caches.password_params,
        owner.clone(),
        (params.clone(), expires),
    );
    Ok(params)
}

/// True when `password` matches `stored`, at a cost that does not depend on whether there is
/// a stored hash or what its parameters are: besides the real hash (when there is a trusted
/// one), one dummy hash is verified for every other set of parameters in use among `owner`'s
/// passwords and for `policy`'s. So an unknown email, a user without a password, a user whose
/// hash is of the current cost and one whose hash is of an older cost all cost the same while
/// an app moves from one hashing cost to another. A stored hash under the policy's floor (say
/// one planted with `i=1`) is never trusted.
pub async fn verify_password<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
    policy: &PasswordPolicy,
    stored: Option<&PasswordHash>,
    password: &Password,
) -> Result<bool, Error> {
    let mut sets: Vec<PasswordParams> = params_in_use(cx, owner).await?.to_vec();
    sets.push(policy.params());
    sets.sort();
    sets.dedup();
    let trusted = stored.filter(|hash| policy.trusts(hash));
    let matched = trusted.is_some_and(|hash| hash.verify(password));
    for params in sets {
        if trusted.is_some_and(|hash| hash.params() == params) {
            continue;
        }
        params.dummy_hash().verify(password);
    }
    Ok(matched)
}

/// The throttling subject of an end user's email in a tenant (its counters are kept per app
/// and tenant by the store): what sign-in, password change and reset count and clear.
pub fn account_subject(email: &Email) -> String {
    format!("account:{email}")
}

/// What an end user's device token is bound to: the email's account in one tenant of one app,
/// the scope of the throttle it lifts. Without the app and tenant, a device token earned by
/// signing up with the victim's email wherever sign-up is open would lift the victim's
/// lockout everywhere else. (Ids are slugs without `/`, so the form is unambiguous.)
pub fn end_user_device_account(app: &AppId, tenant: &TenantId, email: &Email) -> String {
    format!("account:{app}/{tenant}/{email}")
}

/// The throttling subject of a sign-in attempt whose fallback subject is `account`
/// (`operator:<email>`, `account:<email>`): the device's own when the attempt carries a valid
/// device token bound to `device_account` (the operator's subject itself; for end users
/// `end_user_device_account`), else `account`. So an account locked out by someone who knows
/// only its email still lets its owner's browser in (`domain::device`).
pub fn attempt_subject<S: Stores>(
    cx: &Ctx<'_, S>,
    account: &str,
    device_account: &str,
    device: Option<&str>,
) -> Result<String, Error> {
    let key = cx.device_key()?;
    Ok(device
        .and_then(|token| key.verify(device_account, token, cx.now))
        .map_or_else(|| account.to_owned(), |device| device.subject()))
}

/// A new device token, bound to `device_account`, for the browser that just signed it in.
pub fn device_token<S: Stores>(
    cx: &Ctx<'_, S>,
    device_account: &str,
) -> Result<DeviceToken, Error> {
    cx.device_key()?.issue(device_account, cx.random()?, cx.now)
}

/// After a successful check: when `stored` is weaker than `policy` (fewer iterations, or the
/// other algorithm), hashes the password again and hands the new hash to `save`. A failed
/// save is reported and ignored — the old hash still verifies, so the sign-in goes on.
pub async fn rehash_if_weaker<S, F, Fut>(
    cx: &Ctx<'_, S>,
    policy: &PasswordPolicy,
    stored: &PasswordHash,
    password: &Password,
    save: F,
) -> Result<(), Error>
where
    S: Stores,
    F: FnOnce(PasswordHash) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    if policy.needs_rehash(stored) {
        let upgraded = policy.hash(password, cx.random()?);
        if let Err(e) = save(upgraded).await {
            cx.warn(&format!("password rehash failed: {e:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dummy_of_given_parameters_never_matches() {
        let policy = PasswordPolicy::insecure_for_tests(10);
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!policy.params().dummy_hash().verify(&password));
        let stored = policy.hash(&password, [1; 16]);
        assert!(stored.verify(&password));
    }
}
