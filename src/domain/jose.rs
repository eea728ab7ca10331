//! The JOSE pieces of third-party sign-in: an identity provider's keys (JWK sets), the compact
//! serialization of its ID tokens, and the checks of their claims (OpenID Connect Core §3.1.3.7).
//!
//! Only asymmetric algorithms are accepted — `RS256/384/512`, `PS256/384/512`, `ES256/384`,
//! `EdDSA` — and a key is used only with an algorithm of its own type (an RSA key never
//! verifies an `ES256` token, no key verifies `none` or an HMAC). The signature itself is checked
//! by a `store::SignatureVerifier` (WebCrypto in the worker); `verify_eddsa` is the pure-Rust
//! check of Ed25519, which both the worker and native tests use. `CompactJws` also takes apart
//! Tessera's own access tokens for introspection (`token::parse_access`). Nothing here does
//! I/O.

use super::time::Timestamp;
use super::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

/// How far a provider's clock may be off ours when `exp` and `iat` are checked.
pub const CLOCK_LEEWAY_MS: i64 = 60_000;
/// Longest ID token accepted, in bytes.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;
/// Longest subject accepted (OpenID Connect: at most 255 ASCII characters).
pub const MAX_SUBJECT_CHARS: usize = 255;

/// A JWS algorithm of an ID token that may be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl JwsAlgorithm {
    /// Every algorithm that may be accepted.
    pub const ALL: [JwsAlgorithm; 9] = [
        JwsAlgorithm::Rs256,
        JwsAlgorithm::Rs384,
        JwsAlgorithm::Rs512,
        JwsAlgorithm::Ps256,
        JwsAlgorithm::Ps384,
        JwsAlgorithm::Ps512,
        JwsAlgorithm::Es256,
        JwsAlgorithm::Es384,
        JwsAlgorithm::EdDsa,
    ];

    /// The `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlgorithm::Rs256 => "RS256",
            JwsAlgorithm::Rs384 => "RS384",
            JwsAlgorithm::Rs512 => "RS512",
            JwsAlgorithm::Ps256 => "PS256",
            JwsAlgorithm::Ps384 => "PS384",
            JwsAlgorithm::Ps512 => "PS512",
            JwsAlgorithm::Es256 => "ES256",
            JwsAlgorithm::Es384 => "ES384",
            JwsAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `alg`, when it is one that may be accepted (never `none`, never HMAC).
    pub fn parse(alg: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == alg)
    }

    /// The `kty` of the keys this algorithm verifies with.
    pub fn key_type(self) -> &'static str {
        match self {
            JwsAlgorithm::Rs256
            | JwsAlgorithm::Rs384
            | JwsAlgorithm::Rs512
            | JwsAlgorithm::Ps256
            | JwsAlgorithm::Ps384
            | JwsAlgorithm::Ps512 => "RSA",
            JwsAlgorithm::Es256 | JwsAlgorithm::Es384 => "EC",
            JwsAlgorithm::EdDsa => "OKP",
        }
    }

    /// The `crv` of the keys this algorithm verifies with (none for RSA).
    pub fn curve(self) -> Option<&'static str> {
        match self {
            JwsAlgorithm::Es256 => Some("P-256"),
            JwsAlgorithm::Es384 => Some("P-384"),
            JwsAlgorithm::EdDsa => Some("Ed25519"),
            _ => None,
        }
    }

    /// The SHA-2 digest the algorithm uses (`SHA-256`, …), for WebCrypto.
    pub fn hash_name(self) -> &'static str {
        match self {
            JwsAlgorithm::Rs256 | JwsAlgorithm::Ps256 | JwsAlgorithm::Es256 => "SHA-256",
            JwsAlgorithm::Rs384 | JwsAlgorithm::Ps384 | JwsAlgorithm::Es384 => "SHA-384",
            JwsAlgorithm::Rs512 | JwsAlgorithm::Ps512 | JwsAlgorithm::EdDsa => "SHA-512",
        }
    }
}

/// A public key of a provider (RFC 7517), with the members the accepted algorithms use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default, rename = "use")]
    pub usage: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    /// RSA modulus and exponent (base64url).
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    /// EC and OKP curve and coordinates (base64url).
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

