//! Third-party sign-in over an in-process identity provider (`Idp`): an OpenID provider
//! (discovery, authorization, token endpoint with PKCE, JWKS, UserInfo, Ed25519 ID tokens) and
//! a GitHub-shaped one, behind the `Federation` port. Every rule of `service::thirdparty`.

use crate::world::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use futures_executor::block_on;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use tessera::domain::authz::Principal;
use tessera::domain::ids::{AppId, ProviderId, TenantId};
use tessera::domain::jose::{verify_eddsa, Jwk, JwsAlgorithm};
use tessera::domain::links::WebUrl;
use tessera::domain::tenancy::LoginMethod;
use tessera::domain::thirdparty::ProviderKind;
use tessera::domain::Error;
use tessera::service::passwordless::Consumed;
use tessera::service::tenancy::{self, TenantSettings};
use tessera::service::thirdparty::{self, ProviderSettings};
use tessera::store::{
    OutboundMethod, OutboundRequest, OutboundResponse, ProviderHttp, SessionStore,
    SignatureVerifier, ThirdPartyStore,
};

const ISSUER: &str = "https://idp.test";
const CLIENT_ID: &str = "tessera-client";
const CLIENT_SECRET: &str = "s3cret-of-the-client";
const REDIRECT: &str = "https://app.example/callback";
const GITHUB: &str = "https://ghe.test";

/// A person at the provider.
#[derive(Clone)]
struct Person {
    sub: String,
    email: Option<String>,
    verified: bool,
}

fn person(sub: &str, email: &str, verified: bool) -> Person {
    Person {
        sub: sub.into(),
        email: Some(email.into()),
        verified,
    }
}

/// An authorization the provider granted: what the token request must match.
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    person: Person,
}

/// The in-process provider. It plays by the protocol (checks the client, the code, the redirect
/// URI and the PKCE verifier) and can be told to misbehave.
struct Idp {
    /// The seed of the published key.
    seed: RefCell<[u8; 32]>,
    /// When set, ID tokens are signed with this seed's key instead (under the published kid).
    signing_seed: RefCell<Option<[u8; 32]>>,
    grants: RefCell<HashMap<String, Grant>>,
    tokens: RefCell<HashMap<String, Person>>,
    requests: RefCell<Vec<String>>,
    /// Claims to override in the next ID tokens.
    tamper: RefCell<Value>,
    /// When set, the token endpoint answers this status.
    token_status: RefCell<Option<u16>>,
    /// Whether ID tokens carry the email (else only UserInfo does).
    email_in_id_token: RefCell<bool>,
    next_code: RefCell<u32>,
}

impl Idp {
    fn new() -> Self {
        Idp {
            seed: RefCell::new([7; 32]),
            signing_seed: RefCell::new(None),
            grants: RefCell::default(),
            tokens: RefCell::default(),
            requests: RefCell::default(),
            tamper: RefCell::new(json!({})),
            token_status: RefCell::new(None),
            email_in_id_token: RefCell::new(true),
            next_code: RefCell::new(0),
        }
    }

