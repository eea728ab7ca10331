//! Property tests (proptest) of every parser of untrusted input: access and operator tokens,
//! refresh tokens, API keys and invite tokens, PHC password-hash strings, emails, passwords,
//! cursors and limits, webhook signatures, ids, names, the client address, merge patches.
//!
//! For each: arbitrary input never panics, what is produced round-trips, and what must be
//! refused is refused — checked against an independent oracle (a regular expression, a
//! re-implementation of the rule) rather than against the parser itself.
//!
//! `make test` runs proptest's default 256 cases per property; `make test-security` sets
//! `PROPTEST_CASES` (20,000 by default). The parsers that live in `http/` (bearer header, form
//! and JSON bodies) are wasm32-only and are fuzzed through HTTP by the schemathesis run instead.

use proptest::prelude::*;
use tessera::domain::authz::Scope;
use tessera::domain::email::Email;
use tessera::domain::ids::{
    ApiKeyId, AppId, DeletionId, MemberId, OperatorId, ProviderId, SessionId, TenantId, UserId,
};
use tessera::domain::keys::SigningKey;
use tessera::domain::member::{MemberStatus, MembershipType, OperatorRole};
use tessera::domain::names::{PlanTier, RoleName, UserPermission};
use tessera::domain::page::{encode_cursor, PageRequest, MAX_LIMIT};
use tessera::domain::password::{
    Algorithm, Password, PasswordHash, PasswordPolicy, MIN_PRODUCTION_ITERATIONS,
};
use tessera::domain::policy::merge_patch;
use tessera::domain::secret::{secrets_match, PlainSecret, SecretKind};
use tessera::domain::tenancy::{ApiKeyName, AppSettings, LoginMethod};
use tessera::domain::throttle::client_subject;
use tessera::domain::time::Timestamp;
use tessera::domain::token::{
    peek_kid, sign, verify_access_token, verify_operator_token, AccessClaims, OperatorClaims,
};
use tessera::domain::user::UserStatus;
use tessera::domain::webhook;
use unicode_normalization::UnicodeNormalization;

const NOW: i64 = 1_767_225_600_000;

/// Any text at all, including the control characters, surrogate-free Unicode and long runs a
/// hostile client can send.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[\\x00-\\x7f]{0,300}",
        proptest::collection::vec(any::<char>(), 0..600).prop_map(|c| c.into_iter().collect()),
    ]
}

/// Whether `s` holds a code point Unicode has not assigned (private use is assigned): the
/// oracle for the parsers' refusal, from the crate's own table.
fn unassigned(s: &str) -> bool {
    s.chars().any(|c| {
        !unicode_normalization::char::is_public_assigned(c)
            && !matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
    })
}

fn slug() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,62}"
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

fn lookup(k: &SigningKey) -> impl Fn(&str) -> Option<ed25519_compact::PublicKey> + '_ {
    move |kid| (kid == k.kid()).then(|| k.public_key())
}

fn access_claims(app: &str, tenant: &str, sub: &str) -> AccessClaims {
    AccessClaims {
        iss: format!("https://tessera.test/apps/{app}/tenants/{tenant}"),
        sub: sub.to_owned(),
        app: app.to_owned(),
        tid: tenant.to_owned(),
        sid: "01a22df6-a2c4-7cb9-b5a6-41dbdfc21231".to_owned(),
        typ: "access".to_owned(),
        client_id: None,
        scope: None,
        aud: None,
        jti: None,
    }
}

const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

