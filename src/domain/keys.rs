//! Signing keys: Ed25519 key pairs, their `kid`, and their encryption at rest.
//!
//! The worker generates keys itself. The private half is stored encrypted with
//! ChaCha20-Poly1305 under a key derived from the `KEY_ENCRYPTION_SECRET` binding, with the
//! `kid` as associated data so a ciphertext cannot be swapped onto another key's row.

use super::time::Timestamp;
use super::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_compact::{KeyPair, PublicKey, SecretKey, Seed};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;

/// Shortest accepted `KEY_ENCRYPTION_SECRET`, in bytes.
pub const MIN_KEY_ENCRYPTION_SECRET_BYTES: usize = 32;

/// Who a signing key signs for: operators of the platform, or the end users of one app.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyOwner {
    /// Operator access tokens (`/admin`), one key set for the whole deployment.
    Operators,
    /// End-user access tokens of one app.
    App(super::ids::AppId),
}

impl KeyOwner {
    /// The text stored in the `owner` column.
    pub fn as_stored(&self) -> String {
        match self {
            KeyOwner::Operators => "operators".to_owned(),
            KeyOwner::App(app) => format!("app:{app}"),
        }
    }
}

/// An Ed25519 key pair with its `kid`. `Debug` never shows the private half.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    seed: [u8; 32],
    secret: SecretKey,
}

impl SigningKey {
    /// The key pair for a 32-byte random seed; the `kid` is the RFC 7638 JWK thumbprint.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let pair = KeyPair::from_seed(Seed::new(seed));
        SigningKey {
            kid: thumbprint(&pair.pk),
            seed,
            secret: pair.sk,
        }
    }

    /// The key id placed in every token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key, for signing.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.kid)
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key, base64url.
pub fn thumbprint(pk: &PublicKey) -> String {
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        B64URL.encode(pk.as_ref())
    );
    B64URL.encode(Sha256::digest(jwk.as_bytes()))
}

/// The public half of a key as text (base64url), for storage and JWKS.
pub fn encode_public_key(pk: &PublicKey) -> String {
    B64URL.encode(pk.as_ref())
}

/// Reads a stored public key.
pub fn decode_public_key(text: &str) -> Result<PublicKey, Error> {
    B64URL
        .decode(text)
        .ok()
        .and_then(|raw| PublicKey::from_slice(&raw).ok())
        .ok_or_else(|| Error::Internal("stored public key is malformed".to_owned()))
}

/// A 32-byte key for one purpose, derived from the deployment secret: HMAC-SHA256 of the
/// purpose's `label` under the secret, so that one secret serves several purposes and no two
/// of them share a key. Refuses a secret shorter than 32 bytes.
pub fn derive_key(secret: &str, label: &[u8]) -> Result<[u8; 32], Error> {
    if secret.len() < MIN_KEY_ENCRYPTION_SECRET_BYTES {
        return Err(Error::Internal(
            "KEY_ENCRYPTION_SECRET is missing or shorter than 32 bytes".to_owned(),
        ));
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .map_err(|_| Error::Internal("cannot key HMAC".to_owned()))?;
    mac.update(label);
    Ok(mac.finalize().into_bytes().into())
}

/// The fingerprint of the deployment secret (`derive_key` under its own label, base64url):
/// the full Worker records it (`service::keyring::record_secret`) so that the edge Worker of a
/// split deployment given another secret is refused instead of sealing what the full Worker
/// cannot open. Reveals nothing of the secret (an HMAC under it) and is no key for anything.
pub fn secret_fingerprint(secret: &str) -> Result<String, Error> {
    Ok(B64URL.encode(derive_key(secret, b"tessera/secret-fingerprint/v1")?))
}

/// The key that encrypts private signing keys at rest.
pub struct KeyEncryptionKey(Key);

impl KeyEncryptionKey {
    /// Derives the key from the deployment secret (`derive_key`, its own label).
    pub fn from_secret(secret: &str) -> Result<Self, Error> {
        let bytes = derive_key(secret, b"tessera/signing-key-encryption/v1")?;
        Ok(KeyEncryptionKey(*Key::from_slice(&bytes)))
    }

    /// Encrypts `secret`, bound to `context` (associated data): `v1.<nonce>.<ciphertext>`,
    /// base64url parts.
    pub fn seal_bytes(
        &self,
        context: &str,
        secret: &[u8],
        nonce: [u8; 12],
    ) -> Result<String, Error> {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("encryption failed".to_owned()))?;
        Ok(format!(
            "v1.{}.{}",
            B64URL.encode(nonce),
            B64URL.encode(sealed)
        ))
    }

    /// Decrypts what `seal_bytes` sealed under the same `context`.
    pub fn open_bytes(&self, context: &str, sealed: &str) -> Result<Vec<u8>, Error> {
        let bad = || Error::Internal(format!("secret for {context} cannot be decrypted"));
        let mut parts = sealed.split('.');
        if parts.next() != Some("v1") {
            return Err(bad());
        }
        let nonce = parts
            .next()
            .and_then(|n| B64URL.decode(n).ok())
            .filter(|n| n.len() == 12)
            .ok_or_else(bad)?;
        let ciphertext = parts
            .next()
            .and_then(|c| B64URL.decode(c).ok())
            .ok_or_else(bad)?;
        ChaCha20Poly1305::new(&self.0)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| bad())
    }

    /// Encrypts a signing key's seed, bound to its `kid`.
    pub fn seal(&self, key: &SigningKey, nonce: [u8; 12]) -> Result<String, Error> {
        self.seal_bytes(&key.kid, &key.seed, nonce)
    }

    /// Decrypts a sealed signing key and checks it really is the key named `kid`.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<SigningKey, Error> {
        let bad = || Error::Internal(format!("signing key {kid} cannot be decrypted"));
        let seed: [u8; 32] = self
            .open_bytes(kid, sealed)?
            .try_into()
            .map_err(|_| bad())?;
        let key = SigningKey::from_seed(seed);
        if key.kid != kid {
            return Err(bad());
        }
        Ok(key)
    }
}