    fn pair(&self) -> ed25519_compact::KeyPair {
        ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*self.seed.borrow()))
    }

    fn kid(&self) -> String {
        format!("k{}", self.seed.borrow()[0])
    }

    /// The person logs in and consents at `authorization_url`: the code the provider hands to
    /// the redirect URI (with the state, which the client checks and passes on).
    fn authorize(&self, authorization_url: &str, who: &Person) -> (String, String) {
        let (_, query) = authorization_url.split_once('?').expect("a query");
        let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        let mut n = self.next_code.borrow_mut();
        *n += 1;
        let code = format!("code-{n}");
        self.grants.borrow_mut().insert(
            code.clone(),
            Grant {
                client_id: q["client_id"].clone(),
                redirect_uri: q["redirect_uri"].clone(),
                challenge: q["code_challenge"].clone(),
                nonce: q.get("nonce").cloned(),
                person: who.clone(),
            },
        );
        (code, q["state"].clone())
    }

    fn requested(&self) -> Vec<String> {
        self.requests.borrow().clone()
    }

    fn id_token(&self, grant: &Grant, now_s: i64) -> String {
        let mut claims = json!({
            "iss": ISSUER, "sub": grant.person.sub, "aud": grant.client_id,
            "iat": now_s, "exp": now_s + 300, "nonce": grant.nonce,
        });
        if *self.email_in_id_token.borrow() {
            claims["email"] = json!(grant.person.email);
            claims["email_verified"] = json!(grant.person.verified);
        }
        for (k, v) in self.tamper.borrow().as_object().unwrap() {
            claims[k] = v.clone();
        }
        let header = json!({"alg": "EdDSA", "kid": self.kid()});
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let seed = self.signing_seed.borrow().unwrap_or(*self.seed.borrow());
        let signer = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
        let signature = signer.sk.sign(input.as_bytes(), None);
        format!("{input}.{}", B64URL.encode(signature.as_ref()))
    }

    fn token(&self, request: &OutboundRequest, github: bool) -> OutboundResponse {
        if let Some(status) = *self.token_status.borrow() {
            return answer(
                status,
                json!({"error": "server_error", "secret": "leak-me"}),
            );
        }
        let form: HashMap<String, String> =
            form_urlencoded::parse(request.form.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let client = if github {
            (
                form.get("client_id").cloned(),
                form.get("client_secret").cloned(),
            )
        } else {
            let basic = request
                .headers
                .iter()
                .find(|(n, _)| *n == "Authorization")
                .and_then(|(_, v)| v.strip_prefix("Basic "))
                .and_then(|b| STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            let (id, secret) = basic.split_once(':').unwrap_or(("", ""));
            (Some(id.to_owned()), Some(secret.to_owned()))
        };
        if client != (Some(CLIENT_ID.into()), Some(CLIENT_SECRET.into())) {
            return answer(401, json!({"error": "invalid_client"}));
        }
        let Some(grant) = self.grants.borrow_mut().remove(&form["code"]) else {
            return answer(400, json!({"error": "invalid_grant"}));
        };
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let challenge = B64URL.encode(Sha256::digest(verifier.as_bytes()));
        if grant.redirect_uri != form["redirect_uri"] || grant.challenge != challenge {
            return answer(400, json!({"error": "invalid_grant"}));
        }
        let access = format!("at-{}", grant.person.sub);
        self.tokens
            .borrow_mut()
            .insert(access.clone(), grant.person.clone());
        if github {
            return answer(200, json!({"access_token": access, "token_type": "bearer"}));
        }
        let id_token = self.id_token(&grant, START / 1000);
        answer(
            200,
            json!({"access_token": access, "token_type": "Bearer", "id_token": id_token}),
        )
    }

    fn bearer_person(&self, request: &OutboundRequest) -> Option<Person> {
        let token = request
            .headers
            .iter()
            .find(|(n, _)| *n == "Authorization")?
            .1
            .strip_prefix("Bearer ")?
            .to_owned();
        self.tokens.borrow().get(&token).cloned()
    }
}

fn answer(status: u16, body: Value) -> OutboundResponse {
    OutboundResponse {
        status,
        body: body.to_string().into_bytes(),
    }
}

impl ProviderHttp for Idp {
    async fn send(&self, request: &OutboundRequest) -> Result<OutboundResponse, String> {
        let url = request.url.as_str().to_owned();
        self.requests.borrow_mut().push(url.clone());
        let post = request.method == OutboundMethod::Post;
        Ok(match (post, url.as_str()) {
            (false, "https://idp.test/.well-known/openid-configuration") => answer(
                200,
                json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": "https://idp.test/auth",
                    "token_endpoint": "https://idp.test/token",
                    "jwks_uri": "https://keys.idp.test/jwks",
                    "userinfo_endpoint": "https://idp.test/me",
                    "code_challenge_methods_supported": ["S256"],
                }),
            ),
            (false, "https://keys.idp.test/jwks") => answer(
                200,
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": self.kid(),
                                 "x": B64URL.encode(self.pair().pk.as_ref())}]}),
            ),
            (true, "https://idp.test/token") => self.token(request, false),
            (false, "https://idp.test/me") => match self.bearer_person(request) {
                Some(p) => answer(
                    200,
                    json!({"sub": p.sub, "email": p.email, "email_verified": p.verified}),
                ),
                None => answer(401, json!({})),
            },
            (true, "https://ghe.test/login/oauth/access_token") => self.token(request, true),
            (false, "https://ghe.test/api/v3/user") => match self.bearer_person(request) {
                Some(p) => answer(
                    200,
                    json!({"id": p.sub.parse::<u64>().unwrap(), "login": "octo"}),
                ),
                None => answer(401, json!({})),
            },
            (false, "https://ghe.test/api/v3/user/emails") => match self.bearer_person(request) {
                Some(p) => answer(
                    200,
                    json!([{"email": "other@example.com", "primary": false, "verified": true},
                           {"email": p.email, "primary": true, "verified": p.verified}]),
                ),
                None => answer(401, json!({})),
            },
            _ => answer(404, json!({})),
        })
    }
}

impl SignatureVerifier for Idp {
    async fn verify(
        &self,
        alg: JwsAlgorithm,
        key: &Jwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Error> {
        Ok(alg == JwsAlgorithm::EdDsa && verify_eddsa(key, message, signature))
    }
}

/// A world with the app `shop`, its tenant `acme` (email and password, third-party, the
/// redirect URI), its provider `idp` and an `Idp`.
struct Place {
    w: World,
    owner: Principal,
    shop: AppId,
    acme: TenantId,
    idp: Idp,
}

fn provider_id(id: &str) -> ProviderId {
    ProviderId::parse(id).unwrap()
}

fn oidc_settings() -> ProviderSettings {
    ProviderSettings {
        kind: ProviderKind::Oidc,
        issuer: Some(WebUrl::parse_provider_url(ISSUER, "issuer").unwrap()),
        enterprise_url: None,
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        scopes: None,
    }
}

fn github_settings() -> ProviderSettings {
    ProviderSettings {
        kind: ProviderKind::Github,
        issuer: None,
        enterprise_url: Some(WebUrl::parse_provider_url(GITHUB, "enterprise_url").unwrap()),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        scopes: None,
    }
}

impl Place {
    fn new() -> Self {
        let w = World::new();
        let owner = w.owner();
        let shop = w.app(&owner, "shop");
        let acme = tenant("acme");
        let place = Place {
            w,
            owner,
            shop,
            acme,
            idp: Idp::new(),
        };
        place.put_tenant(
            "acme",
            vec![LoginMethod::EmailPassword, LoginMethod::ThirdParty],
        );
        place.put_provider("idp", oidc_settings()).unwrap();
        place
    }