impl Jwk {
    /// True when this key may verify a token signed with `alg`: its type and curve are the
    /// algorithm's, it is a signing key (or says nothing of its use), it names no other
    /// algorithm, and it has the members that algorithm needs.
    pub fn fits(&self, alg: JwsAlgorithm) -> bool {
        let members = match alg.key_type() {
            "RSA" => self.n.is_some() && self.e.is_some(),
            "EC" => self.x.is_some() && self.y.is_some(),
            _ => self.x.is_some(),
        };
        self.kty == alg.key_type()
            && self.crv.as_deref() == alg.curve()
            && self.usage.as_deref().is_none_or(|u| u == "sig")
            && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
            && members
    }
}

/// A provider's key set (`jwks_uri`). Keys of types this worker does not use are kept but never
/// fit; a document without a `keys` array is refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<serde_json::Value>,
}

impl JwkSet {
    /// Parses a JWKS document (`502 provider_error` when it is not one).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes)
            .map_err(|_| Error::ProviderError("the JWKS is not a JSON key set".into()))
    }

    /// The key that verifies a token of `alg` naming `kid`: the fitting key of that `kid`, or,
    /// when the token names none, the only fitting key.
    pub fn select(&self, kid: Option<&str>, alg: JwsAlgorithm) -> Option<Jwk> {
        let mut fitting = self
            .keys
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter(|k| k.fits(alg))
            .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)));
        let first = fitting.next()?;
        match (kid, fitting.next()) {
            // Without a kid, two candidates are ambiguous: refuse rather than guess.
            (None, Some(_)) => None,
            _ => Some(first),
        }
    }
}

/// The protected header of a compact JWS.
#[derive(Debug, Clone, Deserialize)]
pub struct JwsHeader {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    /// Extensions the verifier must understand: this one understands none.
    #[serde(default)]
    pub crit: Option<serde_json::Value>,
}

/// A compact JWS taken apart (not yet verified).
#[derive(Debug, Clone)]
pub struct CompactJws {
    pub header: JwsHeader,
    pub alg: JwsAlgorithm,
    /// `<header>.<payload>`, what the signature covers.
    pub signing_input: String,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

fn refused(reason: &str) -> Error {
    Error::ProviderError(format!("ID token refused: {reason}"))
}

impl CompactJws {
    /// Splits and decodes a compact JWS; refuses an algorithm that may not be accepted and a
    /// header with critical extensions.
    pub fn parse(token: &str) -> Result<Self, Error> {
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(refused("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refused("not a compact JWS"));
        };
        let decode = |part: &str| B64URL.decode(part).map_err(|_| refused("bad base64url"));
        let header: JwsHeader =
            serde_json::from_slice(&decode(header)?).map_err(|_| refused("bad header"))?;
        if header.crit.is_some() {
            return Err(refused("critical header extensions"));
        }
        let alg = JwsAlgorithm::parse(&header.alg).ok_or_else(|| refused("algorithm"))?;
        let signing_input = token[..token.len() - signature.len() - 1].to_owned();
        Ok(CompactJws {
            header,
            alg,
            signing_input,
            payload: decode(payload)?,
            signature: decode(signature)?,
        })
    }
}

/// `aud`: one string or an array of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(pub Vec<String>);

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(one) => Audience(vec![one]),
            OneOrMany::Many(many) => Audience(many),
        })
    }
}

/// `email_verified`: a boolean, or (as some providers send it) the strings `"true"`/`"false"`.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolLike {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<BoolLike>::deserialize(d)? {
        Some(BoolLike::Bool(b)) => Some(b),
        Some(BoolLike::Text(t)) => Some(t == "true"),
        None => None,
    })
}

/// The claims of an ID token this worker reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    #[serde(default)]
    pub azp: Option<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: Option<bool>,
}

/// What an ID token must say to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: Timestamp,
}

