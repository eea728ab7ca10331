//! The per-request context: bindings, configuration, the clock and randomness.
//!
//! This is the only place that reads `Env`. Configuration comes from vars (see README):
//! missing vars fall back to documented defaults, malformed ones are an internal error so a
//! typo in `wrangler.toml` is noticed rather than silently ignored.

use crate::domain::password::PasswordPolicy;
use crate::domain::tenancy::AppSettings;
use crate::domain::Error;
use crate::store::d1::D1Store;
use crate::store::kv::KvEdge;
use worker::{Env, Request};

/// Header that sets the request's clock, honoured only when the test-only var
/// `TESSERA_TEST_CLOCK` is `header` (the e2e suite binds it; no deployment should).
pub const TEST_CLOCK_HEADER: &str = "X-Tessera-Test-Now-Ms";

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
    /// Builds the context of a request; a missing `DB` binding is `503 unavailable`.
    pub fn for_request(env: Env, origin: String, req: &Request) -> Result<Self, Error> {
        let mut now_ms = js_sys::Date::now() as i64;
        let test_clock = env.var("TESSERA_TEST_CLOCK").ok().map(|v| v.to_string());
        if test_clock.as_deref() == Some("header") {
            if let Some(at) = req.headers().get(TEST_CLOCK_HEADER).ok().flatten() {
                now_ms = at.parse().map_err(|_| {
                    Error::validation(format!("{TEST_CLOCK_HEADER} is not a number"))
                })?;
            }
        }
        Self::new(env, origin, now_ms)
    }

    /// Builds a context at `now_ms` (also for scheduled events, which have no request).
    pub fn new(env: Env, origin: String, now_ms: i64) -> Result<Self, Error> {
        let db = env
            .d1("DB")
            .map_err(|e| Error::Unavailable(format!("binding DB: {e}")))?;
        Ok(Ctx {
            env,
            store: D1Store::new(db),
            now_ms,
            origin,
        })
    }

    /// The KV edge view; a missing or broken `FLAGS` binding is `503 unavailable` (the
    /// introspection path turns that into `{"active": false}`).
    pub fn edge(&self) -> Result<KvEdge, Error> {
        self.env
            .kv("FLAGS")
            .map(KvEdge::new)
            .map_err(|e| Error::Unavailable(format!("binding FLAGS: {e}")))
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

    /// The password hashing policy for operators: the default (PBKDF2-HMAC-SHA512 at 210,000).
    pub fn password_policy(&self) -> Result<PasswordPolicy, Error> {
        self.policy_or_test_override(PasswordPolicy::default())
    }

    /// The password hashing policy an app's settings ask for.
    pub fn app_password_policy(&self, settings: &AppSettings) -> Result<PasswordPolicy, Error> {
        let policy = settings
            .password_policy()
            .map_err(|_| Error::Internal("stored app settings are invalid".to_owned()))?;
        self.policy_or_test_override(policy)
    }

    /// `policy`, unless the test-only var `TESSERA_TEST_PBKDF2_ITERATIONS` is bound (the e2e
    /// suite does, to keep hashing cheap; no deployment should).
    fn policy_or_test_override(&self, policy: PasswordPolicy) -> Result<PasswordPolicy, Error> {
        match self.env.var("TESSERA_TEST_PBKDF2_ITERATIONS") {
            Err(_) => Ok(policy),
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

    /// How long clients may cache a JWKS, which is also how long a rotated-in key is
    /// published before it signs (`JWKS_MAX_AGE_SECONDS`, default 300).
    pub fn jwks_max_age_seconds(&self) -> Result<i64, Error> {
        self.number_var("JWKS_MAX_AGE_SECONDS", 300)
    }
}

/// `N` bytes from the platform's CSPRNG (`crypto.getRandomValues`).
pub fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}