    fn put_tenant(&self, id: &str, methods: Vec<LoginMethod>) {
        block_on(tenancy::put_tenant(
            &self.w.cx(),
            &self.owner,
            &self.shop,
            &tenant(id),
            TenantSettings {
                login_methods: Some(methods),
                link_base_url: Some(Some(WebUrl::parse_link_base(LINK_BASE).unwrap())),
                redirect_uris: Some(vec![WebUrl::parse_redirect_uri(REDIRECT).unwrap()]),
            },
        ))
        .expect("tenant");
    }

    fn put_provider(&self, id: &str, settings: ProviderSettings) -> Result<bool, Error> {
        block_on(thirdparty::put_provider(
            &self.w.cx(),
            &self.idp,
            &self.owner,
            (&self.shop, &self.acme, &provider_id(id)),
            settings,
        ))
        .map(|(_, created)| created)
    }

    fn start(&self, provider: &str, redirect: &str) -> Result<thirdparty::Started, Error> {
        block_on(thirdparty::start(
            &self.w.cx(),
            &self.shop,
            &self.acme,
            &provider_id(provider),
            redirect,
            Some("client:203.0.113.9"),
        ))
    }

    fn callback(&self, provider: &str, code: &str, state: &str) -> Result<Consumed, Error> {
        block_on(thirdparty::callback(
            &self.w.cx(),
            &self.idp,
            (&self.shop, &self.acme, &provider_id(provider)),
            code,
            state,
            Some("client:203.0.113.9".into()),
            None,
        ))
    }

    /// A whole sign-in of `who` through `provider`.
    fn sign_in(&self, provider: &str, who: &Person) -> Result<Consumed, Error> {
        let started = self.start(provider, REDIRECT).expect("started");
        let (code, state) = self.idp.authorize(&started.authorization_url, who);
        assert_eq!(state, started.state.expose());
        self.callback(provider, &code, &state)
    }
}

fn methods(consumed: &Consumed) -> Vec<String> {
    let user = &consumed.signed_in.user;
    user.face.method_names(&user.methods)
}

#[test]
fn a_provider_is_configured_from_its_discovery_document_and_its_secret_is_sealed() {
    let p = Place::new();
    let stored = block_on(p.w.db.find_provider(&p.shop, &p.acme, &provider_id("idp")))
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.endpoints.token_endpoint.as_str(),
        "https://idp.test/token"
    );
    assert_eq!(
        stored.endpoints.jwks_uri.unwrap().as_str(),
        "https://keys.idp.test/jwks"
    );
    assert_eq!(stored.scopes, ["openid", "email", "profile"]);
    assert!(!stored.sealed_secret.contains(CLIENT_SECRET));
    let audit = p.w.db.audit_entries();
    let entry = audit.last().unwrap();
    assert_eq!(entry.action.as_str(), "provider.put");
    assert!(!entry.detail.to_string().contains(CLIENT_SECRET));
    // Replacing it without a secret keeps the sealed one; creating one without is refused.
    let mut again = oidc_settings();
    again.client_secret = None;
    assert_eq!(p.put_provider("idp", again.clone()), Ok(false));
    let kept = block_on(p.w.db.find_provider(&p.shop, &p.acme, &provider_id("idp")))
        .unwrap()
        .unwrap();
    assert_eq!(kept.sealed_secret, stored.sealed_secret);
    assert!(matches!(
        p.put_provider("other", again),
        Err(Error::Validation(_))
    ));
}

#[test]
fn a_provider_pointed_elsewhere_needs_its_secret_again_so_the_stored_one_never_leaves() {
    let p = Place::new();
    let stored = block_on(p.w.db.find_provider(&p.shop, &p.acme, &provider_id("idp")))
        .unwrap()
        .unwrap();
    // Another token endpoint (a GitHub instance of the caller's), another client id: the
    // stored secret would be posted there, so a replacement must bring its own.
    let mut moved = github_settings();
    moved.client_secret = None;
    let mut renamed = oidc_settings();
    renamed.client_id = "another-client".into();
    renamed.client_secret = None;
    for settings in [moved, renamed] {
        assert!(matches!(
            p.put_provider("idp", settings),
            Err(Error::Validation(_))
        ));
    }
    let unchanged = block_on(p.w.db.find_provider(&p.shop, &p.acme, &provider_id("idp")))
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, stored);
    // With a secret of its own, the move is made.
    assert_eq!(p.put_provider("idp", github_settings()), Ok(false));
}

#[test]
fn a_discovery_document_of_another_issuer_or_an_unreachable_one_is_a_provider_error() {
    let p = Place::new();
    let mut elsewhere = oidc_settings();
    elsewhere.issuer = Some(WebUrl::parse_provider_url("https://nowhere.test", "issuer").unwrap());
    let refused = p.put_provider("gone", elsewhere).unwrap_err();
    assert!(matches!(refused, Error::ProviderError(_)));
    assert_eq!(refused.code(), "provider_error");
    let mut no_issuer = oidc_settings();
    no_issuer.issuer = None;
    assert!(matches!(
        p.put_provider("x", no_issuer),
        Err(Error::Validation(_))
    ));
    let mut no_openid = oidc_settings();
    no_openid.scopes = Some(vec!["email".into()]);
    assert!(matches!(
        p.put_provider("x", no_openid),
        Err(Error::Validation(_))
    ));
}

