//! Email delivery per app: how an app's messages leave (a signed webhook to its mailer, the
//! outbox, or not at all), what a message is, how it travels through the queue (sealed), how
//! failed deliveries are retried, and how long anything is kept.
//!
//! - `webhook`: the message is POSTed as JSON `{"id","type","app_id","tenant_id","to","code",
//!   "link","expires_at"}` with `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//!   "<t>.<body>")>` (the billing webhook's scheme, `domain::webhook`), keyed by the app's
//!   delivery secret, which is sealed at rest and shown once.
//! - `outbox`: the message is kept in D1 for 24 h, readable by operators (development only).
//! - `none`: flows that need an email refuse (`409 email_delivery_not_configured`).
//!
//! The queue carries an `Envelope`: the message id, the app, the attempt number, and the
//! message itself sealed with ChaCha20-Poly1305 under `KEY_ENCRYPTION_SECRET` (associated data
//! `email:<id>`), so neither the queue nor a log of it holds a code, a link or an address.
//! A failed delivery is sent again with exponential back-off (`after_failure`) while the message
//! is still valid, at most `MAX_ATTEMPTS` times; then it is recorded as a dead letter, which
//! keeps no code and no link.
//!
//! Pure: no I/O, no clock.

use super::challenge::Purpose;
use super::email::Email;
use super::ids::{AppId, MessageId, TenantId};
use super::keys::KeyEncryptionKey;
use super::links::WebUrl;
use super::time::Timestamp;
use super::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

const HOUR_MS: i64 = 3_600_000;

/// How long outbox messages are kept.
pub const OUTBOX_RETENTION_MS: i64 = 24 * HOUR_MS;
/// How long dead letters are kept.
pub const DEAD_LETTER_RETENTION_MS: i64 = 7 * 24 * HOUR_MS;
/// Delivery attempts of one message at most (the first included).
pub const MAX_ATTEMPTS: u32 = 10;
/// Longest wait between two attempts.
pub const MAX_RETRY_DELAY_SECONDS: u32 = 900;
/// The default wait after the first failed attempt (`EMAIL_RETRY_BASE_SECONDS`).
pub const DEFAULT_RETRY_BASE_SECONDS: u32 = 10;

/// The kinds of delivery, by wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    None,
    Outbox,
    Webhook,
}

impl DeliveryKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::None => "none",
            DeliveryKind::Outbox => "outbox",
            DeliveryKind::Webhook => "webhook",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "none" => Ok(DeliveryKind::None),
            "outbox" => Ok(DeliveryKind::Outbox),
            "webhook" => Ok(DeliveryKind::Webhook),
            _ => Err(Error::validation("kind must be webhook, outbox or none")),
        }
    }
}

/// An app's delivery setting as stored: the webhook's secret only sealed.
#[derive(Clone, PartialEq, Eq)]
pub enum Delivery {
    None,
    Outbox,
    Webhook { url: WebUrl, sealed_secret: String },
}

impl Delivery {
    /// Which kind this is.
    pub fn kind(&self) -> DeliveryKind {
        match self {
            Delivery::None => DeliveryKind::None,
            Delivery::Outbox => DeliveryKind::Outbox,
            Delivery::Webhook { .. } => DeliveryKind::Webhook,
        }
    }

    /// The webhook URL, for a webhook.
    pub fn url(&self) -> Option<&WebUrl> {
        match self {
            Delivery::Webhook { url, .. } => Some(url),
            _ => None,
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Webhook { url, .. } => write!(f, "Webhook({url}, <sealed>)"),
            other => write!(f, "{}", other.kind().as_str()),
        }
    }
}

/// The associated data under which an app's delivery secret is sealed.
pub fn secret_context(app_id: &AppId) -> String {
    format!("email-delivery:{app_id}")
}

/// A message to a person. It carries a secret (the code, or the token in the link), so its
/// `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub purpose: Purpose,
    pub app_id: AppId,
    /// `None` for operator messages.
    pub tenant_id: Option<TenantId>,
    pub to: Email,
    pub code: Option<String>,
    pub link: Option<String>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("app_id", &self.app_id)
            .field("tenant_id", &self.tenant_id)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("link", &self.link.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The JSON a mailer's webhook receives.
#[derive(Serialize)]
struct WebhookBody<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    app_id: &'a str,
    tenant_id: Option<&'a str>,
    to: &'a str,
    code: Option<&'a str>,
    link: Option<&'a str>,
    expires_at: String,
}

impl Message {
    /// The body POSTed to a mailer (see the module header).
    pub fn webhook_body(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(&WebhookBody {
            id: self.id.to_string(),
            kind: self.purpose.as_str(),
            app_id: self.app_id.as_str(),
            tenant_id: self.tenant_id.as_ref().map(TenantId::as_str),
            to: self.to.as_str(),
            code: self.code.as_deref(),
            link: self.link.as_deref(),
            expires_at: self.expires_at.rfc3339(),
        })
        .map_err(|e| Error::Internal(format!("webhook body: {e}")))
    }
}

