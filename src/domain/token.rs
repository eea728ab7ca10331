//! JWT access tokens: EdDSA (Ed25519) through jwt-compact, `kid` in every header. jwt-compact
//! signs every token and verifies operator tokens; an access token is taken apart by
//! `jose::CompactJws` (`parse_access`: the one token parsed per introspection).
//!
//! Verification is strict: the algorithm must be EdDSA, the `kid` must name a key of the right
//! key set (operators and each app have their own), the signature must hold, `exp` must be
//! present and in the future, and the `typ` and audience claims must match the kind of token
//! expected. Any failure is the same opaque `None`: callers map it to their own error code.

use super::jose::{CompactJws, JwsAlgorithm};
use super::keys::SigningKey;
use super::time::Timestamp;
use super::Error;
use chrono::{DateTime, Duration, Utc};
use ed25519_compact::PublicKey;
use jwt_compact::alg::Ed25519;
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, Token, UntrustedToken};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The audience of operator tokens; end-user tokens never carry it.
pub const OPERATOR_AUDIENCE: &str = "tessera:admin";
/// The `typ` claim of operator tokens.
pub const OPERATOR_TOKEN_TYPE: &str = "operator";

fn time_options(now: Timestamp) -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    let now = DateTime::from_timestamp_millis(now.unix_ms()).unwrap_or_default();
    TimeOptions::new(Duration::zero(), move || now)
}

/// Signs `custom` claims with `key`, valid from `now` for `ttl_seconds`.
pub fn sign<T: Serialize>(
    key: &SigningKey,
    custom: T,
    now: Timestamp,
    ttl_seconds: i64,
) -> Result<String, Error> {
    let header = Header::empty().with_key_id(key.kid());
    let claims = Claims::new(custom)
        .set_duration_and_issuance(&time_options(now), Duration::seconds(ttl_seconds));
    Ed25519
        .token(&header, &claims, key.secret())
        .map_err(|e| Error::Internal(format!("token signing failed: {e}")))
}

/// Signs an OAuth access token (RFC 9068: header `typ` `at+jwt`) with `key`, valid from `now`
/// for `ttl_seconds`.
pub fn sign_at_jwt(
    key: &SigningKey,
    claims: AccessClaims,
    now: Timestamp,
    ttl_seconds: i64,
) -> Result<String, Error> {
    let header = Header::empty()
        .with_key_id(key.kid())
        .with_token_type(AT_JWT);
    let claims = Claims::new(claims)
        .set_duration_and_issuance(&time_options(now), Duration::seconds(ttl_seconds));
    Ed25519
        .token(&header, &claims, key.secret())
        .map_err(|e| Error::Internal(format!("token signing failed: {e}")))
}

/// Verifies a compact JWT against the keys `find_key` knows, and checks that it has not
/// expired at `now`. Returns the claims, or `None` for any defect at all.
pub fn verify<T: DeserializeOwned + Clone>(
    token: &str,
    find_key: impl Fn(&str) -> Option<PublicKey>,
    now: Timestamp,
) -> Option<Claims<T>> {
    let untrusted = UntrustedToken::new(token).ok()?;
    if untrusted.algorithm() != "EdDSA" {
        return None;
    }
    let key = find_key(untrusted.header().key_id.as_deref()?)?;
    let token: Token<T> = Ed25519.validator(&key).validate(&untrusted).ok()?;
    let claims = token.claims();
    claims.validate_expiration(&time_options(now)).ok()?;
    // RFC 7519 §4.1.4: not accepted *on* or after `exp` (jwt-compact still accepts at `exp`).
    if claims.expiration?.timestamp_millis() <= now.unix_ms() {
        return None;
    }
    Some(claims.clone())
}

/// The `kid` a token's header names, read without verifying anything, so the caller can fetch
/// the right key set before verifying.
pub fn peek_kid(token: &str) -> Option<String> {
    UntrustedToken::new(token).ok()?.header().key_id.clone()
}