/// Checks the claims of a (signature-verified) ID token: the issuer exactly, our client among
/// the audiences (and as `azp` when there are several, or whenever `azp` is present), not
/// expired, not issued in the future, the flow's nonce (compared in constant time), a subject.
pub fn check_claims(claims: &IdTokenClaims, expected: &Expected<'_>) -> Result<(), Error> {
    if claims.iss != expected.issuer {
        return Err(refused("issuer"));
    }
    if !claims.aud.0.iter().any(|a| a == expected.client_id) {
        return Err(refused("audience"));
    }
    let azp_needed = claims.aud.0.len() > 1 || claims.azp.is_some();
    if azp_needed && claims.azp.as_deref() != Some(expected.client_id) {
        return Err(refused("authorized party"));
    }
    let now = expected.now.unix_ms();
    if claims.exp.saturating_mul(1000) <= now.saturating_sub(CLOCK_LEEWAY_MS) {
        return Err(refused("expired"));
    }
    if claims
        .iat
        .is_some_and(|iat| iat.saturating_mul(1000) > now.saturating_add(CLOCK_LEEWAY_MS))
    {
        return Err(refused("issued in the future"));
    }
    let nonce_matches = claims
        .nonce
        .as_deref()
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(expected.nonce.as_bytes())));
    if !nonce_matches {
        return Err(refused("nonce"));
    }
    if claims.sub.is_empty() || claims.sub.chars().count() > MAX_SUBJECT_CHARS {
        return Err(refused("subject"));
    }
    Ok(())
}