/// What the queue carries. Only the id, the app and the attempt number are in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The envelope's format version.
    pub v: u32,
    pub id: String,
    pub app_id: String,
    /// 1 for the first delivery attempt.
    pub attempt: u32,
    /// The sealed `Letter`.
    pub sealed: String,
}

/// The sealed part of an envelope.
#[derive(Serialize, Deserialize)]
struct Letter {
    #[serde(rename = "type")]
    kind: String,
    tenant_id: Option<String>,
    to: String,
    code: Option<String>,
    link: Option<String>,
    expires_at: i64,
    created_at: i64,
    /// False for a message made only so that an unknown address costs what a known one does:
    /// the consumer drops it without a trace.
    deliver: bool,
}

/// The version of envelopes this code writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

fn letter_context(id: &str) -> String {
    format!("email:{id}")
}

impl Envelope {
    /// Seals `message` for the queue (first attempt). `deliver: false` marks a decoy.
    pub fn seal(
        key: &KeyEncryptionKey,
        message: &Message,
        deliver: bool,
        nonce: [u8; 12],
    ) -> Result<Self, Error> {
        let letter = Letter {
            kind: message.purpose.as_str().to_owned(),
            tenant_id: message.tenant_id.as_ref().map(|t| t.to_string()),
            to: message.to.to_string(),
            code: message.code.clone(),
            link: message.link.clone(),
            expires_at: message.expires_at.unix_ms(),
            created_at: message.created_at.unix_ms(),
            deliver,
        };
        let plain =
            serde_json::to_vec(&letter).map_err(|e| Error::Internal(format!("letter: {e}")))?;
        let id = message.id.to_string();
        let sealed = key.seal_bytes(&letter_context(&id), &plain, nonce)?;
        Ok(Envelope {
            v: ENVELOPE_VERSION,
            id,
            app_id: message.app_id.to_string(),
            attempt: 1,
            sealed,
        })
    }

    /// Opens an envelope: the message and whether it is to be delivered at all.
    pub fn open(&self, key: &KeyEncryptionKey) -> Result<(Message, bool), Error> {
        let bad = |what: &str| Error::Internal(format!("queued message {}: {what}", self.id));
        if self.v != ENVELOPE_VERSION {
            return Err(bad("unknown envelope version"));
        }
        let plain = key.open_bytes(&letter_context(&self.id), &self.sealed)?;
        let letter: Letter = serde_json::from_slice(&plain).map_err(|_| bad("letter"))?;
        let message = Message {
            id: MessageId::parse(&self.id).map_err(|_| bad("id"))?,
            purpose: Purpose::parse(&letter.kind).map_err(|_| bad("type"))?,
            app_id: AppId::parse(&self.app_id).map_err(|_| bad("app"))?,
            tenant_id: letter
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(|_| bad("tenant"))?,
            to: Email::from_stored(&letter.to).map_err(|_| bad("address"))?,
            code: letter.code,
            link: letter.link,
            expires_at: Timestamp::from_unix_ms(letter.expires_at),
            created_at: Timestamp::from_unix_ms(letter.created_at),
        };
        Ok((message, letter.deliver))
    }

    /// The same envelope for the next attempt.
    pub fn next_attempt(&self) -> Self {
        Envelope {
            attempt: self.attempt.saturating_add(1),
            ..self.clone()
        }
    }
}

/// What to do after attempt `attempt` of a message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Send it again after this many seconds.
    Retry { delay_seconds: u32 },
    /// Record it as a dead letter.
    GiveUp,
}

/// The wait after failed attempt `attempt` (1-based): `base · 2^(attempt−1)` seconds, at most
/// 15 minutes.
pub fn retry_delay_seconds(base_seconds: u32, attempt: u32) -> u32 {
    let exponent = attempt.saturating_sub(1).min(20);
    base_seconds
        .saturating_mul(1 << exponent)
        .min(MAX_RETRY_DELAY_SECONDS)
}

/// Retry while attempts are left and the message would still be valid when it arrives.
pub fn after_failure(
    attempt: u32,
    base_seconds: u32,
    now: Timestamp,
    expires_at: Timestamp,
) -> AfterFailure {
    let delay_seconds = retry_delay_seconds(base_seconds, attempt);
    if attempt >= MAX_ATTEMPTS || now.plus_seconds(i64::from(delay_seconds)) >= expires_at {
        AfterFailure::GiveUp
    } else {
        AfterFailure::Retry { delay_seconds }
    }
}

/// A message that could not be delivered. It keeps no code and no link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: MessageId,
    pub app_id: AppId,
    pub tenant_id: Option<TenantId>,
    pub purpose: Purpose,
    pub to: Email,
    pub attempts: u32,
    /// Why, without secrets (e.g. `mailer answered 503`).
    pub reason: String,
    /// When it was given up.
    pub at: Timestamp,
}