/// Which of an owner's keys are in use at `now`, given each key's activation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKeys {
    /// Index of the key that signs new tokens: the newest one already active.
    pub signer: Option<usize>,
    /// Indexes of the keys that verify and are published: keys waiting to activate, the
    /// signer, and retired keys whose last token cannot have expired yet.
    pub verifying: Vec<usize>,
}

/// Sorts out an owner's keys. `activations` holds each key's activation time (any order);
/// a key retires when a newer one activates and stays valid for `max_token_ttl_ms` after that,
/// so every token it signed expires before it disappears.
pub fn live_keys(activations: &[Timestamp], now: Timestamp, max_token_ttl_ms: i64) -> LiveKeys {
    let mut order: Vec<usize> = (0..activations.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(activations[i]));
    let mut signer = None;
    let mut verifying = Vec::new();
    let mut successor_activation: Option<Timestamp> = None;
    for i in order {
        let activates = activations[i];
        let keep = if activates > now {
            true
        } else if signer.is_none() {
            signer = Some(i);
            true
        } else {
            successor_activation.is_some_and(|s| now < s.plus_ms(max_token_ttl_ms))
        };
        if keep {
            verifying.push(i);
        }
        if activates <= now {
            successor_activation = Some(activates);
        }
    }
    LiveKeys { signer, verifying }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_active_key_signs_and_retired_keys_verify_for_one_token_lifetime() {
        // Keys activated at 0, 1000 and (pending) 5000; tokens live 500 ms.
        let activations = [0, 1000, 5000].map(Timestamp::from_unix_ms);
        let at = |now| live_keys(&activations, Timestamp::from_unix_ms(now), 500);
        assert_eq!(at(1200).signer, Some(1));
        assert_eq!(
            at(1200).verifying,
            vec![2, 1, 0],
            "key 0 retired at 1000, valid until 1500"
        );
        assert_eq!(
            at(1500).verifying,
            vec![2, 1],
            "key 0 gone once its last token expired"
        );
        assert_eq!(at(5000).signer, Some(2));
        assert_eq!(at(5000).verifying, vec![2, 1]);
        assert_eq!(at(5500).verifying, vec![2]);
    }

    #[test]
    fn an_owner_with_only_a_pending_key_has_no_signer_yet() {
        let live = live_keys(&[Timestamp::from_unix_ms(100)], Timestamp::EPOCH, 500);
        assert_eq!(live.signer, None);
        assert_eq!(live.verifying, vec![0]);
        assert_eq!(live_keys(&[], Timestamp::EPOCH, 500).signer, None);
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_sealed_key_opens_to_the_same_key() {
        let kek = KeyEncryptionKey::from_secret(SECRET).unwrap();
        let key = SigningKey::from_seed([5; 32]);
        let sealed = kek.seal(&key, [1; 12]).unwrap();
        assert!(!sealed.contains(&B64URL.encode([5u8; 32])));
        let opened = kek.open(key.kid(), &sealed).unwrap();
        assert_eq!(opened.public_key(), key.public_key());
    }

    #[test]
    fn a_sealed_key_does_not_open_under_another_kid_or_secret() {
        let kek = KeyEncryptionKey::from_secret(SECRET).unwrap();
        let key = SigningKey::from_seed([5; 32]);
        let other = SigningKey::from_seed([6; 32]);
        let sealed = kek.seal(&key, [1; 12]).unwrap();
        assert!(kek.open(other.kid(), &sealed).is_err());
        let kek2 = KeyEncryptionKey::from_secret("another secret that is long enough!").unwrap();
        assert!(kek2.open(key.kid(), &sealed).is_err());
    }

    #[test]
    fn short_encryption_secrets_are_refused() {
        assert!(KeyEncryptionKey::from_secret("short").is_err());
    }

    #[test]
    fn kids_are_thumbprints_and_differ_per_key() {
        let a = SigningKey::from_seed([1; 32]);
        let b = SigningKey::from_seed([2; 32]);
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 43);
        let pk = decode_public_key(&encode_public_key(&a.public_key())).unwrap();
        assert_eq!(thumbprint(&pk), a.kid());
    }

    #[test]
    fn key_owners_have_distinct_stored_names() {
        let app = super::super::ids::AppId::parse("shop").unwrap();
        assert_eq!(KeyOwner::Operators.as_stored(), "operators");
        assert_eq!(KeyOwner::App(app).as_stored(), "app:shop");
    }
}
