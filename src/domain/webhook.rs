//! Billing webhook signatures: `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<raw body>")>`, compared in constant time, with at most 300 s between `t` and now.

use super::secret::hex;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Largest accepted distance between the signature's time and now.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The hex HMAC-SHA256 of `"<t>.<body>"` under `secret`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

fn unreachable_hmac() -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this branch cannot be taken.
    <Hmac<Sha256> as Mac>::new_from_slice(b"k").expect("HMAC takes any key length")
}

/// True when `header` carries a `v1` signature of `body` under `secret` made within the
/// tolerance of `now_seconds`. Several `v1` values (during a secret rotation) are allowed.
pub fn verify(secret: &str, header: &str, body: &[u8], now_seconds: i64) -> bool {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    // `abs_diff`, not `(now - t).abs()`: the client picks `t`, and near i64::MIN the
    // subtraction overflows (a panic in debug builds; in release a wrap whose `abs()` can stay
    // negative and pass the check).
    if now_seconds.abs_diff(t) > TOLERANCE_SECONDS.unsigned_abs() || signatures.is_empty() {
        return false;
    }
    let expected = sign(secret, t, body);
    signatures.iter().fold(false, |found, s| {
        found | bool::from(s.as_bytes().ct_eq(expected.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_fresh_signature_verifies() {
        let body = br#"{"event_id":"e1"}"#;
        let header = format!("t=1000,v1={}", sign(SECRET, 1000, body));
        assert!(verify(SECRET, &header, body, 1000));
        assert!(verify(SECRET, &header, body, 1300));
    }

    #[test]
    fn a_stale_future_or_tampered_signature_does_not() {
        let body = br#"{"event_id":"e1"}"#;
        let header = format!("t=1000,v1={}", sign(SECRET, 1000, body));
        assert!(!verify(SECRET, &header, body, 1301));
        assert!(!verify(SECRET, &header, body, 699));
        assert!(!verify(SECRET, &header, br#"{"event_id":"e2"}"#, 1000));
        assert!(!verify("other", &header, body, 1000));
        assert!(!verify(SECRET, "v1=abc", body, 1000));
        assert!(!verify(SECRET, "t=1000", body, 1000));
        assert!(!verify(SECRET, "", body, 1000));
    }

    #[test]
    fn a_time_at_the_ends_of_the_integer_range_is_refused_without_overflow() {
        let body = b"{}";
        let now: i64 = 1_767_225_600;
        for t in [
            i64::MIN,
            i64::MAX,
            now.wrapping_add(i64::MIN),
            now.wrapping_sub(i64::MAX),
        ] {
            let header = format!("t={t},v1={}", sign(SECRET, t, body));
            assert!(!verify(SECRET, &header, body, now), "t={t}");
        }
    }
}
