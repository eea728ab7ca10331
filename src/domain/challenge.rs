//! Proofs of possession of an email address: email verification links, password-reset links
//! (of end users and of operators) and passwordless attempts (a 6-digit code and a link token
//! in one message) — their lifetimes, their secrets and the limits on guessing and sending.
//!
//! A link token is 256 random bits (`tsl_…`, `domain::secret`), stored as its SHA-256. A code is
//! 6 digits, stored as an HMAC under a key derived from `KEY_ENCRYPTION_SECRET` and bound to its
//! attempt, so a copy of the database does not give the codes away (a plain hash of 6 digits
//! would). Codes are compared in constant time. Every challenge works once.
//!
//! Limits:
//! - a passwordless attempt takes at most 5 wrong codes (the fifth ends it);
//! - wrong codes also count against the address (`code:<email>`, sign-in's per-account policy,
//!   `throttle::ACCOUNT`) and the client (`throttle::CLIENT`), so a new attempt does not reset
//!   the failure budget of the address;
//! - sends are counted in fixed 15-minute windows: 5 per address and 20 per client address, in
//!   each tenant (known and unknown addresses alike); a window that is full refuses until it
//!   ends.
//!
//! Pure: no I/O, no clock; randomness comes in as bytes.

use super::email::Email;
use super::ids::{AppId, ChallengeId, OperatorId, TenantId, UserId};
use super::secret::{hex, SecretHash};
use super::time::Timestamp;
use super::Error;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

const MINUTE_MS: i64 = 60_000;

/// How long codes, reset links and passwordless links live.
pub const SHORT_TTL_MS: i64 = 15 * MINUTE_MS;
/// How long an email verification link lives.
pub const VERIFICATION_TTL_MS: i64 = 24 * 60 * MINUTE_MS;
/// Wrong codes an attempt takes; the last of them ends it.
pub const MAX_WRONG_CODES: i64 = 5;

/// What a challenge proves, and the `type` of its message and link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// An end user's email address (link, 24 h).
    EmailVerification,
    /// An end user's password reset (link, 15 min).
    PasswordReset,
    /// Passwordless sign-in or sign-up (code and link, 15 min).
    Passwordless,
    /// An operator's password reset (link, 15 min).
    OperatorPasswordReset,
    /// An operator's email address (link, 24 h): an app made by operator sign-up can be used
    /// beyond its settings once its owner has proved their email.
    OperatorEmailVerification,
}

impl Purpose {
    /// Every purpose, in a stable order.
    pub const ALL: [Purpose; 5] = [
        Purpose::EmailVerification,
        Purpose::PasswordReset,
        Purpose::Passwordless,
        Purpose::OperatorPasswordReset,
        Purpose::OperatorEmailVerification,
    ];

    /// The stored and wire name (the message's and the link's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::EmailVerification => "email_verification",
            Purpose::PasswordReset => "password_reset",
            Purpose::Passwordless => "passwordless",
            Purpose::OperatorPasswordReset => "operator_password_reset",
            Purpose::OperatorEmailVerification => "operator_email_verification",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| Error::validation(format!("unknown message type {raw:?}")))
    }

    /// How long a challenge of this purpose lives.
    pub fn ttl_ms(self) -> i64 {
        match self {
            Purpose::EmailVerification | Purpose::OperatorEmailVerification => VERIFICATION_TTL_MS,
            _ => SHORT_TTL_MS,
        }
    }
}

/// Whose accounts a challenge is about: the end users of one tenant, or the operators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Plane {
    Tenant(AppId, TenantId),
    Operators,
}

/// The account a challenge's address belonged to when it was made (`None`: no account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User(UserId),
    Operator(OperatorId),
}

/// A challenge as made: only hashes of its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// UUIDv7; a passwordless attempt's `attempt_id`.
    pub id: ChallengeId,
    pub plane: Plane,
    pub purpose: Purpose,
    pub email: Email,
    /// SHA-256 of the link token.
    pub token_hash: SecretHash,
    /// HMAC of the code (passwordless only).
    pub code_hash: Option<SecretHash>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Challenge {
    /// A challenge of `purpose` for `email`, made at `now`.
    pub fn new(
        id: ChallengeId,
        plane: Plane,
        purpose: Purpose,
        email: Email,
        token_hash: SecretHash,
        code_hash: Option<SecretHash>,
        now: Timestamp,
    ) -> Self {
        Challenge {
            id,
            plane,
            purpose,
            email,
            token_hash,
            code_hash,
            created_at: now,
            expires_at: now.plus_ms(purpose.ttl_ms()),
        }
    }
}

/// A challenge as stored, with what happened to it since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChallenge {
    pub challenge: Challenge,
    pub subject: Option<Subject>,
    /// Codes tried (each is counted before it is compared).
    pub tries: i64,
    pub consumed_at: Option<Timestamp>,
}

impl StoredChallenge {
    /// True while it can still be consumed: not used, not expired, tries left.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.consumed_at.is_none()
            && now < self.challenge.expires_at
            && self.tries < MAX_WRONG_CODES
    }
}

/// A 6-digit code in the clear: sent in a message once, never stored. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// A code from 8 random bytes (the bias of reducing 2^64 modulo 10^6 is below 10^-13).
    pub fn generate(random: [u8; 8]) -> Self {
        Code(format!("{:06}", u64::from_le_bytes(random) % 1_000_000))
    }

    /// Client input as a code: exactly 6 ASCII digits.
    pub fn from_client(raw: &str) -> Option<Self> {
        (raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit())).then(|| Code(raw.to_owned()))
    }

    /// The digits, for the one message that carries them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