#[test]
fn providers_need_tenants_write_and_are_read_without_secrets() {
    let p = Place::new();
    let denied = block_on(thirdparty::put_provider(
        &p.w.cx(),
        &p.idp,
        &stranger(),
        (&p.shop, &p.acme, &provider_id("idp")),
        oidc_settings(),
    ));
    assert!(matches!(denied, Err(Error::Forbidden(_))));
    let listed = block_on(thirdparty::list_providers(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        &tessera::domain::page::PageRequest::parse(None, None).unwrap(),
    ))
    .unwrap();
    assert_eq!(listed.items.len(), 1);
    let gone = block_on(thirdparty::delete_provider(
        &p.w.cx(),
        &p.owner,
        (&p.shop, &p.acme, &provider_id("nope")),
    ));
    assert_eq!(gone.unwrap_err().code(), "not_found");
}

#[test]
fn a_first_sign_in_signs_up_and_the_next_finds_the_same_user() {
    let p = Place::new();
    let ada = person("ada-sub", "ada@example.com", true);
    let first = p.sign_in("idp", &ada).unwrap();
    assert!(first.created);
    let user = &first.signed_in.user;
    assert_eq!(user.face.email.as_str(), "ada@example.com");
    assert!(user.email_verified);
    assert_eq!(methods(&first), ["thirdparty:idp"]);
    let again = p.sign_in("idp", &ada).unwrap();
    assert!(!again.created);
    assert_eq!(again.signed_in.user.face.user_id, user.face.user_id);
    assert_eq!(methods(&again), ["thirdparty:idp"]);
    // The session is a real one: it refreshes.
    let refresh = again.signed_in.session.refresh_token.expose().to_owned();
    let refreshed = block_on(tessera::service::sessions::refresh(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        &refresh,
    ));
    assert!(refreshed.is_ok());
}

#[test]
fn only_the_configured_provider_urls_are_called() {
    let p = Place::new();
    p.sign_in("idp", &person("ada-sub", "ada@example.com", true))
        .unwrap();
    for url in p.idp.requested() {
        assert!(
            [
                "https://idp.test/.well-known/openid-configuration",
                "https://idp.test/token",
                "https://keys.idp.test/jwks",
                "https://idp.test/me",
            ]
            .contains(&url.as_str()),
            "{url} is not a configured URL"
        );
    }
}

#[test]
fn the_email_may_come_from_userinfo_for_the_same_subject() {
    let p = Place::new();
    *p.idp.email_in_id_token.borrow_mut() = false;
    let signed = p
        .sign_in("idp", &person("ada-sub", "ada@example.com", true))
        .unwrap();
    assert_eq!(signed.signed_in.user.face.email.as_str(), "ada@example.com");
    assert!(p
        .idp
        .requested()
        .contains(&"https://idp.test/me".to_owned()));
}

#[test]
fn a_state_works_once() {
    let p = Place::new();
    let started = p.start("idp", REDIRECT).unwrap();
    let ada = person("ada-sub", "ada@example.com", true);
    let (code, state) = p.idp.authorize(&started.authorization_url, &ada);
    p.callback("idp", &code, &state).unwrap();
    let (code, _) = p.idp.authorize(&started.authorization_url, &ada);
    assert_eq!(
        p.callback("idp", &code, &state).unwrap_err(),
        Error::InvalidCode
    );
}

#[test]
fn an_expired_state_is_refused_before_the_provider_is_called() {
    let p = Place::new();
    let started = p.start("idp", REDIRECT).unwrap();
    let (code, state) = p.idp.authorize(
        &started.authorization_url,
        &person("a", "a@example.com", true),
    );
    p.w.advance_ms(10 * 60 * 1000);
    let calls = p.idp.requested().len();
    assert_eq!(
        p.callback("idp", &code, &state).unwrap_err(),
        Error::InvalidCode
    );
    assert_eq!(p.idp.requested().len(), calls);
}

#[test]
fn a_state_of_another_provider_or_a_forged_one_is_refused() {
    let p = Place::new();
    p.put_provider("second", oidc_settings()).unwrap();
    let started = p.start("idp", REDIRECT).unwrap();
    let (code, state) = p.idp.authorize(
        &started.authorization_url,
        &person("a", "a@example.com", true),
    );
    assert_eq!(
        p.callback("second", &code, &state).unwrap_err(),
        Error::InvalidCode
    );
    // Taken by the refused try: the right provider cannot use it either.
    assert_eq!(
        p.callback("idp", &code, &state).unwrap_err(),
        Error::InvalidCode
    );
    assert_eq!(
        p.callback("idp", &code, "tsf_not-a-state").unwrap_err(),
        Error::InvalidCode
    );
}

#[test]
fn an_id_token_with_another_nonce_audience_issuer_or_expiry_is_refused() {
    for (claim, value) in [
        ("nonce", json!("someone-elses-nonce")),
        ("aud", json!("another-client")),
        ("iss", json!("https://evil.test")),
        ("exp", json!(START / 1000 - 120)),
    ] {
        let p = Place::new();
        *p.idp.tamper.borrow_mut() = json!({ claim: value });
        let refused = p
            .sign_in("idp", &person("ada-sub", "ada@example.com", true))
            .unwrap_err();
        assert!(
            matches!(refused, Error::ProviderError(_)),
            "{claim}: {refused:?}"
        );
        assert!(!refused.public_detail().contains("nonce"));
    }
}

