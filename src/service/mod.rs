//! The use cases: every flow of the product written once, natively, generic over the ports.
//!
//! A use case takes a `Ctx` — the stores behind their traits (`store::Database` for D1,
//! `store::EdgeStore` for KV), the request's time, a source of randomness, the deployment's
//! configuration and the isolate's caches — plus its parsed input, and returns domain values
//! or a domain `Error`. Nothing here knows HTTP, reads a clock, or touches a binding: the
//! wasm32 worker (`http`) builds a `Ctx` over D1 and KV, native tests over the memory
//! adapters, and both run the very same rules.
//!
//! Must not depend on `http`. May depend on `domain` and on the port traits of `store`.
//!
//! Modules, one per use-case family:
//! - `cache`, `keyring`: the isolate's views of apps, tenants, policies, API keys, verified
//!   tokens and signing keys (KV first, D1 when KV has no copy).
//! - `edge`: the one writer of the KV documents that mirror D1 (users' edge documents, app
//!   policies) and how they converge on D1 (leases in D1, deferred retries, the cron sweep).
//! - `credentials`: the one timing-safe password check and the re-hash on upgrade.
//! - `principal`: who calls `/admin` (operator token or API key), the permission check and
//!   the audit entry of a change.
//! - `signin`, `sessions`, `introspection`: end users — sign-up, sign-in, refresh rotation,
//!   sign-out, `/auth/me`, RFC 7662/7009.
//! - `operators`, `tenancy`, `api_keys`, `members`, `audit`: the management plane (operator
//!   sign-up, custom operator roles); `deletion`: deleting apps, tenants and users in bounded,
//!   resumable steps.
//! - `maintenance`: what the cron prunes, and how long things are kept.
//! - `users`, `catalogue`, `billing`: end-user state — suspension, plans, roles, metadata,
//!   the role and plan catalogue, the billing webhook.
//! - `email`: each app's email delivery, the queue's consumer, the outbox and dead letters;
//!   `recovery` (email verification, password resets of end users and operators),
//!   `passwordless` and `account` (an end user's own password, sessions and leaving a tenant).
//! - `thirdparty`: a tenant's identity providers and sign-in through them (OIDC, GitHub).
//! - `oauth`: a tenant's OAuth 2.1 authorization server — settings, clients, the sign-in and
//!   consent pages, the token endpoint, dynamic registration, an end user's grants.

pub mod account;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod cache;
pub mod catalogue;
pub mod credentials;
pub mod deletion;
pub mod edge;
pub mod email;
pub mod introspection;
pub mod keyring;
pub mod maintenance;
pub mod members;
pub mod oauth;
pub mod operators;
pub mod passwordless;
pub mod principal;
pub mod recovery;
pub mod sessions;
pub mod signin;
pub mod tenancy;
pub mod thirdparty;
pub mod users;

use crate::domain::challenge::CodeKey;
use crate::domain::device::DeviceKey;
use crate::domain::keys::KeyEncryptionKey;
use crate::domain::links::WebUrl;
use crate::domain::password::PasswordPolicy;
use crate::domain::session::SuccessorKey;
use crate::domain::tenancy::AppSettings;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{Database, EdgeStore, MailQueue};
pub use cache::Caches;

/// Which adapters a deployment (or a test) runs on: the relational store, the edge store, the
/// signature checker and the email queue.
pub trait Stores {
    /// D1 in the worker, the memory store in native tests.
    type Db: Database;
    /// KV in the worker, KV over memory in native tests.
    type Edge: EdgeStore;
    /// The runtime's WebCrypto in the worker, ed25519-compact natively.
    type Verifier: Verifier;
    /// The outgoing-email queue: Cloudflare Queues in the worker, memory in native tests.
    type Queue: MailQueue;
}

/// Checks Ed25519 signatures of access tokens (their format stays jwt-compact's).
#[expect(
    async_fn_in_trait,
    reason = "the worker is single-threaded: futures need no Send bound"
)]
pub trait Verifier {
    /// True when `signature` is `key`'s signature of `message`. `Err` when the primitive
    /// itself fails (the caller fails closed).
    async fn verify_ed25519(
        &self,
        key: &ed25519_compact::PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Error>;
}

/// ed25519-compact, compiled in (what native tests use; about ten times WebCrypto's cost in
/// wasm, see `BENCHMARKS.md`).
pub struct CompactVerifier;

impl Verifier for CompactVerifier {
    async fn verify_ed25519(
        &self,
        key: &ed25519_compact::PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Error> {
        Ok(crate::domain::token::verify_ed25519(
            key, message, signature,
        ))
    }
}

/// A source of cryptographically secure random bytes.
pub trait Random {
    /// Fills `dest`; failure is `Error::Internal` (the platform has no randomness).
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's (or, in the worker, `crypto.getRandomValues`') CSPRNG.
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(dest).map_err(|e| Error::Internal(format!("no randomness: {e}")))
    }
}

