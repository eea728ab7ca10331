//! Email addresses: trimmed, NFKC-normalised and lower-cased before storage and comparison, so
//! the same address in any casing reaches the same account and the same failure counter. Both
//! steps are the runtime's in the worker, and an address holding a code point the runtime's
//! Unicode has not assigned is refused (`domain/nfkc.rs` says why: so that a runtime update
//! cannot change the normal form of an accepted address); a stored address is read back as it
//! was stored, not normalised again.

use super::nfkc::{has_unassigned, nfkc_lowercase};
use super::Error;
use serde::Serialize;
use std::fmt;

/// The longest address accepted (RFC 5321's path limit).
const MAX_EMAIL_BYTES: usize = 254;

/// A normalised email address: from `Email::parse`, or read back from storage where `parse`
/// put it (`Email::from_stored`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises and checks an address: one `@`, a non-empty local part, a domain with a dot
    /// and no empty labels, no whitespace or control characters, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let invalid = || Error::validation("email is not a valid address");
        // Bound the work before normalising: NFKC at most triples a well-formed address.
        if raw.len() > MAX_EMAIL_BYTES * 4 || has_unassigned(raw) {
            return Err(invalid());
        }
        let normalised: String = nfkc_lowercase(raw.trim());
        Self::checked(normalised)
    }

    /// An address read back from storage, where `parse` put it: its shape is checked again, but
    /// it is not normalised again, so a newer Unicode in the runtime can neither change nor
    /// refuse an address already stored.
    pub fn from_stored(stored: &str) -> Result<Self, Error> {
        Self::checked(stored.to_owned())
    }

    /// One `@`, a non-empty local part, a domain with a dot and no empty labels, no whitespace
    /// or control characters, at most 254 bytes.
    fn checked(normalised: String) -> Result<Self, Error> {
        let invalid = || Error::validation("email is not a valid address");
        if normalised.is_empty() || normalised.len() > MAX_EMAIL_BYTES {
            return Err(invalid());
        }
        if normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        let (local, domain) = normalised.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(invalid());
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err(invalid());
        }
        Ok(Email(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casing_spacing_and_compatibility_forms_normalise_to_one_address() {
        let canonical = Email::parse("alice@example.com").unwrap();
        for variant in [
            "  Alice@Example.COM ",
            "ALICE@EXAMPLE.COM",
            "\u{FF41}lice@example.com", // fullwidth a
        ] {
            assert_eq!(Email::parse(variant).unwrap(), canonical, "{variant:?}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "alice@@example.com",
            "a@b@example.com",
            "alice@example..com",
            "al ice@example.com",
            "alice@exa\u{0}mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(300));
        assert!(Email::parse(&long).is_err());
        let huge = "a".repeat(1_000_000);
        assert!(Email::parse(&huge).is_err());
    }

    #[test]
    fn an_address_is_lower_cased_after_nfkc_with_a_final_sigma() {
        // The same answer as the engine's `normalize("NFKC").toLowerCase()` (tests/e2e/unicode).
        let parsed = Email::parse(
            "\u{0395}\u{039B}\u{039F}\u{0394}\u{0399}\u{0395}\u{03A3}@\u{2160}.example.com",
        );
        assert_eq!(
            parsed.unwrap().as_str(),
            "\u{03B5}\u{03BB}\u{03BF}\u{03B4}\u{03B9}\u{03B5}\u{03C2}@i.example.com"
        );
    }

    #[test]
    fn an_address_holding_an_unassigned_code_point_is_refused() {
        for bad in [
            "al\u{0378}ce@example.com",
            "alice@example.com\u{FFFF}",
            "alice@ex\u{E0080}.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        // Assigned non-ASCII stays accepted, private use included.
        assert!(Email::parse("z\u{00FC}rich\u{F8FF}@example.com").is_ok());
    }

    #[test]
    fn a_stored_address_is_taken_as_stored_and_checked_for_shape_only() {
        // Not normalised again: what `parse` stored comes back byte for byte, even a form this
        // build would normalise or refuse (a newer or older runtime stored it).
        for stored in [
            "alice@example.com",
            "\u{0378}x@example.com",
            "\u{FB01}@example.com",
        ] {
            assert_eq!(Email::from_stored(stored).unwrap().as_str(), stored);
        }
        for corrupt in ["", "alice", "a b@example.com", "alice@example"] {
            assert!(Email::from_stored(corrupt).is_err(), "{corrupt:?}");
        }
    }
}
