//! The measured work, shared word for word by the probe worker (wasm) and the native binary
//! (`#[path]` include), so both sides run the same code with the same crate versions.
//! Mirrors Tessera's `domain::password` (pbkdf2_hmac) and `domain::token::verify`.

use chrono::{DateTime, Duration, Utc};
use ed25519_compact::{KeyPair, PublicKey, Seed};
use jwt_compact::alg::Ed25519;
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, Token, UntrustedToken};
use serde::{Deserialize, Serialize};

/// One PBKDF2-HMAC derivation: `alg` is "sha256" (32-byte output) or "sha512" (64 bytes).
pub fn pbkdf2(alg: &str, iterations: u32) -> Option<Vec<u8>> {
    let password = b"correct horse battery staple";
    let salt = [0x5au8; 16];
    match alg {
        "sha256" => {
            let mut out = vec![0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, iterations, &mut out);
            Some(out)
        }
        "sha512" => {
            let mut out = vec![0u8; 64];
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, iterations, &mut out);
            Some(out)
        }
        _ => None,
    }
}

/// The claims of a Tessera access token (same shape and size).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub app: String,
    pub tid: String,
    pub sid: String,
    pub typ: String,
}

const NOW_MS: i64 = 1_760_000_000_000;

fn time_options() -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    let now = DateTime::from_timestamp_millis(NOW_MS).unwrap_or_default();
    TimeOptions::new(Duration::zero(), move || now)
}

/// A signed access token and the public key that verifies it (fixed seed).
pub fn fixture() -> (String, PublicKey) {
    let pair = KeyPair::from_seed(Seed::new([7u8; 32]));
    let header = Header::empty().with_key_id("bench-kid-0000000000000000000000000000000000");
    let claims = Claims::new(AccessClaims {
        iss: "https://tessera.bench/apps/bench/tenants/public".into(),
        sub: "01900000-0000-7000-8000-000000000001".into(),
        app: "bench".into(),
        tid: "public".into(),
        sid: "01900000-0000-7000-8000-000000000002".into(),
        typ: "access".into(),
    })
    .set_duration_and_issuance(&time_options(), Duration::seconds(900));
    let token = Ed25519.token(&header, &claims, &pair.sk).expect("sign");
    (token, pair.pk)
}

/// Verifies `token` the way Tessera does (parse, alg check, kid, signature, expiry, typ);
/// true when valid.
pub fn verify(token: &str, key: &PublicKey) -> bool {
    let Ok(untrusted) = UntrustedToken::new(token) else { return false };
    if untrusted.algorithm() != "EdDSA" || untrusted.header().key_id.is_none() {
        return false;
    }
    let Ok(token): Result<Token<AccessClaims>, _> = Ed25519.validator(key).validate(&untrusted)
    else {
        return false;
    };
    token.claims().validate_expiration(&time_options()).is_ok()
        && token.claims().custom.typ == "access"
}

/// Verifies the fixture token `n` times; returns how many verified (n when all is well).
pub fn verify_n(token: &str, key: &PublicKey, n: u32) -> u32 {
    (0..n).filter(|_| verify(std::hint::black_box(token), key)).count() as u32
}

/// The signing input and the decoded signature of a compact JWT, after jwt-compact has parsed
/// it and checked the algorithm and `kid` (what a WebCrypto verifier needs).
pub fn split_for_webcrypto(token: &str) -> Option<(&str, Vec<u8>)> {
    let untrusted = UntrustedToken::new(token).ok()?;
    if untrusted.algorithm() != "EdDSA" || untrusted.header().key_id.is_none() {
        return None;
    }
    let (message, _) = token.rsplit_once('.')?;
    Some((message, untrusted.signature_bytes().to_vec()))
}

/// The claims checks that follow a valid signature: expiry and `typ` (parsed by jwt-compact
/// without verifying, the signature having been checked elsewhere).
pub fn claims_ok(token: &str) -> bool {
    let Ok(untrusted) = UntrustedToken::new(token) else { return false };
    let Ok(claims) = untrusted.deserialize_claims_unchecked::<AccessClaims>() else { return false };
    claims.validate_expiration(&time_options()).is_ok() && claims.custom.typ == "access"
}