/// The key of code hashes, derived from the deployment secret under its own label.
pub struct CodeKey(Vec<u8>);

impl CodeKey {
    /// The key (`keys::derive_key`, its own label); refuses a secret shorter than 32 bytes.
    pub fn from_secret(secret: &str) -> Result<Self, Error> {
        let key = super::keys::derive_key(secret, b"tessera/email-code/v1")?;
        Ok(CodeKey(key.to_vec()))
    }

    /// The stored hash of `code` for the attempt `id`.
    pub fn hash(&self, id: &ChallengeId, code: &Code) -> Result<SecretHash, Error> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .map_err(|_| Error::Internal("cannot key HMAC".to_owned()))?;
        mac.update(id.to_string().as_bytes());
        mac.update(b":");
        mac.update(code.0.as_bytes());
        Ok(SecretHash::from_stored(hex(&mac.finalize().into_bytes())))
    }

    /// True when `code` is the code of `stored` for attempt `id`, compared in constant time.
    pub fn matches(&self, id: &ChallengeId, code: &Code, stored: &SecretHash) -> bool {
        self.hash(id, code).is_ok_and(|presented| {
            presented
                .as_str()
                .as_bytes()
                .ct_eq(stored.as_str().as_bytes())
                .into()
        })
    }
}

/// A limit on sends: at most `sends` in each fixed window of `window_ms`, which starts with the
/// first send after the previous window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimit {
    pub sends: i64,
    pub window_ms: i64,
}

/// Sends per address (known or not) and tenant.
pub const ADDRESS_SENDS: SendLimit = SendLimit {
    sends: 5,
    window_ms: 15 * MINUTE_MS,
};

/// Sends per client address and tenant.
pub const CLIENT_SENDS: SendLimit = SendLimit {
    sends: 20,
    window_ms: 15 * MINUTE_MS,
};

/// The send-counting subject of an address.
pub fn address_send_subject(email: &Email) -> String {
    format!("send:{email}")
}

/// The wrong-code subject of an address (counted under `throttle::ACCOUNT`).
pub fn address_code_subject(email: &Email) -> String {
    format!("code:{email}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn id(n: u8) -> ChallengeId {
        ChallengeId::generate(Timestamp::EPOCH, [n; 10])
    }

    #[test]
    fn codes_are_six_digits_and_only_digits_are_accepted() {
        assert_eq!(Code::generate([0; 8]).expose(), "000000");
        assert_eq!(Code::generate(u64::MAX.to_le_bytes()).expose().len(), 6);
        assert!(Code::from_client("012345").is_some());
        for bad in ["12345", "1234567", "12345a", " 12345", "١٢٣٤٥٦"] {
            assert!(Code::from_client(bad).is_none(), "{bad:?}");
        }
        assert_eq!(format!("{:?}", Code::generate([7; 8])), "Code(<redacted>)");
    }

    #[test]
    fn a_code_hash_is_bound_to_its_attempt_and_to_the_secret() {
        let key = CodeKey::from_secret(SECRET).unwrap();
        let code = Code::from_client("123456").unwrap();
        let stored = key.hash(&id(1), &code).unwrap();
        assert!(key.matches(&id(1), &code, &stored));
        assert!(!key.matches(&id(2), &code, &stored), "another attempt");
        assert!(!key.matches(&id(1), &Code::from_client("123457").unwrap(), &stored));
        let other = CodeKey::from_secret("another secret that is long enough!").unwrap();
        assert!(!other.matches(&id(1), &code, &stored));
        assert!(CodeKey::from_secret("short").is_err());
    }

    #[test]
    fn verification_links_live_a_day_and_the_others_a_quarter_hour() {
        assert_eq!(Purpose::EmailVerification.ttl_ms(), 86_400_000);
        assert_eq!(Purpose::OperatorEmailVerification.ttl_ms(), 86_400_000);
        for p in [
            Purpose::PasswordReset,
            Purpose::Passwordless,
            Purpose::OperatorPasswordReset,
        ] {
            assert_eq!(p.ttl_ms(), 900_000);
        }
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()).unwrap(), p);
        }
        assert!(Purpose::parse("member_invite").is_err());
    }

    #[test]
    fn a_challenge_is_open_until_used_expired_or_out_of_tries() {
        let email = Email::parse("a@example.com").unwrap();
        let challenge = Challenge::new(
            id(1),
            Plane::Operators,
            Purpose::OperatorPasswordReset,
            email,
            SecretHash::from_stored("h".into()),
            None,
            Timestamp::from_unix_ms(1_000),
        );
        let mut stored = StoredChallenge {
            challenge,
            subject: None,
            tries: 0,
            consumed_at: None,
        };
        let at = Timestamp::from_unix_ms;
        assert!(stored.is_open(at(1_000 + SHORT_TTL_MS - 1)));
        assert!(!stored.is_open(at(1_000 + SHORT_TTL_MS)));
        stored.tries = MAX_WRONG_CODES - 1;
        assert!(stored.is_open(at(1_000)));
        stored.tries = MAX_WRONG_CODES;
        assert!(!stored.is_open(at(1_000)));
        stored.tries = 0;
        stored.consumed_at = Some(at(1_001));
        assert!(!stored.is_open(at(1_002)));
    }
}
