//! OAuth clients that authenticate with a signed JWT (`private_key_jwt`: RFC 7523 §2.2 and
//! §3, as OpenID Connect Core §9 uses it): the public keys a client registers (`jwks`) and the
//! checks of an assertion it presents at the token endpoint.
//!
//! Keys are public signing keys of the asymmetric algorithms third-party sign-in accepts
//! (`jose`): no private member, no symmetric key, RSA of 2048 bits at least. An assertion is
//! a compact JWS whose `iss` and `sub` are the client's id, whose `aud` names the tenant's
//! issuer or its token endpoint, which expires within `MAX_ASSERTION_LIFETIME_SECONDS` and
//! carries a `jti` — used once: the store remembers the jti's hash until the assertion would
//! be refused as expired anyway. The signature is checked by a `store::SignatureVerifier`
//! (WebCrypto in the worker). Nothing here does I/O.

use super::jose::{Audience, CompactJws, Jwk, JwkSet, JwsAlgorithm};
use super::secret::hex;
use super::time::Timestamp;
use super::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Most keys a client registers.
pub const MAX_CLIENT_KEYS: usize = 10;
/// Largest key set a client registers, as stored JSON.
pub const MAX_CLIENT_JWKS_BYTES: usize = 8 * 1024;
/// Longest an assertion may be valid ahead (`exp − now`): what bounds the replay memory.
pub const MAX_ASSERTION_LIFETIME_SECONDS: i64 = 600;
/// How far a client's clock may be off ours.
pub const ASSERTION_LEEWAY_SECONDS: i64 = 60;
/// Longest assertion read, in bytes.
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// Longest `jti` accepted.
pub const MAX_JTI_CHARS: usize = 256;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// JWK members that only private or symmetric keys have.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A client's registered public keys: 1 to `MAX_CLIENT_KEYS` public signing keys, each fit for
/// at least one accepted algorithm, `kid`s distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeys(JwkSet);

fn bad(reason: &str) -> Error {
    Error::validation(format!("jwks: {reason}"))
}

fn check_key(value: &serde_json::Value) -> Result<Jwk, Error> {
    let object = value
        .as_object()
        .ok_or_else(|| bad("each key is a JSON object"))?;
    if PRIVATE_MEMBERS.iter().any(|m| object.contains_key(*m)) {
        return Err(bad(
            "a key holds private or symmetric material; register public keys only",
        ));
    }
    let key: Jwk =
        serde_json::from_value(value.clone()).map_err(|_| bad("a key is not a JSON Web Key"))?;
    if !JwsAlgorithm::ALL.into_iter().any(|alg| key.fits(alg)) {
        return Err(bad(
            "each key is an RSA, EC (P-256, P-384) or OKP (Ed25519) signing key with the members its type needs",
        ));
    }
    if key.kty == "RSA" {
        let modulus = key.n.as_deref().and_then(|n| B64URL.decode(n).ok());
        let significant = modulus
            .as_deref()
            .map(|n| n.len() - n.iter().take_while(|b| **b == 0).count())
            .unwrap_or(0);
        if significant < MIN_RSA_MODULUS_BYTES {
            return Err(bad("RSA keys have at least 2048 bits"));
        }
    }
    Ok(key)
}