#[test]
fn an_id_token_signed_by_another_key_is_refused() {
    let p = Place::new();
    let ada = person("ada-sub", "ada@example.com", true);
    // The published key is k7; the token names k7 but is signed by another key.
    *p.idp.signing_seed.borrow_mut() = Some([9; 32]);
    let refused = p.sign_in("idp", &ada).unwrap_err();
    assert!(matches!(refused, Error::ProviderError(_)), "{refused:?}");
    *p.idp.signing_seed.borrow_mut() = None;
    assert!(p.sign_in("idp", &ada).is_ok());
}

#[test]
fn a_rotated_key_is_fetched_again_but_not_more_often_than_the_refetch_interval() {
    let p = Place::new();
    let ada = person("ada-sub", "ada@example.com", true);
    p.sign_in("idp", &ada).unwrap();
    let fetches = || {
        p.idp
            .requested()
            .iter()
            .filter(|u| u.ends_with("/jwks"))
            .count()
    };
    assert_eq!(fetches(), 1);
    p.sign_in("idp", &ada).unwrap();
    assert_eq!(fetches(), 1, "the cached key set serves the second sign-in");
    // The provider rotates to k9: within the refetch interval the unknown kid is refused
    // without a fetch; after it, the key set is fetched again and the new key verifies.
    *p.idp.seed.borrow_mut() = [9; 32];
    assert!(matches!(
        p.sign_in("idp", &ada),
        Err(Error::ProviderError(_))
    ));
    assert_eq!(fetches(), 1);
    p.w.advance_ms(thirdparty::JWKS_REFETCH_MS);
    p.sign_in("idp", &ada).unwrap();
    assert_eq!(fetches(), 2);
}

#[test]
fn a_verified_email_links_to_the_tenants_user_of_that_email() {
    let p = Place::new();
    let bob_id = verified_user(&p, "bob@example.com");
    let bob = person("bob-sub", "bob@example.com", true);
    let linked = p.sign_in("idp", &bob).unwrap();
    assert!(!linked.created);
    assert_eq!(linked.signed_in.user.face.user_id, bob_id);
    assert_eq!(methods(&linked), ["emailpassword", "thirdparty:idp"]);
    // The password still works.
    assert!(signin(&p.w, &p.shop, &p.acme, "bob@example.com", PASSWORD, None).is_ok());
}

/// A user of the tenant with a password and a verified email (a password reset proves it).
fn verified_user(p: &Place, address: &str) -> tessera::domain::user::UserId {
    use tessera::service::recovery;
    let signed = signup(&p.w, &p.shop, &p.acme, address);
    p.w.set_delivery(
        &p.owner,
        &p.shop,
        tessera::service::email::DeliveryRequest::Outbox,
    );
    block_on(recovery::send_reset(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        email(address),
        None,
    ))
    .unwrap();
    let message = p.w.last_message(&p.shop, address);
    block_on(recovery::reset_password(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        &token_of(&message),
        &password(PASSWORD),
        None,
    ))
    .unwrap();
    signed.user.face.user_id
}

#[test]
fn a_link_to_a_user_who_never_verified_the_email_removes_its_password_and_sessions() {
    let p = Place::new();
    // Someone pre-registers the victim's address with a password of their own.
    let squatter = signup(&p.w, &p.shop, &p.acme, "victim@example.com");
    assert!(!squatter.user.email_verified);
    let linked = p
        .sign_in("idp", &person("victim-sub", "victim@example.com", true))
        .unwrap();
    assert_eq!(
        linked.signed_in.user.face.user_id,
        squatter.user.face.user_id
    );
    assert!(linked.signed_in.user.email_verified);
    assert_eq!(methods(&linked), ["thirdparty:idp"]);
    // The squatter's password and session are gone, in D1 and at the edge.
    assert_eq!(
        signin(&p.w, &p.shop, &p.acme, "victim@example.com", PASSWORD, None).unwrap_err(),
        Error::InvalidCredentials
    );
    let old = block_on(p.w.db.find_session(&squatter.session.session_id))
        .unwrap()
        .unwrap();
    assert!(old.revoked_at.is_some());
    let new = block_on(p.w.db.find_session(&linked.signed_in.session.session_id))
        .unwrap()
        .unwrap();
    assert!(new.revoked_at.is_none());
    let key = p.w.api_key(&p.owner, &p.shop, &p.acme, &["introspect"]);
    assert!(!is_active(
        &p.w,
        &p.shop,
        &p.acme,
        &key,
        &squatter.session.access_token
    ));
    assert!(is_active(
        &p.w,
        &p.shop,
        &p.acme,
        &key,
        &linked.signed_in.session.access_token
    ));
}

