//! The per-request context: bindings, configuration, the clock and randomness.
//!
//! This is the only place that reads `Env`. Configuration comes from vars (see README):
//! missing vars fall back to documented defaults, malformed ones are an internal error so a
//! typo in `wrangler.toml` is noticed rather than silently ignored.

use crate::domain::password::PasswordPolicy;
use crate::domain::Error;
use crate::store::d1::D1Store;
use worker::Env;

/// Bindings and settings for one request.
pub struct Ctx {
    env: Env,
    /// The D1 adapter of every port.
    pub store: D1Store,
    /// The request's time, Unix milliseconds.
    pub now_ms: i64,
    /// The deployment's origin (`https://host`), used as token issuer.
    pub origin: String,
}

impl Ctx {
    /// Builds the context; a missing `DB` binding is `503 unavailable`.
    pub fn new(env: Env, origin: String) -> Result<Self, Error> {
        let db = env
            .d1("DB")
            .map_err(|e| Error::Unavailable(format!("binding DB: {e}")))?;
        Ok(Ctx {
            env,
            store: D1Store::new(db),
            now_ms: js_sys::Date::now() as i64,
            origin,
        })
    }

    /// A secret (or, locally, a var) by name; `None` when unset or empty.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.env
            .secret(name)
            .or_else(|_| self.env.var(name))
            .ok()
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty())
    }

    /// A numeric var, or `default` when unset.
    pub fn number_var(&self, name: &str, default: i64) -> Result<i64, Error> {
        match self.env.var(name) {
            Err(_) => Ok(default),
            Ok(v) => v
                .to_string()
                .trim()
                .parse()
                .map_err(|_| Error::Internal(format!("var {name} is not a whole number"))),
        }
    }

    /// The password hashing policy: PBKDF2-HMAC-SHA256 at 600,000 iterations, unless the
    /// test-only var `TESSERA_TEST_PBKDF2_ITERATIONS` is bound (the e2e suite does; no
    /// deployment should).
    pub fn password_policy(&self) -> Result<PasswordPolicy, Error> {
        match self.env.var("TESSERA_TEST_PBKDF2_ITERATIONS") {
            Err(_) => Ok(PasswordPolicy::default()),
            Ok(v) => v
                .to_string()
                .parse()
                .map(PasswordPolicy::insecure_for_tests)
                .map_err(|_| {
                    Error::Internal("TESSERA_TEST_PBKDF2_ITERATIONS is not a number".into())
                }),
        }
    }

    /// Lifetime of operator access tokens (`OPERATOR_TOKEN_TTL_SECONDS`, default 900).
    pub fn operator_token_ttl_seconds(&self) -> Result<i64, Error> {
        self.number_var("OPERATOR_TOKEN_TTL_SECONDS", 900)
    }
}

/// `N` bytes from the platform's CSPRNG (`crypto.getRandomValues`).
pub fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}