proptest! {
    // ------------------------------------------------------------------ JWTs

    #[test]
    fn arbitrary_text_is_never_a_token(raw in any_text(), app in slug(), tenant in slug()) {
        let k = key(1);
        let now = Timestamp::from_unix_ms(NOW);
        prop_assert!(verify_access_token(&raw, lookup(&k), now, &app, &tenant).is_none());
        prop_assert!(verify_operator_token(&raw, lookup(&k), now).is_none());
        let _ = peek_kid(&raw);
    }

    #[test]
    fn three_base64url_segments_that_were_not_signed_are_not_a_token(
        parts in proptest::collection::vec("[A-Za-z0-9_-]{0,120}", 3),
    ) {
        let k = key(1);
        let raw = parts.join(".");
        let now = Timestamp::from_unix_ms(NOW);
        prop_assert!(verify_access_token(&raw, lookup(&k), now, "shop", "acme").is_none());
        prop_assert!(verify_operator_token(&raw, lookup(&k), now).is_none());
    }

    #[test]
    fn an_access_token_round_trips_at_its_own_place_only(
        app in slug(), tenant in slug(), other in slug(), sub in "[0-9a-f-]{36}",
        ttl in 60i64..86_400, elapsed in 0i64..86_400_000,
    ) {
        let k = key(2);
        let now = Timestamp::from_unix_ms(NOW);
        let token = sign(&k, access_claims(&app, &tenant, &sub), now, ttl).unwrap();
        let later = now.plus_ms(elapsed);
        let verified = verify_access_token(&token, lookup(&k), later, &app, &tenant);
        if elapsed < ttl * 1000 {
            let (claims, iat, exp) = verified.expect("a fresh token verifies at its own place");
            prop_assert_eq!(claims, access_claims(&app, &tenant, &sub));
            prop_assert_eq!(exp - iat, ttl);
        } else {
            prop_assert!(verified.is_none(), "an expired token verifies");
        }
        if other != app {
            prop_assert!(verify_access_token(&token, lookup(&k), now, &other, &tenant).is_none());
        }
        if other != tenant {
            prop_assert!(verify_access_token(&token, lookup(&k), now, &app, &other).is_none());
        }
        prop_assert!(verify_access_token(&token, lookup(&key(3)), now, &app, &tenant).is_none());
        prop_assert!(verify_operator_token(&token, lookup(&k), now).is_none(), "an access token is an operator token");
    }

    #[test]
    fn a_changed_character_never_yields_other_claims(
        position in any::<prop::sample::Index>(), replacement in 0usize..64,
    ) {
        let k = key(4);
        let now = Timestamp::from_unix_ms(NOW);
        let token = sign(&k, access_claims("shop", "acme", "user-1"), now, 900).unwrap();
        let i = position.index(token.len());
        let mut bytes = token.clone().into_bytes();
        let new = B64URL.as_bytes()[replacement];
        prop_assume!(bytes[i] != b'.' && bytes[i] != new);
        bytes[i] = new;
        let tampered = String::from_utf8(bytes).unwrap();
        // Either refused, or (a change in the unused low bits of the last base64 character)
        // exactly the same claims: never anything else.
        if let Some((claims, ..)) = verify_access_token(&tampered, lookup(&k), now, "shop", "acme") {
            prop_assert_eq!(claims, access_claims("shop", "acme", "user-1"));
        }
    }

    #[test]
    fn an_operator_token_is_never_an_access_token_and_refuses_other_algorithms(
        sub in "[0-9a-f-]{1,36}", alg in prop_oneof![Just("none"), Just("HS256"), Just("RS256"), Just("ES256"), Just("eddsa")],
    ) {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        let k = key(5);
        let now = Timestamp::from_unix_ms(NOW);
        let token = sign(&k, OperatorClaims::new("https://tessera.test", &sub), now, 900).unwrap();
        prop_assert_eq!(
            verify_operator_token(&token, lookup(&k), now).map(|verified| verified.sub),
            Some(sub.clone())
        );
        prop_assert!(verify_access_token(&token, lookup(&k), now, "shop", "acme").is_none());
        // The same claims under a header naming another algorithm (the classic confusions:
        // none, and HMAC keyed with the public key), with and without a signature.
        let payload = token.split('.').nth(1).unwrap();
        let header = B64.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, k.kid()));
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(k.public_key().as_ref()).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        let hmac_with_public_key = B64.encode(mac.finalize().into_bytes());
        for signature in ["", token.split('.').nth(2).unwrap(), hmac_with_public_key.as_str()] {
            let forged = format!("{header}.{payload}.{signature}");
            prop_assert!(verify_operator_token(&forged, lookup(&k), now).is_none(), "{}", forged);
        }
    }

    // ------------------------------------------------------------------ opaque secrets

    #[test]
    fn a_secret_from_a_client_is_accepted_exactly_when_it_has_its_kind_s_shape(raw in prop_oneof![
        any_text(),
        "ts[kri]_[A-Za-z0-9_-]{40,46}",
        "ts[kri]_.{43}",
    ]) {
        for kind in [SecretKind::ApiKey, SecretKind::RefreshToken, SecretKind::InviteToken] {
            let expected = raw.strip_prefix(kind.prefix()).is_some_and(|body| {
                body.len() == 43 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
            let parsed = PlainSecret::from_client(kind, &raw);
            prop_assert_eq!(parsed.is_some(), expected, "{:?} as {:?}", raw, kind);
            if let Some(secret) = parsed {
                prop_assert_eq!(secret.expose(), raw.as_str());
                prop_assert!(!format!("{secret:?}").contains(&raw[4..]), "Debug shows the secret");
            }
        }
    }

    #[test]
    fn generated_secrets_round_trip_and_are_only_their_own_kind(bytes in any::<[u8; 32]>(), other in any::<[u8; 32]>()) {
        let kinds = [SecretKind::ApiKey, SecretKind::RefreshToken, SecretKind::InviteToken];
        for kind in kinds {
            let secret = PlainSecret::generate(kind, bytes);
            prop_assert_eq!(PlainSecret::from_client(kind, secret.expose()), Some(secret.clone()));
            for wrong in kinds.iter().filter(|k| **k != kind) {
                prop_assert!(PlainSecret::from_client(*wrong, secret.expose()).is_none());
            }
            prop_assert_eq!(secret.hash(), PlainSecret::generate(kind, bytes).hash());
            if other != bytes {
                prop_assert_ne!(secret.hash(), PlainSecret::generate(kind, other).hash());
            }
        }
    }

    #[test]
    fn secrets_match_exactly_when_equal(a in any_text(), b in any_text()) {
        prop_assert_eq!(secrets_match(&a, &b), a == b);
        prop_assert!(secrets_match(&a, &a));
    }

    // ------------------------------------------------------------------ passwords and PHC strings

    #[test]
    fn arbitrary_text_never_panics_the_phc_parser(raw in prop_oneof![
        any_text(),
        "\\$pbkdf2-sha(256|512)\\$i=-?[0-9]{0,22}\\$[A-Za-z0-9+/=]{0,40}\\$[A-Za-z0-9+/=]{0,100}(\\$.*)?",
    ]) {
        if let Ok(hash) = PasswordHash::parse(&raw) {
            // Whatever parses prints back to a string that parses to the same hash.
            prop_assert_eq!(PasswordHash::parse(&hash.to_phc_string()).unwrap(), hash);
        }
    }

    #[test]
    fn a_phc_string_parses_only_with_a_known_algorithm_a_sane_cost_and_a_full_hash(
        algorithm in prop_oneof![Just("pbkdf2-sha256"), Just("pbkdf2-sha512"), Just("pbkdf2-sha1"), Just("argon2id")],
        iterations in prop_oneof![Just(0i64), Just(-1), 1i64..20_000_000, Just(u32::MAX as i64 + 1)],
        salt in proptest::collection::vec(any::<u8>(), 0..40),
        hash_len in prop_oneof![Just(32usize), Just(64), 0usize..100],
    ) {
        use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
        use base64::Engine;
        let raw = format!("${algorithm}$i={iterations}${}${}", B64.encode(&salt), B64.encode(vec![7u8; hash_len]));
        let expected_len = match algorithm { "pbkdf2-sha256" => Some(32), "pbkdf2-sha512" => Some(64), _ => None };
        let sane = expected_len == Some(hash_len) && (1..=10_000_000).contains(&iterations) && !salt.is_empty();
        prop_assert_eq!(PasswordHash::parse(&raw).is_ok(), sane, "{}", raw);
    }

    #[test]
    fn a_stored_hash_is_trusted_outside_tests_exactly_when_it_has_the_production_floor(
        stored_sha512 in any::<bool>(), policy_sha512 in any::<bool>(),
        stored_iterations in prop_oneof![
            1u32..200,
            Just(MIN_PRODUCTION_ITERATIONS - 1),
            Just(MIN_PRODUCTION_ITERATIONS),
            1u32..=10_000_000,
        ],
        policy_iterations in 100_000u32..=10_000_000,
        salt in proptest::collection::vec(any::<u8>(), 1..40),
    ) {
        use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
        use base64::Engine;
        let algorithm = |sha512: bool| if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
        // An implanted hash, as someone with write access to D1 would write it.
        let (name, len) = if stored_sha512 { ("pbkdf2-sha512", 64) } else { ("pbkdf2-sha256", 32) };
        let raw = format!("${name}$i={stored_iterations}${}${}", B64.encode(&salt), B64.encode(vec![7u8; len]));
        let stored = PasswordHash::parse(&raw).unwrap();
        let production = PasswordPolicy::new(algorithm(policy_sha512), policy_iterations).unwrap();
        prop_assert_eq!(
            production.trusts(&stored),
            stored_iterations >= 100_000,
            "{} under a production policy", raw
        );
        prop_assert!(PasswordPolicy::insecure_for_tests(stored_iterations).trusts(&stored));
    }

    #[test]
    fn a_hash_round_trips_through_its_phc_string_and_verifies_only_its_password(
        iterations in 1u32..64, salt in any::<[u8; 16]>(), secret in "[ -~]{8,40}", wrong in "[ -~]{8,40}",
    ) {
        let policy = PasswordPolicy::insecure_for_tests(iterations);
        let password = Password::parse(&secret).unwrap();
        let hash = policy.hash(&password, salt);
        let parsed = PasswordHash::parse(&hash.to_phc_string()).unwrap();
        prop_assert_eq!(&parsed, &hash);
        prop_assert!(parsed.verify(&password));
        if wrong.nfkc().collect::<String>() != secret.nfkc().collect::<String>() {
            prop_assert!(!parsed.verify(&Password::parse(&wrong).unwrap()));
        }
        prop_assert!(!format!("{parsed:?}").contains(&hash.to_phc_string()), "Debug shows the hash");
    }

    #[test]
    fn a_password_parses_exactly_when_it_has_8_to_128_characters_after_nfkc(raw in prop_oneof![
        any_text(),
        ".{6,10}",
        ".{125,131}",
        "[\\u{FDFA}\\u{FB03}\\u{3300}]{1,60}",
    ]) {
        let chars = raw.nfkc().count();
        let expected = raw.len() <= 128 * 4 && !unassigned(&raw) && (8..=128).contains(&chars);
        let parsed = Password::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), expected, "{:?} ({} chars after NFKC)", raw, chars);
        if let Ok(p) = parsed {
            prop_assert!(!format!("{p:?}").contains(&raw), "Debug shows the password");
        }
    }

    // ------------------------------------------------------------------ emails

    #[test]
    fn an_email_parses_to_a_normal_form_that_parses_to_itself(raw in prop_oneof![
        any_text(),
        "[A-Za-z0-9._%+-]{1,70}@[A-Za-z0-9-]{1,20}(\\.[A-Za-z0-9-]{1,20}){0,3}",
        "\\s{0,3}[^@\\s]{1,10}@[^@\\s]{1,10}\\.[a-z]{2,4}\\s{0,3}",
    ]) {
        let parsed = Email::parse(&raw);
        if unassigned(&raw) {
            prop_assert!(parsed.is_err(), "an unassigned code point was accepted");
        }
        if let Ok(email) = parsed {
            let text = email.as_str();
            prop_assert_eq!(Email::from_stored(text), Ok(email.clone()), "the stored form reads back");
            prop_assert!(text.len() <= 254);
            prop_assert_eq!(text.matches('@').count(), 1);
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
            let (local, domain) = text.split_once('@').unwrap();
            prop_assert!(!local.is_empty() && local.len() <= 64);
            prop_assert!(domain.contains('.') && !domain.split('.').any(str::is_empty));
            prop_assert_eq!(Email::parse(text), Ok(email.clone()), "the normal form is not stable");
        }
    }

    #[test]
    fn a_plain_ascii_address_is_accepted_as_its_trimmed_lower_case(
        local in "[A-Za-z0-9._%+-]{1,64}", labels in proptest::collection::vec("[A-Za-z0-9-]{1,20}", 2..4),
        pad in "\\s{0,2}",
    ) {
        let address = format!("{local}@{}", labels.join("."));
        prop_assume!(address.len() <= 254);
        let parsed = Email::parse(&format!("{pad}{address}{pad}")).unwrap();
        prop_assert_eq!(parsed.as_str(), address.to_lowercase());
    }

    // ------------------------------------------------------------------ cursors and limits

    #[test]
    fn a_limit_parses_exactly_when_it_is_1_to_200(raw in prop_oneof![any_text(), "[+-]?[0-9]{1,25}", Just(String::new())]) {
        let expected = raw.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n));
        let parsed = PageRequest::parse(Some(&raw), None).ok().map(|p| p.limit);
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn a_cursor_round_trips_and_any_other_is_refused_or_canonical(key in ".{1,80}", raw in prop_oneof![any_text(), "[A-Za-z0-9_-]{0,400}"]) {
        prop_assume!(key.len() <= 256);
        let cursor = encode_cursor(&key);
        prop_assert_eq!(PageRequest::parse(None, Some(&cursor)).unwrap().after, Some(key));
        if let Ok(page) = PageRequest::parse(None, Some(&raw)) {
            match page.after {
                // A cursor that is accepted is the encoding of what it decodes to.
                Some(after) => prop_assert_eq!(encode_cursor(&after), raw),
                None => prop_assert_eq!(raw, ""),
            }
        }
    }

    // ------------------------------------------------------------------ webhook signatures

    #[test]
    fn arbitrary_signature_headers_never_panic_and_never_verify(
        header in prop_oneof![
            any_text(),
            "t=-?[0-9]{1,20},v1=[0-9a-fA-F]{0,70}(,v1=[0-9a-f]{64})?",
            Just(format!("t={},v1={}", i64::MIN, "0".repeat(64))),
            Just(format!("t={},v1={}", i64::MAX, "0".repeat(64))),
            Just(format!("t={},v1={}", (NOW / 1000).wrapping_add(i64::MIN), "0".repeat(64))),
        ],
        body in proptest::collection::vec(any::<u8>(), 0..200),
        now in prop_oneof![Just(NOW / 1000), any::<i64>()],
    ) {
        prop_assert!(!webhook::verify("whsec_test", &header, &body, now));
    }

    #[test]
    fn a_signature_verifies_within_300_seconds_and_for_its_body_and_secret_only(
        secret in "[ -~]{1,64}", other in "[ -~]{1,64}", body in proptest::collection::vec(any::<u8>(), 0..300),
        t in -10_000_000_000i64..10_000_000_000, skew in -1_000i64..1_000, upper in any::<bool>(),
        extra in proptest::collection::vec(any::<u8>(), 1..10),
    ) {
        let signature = webhook::sign(&secret, t, &body);
        let header = format!("t={t}, v1={}", if upper { signature.to_uppercase() } else { signature.clone() });
        prop_assert_eq!(webhook::verify(&secret, &header, &body, t + skew), skew.abs() <= 300);
        let mut longer = body.clone();
        longer.extend(&extra);
        prop_assert!(!webhook::verify(&secret, &header, &longer, t));
        if other != secret {
            prop_assert!(!webhook::verify(&other, &header, &body, t));
        }
        let rotated = format!("t={t},v1={},v1={signature}", "0".repeat(64));
        prop_assert!(webhook::verify(&secret, &rotated, &body, t), "a second v1 (during a rotation) verifies");
    }

    // ------------------------------------------------------------------ ids and names

    #[test]
    fn a_slug_id_parses_exactly_when_it_matches_its_pattern(raw in prop_oneof![any_text(), slug(), "[a-zA-Z0-9_.-]{0,70}"]) {
        let pattern = regex_lite(&raw, 63, b"-");
        prop_assert_eq!(AppId::parse(&raw).is_ok(), pattern, "{:?}", raw);
        prop_assert_eq!(TenantId::parse(&raw).is_ok(), pattern, "{:?}", raw);
        prop_assert_eq!(ProviderId::parse(&raw).is_ok(), pattern, "{:?}", raw);
        if let Ok(id) = AppId::parse(&raw) {
            prop_assert_eq!(id.to_string(), raw.clone());
            prop_assert_eq!(serde_json::from_str::<AppId>(&serde_json::to_string(&id).unwrap()).unwrap(), id);
        }
    }

    #[test]
    fn a_uuid_id_parses_only_in_its_hyphenated_form_and_round_trips(
        raw in prop_oneof![any_text(), "[0-9a-fA-F-]{30,40}", "\\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\\}?"],
        ms in 0i64..4_000_000_000_000, random in any::<[u8; 10]>(),
    ) {
        let parsed = [UserId::parse(&raw).map(|i| i.to_string()), SessionId::parse(&raw).map(|i| i.to_string()),
                      ApiKeyId::parse(&raw).map(|i| i.to_string()), MemberId::parse(&raw).map(|i| i.to_string()),
                      OperatorId::parse(&raw).map(|i| i.to_string()), DeletionId::parse(&raw).map(|i| i.to_string())];
        for text in parsed.into_iter().flatten() {
            prop_assert_eq!(raw.len(), 36);
            prop_assert_eq!(text, raw.to_lowercase());
        }
        let id = UserId::generate(Timestamp::from_unix_ms(ms), random);
        prop_assert_eq!(UserId::parse(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn role_plan_and_permission_names_parse_exactly_when_they_match_their_patterns(
        raw in prop_oneof![any_text(), "[a-z0-9_:.-]{0,130}", "[a-zA-Z0-9 _:.-]{0,20}"],
    ) {
        prop_assert_eq!(RoleName::parse(&raw).is_ok(), regex_lite(&raw, 63, b"_:-"), "role {:?}", raw);
        prop_assert_eq!(PlanTier::parse(&raw).is_ok(), regex_lite(&raw, 63, b"_:-"), "plan {:?}", raw);
        prop_assert_eq!(UserPermission::parse(&raw).is_ok(), regex_lite(&raw, 128, b"_:.-"), "permission {:?}", raw);
        prop_assert_eq!(RoleName::parse_assigned(std::slice::from_ref(&raw)).is_ok(), regex_lite(&raw, 63, b"_:-"));
    }

    #[test]
    fn an_api_key_name_is_1_to_100_printable_characters_trimmed(raw in prop_oneof![any_text(), "\\s{0,3}[^\\x00-\\x1f]{0,105}\\s{0,3}"]) {
        let trimmed = raw.trim();
        let expected = (1..=100).contains(&trimmed.chars().count()) && !trimmed.chars().any(char::is_control);
        let parsed = ApiKeyName::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), expected, "{:?}", raw);
        if let Ok(name) = parsed {
            prop_assert_eq!(name.as_str(), trimmed);
            prop_assert_eq!(ApiKeyName::parse(name.as_str()).unwrap(), name);
        }
    }

    #[test]
    fn enumerated_names_parse_exactly_to_their_known_values(raw in prop_oneof![
        any_text(),
        prop::sample::select(vec!["introspect", "users:read", "admin", "auditor", "owner", "active", "left",
            "suspended", "invited", "emailpassword", "passwordless", "thirdparty", "Admin", "users:Read", " admin",
            "readonly_auditor", "release-managers", "-admin", "Passwordless"]).prop_map(str::to_owned),
    ]) {
        let scopes = ["tenants:read", "tenants:write", "members:read", "members:write", "users:read", "users:suspend",
            "users:plan", "users:write", "roles:write", "apikeys:write", "webhooks:write", "audit:read", "introspect"];
        prop_assert_eq!(Scope::parse(&raw).is_ok(), scopes.contains(&raw.as_str()));
        if let Ok(scope) = Scope::parse(&raw) { prop_assert_eq!(scope.as_str(), raw.as_str()); }
        // An operator role is a built-in one, or a name an app may define (issue 16).
        let roles = ["admin", "security_admin", "billing_admin", "support", "auditor"];
        let role = OperatorRole::parse_list(std::slice::from_ref(&raw));
        prop_assert_eq!(role.is_ok(), roles.contains(&raw.as_str()) || regex_lite(&raw, 63, b"_-"));
        if let Ok(role) = role { prop_assert_eq!(role[0].is_built_in(), roles.contains(&raw.as_str())); }
        let types = ["owner", "admin", "member", "contractor", "service_operator", "readonly_auditor"];
        prop_assert_eq!(MembershipType::parse(&raw).is_ok(), types.contains(&raw.as_str()));
        prop_assert_eq!(MemberStatus::parse(&raw).is_ok(), ["invited", "active", "suspended", "left"].contains(&raw.as_str()));
        prop_assert_eq!(UserStatus::parse(&raw).is_ok(), ["active", "suspended"].contains(&raw.as_str()));
        prop_assert_eq!(LoginMethod::parse(&raw).is_ok(), ["emailpassword", "passwordless", "thirdparty"].contains(&raw.as_str()));
    }

    // ------------------------------------------------------------------ the client address

    #[test]
    fn a_client_address_never_panics_and_an_ipv6_host_counts_as_its_64(
        raw in any_text(), prefix in proptest::collection::vec(any::<u16>(), 4), a in any::<[u16; 4]>(), b in any::<[u16; 4]>(),
    ) {
        let _ = client_subject(&raw);
        let head: Vec<String> = prefix.iter().map(|g| format!("{g:x}")).collect();
        let host = |h: [u16; 4]| format!("{}:{}", head.join(":"), h.iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":"));
        prop_assert_eq!(client_subject(&host(a)), client_subject(&host(b)));
        prop_assert_eq!(client_subject(&host(a)), format!("client:{}::/64", head.join(":")));
    }

    // ------------------------------------------------------------------ metadata merge patches

    #[test]
    fn a_merge_patch_never_panics_and_applying_it_twice_changes_nothing_more(target in json(), patch in json()) {
        let mut once = target.clone();
        merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        merge_patch(&mut twice, &patch);
        prop_assert_eq!(&once, &twice, "RFC 7396 patches are idempotent");
        if let (serde_json::Value::Object(p), serde_json::Value::Object(result)) = (&patch, &once) {
            for (k, v) in p {
                if v.is_null() { prop_assert!(!result.contains_key(k), "null removes {}", k); }
            }
        }
    }

    #[test]
    fn app_settings_from_any_json_validate_without_panicking(value in json()) {
        if let Ok(settings) = serde_json::from_value::<AppSettings>(value) {
            if settings.validate().is_ok() {
                prop_assert!(settings.password_policy().is_ok());
            }
        }
    }
}