/// An EdDSA access token parsed (once) but not yet trusted: the `kid` that names its key, the
/// signing input and signature a verifier checks, and the claims to check once the signature
/// holds.
///
/// The compact serialization is taken apart by `jose::CompactJws` (the parser ID tokens use:
/// three base64url parts, no `crit`, a length cap) and the claims are read straight into
/// `AccessClaims` plus their two times. jwt-compact's `UntrustedToken` reads header and
/// claims through serde's `flatten`, which buffers every field before reading it again: about
/// twice the cost per token (`BENCHMARKS.md`), on the one path that parses a token per
/// request. jwt-compact still signs every token and verifies operator tokens.
pub struct UnverifiedAccess {
    pub kid: String,
    /// `base64url(header).base64url(claims)`, the signed bytes.
    pub signing_input: String,
    pub signature: Vec<u8>,
    claims: AccessClaims,
    times: TokenTimes,
}

/// The registered times of a token's claims, Unix seconds.
#[derive(Deserialize)]
struct TokenTimes {
    exp: Option<i64>,
    iat: Option<i64>,
}

/// Parses an access token for verification: EdDSA, a `kid`, claims of the access shape.
/// `None` for any defect (nothing is trusted yet).
pub fn parse_access(token: &str) -> Option<UnverifiedAccess> {
    let jws = CompactJws::parse(token).ok()?;
    if jws.alg != JwsAlgorithm::EdDsa {
        return None;
    }
    let kid = jws.header.kid?;
    // Two passes over a few hundred bytes, each into a flat struct: cheaper than one through
    // `flatten`, and the claims' fields are declared once.
    let claims = serde_json::from_slice::<AccessClaims>(&jws.payload).ok()?;
    let times = serde_json::from_slice::<TokenTimes>(&jws.payload).ok()?;
    Some(UnverifiedAccess {
        kid,
        signing_input: jws.signing_input,
        signature: jws.signature,
        claims,
        times,
    })
}

impl UnverifiedAccess {
    /// After the signature was found valid: the claims, `iat` and `exp` (Unix seconds) when
    /// the token has not expired at `now` (RFC 7519: refused at `exp`), is an access token
    /// (of a session, or an OAuth one) and belongs to `app` and `tenant`.
    pub fn accept(
        self,
        now: Timestamp,
        app: &str,
        tenant: &str,
    ) -> Option<(AccessClaims, i64, i64)> {
        let (iat, exp) = (self.times.iat?, self.times.exp?);
        if exp.checked_mul(1_000)? <= now.unix_ms() {
            return None;
        }
        let custom = self.claims;
        let typed = custom.typ == ACCESS_TOKEN_TYPE || custom.is_oauth();
        (typed && custom.app == app && custom.tid == tenant).then_some((custom, iat, exp))
    }
}

/// Checks an Ed25519 signature with ed25519-compact (in wasm, about ten times the cost of the
/// runtime's WebCrypto, which the worker uses instead).
pub fn verify_ed25519(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    ed25519_compact::Signature::from_slice(signature)
        .is_ok_and(|signature| key.verify(message, &signature).is_ok())
}

/// The custom claims of an operator access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorClaims {
    /// The issuer: the deployment's origin.
    pub iss: String,
    /// The operator id.
    pub sub: String,
    /// Always `OPERATOR_AUDIENCE`.
    pub aud: String,
    /// Always `OPERATOR_TOKEN_TYPE`.
    pub typ: String,
}

impl OperatorClaims {
    /// Claims for operator `sub`, issued by `iss`.
    pub fn new(iss: &str, sub: &str) -> Self {
        OperatorClaims {
            iss: iss.to_owned(),
            sub: sub.to_owned(),
            aud: OPERATOR_AUDIENCE.to_owned(),
            typ: OPERATOR_TOKEN_TYPE.to_owned(),
        }
    }
}

/// A verified operator token: the operator id as text, and when the token was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedOperator {
    pub sub: String,
    /// `iat`, Unix seconds.
    pub iat: i64,
}

/// Verifies an operator token: signature by an operator key, not expired, operator audience
/// and type.
pub fn verify_operator_token(
    token: &str,
    find_key: impl Fn(&str) -> Option<PublicKey>,
    now: Timestamp,
) -> Option<VerifiedOperator> {
    let claims = verify::<OperatorClaims>(token, find_key, now)?;
    let iat = claims.issued_at?.timestamp();
    let custom = claims.custom;
    (custom.aud == OPERATOR_AUDIENCE && custom.typ == OPERATOR_TOKEN_TYPE).then_some(
        VerifiedOperator {
            sub: custom.sub,
            iat,
        },
    )
}

/// The `typ` claim of end-user access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "access";