/// The deployment's configuration, read once per isolate from its variables and secrets
/// (see the README's configuration section). Secrets never appear in `Debug`.
#[derive(Clone)]
pub struct Config {
    /// `KEY_ENCRYPTION_SECRET`: seals private keys, keys the refresh successor HMAC.
    pub key_encryption_secret: String,
    /// `ADMIN_ROOT_TOKEN`: the bearer of `POST /admin/bootstrap`, when set.
    pub admin_root_token: Option<String>,
    /// `OPERATOR_TOKEN_TTL_SECONDS` (default 900).
    pub operator_token_ttl_seconds: i64,
    /// `JWKS_MAX_AGE_SECONDS` (default 300).
    pub jwks_max_age_seconds: i64,
    /// `TENANCY_CACHE_TTL_SECONDS` (default 30).
    pub cache_ttl_seconds: i64,
    /// `OPERATOR_KEY_ROTATION_DAYS` (default 30).
    pub operator_key_rotation_days: i64,
    /// `AUDIT_RETENTION_DAYS` (default 365): how long audit entries are kept.
    pub audit_retention_days: i64,
    /// `EMAIL_RETRY_BASE_SECONDS` (default 10): the wait after a message's first failed
    /// delivery, doubled after each further one (at most 15 minutes).
    pub email_retry_base_seconds: u32,
    /// `OPERATOR_LINK_BASE_URL`: where operators' password-reset links point (the console);
    /// without it, operator password resets are `409 email_delivery_not_configured`.
    pub operator_link_base_url: Option<WebUrl>,
    /// `OPERATOR_SIGNUP = "open"`: anyone may sign up as the owner of a new app
    /// (`POST /admin/signup`); otherwise that route does not exist (`404`).
    pub operator_signup_open: bool,
    /// Cheap password hashing for tests. Only a test build (the `test-hooks` feature) or a
    /// native test can set it: the deployed worker never reads a variable for it.
    pub test_pbkdf2_iterations: Option<u32>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "operator_token_ttl_seconds",
                &self.operator_token_ttl_seconds,
            )
            .field("jwks_max_age_seconds", &self.jwks_max_age_seconds)
            .field("cache_ttl_seconds", &self.cache_ttl_seconds)
            .field(
                "operator_key_rotation_days",
                &self.operator_key_rotation_days,
            )
            .field("audit_retention_days", &self.audit_retention_days)
            .field("email_retry_base_seconds", &self.email_retry_base_seconds)
            .field("operator_link_base_url", &self.operator_link_base_url)
            .field("operator_signup_open", &self.operator_signup_open)
            .field("test_pbkdf2_iterations", &self.test_pbkdf2_iterations)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults of every setting, with the given secret (tests start from this).
    pub fn with_secret(key_encryption_secret: impl Into<String>) -> Self {
        Config {
            key_encryption_secret: key_encryption_secret.into(),
            admin_root_token: None,
            operator_token_ttl_seconds: 900,
            jwks_max_age_seconds: 300,
            cache_ttl_seconds: 30,
            operator_key_rotation_days: 30,
            audit_retention_days: 365,
            email_retry_base_seconds: crate::domain::delivery::DEFAULT_RETRY_BASE_SECONDS,
            operator_link_base_url: None,
            operator_signup_open: false,
            test_pbkdf2_iterations: None,
        }
    }
}

/// Everything a use case needs besides its input, for one request.
pub struct Ctx<'a, S: Stores> {
    /// The relational store (D1).
    pub db: &'a S::Db,
    /// The edge view (KV).
    pub edge: &'a S::Edge,
    /// Checks token signatures.
    pub verifier: &'a S::Verifier,
    /// The outgoing-email queue.
    pub queue: &'a S::Queue,
    /// The request's time.
    pub now: Timestamp,
    /// The public origin of the deployment (`https://host`), the base of every issuer.
    pub origin: &'a str,
    pub config: &'a Config,
    /// The isolate's caches (one per isolate in the worker, one per test natively).
    pub caches: &'a Caches,
    pub random: &'a dyn Random,
    /// Where failures that do not fail the request are reported (the worker's console).
    pub log: fn(&str),
}

impl<S: Stores> Ctx<'_, S> {
    /// `N` random bytes.
    pub fn random<const N: usize>(&self) -> Result<[u8; N], Error> {
        let mut bytes = [0u8; N];
        self.random.fill(&mut bytes)?;
        Ok(bytes)
    }

    /// The password policy of operators: PBKDF2-HMAC-SHA512 at 210,000 (or the test cost).
    pub fn operator_password_policy(&self) -> PasswordPolicy {
        self.with_test_cost(PasswordPolicy::default())
    }

    /// The password policy an app's settings ask for (or the test cost).
    pub fn app_password_policy(&self, settings: &AppSettings) -> Result<PasswordPolicy, Error> {
        let policy = settings
            .password_policy()
            .map_err(|_| Error::Internal("stored app settings are invalid".to_owned()))?;
        Ok(self.with_test_cost(policy))
    }

    fn with_test_cost(&self, policy: PasswordPolicy) -> PasswordPolicy {
        match self.config.test_pbkdf2_iterations {
            Some(iterations) => PasswordPolicy::insecure_for_tests(iterations),
            None => policy,
        }
    }

    /// The key that seals private keys and webhook secrets at rest.
    pub fn encryption_key(&self) -> Result<KeyEncryptionKey, Error> {
        KeyEncryptionKey::from_secret(&self.config.key_encryption_secret)
    }

    /// The key of emailed codes' hashes.
    pub fn code_key(&self) -> Result<CodeKey, Error> {
        CodeKey::from_secret(&self.config.key_encryption_secret)
    }

    /// The key that derives refresh-token successors.
    pub fn successor_key(&self) -> Result<SuccessorKey, Error> {
        SuccessorKey::from_secret(&self.config.key_encryption_secret)
    }

    /// The key that signs device tokens (see `domain::device`).
    pub fn device_key(&self) -> Result<DeviceKey, Error> {
        DeviceKey::from_secret(&self.config.key_encryption_secret)
    }

    /// How long an isolate trusts a cached app, tenant, policy or API key.
    pub fn cache_ttl_ms(&self) -> i64 {
        self.config.cache_ttl_seconds.saturating_mul(1000)
    }

    /// Reports a failure that does not fail the request.
    pub fn warn(&self, message: &str) {
        (self.log)(message)
    }
}