/// An independent reading of `^[a-z0-9][a-z0-9<extra>]{0,max-1}$`, char by char (the parsers
/// work on bytes).
fn regex_lite(raw: &str, max: usize, extra: &[u8]) -> bool {
    let base = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = raw.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest: Vec<char> = chars.collect();
    base(first)
        && rest.len() < max
        && rest
            .iter()
            .all(|&c| base(c) || (c.is_ascii() && extra.contains(&(c as u8))))
}

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn the_name_oracle_agrees_with_the_documented_examples() {
    // The oracle itself must be right for the properties above to mean anything.
    let cases: &[(&str, usize, &[u8], bool)] = &[
        ("shop-prod", 63, b"-", true),
        ("a-", 63, b"-", true),
        (&"a".repeat(63), 63, b"-", true),
        (&"a".repeat(64), 63, b"-", false),
        ("-a", 63, b"-", false),
        ("Shop", 63, b"-", false),
        ("shop_prod", 63, b"-", false),
        ("é", 63, b"-", false),
        ("", 63, b"-", false),
        ("team:admin_2", 63, b"_:-", true),
        ("docs.v2:read", 128, b"_:.-", true),
        ("docs.v2:read", 63, b"_:-", false),
    ];
    for (raw, max, extra, expected) in cases {
        assert_eq!(regex_lite(raw, *max, extra), *expected, "{raw:?}");
    }
}
