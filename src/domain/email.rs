//! Email addresses: trimmed, NFKC-normalised and lower-cased before storage and comparison, so
//! the same address in any casing reaches the same account and the same failure counter.

use super::nfkc::nfkc;
use super::Error;
use serde::Serialize;
use std::fmt;

/// The longest address accepted (RFC 5321's path limit).
const MAX_EMAIL_BYTES: usize = 254;

/// A normalised email address. `Email::parse` is the only way to get one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises and checks an address: one `@`, a non-empty local part, a domain with a dot
    /// and no empty labels, no whitespace or control characters, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let invalid = || Error::validation("email is not a valid address");
        // Bound the work before normalising: NFKC at most triples a well-formed address.
        if raw.len() > MAX_EMAIL_BYTES * 4 {
            return Err(invalid());
        }
        let normalised: String = nfkc(raw.trim()).to_lowercase();
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
}
