//! The one timing-safe password check, shared by end-user sign-in, operator sign-in and
//! invite acceptance, and the re-hash that upgrades a weaker stored hash after a success.
//!
//! An account without a password (unknown email, or a user created without one) is checked
//! against the policy's dummy hash, so every failed check costs one full hash and answers
//! alike: timing does not tell which emails exist.

use super::{Ctx, Stores};
use crate::domain::password::{Password, PasswordHash, PasswordPolicy};
use crate::domain::Error;
use std::future::Future;

/// True when `password` matches `stored`. With no stored hash the dummy hash of `policy` is
/// verified instead (and the answer is `false`), so the cost is the same either way.
pub fn verify_password(
    policy: &PasswordPolicy,
    stored: Option<&PasswordHash>,
    password: &Password,
) -> bool {
    match stored {
        Some(hash) => hash.verify(password),
        None => {
            policy.dummy_hash().verify(password);
            false
        }
    }
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
    fn an_unknown_account_costs_a_hash_and_never_matches() {
        let policy = PasswordPolicy::insecure_for_tests(10);
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!verify_password(&policy, None, &password));
        let stored = policy.hash(&password, [1; 16]);
        assert!(verify_password(&policy, Some(&stored), &password));
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!verify_password(&policy, Some(&stored), &wrong));
    }
}