/// Verifies an Ed25519 signature (`EdDSA`) with an OKP key, in Rust.
pub fn verify_eddsa(key: &Jwk, message: &[u8], signature: &[u8]) -> bool {
    let Some(x) = key.x.as_deref().and_then(|x| B64URL.decode(x).ok()) else {
        return false;
    };
    let (Ok(public), Ok(signature)) = (
        ed25519_compact::PublicKey::from_slice(&x),
        ed25519_compact::Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.fits(JwsAlgorithm::EdDsa) && public.verify(message, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: serde_json::Value) -> IdTokenClaims {
        serde_json::from_value(value).unwrap()
    }

    const NOW: i64 = 1_700_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "client-a",
            nonce: "n-1",
            now: Timestamp::from_unix_ms(NOW * 1000),
        }
    }

    fn good() -> serde_json::Value {
        json!({"iss": "https://idp.example", "sub": "alice", "aud": "client-a",
               "exp": NOW + 60, "iat": NOW, "nonce": "n-1"})
    }

    fn with(key: &str, value: serde_json::Value) -> IdTokenClaims {
        let mut c = good();
        c[key] = value;
        claims(c)
    }

    #[test]
    fn a_token_of_the_issuer_for_our_client_with_our_nonce_passes() {
        assert!(check_claims(&claims(good()), &expected()).is_ok());
        let several = with("aud", json!(["client-a", "other"]));
        assert!(check_claims(&several, &expected()).is_err(), "azp missing");
        let mut c = good();
        c["aud"] = json!(["client-a", "other"]);
        c["azp"] = json!("client-a");
        assert!(check_claims(&claims(c), &expected()).is_ok());
    }

    #[test]
    fn every_claim_that_differs_is_refused() {
        for (key, value) in [
            ("iss", json!("https://idp.example/")),
            ("aud", json!("client-b")),
            ("aud", json!(["client-b"])),
            ("azp", json!("client-b")),
            ("exp", json!(NOW - 61)),
            ("iat", json!(NOW + 61)),
            ("nonce", json!("n-2")),
            ("nonce", json!(null)),
            ("sub", json!("")),
            ("sub", json!("x".repeat(256))),
        ] {
            let c = with(key, value.clone());
            assert!(
                check_claims(&c, &expected()).is_err(),
                "{key} = {value} must be refused"
            );
        }
        // Within the leeway.
        assert!(check_claims(&with("exp", json!(NOW - 30)), &expected()).is_ok());
    }

    #[test]
    fn email_verified_reads_booleans_and_their_strings() {
        assert_eq!(
            with("email_verified", json!(true)).email_verified,
            Some(true)
        );
        assert_eq!(
            with("email_verified", json!("true")).email_verified,
            Some(true)
        );
        assert_eq!(
            with("email_verified", json!("false")).email_verified,
            Some(false)
        );
        assert_eq!(claims(good()).email_verified, None);
    }

    #[test]
    fn only_asymmetric_algorithms_parse_and_keys_fit_only_their_own() {
        for bad in ["none", "HS256", "hs256", "RS1", ""] {
            assert_eq!(JwsAlgorithm::parse(bad), None, "{bad}");
        }
        let rsa: Jwk =
            serde_json::from_value(json!({"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}))
                .unwrap();
        assert!(rsa.fits(JwsAlgorithm::Rs256));
        assert!(rsa.fits(JwsAlgorithm::Ps512));
        assert!(!rsa.fits(JwsAlgorithm::Es256));
        let enc: Jwk =
            serde_json::from_value(json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}))
                .unwrap();
        assert!(!enc.fits(JwsAlgorithm::Rs256));
        let pinned: Jwk =
            serde_json::from_value(json!({"kty": "RSA", "alg": "RS512", "n": "AQAB", "e": "AQAB"}))
                .unwrap();
        assert!(!pinned.fits(JwsAlgorithm::Rs256));
        let p384: Jwk =
            serde_json::from_value(json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}))
                .unwrap();
        assert!(!p384.fits(JwsAlgorithm::Es256));
        assert!(p384.fits(JwsAlgorithm::Es384));
    }

    #[test]
    fn a_key_is_selected_by_kid_or_as_the_only_fitting_one() {
        let set = JwkSet::parse(
            br#"{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"},
                         {"kty":"RSA","kid":"b","n":"AQAB","e":"AQAB"},
                         {"kty":"EC","kid":"c","crv":"P-256","x":"AA","y":"AA"},
                         {"kty":"weird"}]}"#,
        )
        .unwrap();
        assert_eq!(
            set.select(Some("b"), JwsAlgorithm::Rs256)
                .unwrap()
                .kid
                .as_deref(),
            Some("b")
        );
        assert!(set.select(Some("c"), JwsAlgorithm::Rs256).is_none());
        assert!(set.select(None, JwsAlgorithm::Rs256).is_none(), "ambiguous");
        assert_eq!(
            set.select(None, JwsAlgorithm::Es256)
                .unwrap()
                .kid
                .as_deref(),
            Some("c")
        );
        assert!(set.select(Some("z"), JwsAlgorithm::Rs256).is_none());
        assert!(JwkSet::parse(b"{}").is_err());
    }

    #[test]
    fn compact_tokens_split_and_refuse_none_and_critical_headers() {
        let enc = |v: serde_json::Value| B64URL.encode(v.to_string());
        let body = enc(good());
        let token = format!(
            "{}.{body}.{}",
            enc(json!({"alg": "RS256", "kid": "k"})),
            B64URL.encode([1, 2])
        );
        let jws = CompactJws::parse(&token).unwrap();
        assert_eq!(jws.alg, JwsAlgorithm::Rs256);
        assert_eq!(jws.header.kid.as_deref(), Some("k"));
        assert_eq!(jws.signature, vec![1, 2]);
        assert!(jws.signing_input.ends_with(&body));
        let none = format!("{}.{body}.", enc(json!({"alg": "none"})));
        assert!(CompactJws::parse(&none).is_err());
        let crit = format!(
            "{}.{body}.AQ",
            enc(json!({"alg": "RS256", "crit": ["b64"]}))
        );
        assert!(CompactJws::parse(&crit).is_err());
        assert!(CompactJws::parse("a.b").is_err());
        assert!(CompactJws::parse("a.b.c.d").is_err());
    }

    #[test]
    fn ed25519_signatures_verify_with_their_key_only() {
        let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
        let key: Jwk = serde_json::from_value(
            json!({"kty": "OKP", "crv": "Ed25519", "x": B64URL.encode(pair.pk.as_ref())}),
        )
        .unwrap();
        let signature = pair.sk.sign(b"message", None);
        assert!(verify_eddsa(&key, b"message", signature.as_ref()));
        assert!(!verify_eddsa(&key, b"massage", signature.as_ref()));
        let other = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([8; 32]));
        let wrong: Jwk = serde_json::from_value(
            json!({"kty": "OKP", "crv": "Ed25519", "x": B64URL.encode(other.pk.as_ref())}),
        )
        .unwrap();
        assert!(!verify_eddsa(&wrong, b"message", signature.as_ref()));
    }
}
