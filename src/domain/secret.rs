//! Opaque secrets handed to clients: API keys, refresh tokens, invite tokens, email link tokens.
//!
//! A secret is 32 random bytes, base64url-encoded behind a prefix that names its kind
//! (`tsk_` for API keys), shown to the client once as a `PlainSecret` and stored only as a
//! `SecretHash` (SHA-256, hex). Neither type ever prints the secret in `Debug`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Bytes of randomness in every secret (256 bits).
pub const SECRET_BYTES: usize = 32;

/// What a secret is for; the prefix tells a reader (and a secret scanner) at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A tenant API key (`tsk_`).
    ApiKey,
    /// An end user's refresh token (`tsr_`).
    RefreshToken,
    /// An operator invitation (`tsi_`).
    InviteToken,
    /// The token of an emailed link: verification, password reset, passwordless (`tsl_`).
    LinkToken,
    /// The `state` of a third-party sign-in flow (`tsf_`).
    FlowState,
    /// An OAuth client's secret (`tss_`).
    ClientSecret,
    /// An OAuth authorization code (`tsa_`).
    AuthorizationCode,
}

impl SecretKind {
    /// The prefix of this kind of secret.
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::ApiKey => "tsk_",
            SecretKind::RefreshToken => "tsr_",
            SecretKind::InviteToken => "tsi_",
            SecretKind::LinkToken => "tsl_",
            SecretKind::FlowState => "tsf_",
            SecretKind::ClientSecret => "tss_",
            SecretKind::AuthorizationCode => "tsa_",
        }
    }
}

/// A secret in the clear: returned to the client once, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainSecret(String);

impl PlainSecret {
    /// A new secret of `kind` from 32 random bytes.
    pub fn generate(kind: SecretKind, random: [u8; SECRET_BYTES]) -> Self {
        PlainSecret(format!("{}{}", kind.prefix(), B64URL.encode(random)))
    }

    /// Accepts client input as a secret of `kind` when it has that kind's prefix and shape.
    pub fn from_client(kind: SecretKind, raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(kind.prefix())?;
        (body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| PlainSecret(raw.to_owned()))
    }

    /// The secret's text, for the one response that reveals it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash to store and to look up by.
    pub fn hash(&self) -> SecretHash {
        SecretHash(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.0.get(..4).unwrap_or("");
        write!(f, "PlainSecret({prefix}<redacted>)")
    }
}

/// The SHA-256 of a secret, hex-encoded: what the database holds.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash(String);

impl SecretHash {
    /// Wraps a hash read back from storage.
    pub fn from_stored(hex: String) -> Self {
        SecretHash(hex)
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Compares two secrets in constant time, whatever their lengths: both are hashed first, so
/// neither the content nor the length of the expected value leaks through timing.
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_carry_their_prefix_and_256_bits() {
        let key = PlainSecret::generate(SecretKind::ApiKey, [9; SECRET_BYTES]);
        assert!(key.expose().starts_with("tsk_"));
        assert_eq!(key.expose().len(), 4 + 43);
        assert_eq!(
            PlainSecret::from_client(SecretKind::ApiKey, key.expose()),
            Some(key.clone())
        );
    }

    #[test]
    fn secrets_of_another_kind_or_shape_are_not_accepted() {
        let key = PlainSecret::generate(SecretKind::ApiKey, [9; SECRET_BYTES]);
        assert!(PlainSecret::from_client(SecretKind::RefreshToken, key.expose()).is_none());
        assert!(PlainSecret::from_client(SecretKind::ApiKey, "tsk_short").is_none());
        assert!(
            PlainSecret::from_client(SecretKind::ApiKey, &format!("{}!", &key.expose()[..46]))
                .is_none()
        );
    }

    #[test]
    fn the_hash_is_stable_and_differs_per_secret() {
        let a = PlainSecret::generate(SecretKind::ApiKey, [1; SECRET_BYTES]);
        let b = PlainSecret::generate(SecretKind::ApiKey, [2; SECRET_BYTES]);
        assert_eq!(a.hash(), a.hash());
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().as_str().len(), 64);
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let a = PlainSecret::generate(SecretKind::ApiKey, [1; SECRET_BYTES]);
        let shown = format!("{a:?} {:?}", a.hash());
        assert!(!shown.contains(&a.expose()[4..]));
        assert!(!shown.contains(a.hash().as_str()));
    }

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("root-token", "root-token"));
        assert!(!secrets_match("root-token", "root-tokem"));
        assert!(!secrets_match("root", "root-token"));
        assert!(!secrets_match("", "root-token"));
    }
}