#[test]
fn a_takeover_while_kv_is_down_revokes_the_squatters_token_at_the_edge_once_the_sweep_ran() {
    let p = Place::new();
    let squatter = signup(&p.w, &p.shop, &p.acme, "victim@example.com");
    let key = p.w.api_key(&p.owner, &p.shop, &p.acme, &["introspect"]);
    let active = |token: &str| is_active(&p.w, &p.shop, &p.acme, &key, token);
    p.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put flags:"));
    let linked = p
        .sign_in("idp", &person("victim-sub", "victim@example.com", true))
        .expect("a KV failure never refuses the sign-in");
    p.w.kv.faults().heal();
    assert!(
        active(&squatter.session.access_token),
        "the edge has not heard of it yet"
    );
    // Another isolate's cron: the link's batch left the document pending in D1.
    p.w.advance_ms(tessera::service::edge::LEASE_TIMEOUT_MS);
    let swept = block_on(tessera::service::edge::sweep(&p.w.cx(), 100)).unwrap();
    assert!(swept.converged >= 1, "{swept:?}");
    assert!(!active(&squatter.session.access_token));
    assert!(active(&linked.signed_in.session.access_token));
}

#[test]
fn a_takeover_that_would_reach_the_users_other_tenants_is_refused_until_the_email_is_verified() {
    let p = Place::new();
    let squatter = signup(&p.w, &p.shop, &p.acme, "victim@example.com");
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    block_on(tessera::service::users::associate(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &bravo,
        &squatter.user.face.user_id,
    ))
    .unwrap();
    // acme's provider would remove the password the user also signs in to bravo with.
    assert_eq!(
        p.sign_in("idp", &person("victim-sub", "victim@example.com", true))
            .unwrap_err(),
        Error::EmailTaken
    );
    assert!(signin(&p.w, &p.shop, &bravo, "victim@example.com", PASSWORD, None).is_ok());
    assert!(signin(&p.w, &p.shop, &p.acme, "victim@example.com", PASSWORD, None).is_ok());
}

#[test]
fn an_email_the_provider_did_not_verify_neither_links_nor_signs_up() {
    let p = Place::new();
    signup(&p.w, &p.shop, &p.acme, "taken@example.com");
    let taken = p
        .sign_in("idp", &person("t-sub", "taken@example.com", false))
        .unwrap_err();
    assert_eq!(taken, Error::EmailTaken);
    let new = p
        .sign_in("idp", &person("n-sub", "new@example.com", false))
        .unwrap_err();
    assert_eq!(new, Error::EmailNotVerified);
    let none = Person {
        sub: "x".into(),
        email: None,
        verified: true,
    };
    assert_eq!(
        p.sign_in("idp", &none).unwrap_err(),
        Error::EmailNotVerified
    );
    // Nothing was linked or created.
    assert!(signin(&p.w, &p.shop, &p.acme, "taken@example.com", PASSWORD, None).is_ok());
}

#[test]
fn a_suspended_user_cannot_sign_in_through_a_provider() {
    let p = Place::new();
    let ada = person("ada-sub", "ada@example.com", true);
    let first = p.sign_in("idp", &ada).unwrap();
    p.w.suspend(
        &p.owner,
        &p.shop,
        &p.acme,
        &first.signed_in.user.face.user_id,
    );
    assert_eq!(p.sign_in("idp", &ada).unwrap_err(), Error::UserSuspended);
}

#[test]
fn a_tenant_without_thirdparty_or_a_redirect_uri_off_its_list_is_refused() {
    let p = Place::new();
    assert!(matches!(
        p.start("idp", "https://app.example/callback/"),
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        p.start("idp", "https://evil.example/callback"),
        Err(Error::Validation(_))
    ));
    assert_eq!(p.start("nope", REDIRECT).unwrap_err().code(), "not_found");
    p.put_tenant("acme", vec![LoginMethod::EmailPassword]);
    assert_eq!(
        p.start("idp", REDIRECT).unwrap_err(),
        Error::LoginMethodDisabled
    );
    assert_eq!(
        p.callback("idp", "code", "tsf_x").unwrap_err(),
        Error::LoginMethodDisabled
    );
}

#[test]
fn a_failing_provider_is_a_provider_error_without_its_answer_and_callbacks_are_throttled() {
    let p = Place::new();
    *p.idp.token_status.borrow_mut() = Some(500);
    let ada = person("ada-sub", "ada@example.com", true);
    let failed = p.sign_in("idp", &ada).unwrap_err();
    assert!(matches!(failed, Error::ProviderError(_)));
    assert!(!failed.public_detail().contains("leak-me"));
    assert!(!format!("{failed:?}").contains("leak-me"));
    assert!(!format!("{failed:?}").contains(CLIENT_SECRET));
    // Each failed callback counts against the client: past sign-in's free failures the
    // callback is refused before the provider is called.
    let mut limited = None;
    for _ in 0..25 {
        match p.sign_in("idp", &ada) {
            Err(Error::RateLimited(seconds)) => {
                limited = Some(seconds);
                break;
            }
            other => assert!(matches!(other, Err(Error::ProviderError(_)))),
        }
    }
    assert!(limited.is_some(), "callbacks were never throttled");
    let calls = p.idp.requested().len();
    assert!(matches!(p.sign_in("idp", &ada), Err(Error::RateLimited(_))));
    assert_eq!(p.idp.requested().len(), calls, "no call while throttled");
}