/// The custom claims of an end-user access token (`API.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The tenant's issuer URL.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The app id.
    pub app: String,
    /// The tenant id.
    pub tid: String,
    /// The session id (for an OAuth token: its grant's session; empty, and not sent, for a
    /// `client_credentials` token, which has none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    /// `ACCESS_TOKEN_TYPE` for the tenant's own sessions, `OAUTH_TOKEN_TYPE` for OAuth clients'.
    pub typ: String,
    /// OAuth tokens (RFC 9068): the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth tokens: the scopes granted, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// OAuth tokens: the audience — the RFC 8707 resource, else the issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// OAuth tokens: the token's unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl AccessClaims {
    /// True for a token an OAuth client holds (not one of the tenant's own sessions).
    pub fn is_oauth(&self) -> bool {
        self.typ == OAUTH_TOKEN_TYPE || self.typ == CLIENT_TOKEN_TYPE
    }

    /// True for a `client_credentials` token: its subject is the client, with no user.
    pub fn is_client(&self) -> bool {
        self.typ == CLIENT_TOKEN_TYPE
    }
}

/// The `typ` claim of `client_credentials` access tokens.
pub const CLIENT_TOKEN_TYPE: &str = "client";

/// The `typ` claim of OAuth access tokens (whose header `typ` is `at+jwt`, RFC 9068).
pub const OAUTH_TOKEN_TYPE: &str = "oauth";
/// The header `typ` of OAuth access tokens (RFC 9068 §2.1).
pub const AT_JWT: &str = "at+jwt";