impl DeadLetter {
    /// The dead letter of `message` after `attempts`, for `reason`.
    pub fn of(message: &Message, attempts: u32, reason: &str, at: Timestamp) -> Self {
        DeadLetter {
            id: message.id,
            app_id: message.app_id.clone(),
            tenant_id: message.tenant_id.clone(),
            purpose: message.purpose,
            to: message.to.clone(),
            attempts,
            reason: reason.chars().take(200).collect(),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn message() -> Message {
        Message {
            id: MessageId::generate(Timestamp::from_unix_ms(5), [3; 10]),
            purpose: Purpose::Passwordless,
            app_id: AppId::parse("shop").unwrap(),
            tenant_id: Some(TenantId::parse("acme").unwrap()),
            to: Email::parse("ada@example.com").unwrap(),
            code: Some("123456".into()),
            link: Some("https://app.example/l?type=passwordless&token=tsl_x".into()),
            expires_at: Timestamp::from_unix_ms(900_005),
            created_at: Timestamp::from_unix_ms(5),
        }
    }

    #[test]
    fn an_envelope_holds_no_secret_or_address_in_the_clear_and_opens_to_the_message() {
        let key = KeyEncryptionKey::from_secret(SECRET).unwrap();
        let envelope = Envelope::seal(&key, &message(), true, [9; 12]).unwrap();
        let text = serde_json::to_string(&envelope).unwrap();
        for secret in ["123456", "tsl_x", "ada@example.com", "acme"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(envelope.attempt, 1);
        assert_eq!(envelope.open(&key).unwrap(), (message(), true));
        let decoy = Envelope::seal(&key, &message(), false, [9; 12]).unwrap();
        assert!(!decoy.open(&key).unwrap().1);
    }

    #[test]
    fn an_envelope_does_not_open_under_another_id_key_or_version() {
        let key = KeyEncryptionKey::from_secret(SECRET).unwrap();
        let envelope = Envelope::seal(&key, &message(), true, [9; 12]).unwrap();
        let moved = Envelope {
            id: MessageId::generate(Timestamp::EPOCH, [4; 10]).to_string(),
            ..envelope.clone()
        };
        assert!(moved.open(&key).is_err());
        let other = KeyEncryptionKey::from_secret("another secret that is long enough!").unwrap();
        assert!(envelope.open(&other).is_err());
        let future = Envelope {
            v: 2,
            ..envelope.clone()
        };
        assert!(future.open(&key).is_err());
        assert_eq!(envelope.next_attempt().attempt, 2);
    }

    #[test]
    fn the_webhook_body_has_the_documented_fields() {
        let body: serde_json::Value =
            serde_json::from_slice(&message().webhook_body().unwrap()).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "app_id",
                "code",
                "expires_at",
                "id",
                "link",
                "tenant_id",
                "to",
                "type"
            ]
        );
        assert_eq!(body["type"], "passwordless");
        assert_eq!(body["expires_at"], "1970-01-01T00:15:00.005Z");
    }

    #[test]
    fn debug_shows_no_code_link_or_secret() {
        let shown = format!("{:?}", message());
        assert!(
            !shown.contains("123456") && !shown.contains("tsl_x"),
            "{shown}"
        );
        let delivery = Delivery::Webhook {
            url: WebUrl::parse_webhook("https://mail.example/hook").unwrap(),
            sealed_secret: "v1.sealed".into(),
        };
        assert!(!format!("{delivery:?}").contains("v1.sealed"));
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap_and_stop_before_expiry() {
        assert_eq!(retry_delay_seconds(10, 1), 10);
        assert_eq!(retry_delay_seconds(10, 2), 20);
        assert_eq!(retry_delay_seconds(10, 4), 80);
        assert_eq!(retry_delay_seconds(10, 9), 900);
        assert_eq!(retry_delay_seconds(0, 5), 0);
        let now = Timestamp::from_unix_ms(0);
        let later = Timestamp::from_unix_ms(3_600_000);
        assert_eq!(
            after_failure(1, 10, now, later),
            AfterFailure::Retry { delay_seconds: 10 }
        );
        assert_eq!(
            after_failure(MAX_ATTEMPTS, 10, now, later),
            AfterFailure::GiveUp
        );
        assert_eq!(
            after_failure(1, 10, now, Timestamp::from_unix_ms(10_000)),
            AfterFailure::GiveUp,
            "it would arrive expired"
        );
    }

    #[test]
    fn kinds_parse_their_wire_names_only() {
        for kind in [
            DeliveryKind::None,
            DeliveryKind::Outbox,
            DeliveryKind::Webhook,
        ] {
            assert_eq!(DeliveryKind::parse(kind.as_str()).unwrap(), kind);
        }
        assert!(DeliveryKind::parse("smtp").is_err());
    }
}