#[test]
fn github_identifies_by_user_id_and_asserts_the_primary_email() {
    let p = Place::new();
    p.put_provider("github", github_settings()).unwrap();
    let octo = person("4242", "octo@example.com", true);
    let first = p.sign_in("github", &octo).unwrap();
    assert!(first.created);
    assert_eq!(first.signed_in.user.face.email.as_str(), "octo@example.com");
    assert_eq!(methods(&first), ["thirdparty:github"]);
    let again = p.sign_in("github", &octo).unwrap();
    assert_eq!(
        again.signed_in.user.face.user_id,
        first.signed_in.user.face.user_id
    );
    let unverified = p
        .sign_in("github", &person("5151", "new@example.com", false))
        .unwrap_err();
    assert_eq!(unverified, Error::EmailNotVerified);
    for url in p.idp.requested() {
        assert!(
            url.starts_with("https://idp.test/")
                || url.starts_with("https://keys.idp.test/")
                || url.starts_with("https://ghe.test/login/oauth/access_token")
                || url.starts_with("https://ghe.test/api/v3/user"),
            "{url}"
        );
    }
}

#[test]
fn deleting_a_provider_or_moving_it_to_another_issuer_drops_its_identities() {
    let p = Place::new();
    let ada = person("ada-sub", "ada@example.com", true);
    let first = p.sign_in("idp", &ada).unwrap();
    let user = first.signed_in.user.face.user_id;
    block_on(thirdparty::delete_provider(
        &p.w.cx(),
        &p.owner,
        (&p.shop, &p.acme, &provider_id("idp")),
    ))
    .unwrap();
    assert_eq!(
        p.w.db.audit_entries().last().unwrap().action.as_str(),
        "provider.delete"
    );
    let face = block_on(tessera::store::UserStore::find_tenant_user(
        &p.w.db, &p.shop, &p.acme, &user,
    ))
    .unwrap()
    .unwrap()
    .1;
    assert!(face.providers.is_empty());
    // Configured again, the same subject links again by its verified email.
    p.put_provider("idp", oidc_settings()).unwrap();
    let again = p.sign_in("idp", &ada).unwrap();
    assert_eq!(again.signed_in.user.face.user_id, user);
    assert!(!again.created);
    // Under another issuer, the old identity is gone: the subject is someone else's there.
    let found =
        block_on(
            p.w.db
                .find_identity(&p.shop, &p.acme, &provider_id("idp"), ISSUER, "ada-sub"),
        )
        .unwrap();
    assert!(found.is_some());
    let mut moved = github_settings();
    moved.kind = ProviderKind::Github;
    p.put_provider("idp", moved).unwrap();
    let found =
        block_on(
            p.w.db
                .find_identity(&p.shop, &p.acme, &provider_id("idp"), ISSUER, "ada-sub"),
        )
        .unwrap();
    assert!(found.is_none());
}

// ------------------------------------------------------------------ at the OAuth pages

mod at_the_oauth_pages {
    use super::*;
    use tessera::domain::oauth::{ClientSpec, OAuthSettings};
    use tessera::service::oauth::{self, Browser, PageForm, PageOutcome, ProviderAnswer};
    use tessera::store::UserStore;

    const PAGES: &str = "https://tessera.test/apps/shop/tenants/acme";
    const CLIENT_REDIRECT: &str = "https://client.example/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CSRF: &str = "csrf-cookie";

