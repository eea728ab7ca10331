//! Identifiers. Parsing is the only way in: once you hold an `AppId` it is valid.
//!
//! App and tenant ids are slugs (`^[a-z0-9][a-z0-9-]{0,62}$`); users, operators, sessions and
//! API keys get UUIDv7 ids made from a timestamp and caller-supplied random bytes.

use super::time::Timestamp;
use super::Error;
use serde::{Deserialize, Serialize};
use std::fmt;

/// True when `s` matches `^[a-z0-9][a-z0-9-]{0,62}$`.
fn is_slug(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses an id, refusing anything outside the id pattern.
            pub fn parse(raw: &str) -> Result<Self, Error> {
                if is_slug(raw) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(Error::validation(concat!(
                        $what,
                        " must match ^[a-z0-9][a-z0-9-]{0,62}$"
                    )))
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

slug_id!(
    /// The id of an app: an independent user pool with its own keys.
    AppId,
    "app_id"
);
slug_id!(
    /// The id of a tenant inside an app.
    TenantId,
    "tenant_id"
);
slug_id!(
    /// The id of a third-party identity provider inside a tenant (`google`, `github`, …).
    ProviderId,
    "provider_id"
);

/// The tenant every app has, created with it and never deletable.
pub const PUBLIC_TENANT: &str = "public";

impl TenantId {
    /// The `public` tenant.
    pub fn public() -> Self {
        TenantId(PUBLIC_TENANT.to_owned())
    }

    /// True for the `public` tenant.
    pub fn is_public(&self) -> bool {
        self.0 == PUBLIC_TENANT
    }
}

/// A UUIDv7 built from the time and ten random bytes, so ids sort by creation time.
pub fn new_uuid_v7(now: Timestamp, random: [u8; 10]) -> uuid::Uuid {
    let ms = u64::try_from(now.unix_ms()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new id for something created at `now`.
            pub fn generate(now: Timestamp, random: [u8; 10]) -> Self {
                Self(new_uuid_v7(now, random))
            }

            /// Parses the hyphenated form of a UUID.
            pub fn parse(raw: &str) -> Result<Self, Error> {
                if raw.len() != 36 {
                    return Err(Error::validation(concat!($what, " must be a UUID")));
                }
                uuid::Uuid::try_parse(raw)
                    .map(Self)
                    .map_err(|_| Error::validation(concat!($what, " must be a UUID")))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// The id of an operator (a person who runs apps through `/admin`).
    OperatorId,
    "operator id"
);
uuid_id!(
    /// The id of a tenant API key.
    ApiKeyId,
    "key_id"
);
uuid_id!(
    /// The id of an end user of an app.
    UserId,
    "user id"
);
uuid_id!(
    /// The id of a refresh session.
    SessionId,
    "session id"
);
uuid_id!(
    /// The id of an operator's membership in an app.
    MemberId,
    "member id"
);
uuid_id!(
    /// The id of an audit entry (sorting by id sorts by time).
    AuditId,
    "audit id"
);
uuid_id!(
    /// The id of an email challenge (a passwordless attempt's `attempt_id`).
    ChallengeId,
    "attempt_id"
);
uuid_id!(
    /// The id of a deletion (of an app, a tenant or a user).
    DeletionId,
    "deletion_id"
);
uuid_id!(
    /// The id of an email message (the same through every delivery attempt).
    MessageId,
    "message id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_ids_accept_the_pattern() {
        for ok in ["a", "0", "public", "shop-prod", "a-", &"a".repeat(63)] {
            assert!(AppId::parse(ok).is_ok(), "{ok} should parse");
            assert!(TenantId::parse(ok).is_ok(), "{ok} should parse");
        }
    }

    #[test]
    fn slug_ids_refuse_everything_else() {
        for bad in [
            "",
            "-a",
            "A",
            "shop_prod",
            "shop prod",
            "é",
            "a/b",
            "..",
            &"a".repeat(64),
        ] {
            assert!(AppId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn uuid_v7_ids_sort_by_time_and_round_trip() {
        let early = OperatorId::generate(Timestamp::from_unix_ms(1_000), [1; 10]);
        let late = OperatorId::generate(Timestamp::from_unix_ms(2_000), [0; 10]);
        assert!(early < late);
        let text = early.to_string();
        assert_eq!(OperatorId::parse(&text).unwrap(), early);
        assert_eq!(uuid::Uuid::try_parse(&text).unwrap().get_version_num(), 7);
    }

    #[test]
    fn uuid_ids_refuse_other_forms() {
        assert!(ApiKeyId::parse("not-a-uuid").is_err());
        assert!(ApiKeyId::parse("0190f5c2a9c47b3e8d2a4f5e6a7b8c9d").is_err());
    }
}
