//! Device tokens (OWASP, "Slow down online guessing attacks with device cookies"): a token a
//! browser receives when it signs an account in, and presents at that account's next sign-in.
//! An attempt that carries a valid token of the account it tries is counted against that
//! device rather than the account, so an attacker who knows only an email and locks the
//! account out from everywhere else cannot keep its owner's browser out; a stolen token is
//! throttled on its own.
//!
//! Stateless: `v1.<nonce>.<expires>.<mac>`, the MAC an HMAC-SHA256 over the account's subject
//! (plane, tenant, email), the nonce and the expiry, under a key derived from the deployment
//! secret. A token of another account, expired or altered, is simply not one.

use super::time::Timestamp;
use super::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a device token is honoured.
pub const DEVICE_TOKEN_TTL_SECONDS: i64 = 90 * 24 * 3600;

/// The key that signs device tokens, derived from the deployment secret under its own label.
pub struct DeviceKey(Vec<u8>);

/// A device token as handed to the browser, with the nonce that names the device.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken {
    token: String,
    nonce: String,
}

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}

impl DeviceToken {
    /// The token, for the cookie.
    pub fn expose(&self) -> &str {
        &self.token
    }

    /// The throttling subject of this device.
    pub fn subject(&self) -> String {
        format!("device:{}", self.nonce)
    }
}

impl DeviceKey {
    /// The key, from the deployment secret (at least 32 bytes).
    pub fn from_secret(secret: &str) -> Result<Self, Error> {
        if secret.len() < super::keys::MIN_KEY_ENCRYPTION_SECRET_BYTES {
            return Err(Error::Internal(
                "KEY_ENCRYPTION_SECRET is missing or shorter than 32 bytes".to_owned(),
            ));
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
            .map_err(|_| Error::Internal("cannot key HMAC".to_owned()))?;
        mac.update(b"tessera/device-token/v1");
        Ok(DeviceKey(mac.finalize().into_bytes().to_vec()))
    }

    fn mac(&self, account: &str, nonce: &str, expires: i64) -> Result<Vec<u8>, Error> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .map_err(|_| Error::Internal("cannot key HMAC".to_owned()))?;
        for part in [account, nonce, &expires.to_string()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// A new token for `account` (the throttling subject of the account it signed in), valid
    /// from `now` for `DEVICE_TOKEN_TTL_SECONDS`.
    pub fn issue(
        &self,
        account: &str,
        random: [u8; 16],
        now: Timestamp,
    ) -> Result<DeviceToken, Error> {
        let nonce = B64URL.encode(random);
        let expires = now.unix_seconds() + DEVICE_TOKEN_TTL_SECONDS;
        let mac = B64URL.encode(self.mac(account, &nonce, expires)?);
        Ok(DeviceToken {
            token: format!("v1.{nonce}.{expires}.{mac}"),
            nonce,
        })
    }

    /// The presented token, when it is a valid, unexpired token of `account`.
    pub fn verify(&self, account: &str, presented: &str, now: Timestamp) -> Option<DeviceToken> {
        if presented.len() > 200 {
            return None;
        }
        let mut parts = presented.split('.');
        let (Some("v1"), Some(nonce), Some(expires), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let expires: i64 = expires.parse().ok()?;
        if expires <= now.unix_seconds() || B64URL.decode(nonce).ok()?.len() != 16 {
            return None;
        }
        let presented_mac = B64URL.decode(mac).ok()?;
        let expected = self.mac(account, nonce, expires).ok()?;
        bool::from(presented_mac.ct_eq(&expected)).then(|| DeviceToken {
            token: presented.to_owned(),
            nonce: nonce.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const NOW: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

    #[test]
    fn a_token_is_honoured_for_its_own_account_until_it_expires() {
        let key = DeviceKey::from_secret(SECRET).unwrap();
        let token = key.issue("operator:o@example.com", [7; 16], NOW).unwrap();
        let back = key
            .verify("operator:o@example.com", token.expose(), NOW)
            .unwrap();
        assert_eq!(back.subject(), token.subject());
        assert!(key
            .verify("operator:x@example.com", token.expose(), NOW)
            .is_none());
        let later = NOW.plus_seconds(DEVICE_TOKEN_TTL_SECONDS);
        assert!(key
            .verify("operator:o@example.com", token.expose(), later)
            .is_none());
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let key = DeviceKey::from_secret(SECRET).unwrap();
        let token = key.issue("account:a@example.com", [7; 16], NOW).unwrap();
        let other = DeviceKey::from_secret("another secret that is long enough!").unwrap();
        assert!(other
            .verify("account:a@example.com", token.expose(), NOW)
            .is_none());
        let t = token.expose();
        let (head, _) = t.rsplit_once('.').unwrap();
        for bad in [
            String::new(),
            "v1".to_owned(),
            format!("{head}.AAAA"),
            t.replacen("v1", "v2", 1),
            format!("{t}.x"),
            t.replace(
                &(NOW.unix_seconds() + DEVICE_TOKEN_TTL_SECONDS).to_string(),
                "99999999999",
            ),
        ] {
            assert!(
                key.verify("account:a@example.com", &bad, NOW).is_none(),
                "{bad}"
            );
        }
        assert!(!format!("{token:?}").contains(&t[..10]));
    }
}