    /// The place with OAuth on, a public client, and its authorization request.
    fn pages() -> (Place, String) {
        let p = Place::new();
        let cx = p.w.cx();
        block_on(oauth::put_settings(
            &cx,
            &p.owner,
            &p.shop,
            &p.acme,
            OAuthSettings {
                scopes: [("mcp:tools".to_owned(), "Use tools".to_owned())]
                    .into_iter()
                    .collect(),
                ..OAuthSettings::default()
            },
        ))
        .expect("settings");
        let (client, _) = block_on(oauth::create_client(
            &cx,
            &p.owner,
            &p.shop,
            &p.acme,
            ClientSpec {
                name: Some("Agent".into()),
                client_type: Some("public".into()),
                redirect_uris: Some(vec![CLIENT_REDIRECT.into()]),
                scopes: Some(vec!["mcp:tools".into()]),
                ..ClientSpec::default()
            },
        ))
        .expect("client");
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client.id.as_str())
            .append_pair("redirect_uri", CLIENT_REDIRECT)
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "st")
            .append_pair("scope", "mcp:tools")
            .finish();
        (p, query)
    }

    impl Place {
        fn page(&self, query: &str, session: Option<&str>) -> PageOutcome {
            block_on(oauth::authorize(
                &self.w.cx(),
                &self.idp,
                &self.shop,
                &self.acme,
                query,
                &Browser {
                    csrf_cookie: CSRF,
                    session,
                },
            ))
            .expect("authorize")
        }

        /// Chooses `provider` on the sign-in page: the provider's URL and the flow cookie.
        fn choose(&self, query: &str, provider: &str) -> PageOutcome {
            let PageOutcome::SignIn { context, .. } = self.page(query, None) else {
                panic!("not the sign-in page");
            };
            block_on(oauth::submit(
                &self.w.cx(),
                &self.idp,
                &self.shop,
                &self.acme,
                PageForm {
                    step: Some("thirdparty".into()),
                    csrf: Some(context.csrf),
                    request: Some(query.into()),
                    provider: Some(provider.into()),
                    ..PageForm::default()
                },
                &Browser {
                    csrf_cookie: CSRF,
                    session: None,
                },
                Some("client:203.0.113.9".into()),
            ))
            .expect("submit")
        }

        fn come_back(&self, answer: ProviderAnswer, flow: Option<&str>) -> PageOutcome {
            block_on(oauth::provider_callback(
                &self.w.cx(),
                &self.idp,
                (&self.shop, &self.acme),
                answer,
                &Browser {
                    csrf_cookie: CSRF,
                    session: None,
                },
                flow,
                Some("client:203.0.113.9".into()),
            ))
            .expect("callback")
        }
    }

    fn to_provider(outcome: PageOutcome) -> (String, String) {
        match outcome {
            PageOutcome::ToProvider { location, flow } => (location, flow),
            other => panic!("not sent to the provider: {other:?}"),
        }
    }

    #[test]
    fn a_new_person_signs_in_through_a_provider_and_comes_back_to_consent_with_state_in_the_tenant()
    {
        let (p, query) = pages();
        let PageOutcome::SignIn { context, .. } = p.page(&query, None) else {
            panic!("not the sign-in page");
        };
        assert_eq!(context.providers, ["idp"]);
        assert_eq!(context.provider_origins, ["https://idp.test"]);
        let (location, flow) = to_provider(p.choose(&query, "idp"));
        assert!(location.starts_with("https://idp.test/auth?"));
        assert!(location.contains(&format!(
            "redirect_uri={}",
            form_urlencoded::byte_serialize(format!("{PAGES}/oauth/callback").as_bytes())
                .collect::<String>()
        )));
        let newcomer = person("new-1", "newcomer@example.com", true);
        let (code, state) = p.idp.authorize(&location, &newcomer);
        let back = p.come_back(
            ProviderAnswer {
                code: Some(code),
                state: Some(state),
                error: None,
            },
            Some(&flow),
        );
        let PageOutcome::SignedIn { location, session } = back else {
            panic!("not signed in: {back:?}");
        };
        assert_eq!(location, format!("{PAGES}/oauth/authorize?{query}"));
        let PageOutcome::Consent { email, .. } = p.page(&query, Some(&session)) else {
            panic!("not the consent page");
        };
        assert_eq!(email, "newcomer@example.com");
        let found = block_on(p.w.db.find_tenant_user_by_email(
            &p.shop,
            &p.acme,
            &email_of("newcomer@example.com"),
        ))
        .unwrap();
        assert!(found.is_some(), "the person has its state in the tenant");
    }

    fn email_of(raw: &str) -> tessera::domain::email::Email {
        tessera::domain::email::Email::parse(raw).unwrap()
    }

    #[test]
    fn a_callback_without_this_browsers_flow_cookie_signs_nobody_in_and_consumes_nothing() {
        let (p, query) = pages();
        let (location, flow) = to_provider(p.choose(&query, "idp"));
        let attacker = person("attacker", "attacker@example.com", true);
        let (code, state) = p.idp.authorize(&location, &attacker);
        let answer = |state: &str| ProviderAnswer {
            code: Some(code.clone()),
            state: Some(state.to_owned()),
            error: None,
        };
        // The victim's browser holds no flow (or another flow): a link with the attacker's
        // code and state signs nobody in.
        for cookie in [None, Some("idp.tsf_other.cmVx")] {
            assert!(
                matches!(
                    p.come_back(answer(&state), cookie),
                    PageOutcome::Refused { status: 400, .. }
                ),
                "{cookie:?}"
            );
        }
        // The flow was not consumed: its own browser completes it.
        assert!(matches!(
            p.come_back(answer(&state), Some(&flow)),
            PageOutcome::SignedIn { .. }
        ));
        // A pages flow never completes at the API's callback, nor an API flow here.
        let (location, _) = to_provider(p.choose(&query, "idp"));
        let (code, state) = p.idp.authorize(&location, &attacker);
        assert_eq!(
            p.callback("idp", &code, &state).unwrap_err(),
            Error::InvalidCode
        );
        let api = p.start("idp", REDIRECT).expect("started");
        let (code, state) = p.idp.authorize(&api.authorization_url, &attacker);
        let cookie = format!("idp.{state}.{}", B64URL.encode(query.as_bytes()));
        assert!(matches!(
            p.come_back(
                ProviderAnswer {
                    code: Some(code),
                    state: Some(state),
                    error: None
                },
                Some(&cookie)
            ),
            PageOutcome::Refused { status: 400, .. }
        ));
    }

    #[test]
    fn a_refusal_at_the_provider_or_an_unknown_provider_goes_back_to_the_sign_in_page() {
        let (p, query) = pages();
        let (_, flow) = to_provider(p.choose(&query, "idp"));
        let state = flow.split('.').nth(1).unwrap().to_owned();
        let refused = p.come_back(
            ProviderAnswer {
                code: None,
                state: Some(state),
                error: Some("access_denied".into()),
            },
            Some(&flow),
        );
        assert!(
            matches!(refused, PageOutcome::SignIn { status: 400, .. }),
            "{refused:?}"
        );
        assert!(matches!(
            p.choose(&query, "nobody"),
            PageOutcome::SignIn { status: 400, .. }
        ));
        // A malformed code is the sign-in page too (a browser route answers HTML).
        let (_, flow) = to_provider(p.choose(&query, "idp"));
        let state = flow.split('.').nth(1).unwrap().to_owned();
        let malformed = p.come_back(
            ProviderAnswer {
                code: Some("bad code with spaces".into()),
                state: Some(state),
                error: None,
            },
            Some(&flow),
        );
        assert!(
            matches!(malformed, PageOutcome::SignIn { status: 400, .. }),
            "{malformed:?}"
        );
    }
}