impl ClientKeys {
    /// Checks a key set as a member or a registration sends it (`{"keys": [...]}`).
    pub fn parse(value: &serde_json::Value) -> Result<Self, Error> {
        let keys = value
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| bad("a JWK set is an object with a keys array"))?;
        if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
            return Err(bad(&format!("1 to {MAX_CLIENT_KEYS} keys")));
        }
        let mut kids: Vec<String> = Vec::new();
        for value in keys {
            if let Some(kid) = check_key(value)?.kid {
                if kids.contains(&kid) {
                    return Err(bad("two keys have one kid"));
                }
                kids.push(kid);
            }
        }
        let set = ClientKeys(JwkSet { keys: keys.clone() });
        if set.to_stored().len() > MAX_CLIENT_JWKS_BYTES {
            return Err(bad("the key set is larger than 8 KB"));
        }
        Ok(set)
    }

    /// The set as stored (JSON).
    pub fn to_stored(&self) -> String {
        serde_json::json!({ "keys": self.0.keys }).to_string()
    }

    /// A stored set read back (`None` when it does not parse).
    pub fn from_stored(raw: &str) -> Option<Self> {
        serde_json::from_str::<serde_json::Value>(raw)
            .ok()
            .and_then(|v| ClientKeys::parse(&v).ok())
    }

    /// The set as a JSON value (`{"keys": [...]}`), for answers.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.0.keys })
    }

    /// The key that verifies an assertion of `alg` naming `kid` (`JwkSet::select`).
    pub fn select(&self, kid: Option<&str>, alg: JwsAlgorithm) -> Option<Jwk> {
        self.0.select(kid, alg)
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

/// A client assertion taken apart, not yet verified.
#[derive(Debug, Clone)]
pub struct ClientAssertion {
    pub jws: CompactJws,
    /// The `iss` it claims (the client to look up; nothing is proven yet).
    pub issuer: String,
}

/// An assertion whose claims passed: what the store must remember to refuse it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedAssertion {
    /// The SHA-256 (hex) of its `jti`.
    pub jti_hash: String,
    /// Until when a replay must be refused (its `exp` plus the leeway).
    pub remember_until: Timestamp,
}

impl ClientAssertion {
    /// Splits an assertion and reads the client it claims to be. `None` when it is no JWS of
    /// an accepted algorithm, or claims no issuer.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > MAX_ASSERTION_BYTES {
            return None;
        }
        let jws = CompactJws::parse(raw).ok()?;
        let claims: AssertionClaims = serde_json::from_slice(&jws.payload).ok()?;
        let issuer = claims.iss.filter(|i| !i.is_empty())?;
        Some(ClientAssertion { jws, issuer })
    }

    /// Checks the claims of a verified assertion: `iss` and `sub` are `client_id`, `aud` names
    /// one of `audiences`, `exp` is ahead of `now` (within the leeway) by at most
    /// `MAX_ASSERTION_LIFETIME_SECONDS`, `nbf` and `iat` are not in the future, and `jti` is
    /// there. Why not, otherwise.
    pub fn check(
        &self,
        client_id: &str,
        audiences: &[&str],
        now: Timestamp,
    ) -> Result<AcceptedAssertion, &'static str> {
        let claims: AssertionClaims =
            serde_json::from_slice(&self.jws.payload).map_err(|_| "claims")?;
        if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
            return Err("iss and sub must be the client id");
        }
        let aud = claims.aud.ok_or("aud is required")?;
        if !aud.0.iter().any(|a| audiences.contains(&a.as_str())) {
            return Err("aud must be the issuer or the token endpoint");
        }
        let now_s = now.unix_seconds();
        let exp = claims.exp.ok_or("exp is required")?;
        if exp <= now_s.saturating_sub(ASSERTION_LEEWAY_SECONDS) {
            return Err("expired");
        }
        if exp > now_s.saturating_add(MAX_ASSERTION_LIFETIME_SECONDS + ASSERTION_LEEWAY_SECONDS) {
            return Err("exp is too far ahead");
        }
        let future =
            |t: Option<i64>| t.is_some_and(|t| t > now_s.saturating_add(ASSERTION_LEEWAY_SECONDS));
        if future(claims.nbf) || future(claims.iat) {
            return Err("not valid yet");
        }
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS)
            .ok_or("jti is required (at most 256 characters)")?;
        Ok(AcceptedAssertion {
            jti_hash: hex(&Sha256::digest(jti.as_bytes())),
            remember_until: Timestamp::from_unix_ms(
                exp.saturating_add(ASSERTION_LEEWAY_SECONDS)
                    .saturating_mul(1000),
            ),
        })
    }
}