/// Verifies an end-user access token for one app and tenant: signature by one of the app's
/// keys, not expired, `typ` access, and `app`/`tid` equal to the place it is presented at.
/// Returns the claims with `iat` and `exp` (Unix seconds). Introspection's own steps
/// (`parse_access`, the signature, `UnverifiedAccess::accept`) in one native call, the
/// signature by ed25519-compact: what the property tests (`tests/properties.rs`) attack.
pub fn verify_access_token(
    token: &str,
    find_key: impl Fn(&str) -> Option<PublicKey>,
    now: Timestamp,
    app: &str,
    tenant: &str,
) -> Option<(AccessClaims, i64, i64)> {
    let parsed = parse_access(token)?;
    let key = find_key(&parsed.kid)?;
    if !verify_ed25519(&key, parsed.signing_input.as_bytes(), &parsed.signature) {
        return None;
    }
    parsed
        .accept(now, app, tenant)
        .filter(|(claims, ..)| claims.typ == ACCESS_TOKEN_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine;

    const NOW: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

    fn key() -> SigningKey {
        SigningKey::from_seed([4; 32])
    }

    fn lookup(k: &SigningKey) -> impl Fn(&str) -> Option<PublicKey> + '_ {
        move |kid| (kid == k.kid()).then(|| k.public_key())
    }

    fn operator_token(k: &SigningKey, now: Timestamp, ttl: i64) -> String {
        sign(
            k,
            OperatorClaims::new("https://t.example", "op-1"),
            now,
            ttl,
        )
        .unwrap()
    }

    #[test]
    fn a_fresh_operator_token_verifies_and_names_its_operator() {
        let k = key();
        let token = operator_token(&k, NOW, 900);
        assert_eq!(
            verify_operator_token(&token, lookup(&k), NOW.plus_ms(1_000)),
            Some(VerifiedOperator {
                sub: "op-1".into(),
                iat: NOW.unix_seconds()
            })
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let k = key();
        let token = operator_token(&k, NOW, 900);
        assert!(verify_operator_token(&token, lookup(&k), NOW.plus_ms(899_999)).is_some());
        assert!(verify_operator_token(&token, lookup(&k), NOW.plus_ms(900_000)).is_none());
    }

    #[test]
    fn a_token_signed_by_an_unknown_key_is_refused() {
        let token = operator_token(&SigningKey::from_seed([9; 32]), NOW, 900);
        assert!(verify_operator_token(&token, lookup(&key()), NOW).is_none());
    }

    #[test]
    fn a_token_whose_kid_names_a_key_that_did_not_sign_it_is_refused() {
        let k = key();
        let other = SigningKey::from_seed([9; 32]);
        let token = operator_token(&other, NOW, 900);
        let wrong = |_: &str| Some(k.public_key());
        assert!(verify_operator_token(&token, wrong, NOW).is_none());
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let k = key();
        let token = operator_token(&k, NOW, 900);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = B64URL.encode(
            String::from_utf8(B64URL.decode(parts[1]).unwrap())
                .unwrap()
                .replace("op-1", "op-2"),
        );
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(verify_operator_token(&tampered, lookup(&k), NOW).is_none());
    }

    #[test]
    fn alg_none_and_garbage_are_refused() {
        let k = key();
        let header = B64URL.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, k.kid()));
        let body = B64URL.encode(
            r#"{"iss":"x","sub":"op-1","aud":"tessera:admin","typ":"operator","exp":9999999999}"#,
        );
        for t in [
            format!("{header}.{body}."),
            "garbage".to_owned(),
            String::new(),
        ] {
            assert!(verify_operator_token(&t, lookup(&k), NOW).is_none(), "{t}");
        }
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let k = key();
        let header = Header::empty().with_key_id(k.kid());
        let claims = Claims::new(OperatorClaims::new("x", "op-1"));
        let token = Ed25519.token(&header, &claims, k.secret()).unwrap();
        assert!(verify_operator_token(&token, lookup(&k), NOW).is_none());
    }

    fn access(tid: &str) -> AccessClaims {
        AccessClaims {
            iss: "https://t.example/apps/shop/tenants/acme".into(),
            sub: "user-1".into(),
            app: "shop".into(),
            tid: tid.into(),
            sid: "session-1".into(),
            typ: ACCESS_TOKEN_TYPE.into(),
            client_id: None,
            scope: None,
            aud: None,
            jti: None,
        }
    }

    #[test]
    fn an_access_token_verifies_only_at_its_own_app_and_tenant() {
        let k = key();
        let token = sign(&k, access("acme"), NOW, 900).unwrap();
        let (claims, iat, exp) =
            verify_access_token(&token, lookup(&k), NOW, "shop", "acme").unwrap();
        assert_eq!(claims.sid, "session-1");
        assert_eq!((iat, exp), (NOW.unix_seconds(), NOW.unix_seconds() + 900));
        assert!(verify_access_token(&token, lookup(&k), NOW, "shop", "other").is_none());
        assert!(verify_access_token(&token, lookup(&k), NOW, "other", "acme").is_none());
    }

    #[test]
    fn parsing_then_checking_the_signature_accepts_exactly_what_jwt_compact_accepts() {
        let k = key();
        let good = sign(&k, access("acme"), NOW, 900).unwrap();
        let other = sign(&SigningKey::from_seed([9; 32]), access("acme"), NOW, 900).unwrap();
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        let operator = operator_token(&k, NOW, 900);
        let header = Header::empty().with_key_id(k.kid());
        let no_exp = Ed25519
            .token(&header, &Claims::new(access("acme")), k.secret())
            .unwrap();
        let wrong_signature = {
            let (input, signature) = good.rsplit_once('.').unwrap();
            let mut bytes = B64URL.decode(signature).unwrap();
            bytes[10] ^= 1;
            format!("{input}.{}", B64URL.encode(bytes))
        };
        let four_parts = format!("{good}.e30");
        let padded = {
            let (input, signature) = good.rsplit_once('.').unwrap();
            format!("{input}.{signature}==")
        };
        for (token, at) in [
            (&good, NOW),
            (&good, NOW.plus_ms(899_999)),
            (&good, NOW.plus_ms(900_000)),
            (&no_exp, NOW),
            (&wrong_signature, NOW),
            (&four_parts, NOW),
            (&padded, NOW),
            (&other, NOW),
            (&tampered, NOW),
            (&operator, NOW),
        ] {
            let split = verify_access_token(token, lookup(&k), at, "shop", "acme");
            // jwt-compact's whole verification, the reference.
            let whole = verify::<AccessClaims>(token, lookup(&k), at).and_then(|claims| {
                let (iat, exp) = (
                    claims.issued_at?.timestamp(),
                    claims.expiration?.timestamp(),
                );
                let custom = claims.custom;
                (custom.typ == ACCESS_TOKEN_TYPE && custom.app == "shop" && custom.tid == "acme")
                    .then_some((custom, iat, exp))
            });
            assert_eq!(split, whole, "{token} at {at:?}");
        }
        assert!(parse_access(&good).is_some_and(|p| p.kid == k.kid()));
    }

    /// A compact JWS of `header` and `claims` (JSON text, as given) signed by `k`.
    fn signed_by(k: &SigningKey, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", B64URL.encode(header), B64URL.encode(claims));
        let signature = k.secret().sign(input.as_bytes(), None);
        format!("{input}.{}", B64URL.encode(signature.as_slice()))
    }

    /// Parsed and accepted at app `shop`, tenant `acme`, at `NOW` (the signature unchecked).
    fn accepted(token: &str) -> Option<(AccessClaims, i64, i64)> {
        parse_access(token).and_then(|parsed| parsed.accept(NOW, "shop", "acme"))
    }

    #[test]
    fn an_access_token_with_critical_header_extensions_is_refused_even_when_signed() {
        let k = key();
        let claims = Claims::new(access("acme"))
            .set_duration_and_issuance(&time_options(NOW), Duration::seconds(900));
        let body = serde_json::to_string(&claims).unwrap();
        let signed = |header: String| signed_by(&k, &header, &body);
        let kid = k.kid();
        let plain = signed(format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#));
        assert!(accepted(&plain).is_some(), "the control token is good");
        let critical = signed(format!(
            r#"{{"alg":"EdDSA","kid":"{kid}","crit":["ext"],"ext":1}}"#
        ));
        assert!(accepted(&critical).is_none());
        let unnamed = signed(r#"{"alg":"EdDSA"}"#.to_owned());
        assert!(accepted(&unnamed).is_none(), "no kid");
    }

    #[test]
    fn claims_named_twice_are_refused_even_when_signed() {
        let k = key();
        let header = format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, k.kid());
        let exp = NOW.unix_seconds() + 900;
        let iat = NOW.unix_seconds();
        let base = format!(
            r#""iss":"i","sub":"user-1","app":"shop","sid":"session-1","typ":"access","iat":{iat}"#
        );
        let signed = |claims: String| signed_by(&k, &header, &claims);
        let control = signed(format!(r#"{{{base},"tid":"acme","exp":{exp}}}"#));
        assert!(accepted(&control).is_some(), "the control token is good");
        for twice in [
            format!(r#"{{{base},"tid":"other","tid":"acme","exp":{exp}}}"#),
            format!(r#"{{{base},"tid":"acme","t\u0069d":"other","exp":{exp}}}"#),
            format!(r#"{{{base},"tid":"acme","exp":1,"exp":{exp}}}"#),
        ] {
            assert!(accepted(&signed(twice.clone())).is_none(), "{twice}");
        }
    }

    #[test]
    fn an_oauth_access_token_is_accepted_at_its_place_only() {
        let k = key();
        let mut claims = access("acme");
        claims.typ = OAUTH_TOKEN_TYPE.into();
        claims.client_id = Some("client-1".into());
        claims.scope = Some("read".into());
        let token = sign_at_jwt(&k, claims, NOW, 900).unwrap();
        let checked = |at: Timestamp, app: &str, tenant: &str| {
            let parsed = parse_access(&token)?;
            let valid = verify_ed25519(
                &k.public_key(),
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            );
            valid.then(|| parsed.accept(at, app, tenant)).flatten()
        };
        let (accepted, _, exp) = checked(NOW, "shop", "acme").unwrap();
        assert_eq!(accepted.client_id.as_deref(), Some("client-1"));
        assert_eq!(exp, NOW.unix_seconds() + 900);
        assert!(checked(NOW, "shop", "other").is_none());
        assert!(checked(NOW.plus_ms(900_000), "shop", "acme").is_none());
    }

    #[test]
    fn operator_and_access_tokens_are_never_confused() {
        let k = key();
        let operator = operator_token(&k, NOW, 900);
        assert!(verify_access_token(&operator, lookup(&k), NOW, "shop", "acme").is_none());
        let user = sign(&k, access("acme"), NOW, 900).unwrap();
        assert!(verify_operator_token(&user, lookup(&k), NOW).is_none());
    }

    #[test]
    fn a_token_of_another_audience_is_not_an_operator_token() {
        let k = key();
        let mut claims = OperatorClaims::new("x", "op-1");
        claims.aud = "app:shop".to_owned();
        let token = sign(&k, claims, NOW, 900).unwrap();
        assert!(verify_operator_token(&token, lookup(&k), NOW).is_none());
    }
}
