//! The OAuth 2.1 authorization server of a tenant (`service::oauth`): settings and clients
//! under `/admin`, the sign-in and consent pages, the token endpoint (codes with PKCE, refresh
//! rotation, client authentication, `client_credentials`), and OAuth tokens at introspection,
//! revocation and `/auth/me`.

use crate::world::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use futures_executor::block_on;
use std::collections::HashMap;
use tessera::domain::authz::Principal;
use tessera::domain::ids::{AppId, TenantId};
use tessera::domain::jose::{verify_eddsa, Jwk, JwsAlgorithm};
use tessera::domain::member::{MembershipType, OperatorRole};
use tessera::domain::oauth::{
    AuthMethod, Client, ClientSpec, ClientStatus, ClientType, OAuthSettings, Registration,
};
use tessera::domain::page::PageRequest;
use tessera::domain::secret::{PlainSecret, SecretKind};
use tessera::domain::user::UserId;
use tessera::domain::Error;
use tessera::service::introspection::{self, Introspection};
use tessera::service::members::{self, Invitation};
use tessera::service::oauth::{
    self, Browser, PageContext, PageForm, PageOutcome, TokenFailure, TokenRequest, TokenResponse,
};
use tessera::service::{operators, principal, sessions};
use tessera::store::{
    OAuthStore, OutboundRequest, OutboundResponse, ProviderHttp, SignatureVerifier, UserStore,
};

/// RFC 7636's example verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.example/cb";
const ISSUER: &str = "https://tessera.test/apps/shop/tenants/acme";
/// The CSRF cookie of the browser in these tests (any value the browser holds).
const CSRF_COOKIE: &str = "csrf-cookie-of-the-browser";
const USER: &str = "ann@example.com";

/// The network of these tests: Client ID Metadata Documents by URL (nothing else answers),
/// and every request made.
#[derive(Default)]
struct Documents {
    served: std::cell::RefCell<HashMap<String, (u16, String)>>,
    asked: std::cell::RefCell<Vec<String>>,
}

impl ProviderHttp for Documents {
    async fn send(&self, request: &OutboundRequest) -> Result<OutboundResponse, String> {
        let url = request.url.as_str().to_owned();
        self.asked.borrow_mut().push(url.clone());
        assert_eq!(request.limits.max_body_bytes, 5 * 1024);
        assert_eq!(request.limits.timeout_seconds, 5);
        match self.served.borrow().get(&url) {
            Some((status, body)) => Ok(OutboundResponse {
                status: *status,
                body: body.clone().into_bytes(),
            }),
            None => Err("no such host".to_owned()),
        }
    }
}

/// Signatures as the worker checks them: Ed25519 here (WebCrypto's other algorithms are the
/// e2e specs' to prove).
impl SignatureVerifier for Documents {
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

/// The app `shop` with its tenant `acme` offering two scopes, an introspection key, and the
/// user `ann@example.com`.
struct Place {
    w: World,
    owner: Principal,
    shop: AppId,
    acme: TenantId,
    key: String,
    user: UserId,
}

fn scopes_settings() -> OAuthSettings {
    OAuthSettings {
        scopes: [
            ("mcp:tools".to_owned(), "Use your tools".to_owned()),
            ("mcp:read".to_owned(), "Read your files".to_owned()),
        ]
        .into_iter()
        .collect(),
        ..OAuthSettings::default()
    }
}

fn place() -> Place {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    block_on(oauth::put_settings(
        &w.cx(),
        &owner,
        &shop,
        &acme,
        scopes_settings(),
    ))
    .expect("settings");
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let user = signup(&w, &shop, &acme, USER).user.face.user_id;
    Place {
        w,
        owner,
        shop,
        acme,
        key,
        user,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn public_spec(name: &str) -> ClientSpec {
    ClientSpec {
        name: Some(name.to_owned()),
        client_type: Some("public".to_owned()),
        redirect_uris: Some(strings(&[REDIRECT])),
        scopes: Some(strings(&["mcp:tools", "mcp:read"])),
        ..ClientSpec::default()
    }
}

fn confidential_spec(method: Option<&str>, grants: &[&str]) -> ClientSpec {
    ClientSpec {
        name: Some("Backend".to_owned()),
        client_type: Some("confidential".to_owned()),
        redirect_uris: Some(strings(&[REDIRECT])),
        grant_types: Some(strings(grants)),
        scopes: Some(strings(&["mcp:tools", "mcp:read"])),
        auth_method: method.map(str::to_owned),
        jwks: None,
    }
}

impl Place {
    fn create(&self, spec: ClientSpec) -> Result<(Client, Option<PlainSecret>), Error> {
        block_on(oauth::create_client(
            &self.w.cx(),
            &self.owner,
            &self.shop,
            &self.acme,
            spec,
        ))
    }

    fn public_client(&self) -> Client {
        self.create(public_spec("Claude")).expect("public client").0
    }

    /// A confidential client registered with `method` (the default when `None`) for
    /// `grants`; with its secret.
    fn confidential(&self, method: Option<&str>, grants: &[&str]) -> (Client, String) {
        let (client, secret) = self
            .create(confidential_spec(method, grants))
            .expect("confidential client");
        (client, secret.expect("a secret").expose().to_owned())
    }

    fn patch(
        &self,
        client: &Client,
        spec: ClientSpec,
        status: Option<ClientStatus>,
    ) -> Result<Client, Error> {
        block_on(oauth::update_client(
            &self.w.cx(),
            &self.owner,
            &self.shop,
            &self.acme,
            client.id.as_str(),
            spec,
            status,
        ))
    }

    fn disable(&self, client: &Client) {
        self.patch(client, ClientSpec::default(), Some(ClientStatus::Disabled))
            .expect("disabled");
    }

    fn authorize(&self, query: &str, session: Option<&str>) -> PageOutcome {
        let browser = Browser {
            csrf_cookie: CSRF_COOKIE,
            session,
        };
        block_on(oauth::authorize(
            &self.w.cx(),
            &Documents::default(),
            &self.shop,
            &self.acme,
            query,
            &browser,
        ))
        .expect("authorize")
    }

    fn submit(&self, form: PageForm, csrf_cookie: &str, session: Option<&str>) -> PageOutcome {
        let browser = Browser {
            csrf_cookie,
            session,
        };
        block_on(oauth::submit(
            &self.w.cx(),
            &Documents::default(),
            &self.shop,
            &self.acme,
            form,
            &browser,
            None,
        ))
        .expect("submit")
    }

    /// Signs `who` in with `secret` at the sign-in page of `query`.
    fn sign_in_form(&self, query: &str, who: &str, secret: &str) -> PageOutcome {
        let context = sign_in_page(self.authorize(query, None));
        self.submit(
            PageForm {
                step: Some("signin".to_owned()),
                csrf: Some(context.csrf),
                request: Some(query.to_owned()),
                email: Some(who.to_owned()),
                password: Some(secret.to_owned()),
                decision: None,
                ..PageForm::default()
            },
            CSRF_COOKIE,
            None,
        )
    }

    /// The sign-in cookie of `who`, through the sign-in page.
    fn cookie(&self, query: &str, who: &str) -> String {
        match self.sign_in_form(query, who, PASSWORD) {
            PageOutcome::SignedIn { session, .. } => session,
            other => panic!("not signed in: {other:?}"),
        }
    }

    /// Posts the consent page of `query` with `decision`.
    fn decide(&self, query: &str, cookie: &str, decision: &str) -> PageOutcome {
        let context = consent_page(self.authorize(query, Some(cookie)));
        self.submit(
            PageForm {
                step: Some("consent".to_owned()),
                csrf: Some(context.csrf),
                request: Some(query.to_owned()),
                decision: Some(decision.to_owned()),
                ..PageForm::default()
            },
            CSRF_COOKIE,
            Some(cookie),
        )
    }

    /// A code for the user of the place, through sign-in and consent (the page is skipped
    /// once the user consented).
    fn code(&self, client: &Client) -> String {
        let query = query(client, &[]);
        let cookie = self.cookie(&query, USER);
        let outcome = match self.authorize(&query, Some(&cookie)) {
            PageOutcome::Consent { .. } => self.decide(&query, &cookie, "approve"),
            skipped => skipped,
        };
        to_client(outcome)["code"].clone()
    }

    fn token(&self, request: TokenRequest) -> Result<TokenResponse, TokenFailure> {
        block_on(oauth::token(
            &self.w.cx(),
            &Documents::default(),
            &self.shop,
            &self.acme,
            request,
        ))
    }

    /// Exchanges `code` as the public `client` with the right verifier and redirect.
    fn exchange(&self, client: &Client, code: &str) -> Result<TokenResponse, TokenFailure> {
        self.token(code_request(client, code))
    }

    /// The tokens of a grant of the user to the public `client`.
    fn grant(&self, client: &Client) -> TokenResponse {
        let code = self.code(client);
        self.exchange(client, &code).expect("exchanged")
    }

    fn refresh(&self, client: &Client, refresh: &str) -> Result<TokenResponse, TokenFailure> {
        self.token(TokenRequest {
            grant_type: Some("refresh_token".to_owned()),
            refresh_token: Some(refresh.to_owned()),
            client_id: Some(client.id.to_string()),
            ..TokenRequest::default()
        })
    }

    fn client_credentials(&self, client: &Client, secret: &str) -> TokenResponse {
        self.token(basic(client, secret, "client_credentials"))
            .expect("a client_credentials token")
    }

    fn introspect(&self, token: &str) -> Introspection {
        introspect(&self.w, &self.shop, &self.acme, &self.key, token).expect("introspection")
    }

    fn active(&self, token: &str) -> bool {
        !matches!(self.introspect(token), Introspection::Inactive)
    }

    fn revoke(&self, token: &str) {
        block_on(async {
            let cx = self.w.cx();
            let client = introspection::revocation_client(
                &cx,
                &Documents::default(),
                &self.shop,
                &self.acme,
                Some(&self.key),
            )
            .await?;
            introspection::revoke_token(&cx, &client, token).await
        })
        .expect("revoked");
    }

    fn me(&self, token: &str) -> Result<tessera::service::users::EndUser, Error> {
        block_on(introspection::me(
            &self.w.cx(),
            &self.shop,
            &self.acme,
            Some(token),
        ))
    }
}

/// The query of an authorization request of `client`, with `changes` (an empty value drops
/// the parameter).
fn query(client: &Client, changes: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, String)> = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client.id.to_string()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("code_challenge", CHALLENGE.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("state", "st-1".to_owned()),
        ("scope", "mcp:tools".to_owned()),
    ];
    for (name, value) in changes {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, (*value).to_owned()));
        }
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params {
        query.append_pair(name, value);
    }
    query.finish()
}

fn code_request(client: &Client, code: &str) -> TokenRequest {
    TokenRequest {
        grant_type: Some("authorization_code".to_owned()),
        code: Some(code.to_owned()),
        redirect_uri: Some(REDIRECT.to_owned()),
        code_verifier: Some(VERIFIER.to_owned()),
        client_id: Some(client.id.to_string()),
        ..TokenRequest::default()
    }
}

/// A request of `grant` authenticated with HTTP Basic.
fn basic(client: &Client, secret: &str, grant: &str) -> TokenRequest {
    TokenRequest {
        grant_type: Some(grant.to_owned()),
        basic: Some((client.id.to_string(), secret.to_owned())),
        ..TokenRequest::default()
    }
}

fn sign_in_page(outcome: PageOutcome) -> PageContext {
    match outcome {
        PageOutcome::SignIn { context, .. } => context,
        other => panic!("not the sign-in page: {other:?}"),
    }
}

fn consent_page(outcome: PageOutcome) -> PageContext {
    match outcome {
        PageOutcome::Consent { context, .. } => context,
        other => panic!("not the consent page: {other:?}"),
    }
}

/// The query parameters of a redirect to the client (which must go to `REDIRECT`).
fn to_client(outcome: PageOutcome) -> HashMap<String, String> {
    let PageOutcome::ToClient(location) = outcome else {
        panic!("not sent back to the client: {outcome:?}");
    };
    let (base, query) = location.split_once('?').expect("a query");
    assert_eq!(base, REDIRECT);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The RFC 6749 error code of a failed token request.
fn error_of(result: Result<TokenResponse, TokenFailure>) -> &'static str {
    match result {
        Err(TokenFailure::OAuth(e)) => e.code,
        other => panic!("not an OAuth error: {other:?}"),
    }
}

fn refresh_of(response: &TokenResponse) -> String {
    response
        .refresh_token
        .as_ref()
        .expect("a refresh token")
        .expose()
        .to_owned()
}

/// The decoded JSON of part `n` of a JWT (0: header, 1: claims).
fn jwt_part(token: &str, n: usize) -> serde_json::Value {
    let part = token.split('.').nth(n).expect("a JWT part");
    serde_json::from_slice(&B64URL.decode(part).expect("base64url")).expect("JSON")
}

/// Invites, accepts and signs in `who` with `roles` in `app_id`; its principal.
fn member(
    w: &World,
    owner: &Principal,
    app_id: &AppId,
    who: &str,
    roles: &[OperatorRole],
) -> Principal {
    let (_, token) = block_on(members::invite(
        &w.cx(),
        owner,
        app_id,
        Invitation {
            email: email(who),
            membership_type: MembershipType::Member,
            roles: roles.to_vec(),
            tenant_id: None,
        },
    ))
    .expect("invited");
    block_on(members::accept(
        &w.cx(),
        token.expose(),
        &password(PASSWORD),
        None,
    ))
    .expect("accepted");
    let signed = block_on(operators::signin(
        &w.cx(),
        email(who),
        &password(PASSWORD),
        None,
        None,
    ))
    .expect("operator sign-in");
    block_on(principal::principal(
        &w.cx(),
        Some(&signed.token.access_token),
    ))
    .expect("principal")
}

// ------------------------------------------------------------------ settings

#[test]
fn settings_are_the_defaults_until_set_then_replaced_whole() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let get = || block_on(oauth::get_settings(&w.cx(), &owner, &shop, &acme));
    let defaults = get().unwrap();
    assert_eq!(defaults, OAuthSettings::default());
    assert_eq!(defaults.registration, Registration::Off);
    assert!(!defaults.client_id_metadata_documents);
    assert!(defaults.scopes.is_empty());
    assert_eq!(defaults.access_token_ttl_seconds, 900);
    let put = |settings: OAuthSettings| {
        block_on(oauth::put_settings(&w.cx(), &owner, &shop, &acme, settings))
    };
    let wanted = OAuthSettings {
        access_token_ttl_seconds: 600,
        ..scopes_settings()
    };
    assert_eq!(put(wanted.clone()).unwrap(), wanted);
    assert_eq!(get().unwrap(), wanted);
    assert_eq!(
        put(OAuthSettings::default()).unwrap(),
        OAuthSettings::default()
    );
    assert_eq!(get().unwrap(), OAuthSettings::default(), "replaced whole");
    let nowhere = block_on(oauth::get_settings(
        &w.cx(),
        &owner,
        &shop,
        &tenant("nowhere"),
    ));
    assert_eq!(nowhere.unwrap_err(), Error::TenantNotFound);
    let nowhere = block_on(oauth::put_settings(
        &w.cx(),
        &owner,
        &shop,
        &tenant("nowhere"),
        OAuthSettings::default(),
    ));
    assert_eq!(nowhere.unwrap_err(), Error::TenantNotFound);
}

#[test]
fn settings_out_of_bounds_are_refused() {
    let p = place();
    let put = |settings: OAuthSettings| {
        block_on(oauth::put_settings(
            &p.w.cx(),
            &p.owner,
            &p.shop,
            &p.acme,
            settings,
        ))
    };
    let mut bad_name = scopes_settings();
    bad_name
        .scopes
        .insert("two words".to_owned(), String::new());
    let mut long_description = scopes_settings();
    long_description
        .scopes
        .insert("long".to_owned(), "x".repeat(201));
    let refused = [
        bad_name,
        long_description,
        OAuthSettings {
            access_token_ttl_seconds: 59,
            ..scopes_settings()
        },
        OAuthSettings {
            access_token_ttl_seconds: 86_401,
            ..scopes_settings()
        },
    ];
    for settings in refused {
        let answer = put(settings.clone());
        assert!(
            matches!(answer, Err(Error::Validation(_))),
            "{settings:?}: {answer:?}"
        );
    }
    let kept = block_on(oauth::get_settings(&p.w.cx(), &p.owner, &p.shop, &p.acme)).unwrap();
    assert_eq!(kept, scopes_settings(), "nothing refused was written");
}

#[test]
fn the_mcp_admin_role_manages_clients_and_a_support_member_or_a_stranger_may_not() {
    let p = place();
    let admin = member(
        &p.w,
        &p.owner,
        &p.shop,
        "mcp@example.com",
        &[OperatorRole::McpAdmin],
    );
    let support = member(
        &p.w,
        &p.owner,
        &p.shop,
        "support@example.com",
        &[OperatorRole::Support],
    );
    let cx = p.w.cx();
    let (shop, acme) = (&p.shop, &p.acme);
    block_on(oauth::put_settings(
        &cx,
        &admin,
        shop,
        acme,
        scopes_settings(),
    ))
    .unwrap();
    assert_eq!(
        block_on(oauth::get_settings(&cx, &admin, shop, acme)).unwrap(),
        scopes_settings()
    );
    let (client, _) = block_on(oauth::create_client(
        &cx,
        &admin,
        shop,
        acme,
        public_spec("A"),
    ))
    .unwrap();
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    assert_eq!(
        block_on(oauth::list_clients(&cx, &admin, shop, acme, &page))
            .unwrap()
            .items,
        std::slice::from_ref(&client)
    );
    let id = client.id.as_str();
    block_on(oauth::get_client(&cx, &admin, shop, acme, id)).unwrap();
    for who in [&support, &stranger()] {
        let forbidden =
            |r: Result<(), Error>| assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
        forbidden(block_on(oauth::get_settings(&cx, who, shop, acme)).map(drop));
        forbidden(block_on(oauth::put_settings(&cx, who, shop, acme, scopes_settings())).map(drop));
        forbidden(block_on(oauth::create_client(&cx, who, shop, acme, public_spec("B"))).map(drop));
        forbidden(block_on(oauth::list_clients(&cx, who, shop, acme, &page)).map(drop));
        forbidden(block_on(oauth::get_client(&cx, who, shop, acme, id)).map(drop));
        forbidden(
            block_on(oauth::update_client(
                &cx,
                who,
                shop,
                acme,
                id,
                ClientSpec::default(),
                Some(ClientStatus::Disabled),
            ))
            .map(drop),
        );
        forbidden(block_on(oauth::delete_client(&cx, who, shop, acme, id)));
    }
    block_on(oauth::delete_client(&cx, &admin, shop, acme, id)).unwrap();
}

// ------------------------------------------------------------------ clients

#[test]
fn a_public_client_has_no_secret_and_a_confidential_one_is_shown_its_secret_once_and_stored_as_its_hash(
) {
    let p = place();
    let (public, secret) = p.create(public_spec("Claude")).unwrap();
    assert!(secret.is_none());
    assert!(public.id.as_str().starts_with("tsc_"));
    assert_eq!(public.client_type, ClientType::Public);
    assert_eq!(public.auth_method, AuthMethod::None);
    assert_eq!(public.status, ClientStatus::Active);
    assert_eq!(public.secret_hash, None);
    assert_eq!(
        public
            .grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>(),
        ["authorization_code", "refresh_token"],
        "the default grants"
    );
    let (confidential, secret) = p
        .create(confidential_spec(None, &["client_credentials"]))
        .unwrap();
    let secret = secret.expect("shown once");
    assert!(secret.expose().starts_with("tss_"));
    assert_eq!(
        confidential.auth_method,
        AuthMethod::SecretBasic,
        "the default"
    );
    let stored = block_on(p.w.db.find_client(&p.shop, &p.acme, &confidential.id))
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret_hash, Some(secret.hash()));
    assert_ne!(stored.secret_hash.unwrap().as_str(), secret.expose());
    let read = block_on(oauth::get_client(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        confidential.id.as_str(),
    ))
    .unwrap();
    assert_eq!(read, confidential, "reading it shows no secret again");
    let post = p
        .create(confidential_spec(
            Some("client_secret_post"),
            &["client_credentials"],
        ))
        .unwrap()
        .0;
    assert_eq!(post.auth_method, AuthMethod::SecretPost);
}

#[test]
fn a_client_breaking_a_rule_is_not_created() {
    let p = place();
    let refused = [
        ClientSpec {
            scopes: Some(strings(&["admin"])),
            ..public_spec("Unknown scope")
        },
        ClientSpec {
            grant_types: Some(strings(&["client_credentials"])),
            ..public_spec("Public with client credentials")
        },
        ClientSpec {
            redirect_uris: Some(Vec::new()),
            ..public_spec("Code without redirect")
        },
        ClientSpec {
            redirect_uris: Some(strings(&["http://app.example/cb"])),
            ..public_spec("Plain http")
        },
        ClientSpec {
            auth_method: Some("client_secret_basic".to_owned()),
            ..public_spec("Public with a secret")
        },
        confidential_spec(Some("none"), &["client_credentials"]),
        ClientSpec {
            grant_types: Some(strings(&["implicit"])),
            ..public_spec("Implicit")
        },
        public_spec(""),
        ClientSpec {
            client_type: Some("trusted".to_owned()),
            ..public_spec("Type")
        },
    ];
    for spec in refused {
        let answer = p.create(spec.clone());
        assert!(
            matches!(answer, Err(Error::Validation(_))),
            "{spec:?}: {answer:?}"
        );
    }
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    let listed = block_on(oauth::list_clients(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        &page,
    ));
    assert!(listed.unwrap().items.is_empty());
}

#[test]
fn clients_are_listed_by_id_in_pages() {
    let p = place();
    let mut ids: Vec<String> = (0..5)
        .map(|n| {
            p.create(public_spec(&format!("c{n}")))
                .unwrap()
                .0
                .id
                .to_string()
        })
        .collect();
    ids.sort();
    let list = |after: Option<String>| {
        block_on(oauth::list_clients(
            &p.w.cx(),
            &p.owner,
            &p.shop,
            &p.acme,
            &PageRequest { limit: 2, after },
        ))
        .unwrap()
    };
    let mut seen: Vec<String> = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = list(after);
        pages += 1;
        seen.extend(page.items.iter().map(|c| c.id.to_string()));
        let Some(cursor) = page.next_cursor else {
            break;
        };
        after = PageRequest::parse(Some("2"), Some(&cursor)).unwrap().after;
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
    // Another tenant lists none of them.
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    let there = block_on(oauth::list_clients(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &bravo,
        &PageRequest {
            limit: 10,
            after: None,
        },
    ));
    assert!(there.unwrap().items.is_empty());
}

#[test]
fn a_client_of_another_tenant_is_not_found_here() {
    let p = place();
    let client = p.public_client();
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    let cx = p.w.cx();
    let id = client.id.as_str();
    for id in [id, "tsc_unknown", "not-a-client-id"] {
        assert_eq!(
            block_on(oauth::get_client(&cx, &p.owner, &p.shop, &bravo, id)).unwrap_err(),
            Error::ClientNotFound,
            "{id}"
        );
        assert_eq!(
            block_on(oauth::update_client(
                &cx,
                &p.owner,
                &p.shop,
                &bravo,
                id,
                ClientSpec::default(),
                Some(ClientStatus::Disabled),
            ))
            .unwrap_err(),
            Error::ClientNotFound
        );
        assert_eq!(
            block_on(oauth::delete_client(&cx, &p.owner, &p.shop, &bravo, id)).unwrap_err(),
            Error::ClientNotFound
        );
    }
    let here = block_on(oauth::get_client(&cx, &p.owner, &p.shop, &p.acme, id)).unwrap();
    assert_eq!(here, client, "untouched in its own tenant");
}

#[test]
fn a_patch_changes_only_what_it_names_and_never_the_type_method_or_secret() {
    let p = place();
    let (client, secret) = p.confidential(None, &["authorization_code", "client_credentials"]);
    p.w.advance_ms(1_000);
    let renamed = p
        .patch(
            &client,
            ClientSpec {
                name: Some("  Renamed  ".to_owned()),
                ..ClientSpec::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(renamed.redirect_uris, client.redirect_uris);
    assert_eq!(renamed.scopes, client.scopes);
    assert_eq!(renamed.grant_types, client.grant_types);
    assert_eq!(renamed.status, ClientStatus::Active);
    assert_eq!(renamed.created_at, client.created_at);
    assert_eq!(renamed.updated_at, p.w.now());
    let stored = block_on(p.w.db.find_client(&p.shop, &p.acme, &client.id))
        .unwrap()
        .unwrap();
    assert_eq!(stored, renamed);
    assert_eq!(
        stored.secret_hash,
        Some(
            PlainSecret::from_client(SecretKind::ClientSecret, &secret)
                .unwrap()
                .hash()
        )
    );
    let refused = [
        (
            ClientSpec {
                client_type: Some("public".to_owned()),
                ..ClientSpec::default()
            },
            None,
        ),
        (
            ClientSpec {
                auth_method: Some("client_secret_post".to_owned()),
                ..ClientSpec::default()
            },
            None,
        ),
        (
            ClientSpec {
                scopes: Some(strings(&["undefined"])),
                ..ClientSpec::default()
            },
            None,
        ),
        (
            ClientSpec {
                redirect_uris: Some(Vec::new()),
                ..ClientSpec::default()
            },
            None,
        ),
        (
            ClientSpec {
                grant_types: Some(Vec::new()),
                ..ClientSpec::default()
            },
            None,
        ),
        (ClientSpec::default(), Some(ClientStatus::Pending)),
    ];
    for (spec, status) in refused {
        let answer = p.patch(&client, spec.clone(), status);
        assert!(
            matches!(answer, Err(Error::Validation(_))),
            "{spec:?} {status:?}: {answer:?}"
        );
    }
    let after = block_on(p.w.db.find_client(&p.shop, &p.acme, &client.id))
        .unwrap()
        .unwrap();
    assert_eq!(after, renamed, "nothing refused was written");
    // Without the code grant, no redirect URI is needed.
    let narrowed = p
        .patch(
            &client,
            ClientSpec {
                grant_types: Some(strings(&["client_credentials"])),
                redirect_uris: Some(Vec::new()),
                ..ClientSpec::default()
            },
            None,
        )
        .unwrap();
    assert!(narrowed.redirect_uris.is_empty());
}

#[test]
fn disabling_a_client_revokes_its_grants_and_enabling_it_again_does_not_bring_them_back() {
    let p = place();
    let client = p.public_client();
    let first = p.grant(&client);
    let other = p.grant(&client);
    assert!(p.active(&first.access_token));
    let pending_code = p.code(&client);
    p.disable(&client);
    assert!(!p.active(&first.access_token));
    assert!(!p.active(&other.access_token));
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&first))),
        "invalid_client"
    );
    assert_eq!(
        error_of(p.exchange(&client, &pending_code)),
        "invalid_client"
    );
    let refused = p.authorize(&query(&client, &[]), None);
    assert!(
        matches!(refused, PageOutcome::Refused { status: 400, .. }),
        "{refused:?}"
    );
    p.patch(&client, ClientSpec::default(), Some(ClientStatus::Active))
        .unwrap();
    assert!(!p.active(&first.access_token));
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&first))),
        "invalid_grant"
    );
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&other))),
        "invalid_grant"
    );
    assert_eq!(
        error_of(p.exchange(&client, &pending_code)),
        "invalid_grant",
        "a code issued before the client was disabled"
    );
    let again = p.grant(&client);
    assert!(p.active(&again.access_token), "a new grant works");
}

#[test]
fn deleting_a_client_revokes_its_grants_and_forgets_it() {
    let p = place();
    let client = p.public_client();
    let granted = p.grant(&client);
    let pending_code = p.code(&client);
    let kept = p.public_client();
    let kept_grant = p.grant(&kept);
    block_on(oauth::delete_client(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        client.id.as_str(),
    ))
    .unwrap();
    assert!(!p.active(&granted.access_token));
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&granted))),
        "invalid_client"
    );
    let code = PlainSecret::from_client(SecretKind::AuthorizationCode, &pending_code).unwrap();
    assert_eq!(block_on(p.w.db.find_code(&code.hash())).unwrap(), None);
    assert_eq!(
        block_on(p.w.db.find_consent(&p.shop, &p.acme, &p.user, &client.id)).unwrap(),
        None
    );
    assert_eq!(
        block_on(oauth::get_client(
            &p.w.cx(),
            &p.owner,
            &p.shop,
            &p.acme,
            client.id.as_str()
        ))
        .unwrap_err(),
        Error::ClientNotFound
    );
    assert_eq!(
        block_on(oauth::delete_client(
            &p.w.cx(),
            &p.owner,
            &p.shop,
            &p.acme,
            client.id.as_str()
        ))
        .unwrap_err(),
        Error::ClientNotFound,
        "once"
    );
    assert!(
        p.active(&kept_grant.access_token),
        "another client's grant stays"
    );
    assert!(p.refresh(&kept, &refresh_of(&kept_grant)).is_ok());
}

// ------------------------------------------------------------------ the pages

#[test]
fn without_a_sign_in_cookie_the_request_shows_the_sign_in_page() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[("scope", "mcp:tools mcp:read")]);
    let PageOutcome::SignIn {
        context,
        status,
        error,
    } = p.authorize(&query, None)
    else {
        panic!("not the sign-in page");
    };
    assert_eq!((status, error), (200, None));
    assert_eq!(context.issuer, ISSUER);
    assert_eq!(context.tenant_id, p.acme);
    assert_eq!(context.client_name, "Claude");
    assert_eq!(context.redirect_host, "app.example");
    assert_eq!(context.redirect_origin, "https://app.example");
    assert_eq!(
        context.scopes,
        [
            ("mcp:tools".to_owned(), "Use your tools".to_owned()),
            ("mcp:read".to_owned(), "Read your files".to_owned()),
        ]
    );
    assert_eq!(context.request, query);
    assert!(!context.csrf.is_empty());
    let again = sign_in_page(p.authorize(&query, None));
    assert_eq!(
        again.csrf, context.csrf,
        "the token of this browser's cookie"
    );
    let garbage = sign_in_page(p.authorize(&query, Some("v1.garbage.1.mac")));
    assert_eq!(
        garbage.issuer, ISSUER,
        "a cookie that does not verify is none"
    );
}

#[test]
fn a_wrong_password_shows_the_sign_in_page_again_and_the_right_one_signs_in() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[]);
    let PageOutcome::SignIn { status, error, .. } = p.sign_in_form(&query, USER, "wrong password!")
    else {
        panic!("not the sign-in page");
    };
    assert_eq!(status, 401);
    assert!(error.is_some());
    let PageOutcome::SignIn { status, .. } = p.sign_in_form(&query, "nobody@example.com", PASSWORD)
    else {
        panic!("not the sign-in page");
    };
    assert_eq!(status, 401, "an unknown email reads the same");
    let PageOutcome::SignedIn { location, session } = p.sign_in_form(&query, USER, PASSWORD) else {
        panic!("not signed in");
    };
    assert_eq!(location, format!("{ISSUER}/oauth/authorize?{query}"));
    assert!(session.starts_with("v1."));
    let PageOutcome::Consent { context, email } = p.authorize(&query, Some(&session)) else {
        panic!("not the consent page");
    };
    assert_eq!(email, USER);
    assert_eq!(context.client_name, "Claude");
    assert_eq!(context.request, query);
}

#[test]
fn approving_sends_the_code_the_state_and_the_issuer_back_to_the_client() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[]);
    let cookie = p.cookie(&query, USER);
    let back = to_client(p.decide(&query, &cookie, "approve"));
    assert!(back["code"].starts_with("tsa_"));
    assert_eq!(back["state"], "st-1");
    assert_eq!(back["iss"], ISSUER);
    assert!(!back.contains_key("error"));
    let code = PlainSecret::from_client(SecretKind::AuthorizationCode, &back["code"]).unwrap();
    let stored = block_on(p.w.db.find_code(&code.hash())).unwrap().unwrap();
    assert_eq!(stored.user_id, p.user);
    assert_eq!(stored.client_id, client.id);
    assert_eq!(stored.scope, "mcp:tools");
    assert_eq!(stored.code_challenge, CHALLENGE);
    assert_eq!(stored.redirect_uri, REDIRECT);
    assert_eq!(stored.used, None);
}

#[test]
fn denying_sends_access_denied_back_to_the_client_and_remembers_nothing() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[]);
    let cookie = p.cookie(&query, USER);
    let back = to_client(p.decide(&query, &cookie, "deny"));
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], "st-1");
    assert_eq!(back["iss"], ISSUER);
    assert!(!back.contains_key("code"));
    consent_page(p.authorize(&query, Some(&cookie)));
}

#[test]
fn a_remembered_consent_skips_the_page_but_not_after_the_clients_redirect_uris_change() {
    let p = place();
    let client = p.public_client();
    let query_tools = query(&client, &[("state", "again")]);
    let cookie = p.cookie(&query_tools, USER);
    to_client(p.decide(&query_tools, &cookie, "approve"));
    let back = to_client(p.authorize(&query_tools, Some(&cookie)));
    assert!(
        back["code"].starts_with("tsa_"),
        "no page: straight back with a code"
    );
    assert_eq!(back["state"], "again");
    let wider = query(&client, &[("scope", "mcp:tools mcp:read")]);
    consent_page(p.authorize(&wider, Some(&cookie)));
    p.patch(
        &client,
        ClientSpec {
            redirect_uris: Some(strings(&[REDIRECT, "https://other.example/cb"])),
            ..ClientSpec::default()
        },
        None,
    )
    .unwrap();
    consent_page(p.authorize(&query_tools, Some(&cookie)));
    // Renaming it changes nothing the consent depends on.
    to_client(p.decide(&query_tools, &cookie, "approve"));
    p.patch(
        &client,
        ClientSpec {
            name: Some("Claude 2".to_owned()),
            ..ClientSpec::default()
        },
        None,
    )
    .unwrap();
    to_client(p.authorize(&query_tools, Some(&cookie)));
}

#[test]
fn a_form_without_this_browsers_csrf_token_does_nothing() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[]);
    let cookie = p.cookie(&query, USER);
    let csrf = consent_page(p.authorize(&query, Some(&cookie))).csrf;
    let approve = |csrf: Option<String>, csrf_cookie: &str| {
        p.submit(
            PageForm {
                step: Some("consent".to_owned()),
                csrf,
                request: Some(query.clone()),
                decision: Some("approve".to_owned()),
                ..PageForm::default()
            },
            csrf_cookie,
            Some(&cookie),
        )
    };
    let refusals = [
        approve(None, CSRF_COOKIE),
        approve(Some(String::new()), CSRF_COOKIE),
        approve(Some(csrf.clone()), "another-browsers-cookie"),
        approve(Some(csrf.clone()), ""),
        approve(Some(format!("{csrf}x")), CSRF_COOKIE),
    ];
    for refused in refusals {
        assert!(
            matches!(refused, PageOutcome::Refused { status: 403, .. }),
            "{refused:?}"
        );
    }
    let sign_in = p.submit(
        PageForm {
            step: Some("signin".to_owned()),
            csrf: None,
            request: Some(query.clone()),
            email: Some(USER.to_owned()),
            password: Some(PASSWORD.to_owned()),
            decision: None,
            ..PageForm::default()
        },
        CSRF_COOKIE,
        None,
    );
    assert!(matches!(sign_in, PageOutcome::Refused { status: 403, .. }));
    assert_eq!(
        block_on(p.w.db.find_consent(&p.shop, &p.acme, &p.user, &client.id)).unwrap(),
        None,
        "no consent was given"
    );
    consent_page(p.authorize(&query, Some(&cookie)));
    to_client(approve(Some(csrf), CSRF_COOKIE));
}

#[test]
fn an_unknown_client_or_a_foreign_redirect_is_refused_and_never_redirected_to() {
    let p = place();
    let client = p.public_client();
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    let elsewhere = block_on(oauth::create_client(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &bravo,
        ClientSpec {
            scopes: None,
            ..public_spec("Elsewhere")
        },
    ))
    .unwrap()
    .0;
    let unknown = tessera::domain::oauth::ClientId::generate([42; 16]);
    let queries = [
        query(&client, &[("client_id", unknown.as_str())]),
        query(&client, &[("client_id", "not-a-client")]),
        query(&client, &[("client_id", "")]),
        query(&client, &[("client_id", elsewhere.id.as_str())]),
        query(&client, &[("redirect_uri", "https://evil.example/cb")]),
        query(&client, &[("redirect_uri", "https://app.example/cb/")]),
        query(&client, &[("redirect_uri", "")]),
        format!(
            "{}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            query(&client, &[])
        ),
    ];
    let cookie = p.cookie(&query(&client, &[]), USER);
    for q in &queries {
        for session in [None, Some(cookie.as_str())] {
            let outcome = p.authorize(q, session);
            assert!(
                matches!(outcome, PageOutcome::Refused { status: 400, .. }),
                "{q}: {outcome:?}"
            );
        }
    }
}

#[test]
fn a_bad_parameter_of_a_trusted_client_goes_back_to_it_with_the_error() {
    let p = place();
    let client = p.public_client();
    let error_for = |changes: &[(&str, &str)]| {
        let back = to_client(p.authorize(&query(&client, changes), None));
        assert_eq!(back["state"], "st-1");
        assert_eq!(back["iss"], ISSUER);
        assert!(!back.contains_key("code"));
        back["error"].clone()
    };
    assert_eq!(error_for(&[("code_challenge", "")]), "invalid_request");
    assert_eq!(
        error_for(&[("code_challenge_method", "")]),
        "invalid_request"
    );
    assert_eq!(
        error_for(&[("code_challenge_method", "plain")]),
        "invalid_request"
    );
    assert_eq!(error_for(&[("code_challenge", "short")]), "invalid_request");
    assert_eq!(
        error_for(&[("response_type", "token")]),
        "unsupported_response_type"
    );
    assert_eq!(error_for(&[("scope", "mcp:tools admin")]), "invalid_scope");
    assert_eq!(
        error_for(&[("resource", "http://mcp.example/")]),
        "invalid_target"
    );
    // A scope the client holds but the tenant no longer offers.
    block_on(oauth::put_settings(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        OAuthSettings {
            scopes: [("mcp:tools".to_owned(), "Use your tools".to_owned())]
                .into_iter()
                .collect(),
            ..OAuthSettings::default()
        },
    ))
    .unwrap();
    assert_eq!(error_for(&[("scope", "mcp:read")]), "invalid_scope");
    sign_in_page(p.authorize(&query(&client, &[]), None));
}

#[test]
fn a_suspended_users_cookie_no_longer_counts() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[]);
    let cookie = p.cookie(&query, USER);
    let csrf = consent_page(p.authorize(&query, Some(&cookie))).csrf;
    p.w.suspend(&p.owner, &p.shop, &p.acme, &p.user);
    sign_in_page(p.authorize(&query, Some(&cookie)));
    let approve = p.submit(
        PageForm {
            step: Some("consent".to_owned()),
            csrf: Some(csrf),
            request: Some(query.clone()),
            decision: Some("approve".to_owned()),
            ..PageForm::default()
        },
        CSRF_COOKIE,
        Some(&cookie),
    );
    assert!(
        matches!(approve, PageOutcome::SignIn { status: 401, .. }),
        "{approve:?}"
    );
    let PageOutcome::SignIn { status, .. } = p.sign_in_form(&query, USER, PASSWORD) else {
        panic!("not the sign-in page");
    };
    assert_eq!(status, 403, "the password is right, the account suspended");
}

#[test]
fn a_sign_in_cookie_holds_only_at_its_tenant_and_for_fifteen_minutes() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[]);
    let cookie = p.cookie(&query, USER);
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    block_on(oauth::put_settings(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &bravo,
        scopes_settings(),
    ))
    .unwrap();
    let there = block_on(oauth::create_client(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &bravo,
        public_spec("There"),
    ))
    .unwrap()
    .0;
    let browser = Browser {
        csrf_cookie: CSRF_COOKIE,
        session: Some(&cookie),
    };
    let at_bravo = block_on(oauth::authorize(
        &p.w.cx(),
        &Documents::default(),
        &p.shop,
        &bravo,
        &self::query(&there, &[]),
        &browser,
    ))
    .unwrap();
    sign_in_page(at_bravo);
    p.w.advance_ms(15 * 60 * 1000 - 1_000);
    consent_page(p.authorize(&query, Some(&cookie)));
    p.w.advance_ms(1_000);
    sign_in_page(p.authorize(&query, Some(&cookie)));
}

// ------------------------------------------------------------------ the token endpoint

#[test]
fn a_code_exchanged_with_its_verifier_gives_an_at_jwt_access_token_and_a_refresh_token() {
    let p = place();
    let client = p.public_client();
    let granted = p.grant(&client);
    assert_eq!(granted.expires_in, 900);
    assert_eq!(granted.scope, "mcp:tools");
    assert!(refresh_of(&granted).starts_with("tsr_"));
    let header = jwt_part(&granted.access_token, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    let Introspection::Active(found) = p.introspect(&granted.access_token) else {
        panic!("inactive");
    };
    let claims = &found.token.claims;
    assert_eq!(claims.sub, p.user.to_string());
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.client_id.as_deref(), Some(client.id.as_str()));
    assert_eq!(claims.scope.as_deref(), Some("mcp:tools"));
    assert_eq!(
        claims.aud.as_deref(),
        Some(ISSUER),
        "no resource: the issuer"
    );
    assert!(claims.jti.is_some());
    assert_eq!(found.token.exp - found.token.iat, 900);
    let session = tessera::domain::session::SessionId::parse(&claims.sid).unwrap();
    let stored = block_on(tessera::store::SessionStore::find_session(
        &p.w.db, &session,
    ))
    .unwrap()
    .unwrap();
    let grant = stored.grant.expect("a session held by the client");
    assert_eq!(grant.client_id, client.id);
    assert_eq!(grant.scope, "mcp:tools");
    assert_eq!(grant.resource, None);
}

#[test]
fn a_resource_indicator_becomes_the_audience() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[("resource", "https://mcp.example/")]);
    let cookie = p.cookie(&query, USER);
    let code = to_client(p.decide(&query, &cookie, "approve"))["code"].clone();
    let granted = p.exchange(&client, &code).unwrap();
    assert_eq!(
        jwt_part(&granted.access_token, 1)["aud"],
        "https://mcp.example/"
    );
    let refreshed = p.refresh(&client, &refresh_of(&granted)).unwrap();
    assert_eq!(
        jwt_part(&refreshed.access_token, 1)["aud"],
        "https://mcp.example/"
    );
}

#[test]
fn a_wrong_verifier_redirect_or_client_cannot_exchange_a_code() {
    let p = place();
    let client = p.public_client();
    let other = p.public_client();
    let code = p.code(&client);
    let wrong_verifier = TokenRequest {
        code_verifier: Some(VERIFIER.replace('d', "e")),
        ..code_request(&client, &code)
    };
    let no_verifier = TokenRequest {
        code_verifier: None,
        ..code_request(&client, &code)
    };
    let wrong_redirect = TokenRequest {
        redirect_uri: Some("https://app.example/other".to_owned()),
        ..code_request(&client, &code)
    };
    let no_redirect = TokenRequest {
        redirect_uri: None,
        ..code_request(&client, &code)
    };
    let unknown_code = code_request(
        &client,
        PlainSecret::generate(SecretKind::AuthorizationCode, [3; 32]).expose(),
    );
    let not_a_code = code_request(&client, "garbage");
    for request in [
        wrong_verifier,
        no_verifier,
        wrong_redirect,
        no_redirect,
        code_request(&other, &code),
        unknown_code,
        not_a_code,
    ] {
        let shown = format!("{request:?}");
        assert_eq!(error_of(p.token(request)), "invalid_grant", "{shown}");
    }
    assert!(
        p.exchange(&client, &code).is_ok(),
        "the failures used nothing up"
    );
}

#[test]
fn a_code_expires_ten_minutes_after_it_was_issued() {
    let p = place();
    let client = p.public_client();
    let early = p.code(&client);
    let late = p.code(&client);
    p.w.advance_ms(10 * 60 * 1000 - 1);
    assert!(p.exchange(&client, &early).is_ok());
    p.w.advance_ms(1);
    assert_eq!(error_of(p.exchange(&client, &late)), "invalid_grant");
}

#[test]
fn a_code_of_another_tenant_is_refused_here() {
    let p = place();
    let client = p.public_client();
    let code = p.code(&client);
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    let answer = block_on(oauth::token(
        &p.w.cx(),
        &Documents::default(),
        &p.shop,
        &bravo,
        code_request(&client, &code),
    ));
    assert_eq!(
        error_of(answer),
        "invalid_client",
        "the client is not bravo's"
    );
    assert!(p.exchange(&client, &code).is_ok());
}

#[test]
fn a_replayed_code_is_refused_and_revokes_what_the_first_exchange_issued() {
    let p = place();
    let client = p.public_client();
    let code = p.code(&client);
    let first = p.exchange(&client, &code).unwrap();
    assert!(p.active(&first.access_token));
    assert_eq!(error_of(p.exchange(&client, &code)), "invalid_grant");
    assert!(!p.active(&first.access_token));
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&first))),
        "invalid_grant"
    );
}

#[test]
fn a_code_of_a_user_suspended_since_the_consent_is_refused() {
    let p = place();
    let client = p.public_client();
    let code = p.code(&client);
    p.w.suspend(&p.owner, &p.shop, &p.acme, &p.user);
    assert_eq!(error_of(p.exchange(&client, &code)), "invalid_grant");
}

#[test]
fn refresh_rotates_and_a_reused_token_revokes_the_whole_grant() {
    let p = place();
    let client = p.public_client();
    let granted = p.grant(&client);
    let r0 = refresh_of(&granted);
    let first = p.refresh(&client, &r0).unwrap();
    let r1 = refresh_of(&first);
    assert_ne!(r1, r0);
    assert_eq!(first.scope, "mcp:tools");
    assert!(p.active(&first.access_token));
    p.w.advance_ms(5_000);
    let within_grace = p.refresh(&client, &r0).unwrap();
    assert_eq!(
        refresh_of(&within_grace),
        r1,
        "a replay within the grace window"
    );
    let second = p.refresh(&client, &r1).unwrap();
    let r2 = refresh_of(&second);
    p.w.advance_ms(31_000);
    assert_eq!(error_of(p.refresh(&client, &r0)), "invalid_grant", "theft");
    assert_eq!(
        error_of(p.refresh(&client, &r2)),
        "invalid_grant",
        "the family is revoked"
    );
    assert!(!p.active(&second.access_token));
    assert!(!p.active(&granted.access_token));
}

#[test]
fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let p = place();
    let client = p.public_client();
    let query = query(&client, &[("scope", "mcp:tools mcp:read")]);
    let cookie = p.cookie(&query, USER);
    let code = to_client(p.decide(&query, &cookie, "approve"))["code"].clone();
    let granted = p.exchange(&client, &code).unwrap();
    assert_eq!(granted.scope, "mcp:tools mcp:read");
    let narrowed = p
        .token(TokenRequest {
            grant_type: Some("refresh_token".to_owned()),
            refresh_token: Some(refresh_of(&granted)),
            client_id: Some(client.id.to_string()),
            scope: Some("mcp:read".to_owned()),
            ..TokenRequest::default()
        })
        .unwrap();
    assert_eq!(narrowed.scope, "mcp:read");
    assert_eq!(jwt_part(&narrowed.access_token, 1)["scope"], "mcp:read");
    let wider = p.token(TokenRequest {
        grant_type: Some("refresh_token".to_owned()),
        refresh_token: Some(refresh_of(&narrowed)),
        client_id: Some(client.id.to_string()),
        scope: Some("mcp:read admin".to_owned()),
        ..TokenRequest::default()
    });
    assert_eq!(error_of(wider), "invalid_scope");
    // The refused request used nothing up: the same token still rotates, past the grace
    // window of a replay too.
    p.w.advance_ms(31_000);
    let whole = p.refresh(&client, &refresh_of(&narrowed)).unwrap();
    assert_eq!(
        whole.scope, "mcp:tools mcp:read",
        "the grant keeps its scopes"
    );
    // An older token is still the theft it was, whatever scope it asks for.
    p.w.advance_ms(31_000);
    let stolen = p.token(TokenRequest {
        grant_type: Some("refresh_token".to_owned()),
        refresh_token: Some(refresh_of(&narrowed)),
        client_id: Some(client.id.to_string()),
        scope: Some("mcp:read admin".to_owned()),
        ..TokenRequest::default()
    });
    assert_eq!(error_of(stolen), "invalid_grant");
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&whole))),
        "invalid_grant",
        "the grant is revoked"
    );
}

#[test]
fn an_oauth_refresh_token_is_refused_at_the_tenants_own_refresh_and_moves_nothing() {
    let p = place();
    let client = p.public_client();
    let granted = p.grant(&client);
    let r0 = refresh_of(&granted);
    p.w.advance_ms(60_000);
    let own = block_on(sessions::refresh(&p.w.cx(), &p.shop, &p.acme, &r0));
    assert_eq!(own.unwrap_err(), Error::InvalidToken);
    assert!(p.active(&granted.access_token), "the grant is not revoked");
    let rotated = p.refresh(&client, &r0).expect("the token was not used up");
    assert!(p.active(&rotated.access_token));
}

#[test]
fn a_first_party_refresh_token_is_refused_at_the_oauth_refresh_grant_and_moves_nothing() {
    let p = place();
    let client = p.public_client();
    let signed = signin(&p.w, &p.shop, &p.acme, USER, PASSWORD, None).unwrap();
    let r0 = signed.session.refresh_token.expose().to_owned();
    p.w.advance_ms(60_000);
    assert_eq!(error_of(p.refresh(&client, &r0)), "invalid_grant");
    assert!(is_active(
        &p.w,
        &p.shop,
        &p.acme,
        &p.key,
        &signed.session.access_token
    ));
    assert!(block_on(sessions::refresh(&p.w.cx(), &p.shop, &p.acme, &r0)).is_ok());
}

#[test]
fn a_refresh_token_of_one_client_is_refused_to_another_and_moves_nothing() {
    let p = place();
    let client = p.public_client();
    let other = p.public_client();
    let granted = p.grant(&client);
    p.w.advance_ms(60_000);
    assert_eq!(
        error_of(p.refresh(&other, &refresh_of(&granted))),
        "invalid_grant"
    );
    assert!(p.active(&granted.access_token));
    assert!(p.refresh(&client, &refresh_of(&granted)).is_ok());
}

#[test]
fn a_suspended_users_oauth_tokens_are_inactive_and_cannot_be_refreshed() {
    let p = place();
    let client = p.public_client();
    let granted = p.grant(&client);
    p.w.suspend(&p.owner, &p.shop, &p.acme, &p.user);
    assert!(!p.active(&granted.access_token));
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&granted))),
        "invalid_grant"
    );
}

#[test]
fn a_client_authenticates_only_with_the_method_it_registered() {
    let p = place();
    let grant = "client_credentials";
    let (basic_client, basic_secret) = p.confidential(None, &[grant]);
    let (post_client, post_secret) = p.confidential(Some("client_secret_post"), &[grant]);
    let post = |client: &Client, secret: &str| TokenRequest {
        grant_type: Some(grant.to_owned()),
        client_id: Some(client.id.to_string()),
        client_secret: Some(secret.to_owned()),
        ..TokenRequest::default()
    };
    let none = |client: &Client| TokenRequest {
        grant_type: Some(grant.to_owned()),
        client_id: Some(client.id.to_string()),
        ..TokenRequest::default()
    };
    assert!(p.token(basic(&basic_client, &basic_secret, grant)).is_ok());
    assert!(p.token(post(&post_client, &post_secret)).is_ok());
    let invalid_client = |request: TokenRequest, basic_challenge: bool| {
        let shown = format!("{request:?}");
        match p.token(request) {
            Err(TokenFailure::OAuth(e)) => {
                assert_eq!(e.code, "invalid_client", "{shown}");
                assert_eq!(e.status, 401, "{shown}");
                assert_eq!(e.basic_challenge, basic_challenge, "{shown}");
            }
            other => panic!("{shown}: {other:?}"),
        }
    };
    invalid_client(post(&basic_client, &basic_secret), false);
    invalid_client(none(&basic_client), false);
    invalid_client(basic(&post_client, &post_secret, grant), true);
    invalid_client(none(&post_client), false);
    invalid_client(basic(&basic_client, &post_secret, grant), true);
    invalid_client(basic(&basic_client, "tss_not-the-secret", grant), true);
    invalid_client(post(&post_client, &basic_secret), false);
    invalid_client(
        TokenRequest {
            grant_type: Some(grant.to_owned()),
            bad_basic: true,
            ..TokenRequest::default()
        },
        true,
    );
    invalid_client(
        TokenRequest {
            client_id: Some(post_client.id.to_string()),
            ..basic(&basic_client, &basic_secret, grant)
        },
        true,
    );
    // A public client sends no secret.
    let public = p.public_client();
    let code = p.code(&public);
    invalid_client(
        TokenRequest {
            client_secret: Some(basic_secret.clone()),
            ..code_request(&public, &code)
        },
        false,
    );
    invalid_client(
        TokenRequest {
            client_id: Some("tsc_unknown".to_owned()),
            ..code_request(&public, &code)
        },
        false,
    );
    let both = p.token(TokenRequest {
        client_secret: Some(basic_secret.clone()),
        ..basic(&basic_client, &basic_secret, grant)
    });
    assert_eq!(error_of(both), "invalid_request");
    assert!(p.exchange(&public, &code).is_ok());
}

#[test]
fn a_grant_type_must_be_known_and_allowed_to_the_client() {
    let p = place();
    let public = p.public_client();
    let (code_only, secret) = p.confidential(None, &["authorization_code"]);
    assert_eq!(
        error_of(p.token(TokenRequest {
            client_id: Some(public.id.to_string()),
            ..TokenRequest::default()
        })),
        "invalid_request"
    );
    assert_eq!(
        error_of(p.token(TokenRequest {
            grant_type: Some("password".to_owned()),
            client_id: Some(public.id.to_string()),
            ..TokenRequest::default()
        })),
        "unsupported_grant_type"
    );
    assert_eq!(
        error_of(p.token(TokenRequest {
            grant_type: Some("client_credentials".to_owned()),
            client_id: Some(public.id.to_string()),
            ..TokenRequest::default()
        })),
        "unauthorized_client"
    );
    assert_eq!(
        error_of(p.token(basic(&code_only, &secret, "client_credentials"))),
        "unauthorized_client"
    );
    assert_eq!(
        error_of(p.token(basic(&code_only, &secret, "refresh_token"))),
        "unauthorized_client"
    );
}

#[test]
fn a_client_credentials_token_introspects_as_the_client_until_it_is_revoked() {
    let p = place();
    let (client, secret) = p.confidential(None, &["client_credentials"]);
    let issued = p.client_credentials(&client, &secret);
    assert_eq!(issued.refresh_token, None);
    assert_eq!(issued.scope, "mcp:tools mcp:read", "the client's scopes");
    assert_eq!(jwt_part(&issued.access_token, 0)["typ"], "at+jwt");
    let Introspection::Client(found) = p.introspect(&issued.access_token) else {
        panic!("not a client token");
    };
    assert_eq!(found.claims.sub, client.id.to_string());
    assert_eq!(found.claims.client_id.as_deref(), Some(client.id.as_str()));
    assert_eq!(found.claims.sid, "", "no session");
    assert_eq!(found.claims.aud.as_deref(), Some(ISSUER));
    let narrow = p
        .token(TokenRequest {
            scope: Some("mcp:read".to_owned()),
            resource: Some("https://api.example/".to_owned()),
            ..basic(&client, &secret, "client_credentials")
        })
        .unwrap();
    assert_eq!(narrow.scope, "mcp:read");
    assert_eq!(
        jwt_part(&narrow.access_token, 1)["aud"],
        "https://api.example/"
    );
    let wider = p.token(TokenRequest {
        scope: Some("admin".to_owned()),
        ..basic(&client, &secret, "client_credentials")
    });
    assert_eq!(error_of(wider), "invalid_scope");
    p.w.advance_ms(1_000);
    p.revoke(&issued.access_token);
    assert!(!p.active(&issued.access_token));
    assert!(
        !p.active(&narrow.access_token),
        "every token of the client until now"
    );
    // Past the cut's margin (`ClientTokens::MARGIN_MS`): tokens issued during it die too.
    p.w.advance_ms(6_000);
    let fresh = p.client_credentials(&client, &secret);
    assert!(matches!(
        p.introspect(&fresh.access_token),
        Introspection::Client(_)
    ));
    assert!(!p.active(&issued.access_token), "the revoked stay revoked");
}

#[test]
fn disabling_a_client_ends_its_client_credentials_tokens_and_enabling_it_again_does_not_revive_them(
) {
    let p = place();
    let (client, secret) = p.confidential(None, &["client_credentials"]);
    let issued = p.client_credentials(&client, &secret);
    assert!(p.active(&issued.access_token));
    p.w.advance_ms(1_000);
    p.disable(&client);
    assert!(!p.active(&issued.access_token));
    assert_eq!(
        error_of(p.token(basic(&client, &secret, "client_credentials"))),
        "invalid_client"
    );
    p.w.advance_ms(1_000);
    p.patch(&client, ClientSpec::default(), Some(ClientStatus::Active))
        .unwrap();
    // Past the cut's margin (`ClientTokens::MARGIN_MS`): tokens issued during it die too.
    p.w.advance_ms(6_000);
    let fresh = p.client_credentials(&client, &secret);
    assert!(p.active(&fresh.access_token));
    assert!(
        !p.active(&issued.access_token),
        "a token from before the client was disabled stays inactive"
    );
}

#[test]
fn deleting_a_client_ends_its_client_credentials_tokens() {
    let p = place();
    let (client, secret) = p.confidential(None, &["client_credentials"]);
    let issued = p.client_credentials(&client, &secret);
    block_on(oauth::delete_client(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        client.id.as_str(),
    ))
    .unwrap();
    assert!(!p.active(&issued.access_token));
    assert_eq!(
        error_of(p.token(basic(&client, &secret, "client_credentials"))),
        "invalid_client"
    );
}

#[test]
fn a_client_credentials_token_is_inactive_when_kv_cannot_be_read() {
    let p = place();
    let (client, secret) = p.confidential(None, &["client_credentials"]);
    let issued = p.client_credentials(&client, &secret);
    assert!(p.active(&issued.access_token));
    let document = format!("kv get client:shop:acme:{}", client.id);
    let failing = document.clone();
    p.w.kv.faults().fail_when(move |c| c == failing);
    assert_eq!(p.introspect(&issued.access_token), Introspection::Inactive);
    assert!(
        p.w.kv.faults().injected().contains(&document),
        "{:?}",
        p.w.kv.faults().injected()
    );
    p.w.kv.faults().heal();
    assert!(p.active(&issued.access_token));
}

#[test]
fn disabling_a_client_when_kv_cannot_be_told_changes_nothing() {
    let p = place();
    let (client, secret) = p.confidential(None, &["client_credentials"]);
    let token = p.client_credentials(&client, &secret).access_token;
    p.w.kv
        .faults()
        .fail_when(|c| c.starts_with("kv put client:"));
    let failed = p.patch(&client, ClientSpec::default(), Some(ClientStatus::Disabled));
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    p.w.kv.faults().heal();
    let stored = block_on(p.w.db.find_client(&p.shop, &p.acme, &client.id))
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ClientStatus::Active, "D1 unchanged");
    assert!(p.active(&token), "nothing cut");
    // Issuing writes nothing to KV: a failing KV does not stop it.
    p.w.kv.faults().fail_when(|c| c.starts_with("kv put"));
    assert!(p
        .token(basic(&client, &secret, "client_credentials"))
        .is_ok());
}

#[test]
fn oauth_access_tokens_are_refused_at_me() {
    let p = place();
    let client = p.public_client();
    let granted = p.grant(&client);
    let (confidential, secret) = p.confidential(None, &["client_credentials"]);
    let issued = p.client_credentials(&confidential, &secret);
    assert_eq!(
        p.me(&granted.access_token).unwrap_err(),
        Error::InvalidToken
    );
    assert_eq!(p.me(&issued.access_token).unwrap_err(), Error::InvalidToken);
    let own = signin(&p.w, &p.shop, &p.acme, USER, PASSWORD, None).unwrap();
    assert_eq!(
        p.me(&own.session.access_token).unwrap().face.user_id,
        p.user
    );
}

#[test]
fn revoking_an_oauth_access_or_refresh_token_ends_its_grant() {
    let p = place();
    let client = p.public_client();
    let by_access = p.grant(&client);
    let by_refresh = p.grant(&client);
    p.revoke(&by_access.access_token);
    assert!(!p.active(&by_access.access_token));
    assert_eq!(
        error_of(p.refresh(&client, &refresh_of(&by_access))),
        "invalid_grant"
    );
    assert!(p.active(&by_refresh.access_token));
    p.revoke(&refresh_of(&by_refresh));
    assert!(!p.active(&by_refresh.access_token));
}

#[test]
fn an_access_token_lives_at_most_as_long_as_the_apps_own() {
    let p = place();
    let client = p.public_client();
    let (confidential, secret) = p.confidential(None, &["client_credentials"]);
    let set_tenant_ttl = |seconds: i64| {
        block_on(oauth::put_settings(
            &p.w.cx(),
            &p.owner,
            &p.shop,
            &p.acme,
            OAuthSettings {
                access_token_ttl_seconds: seconds,
                ..scopes_settings()
            },
        ))
        .unwrap();
    };
    let lifetime = |token: &str| {
        let claims = jwt_part(token, 1);
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
    };
    set_tenant_ttl(3_600);
    let capped = p.grant(&client);
    assert_eq!(capped.expires_in, 900, "the app's 900 s");
    assert_eq!(lifetime(&capped.access_token), 900);
    let cc = p.client_credentials(&confidential, &secret);
    assert_eq!((cc.expires_in, lifetime(&cc.access_token)), (900, 900));
    set_tenant_ttl(120);
    let short = p.grant(&client);
    assert_eq!(
        (short.expires_in, lifetime(&short.access_token)),
        (120, 120)
    );
    let refreshed = p.refresh(&client, &refresh_of(&short)).unwrap();
    assert_eq!(refreshed.expires_in, 120);
    let cc = p.client_credentials(&confidential, &secret);
    assert_eq!((cc.expires_in, lifetime(&cc.access_token)), (120, 120));
    p.w.advance_ms(120_000);
    assert!(!p.active(&short.access_token), "expired");
    let mut changes = serde_json::Map::new();
    changes.insert("access_token_ttl_seconds".to_owned(), serde_json::json!(60));
    block_on(tessera::service::tenancy::patch_app(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        changes,
    ))
    .unwrap();
    let shorter = p.grant(&client);
    assert_eq!(
        (shorter.expires_in, lifetime(&shorter.access_token)),
        (60, 60)
    );
}

// ------------------------------------------------------------------ from an outside review

/// The place with `registration` set as given.
fn registering(registration: Registration) -> Place {
    let p = place();
    block_on(oauth::put_settings(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        OAuthSettings {
            registration,
            ..scopes_settings()
        },
    ))
    .expect("settings");
    p
}

fn register(
    p: &Place,
    request: oauth::RegistrationRequest,
) -> Result<Client, oauth::RegisterFailure> {
    block_on(oauth::register(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        request,
        Some("client:192.0.2.1"),
    ))
    .map(|(client, _)| client)
}

fn native_registration() -> oauth::RegistrationRequest {
    oauth::RegistrationRequest {
        redirect_uris: Some(strings(&[REDIRECT])),
        token_endpoint_auth_method: Some("none".to_owned()),
        grant_types: Some(strings(&["authorization_code", "refresh_token"])),
        client_name: Some("MCP".to_owned()),
        scope: Some("mcp:tools".to_owned()),
        ..oauth::RegistrationRequest::default()
    }
}

fn refused_code(result: Result<Client, oauth::RegisterFailure>) -> &'static str {
    match result {
        Err(oauth::RegisterFailure::Refused(e)) => e.code,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn registration_follows_the_setting_and_never_grants_client_credentials() {
    let off = place();
    assert_eq!(
        refused_code(register(&off, native_registration())),
        "access_denied"
    );
    let open = registering(Registration::Open);
    let made = register(&open, native_registration()).expect("registered");
    assert_eq!(made.status, ClientStatus::Active);
    assert_eq!(made.client_type, ClientType::Public);
    let machine = oauth::RegistrationRequest {
        token_endpoint_auth_method: Some("client_secret_basic".to_owned()),
        grant_types: Some(strings(&["client_credentials"])),
        ..native_registration()
    };
    assert_eq!(
        refused_code(register(&open, machine)),
        "invalid_client_metadata"
    );
    let approval = registering(Registration::Approval);
    let pending = register(&approval, native_registration()).expect("registered");
    assert_eq!(pending.status, ClientStatus::Pending);
    assert!(matches!(
        approval.authorize(&query(&pending, &[]), None),
        PageOutcome::Refused { status: 400, .. }
    ));
    let audit = approval.w.db.audit_entries();
    assert!(audit
        .iter()
        .any(|e| e.action.as_str() == "client.register" && e.target == pending.id.as_str()));
}

#[test]
fn an_oauth_token_introspects_with_the_permissions_its_scopes_name_and_no_role() {
    use tessera::domain::names::{RoleName, UserPermission};
    use tessera::service::{catalogue, users};
    let p = place();
    let editor = RoleName::parse("editor").unwrap();
    let perms = ["mcp:tools", "docs:write"].map(|n| UserPermission::parse(n).unwrap());
    block_on(catalogue::put_role(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &editor,
        perms.to_vec(),
    ))
    .unwrap();
    block_on(users::set_roles(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        &p.user,
        vec![editor.clone()],
    ))
    .unwrap();
    let tokens = p.grant(&p.public_client());
    let Introspection::Active(found) = p.introspect(&tokens.access_token) else {
        panic!("inactive");
    };
    assert_eq!(
        found.effective.permissions,
        [perms[0].clone()],
        "only what the scope names"
    );
    assert!(found.effective.roles.is_empty(), "roles are not delegated");
    let own = signin(&p.w, &p.shop, &p.acme, USER, PASSWORD, None).unwrap();
    let Introspection::Active(first_party) = p.introspect(&own.session.access_token) else {
        panic!("inactive");
    };
    assert_eq!(first_party.effective.permissions.len(), 2);
    assert_eq!(first_party.effective.roles, [editor]);
}

#[test]
fn a_new_password_signs_the_browser_out_of_the_pages() {
    use tessera::service::account::{self, PasswordChange};
    let p = place();
    let client = p.public_client();
    let q = query(&client, &[]);
    let cookie = p.cookie(&q, USER);
    assert!(matches!(
        p.authorize(&q, Some(&cookie)),
        PageOutcome::Consent { .. }
    ));
    let own = signin(&p.w, &p.shop, &p.acme, USER, PASSWORD, None).unwrap();
    block_on(account::change_password(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        Some(&own.session.access_token),
        Ok(PasswordChange {
            current: Some(password(PASSWORD)),
            new: password("an entirely new passphrase"),
        }),
        None,
    ))
    .expect("changed");
    assert!(matches!(
        p.authorize(&q, Some(&cookie)),
        PageOutcome::SignIn { .. }
    ));
}

#[test]
fn signing_the_user_out_everywhere_signs_the_browser_out_of_the_pages() {
    let p = place();
    let client = p.public_client();
    let q = query(&client, &[]);
    let cookie = p.cookie(&q, USER);
    assert!(matches!(
        p.authorize(&q, Some(&cookie)),
        PageOutcome::Consent { .. }
    ));
    // "Sign out everywhere" (an operator revoking the user's sessions).
    block_on(tessera::service::users::revoke_sessions(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        &p.user,
    ))
    .expect("revoked");
    assert!(matches!(
        p.authorize(&q, Some(&cookie)),
        PageOutcome::SignIn { .. }
    ));
    // A new sign-in is a new session: the cookie names it, and it alone.
    let again = p.cookie(&q, USER);
    assert_ne!(again, cookie);
    assert!(matches!(
        p.authorize(&q, Some(&again)),
        PageOutcome::Consent { .. }
    ));
}

#[test]
fn a_new_password_set_in_another_tenant_signs_the_browser_out_of_these_pages_too() {
    use tessera::service::account::{self, PasswordChange};
    let p = place();
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    block_on(tessera::service::users::associate(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &bravo,
        &p.user,
    ))
    .expect("associated");
    let client = p.public_client();
    let q = query(&client, &[]);
    let cookie = p.cookie(&q, USER);
    assert!(matches!(
        p.authorize(&q, Some(&cookie)),
        PageOutcome::Consent { .. }
    ));
    // The password is the app's: changed at bravo (which ends bravo's sessions only).
    let there = signin(&p.w, &p.shop, &bravo, USER, PASSWORD, None).unwrap();
    block_on(account::change_password(
        &p.w.cx(),
        &p.shop,
        &bravo,
        Some(&there.session.access_token),
        Ok(PasswordChange {
            current: Some(password(PASSWORD)),
            new: password("an entirely new passphrase"),
        }),
        None,
    ))
    .expect("changed");
    assert!(matches!(
        p.authorize(&q, Some(&cookie)),
        PageOutcome::SignIn { .. }
    ));
}

#[test]
fn only_the_codes_own_client_replaying_it_revokes_the_grant() {
    let p = place();
    let client = p.public_client();
    let other = p.create(public_spec("Other")).unwrap().0;
    let code = p.code(&client);
    let tokens = p.exchange(&client, &code).expect("exchanged");
    assert_eq!(error_of(p.exchange(&other, &code)), "invalid_grant");
    assert!(
        p.active(&tokens.access_token),
        "another client's replay ends nothing"
    );
    assert_eq!(error_of(p.exchange(&client, &code)), "invalid_grant");
    assert!(
        !p.active(&tokens.access_token),
        "the code's own client's replay does"
    );
}

#[test]
fn a_code_issued_before_its_grant_was_revoked_starts_nothing() {
    let p = place();
    let client = p.public_client();
    let first = p.grant(&client);
    let code = p.code(&client);
    let own = signin(&p.w, &p.shop, &p.acme, USER, PASSWORD, None).unwrap();
    let listed = block_on(oauth::grants(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        Some(&own.session.access_token),
    ))
    .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client_id, client.id);
    block_on(oauth::revoke_grant(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        Some(&own.session.access_token),
        client.id.as_str(),
    ))
    .expect("revoked");
    assert!(!p.active(&first.access_token));
    assert_eq!(error_of(p.exchange(&client, &code)), "invalid_grant");
    let again = block_on(oauth::revoke_grant(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        Some(&own.session.access_token),
        client.id.as_str(),
    ));
    assert!(again.is_ok(), "idempotent: {again:?}");
    assert!(block_on(oauth::grants(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        Some(&own.session.access_token)
    ))
    .unwrap()
    .is_empty());
    let with_oauth = block_on(oauth::grants(
        &p.w.cx(),
        &p.shop,
        &p.acme,
        Some(&first.access_token),
    ));
    assert!(matches!(with_oauth, Err(Error::InvalidToken)));
}

#[test]
fn a_scope_taken_from_the_client_is_gone_from_its_grants_next_token() {
    let p = place();
    let client = p.public_client();
    let tokens = p.grant(&client);
    assert_eq!(tokens.scope, "mcp:tools");
    p.patch(
        &client,
        ClientSpec {
            scopes: Some(strings(&["mcp:read"])),
            ..ClientSpec::default()
        },
        None,
    )
    .expect("patched");
    let next = p.refresh(&client, &refresh_of(&tokens)).expect("refreshed");
    assert_eq!(next.scope, "");
    assert_eq!(jwt_part(&next.access_token, 1)["scope"], "");
}

#[test]
fn a_consent_remembered_for_one_resource_is_asked_again_for_another() {
    let p = place();
    let client = p.public_client();
    let one = query(&client, &[("resource", "https://mcp.example/one")]);
    let cookie = p.cookie(&one, USER);
    to_client(p.decide(&one, &cookie, "approve"));
    assert!(matches!(
        p.authorize(&one, Some(&cookie)),
        PageOutcome::ToClient(_)
    ));
    let two = query(&client, &[("resource", "https://mcp.example/two")]);
    let context = consent_page(p.authorize(&two, Some(&cookie)));
    assert_eq!(context.resource.as_deref(), Some("https://mcp.example/two"));
}

#[test]
fn taking_client_credentials_or_a_scope_from_a_client_ends_its_machine_tokens() {
    let p = place();
    let (client, secret) = p.confidential(None, &["client_credentials"]);
    let token = p.client_credentials(&client, &secret).access_token;
    assert!(p.active(&token));
    p.patch(
        &client,
        ClientSpec {
            scopes: Some(strings(&["mcp:read"])),
            ..ClientSpec::default()
        },
        None,
    )
    .expect("patched");
    assert!(!p.active(&token), "a scope taken away");
    p.w.advance_ms(6_000);
    let fresh = p.client_credentials(&client, &secret).access_token;
    assert!(p.active(&fresh), "new tokens are not affected");
    p.patch(
        &client,
        ClientSpec {
            grant_types: Some(strings(&["authorization_code"])),
            ..ClientSpec::default()
        },
        None,
    )
    .expect("patched");
    assert!(!p.active(&fresh), "the grant taken away");
}

#[test]
fn secrets_never_show_in_debug() {
    let form = PageForm {
        password: Some("hunter2-secret".to_owned()),
        csrf: Some("csrf-secret".to_owned()),
        ..PageForm::default()
    };
    let request = TokenRequest {
        client_secret: Some("tss_secret".to_owned()),
        code: Some("tsa_secret".to_owned()),
        basic: Some(("id".to_owned(), "basic-secret".to_owned())),
        ..TokenRequest::default()
    };
    let signed_in = PageOutcome::SignedIn {
        location: "https://t/x".to_owned(),
        session: "cookie-secret".to_owned(),
    };
    let text = format!("{form:?} {request:?} {signed_in:?}");
    for secret in [
        "hunter2",
        "csrf-secret",
        "tss_secret",
        "tsa_secret",
        "basic-secret",
        "cookie-secret",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

// ------------------------------------------------------------------ client ID metadata documents

const DOC_ID: &str = "https://client.example/oauth/client.json";

fn document(client_id: &str) -> String {
    serde_json::json!({
        "client_id": client_id,
        "client_name": "Doc client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "mcp:tools"
    })
    .to_string()
}

fn documents_place(accept: bool) -> (Place, Documents) {
    let p = place();
    block_on(oauth::put_settings(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        OAuthSettings {
            client_id_metadata_documents: accept,
            ..scopes_settings()
        },
    ))
    .expect("settings");
    let docs = Documents::default();
    docs.served
        .borrow_mut()
        .insert(DOC_ID.to_owned(), (200, document(DOC_ID)));
    (p, docs)
}

fn doc_query(client_id: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-doc"),
        ("scope", "mcp:tools"),
    ] {
        query.append_pair(name, value);
    }
    query.finish()
}

fn doc_authorize(p: &Place, docs: &Documents, query: &str, session: Option<&str>) -> PageOutcome {
    let browser = Browser {
        csrf_cookie: CSRF_COOKIE,
        session,
    };
    block_on(oauth::authorize(
        &p.w.cx(),
        docs,
        &p.shop,
        &p.acme,
        query,
        &browser,
    ))
    .unwrap()
}

fn doc_submit(p: &Place, docs: &Documents, form: PageForm, session: Option<&str>) -> PageOutcome {
    let browser = Browser {
        csrf_cookie: CSRF_COOKIE,
        session,
    };
    block_on(oauth::submit(
        &p.w.cx(),
        docs,
        &p.shop,
        &p.acme,
        form,
        &browser,
        None,
    ))
    .unwrap()
}

#[test]
fn a_client_described_by_its_metadata_document_completes_the_code_flow() {
    let (p, docs) = documents_place(true);
    let query = doc_query(DOC_ID);
    let context = sign_in_page(doc_authorize(&p, &docs, &query, None));
    assert_eq!(context.client_name, "Doc client");
    let PageOutcome::SignedIn { session, .. } = doc_submit(
        &p,
        &docs,
        PageForm {
            step: Some("signin".to_owned()),
            csrf: Some(context.csrf),
            request: Some(query.clone()),
            email: Some(USER.to_owned()),
            password: Some(PASSWORD.to_owned()),
            decision: None,
            ..PageForm::default()
        },
        None,
    ) else {
        panic!("not signed in");
    };
    let consent = consent_page(doc_authorize(&p, &docs, &query, Some(&session)));
    let back = to_client(doc_submit(
        &p,
        &docs,
        PageForm {
            step: Some("consent".to_owned()),
            csrf: Some(consent.csrf),
            request: Some(query.clone()),
            decision: Some("approve".to_owned()),
            ..PageForm::default()
        },
        Some(&session),
    ));
    let tokens = block_on(oauth::token(
        &p.w.cx(),
        &docs,
        &p.shop,
        &p.acme,
        TokenRequest {
            grant_type: Some("authorization_code".to_owned()),
            code: Some(back["code"].clone()),
            redirect_uri: Some(REDIRECT.to_owned()),
            code_verifier: Some(VERIFIER.to_owned()),
            client_id: Some(DOC_ID.to_owned()),
            ..TokenRequest::default()
        },
    ))
    .expect("exchanged");
    assert_eq!(jwt_part(&tokens.access_token, 1)["client_id"], DOC_ID);
    assert!(p.active(&tokens.access_token));
    let refreshed = block_on(oauth::token(
        &p.w.cx(),
        &docs,
        &p.shop,
        &p.acme,
        TokenRequest {
            grant_type: Some("refresh_token".to_owned()),
            refresh_token: Some(refresh_of(&tokens)),
            client_id: Some(DOC_ID.to_owned()),
            ..TokenRequest::default()
        },
    ))
    .expect("refreshed");
    assert!(p.active(&refreshed.access_token));
    assert_eq!(docs.asked.borrow().len(), 1, "fetched once, then from KV");
}

#[test]
fn a_metadata_document_is_used_only_where_the_tenant_accepts_them_and_only_for_its_own_url() {
    let (off, docs) = documents_place(false);
    assert!(matches!(
        doc_authorize(&off, &docs, &doc_query(DOC_ID), None),
        PageOutcome::Refused { status: 400, .. }
    ));
    assert!(docs.asked.borrow().is_empty(), "nothing fetched");
    let (p, docs) = documents_place(true);
    let elsewhere = "https://client.example/oauth/other.json";
    docs.served
        .borrow_mut()
        .insert(elsewhere.to_owned(), (200, document(DOC_ID)));
    assert!(
        matches!(
            doc_authorize(&p, &docs, &doc_query(elsewhere), None),
            PageOutcome::Refused { status: 400, .. }
        ),
        "a document naming another client id"
    );
    for private in [
        "https://127.0.0.1/c.json",
        "https://10.1.2.3/c.json",
        "http://client.example/c.json",
    ] {
        assert!(matches!(
            doc_authorize(&p, &docs, &doc_query(private), None),
            PageOutcome::Refused { status: 400, .. }
        ));
    }
    assert!(
        !docs
            .asked
            .borrow()
            .iter()
            .any(|u| u.contains("127.0.0.1") || u.contains("10.1.2.3") || u.starts_with("http:")),
        "never fetched"
    );
    let missing = "https://gone.example/c.json";
    for _ in 0..3 {
        assert!(matches!(
            doc_authorize(&p, &docs, &doc_query(missing), None),
            PageOutcome::Refused { status: 400, .. }
        ));
    }
    assert_eq!(
        docs.asked
            .borrow()
            .iter()
            .filter(|u| u.as_str() == missing)
            .count(),
        1,
        "a failed fetch is remembered a while"
    );
    let big = "https://big.example/c.json";
    docs.served.borrow_mut().insert(
        big.to_owned(),
        (200, format!("{}{}", document(big), " ".repeat(6 * 1024))),
    );
    assert!(matches!(
        doc_authorize(&p, &docs, &doc_query(big), None),
        PageOutcome::Refused { status: 400, .. }
    ));
}

// ------------------------------------------------------------------ clients at introspection

fn client_introspects(
    p: &Place,
    client: &Client,
    secret: &str,
    token: &str,
) -> Result<bool, Error> {
    use introspection::{ClientCheck, Credentials};
    block_on(async {
        let cx = p.w.cx();
        let check = introspection::introspection_client(
            &cx,
            &Documents::default(),
            &p.shop,
            &p.acme,
            Credentials::Basic(client.id.as_str(), secret),
        )
        .await?;
        let ClientCheck::Authenticated(caller) = check else {
            panic!("failed closed");
        };
        Ok(!matches!(
            introspection::introspect(&cx, &caller, token).await,
            Introspection::Inactive
        ))
    })
}

#[test]
fn a_confidential_client_introspects_and_revokes_its_own_tokens_only() {
    let p = place();
    let (mine, secret) = p.confidential(None, &["client_credentials"]);
    let (theirs, their_secret) = p.confidential(None, &["client_credentials"]);
    let own = p.client_credentials(&mine, &secret).access_token;
    let other = p.client_credentials(&theirs, &their_secret).access_token;
    let user_grant = p.grant(&p.public_client()).access_token;
    assert_eq!(client_introspects(&p, &mine, &secret, &own), Ok(true));
    assert_eq!(client_introspects(&p, &mine, &secret, &other), Ok(false));
    assert_eq!(
        client_introspects(&p, &mine, &secret, &user_grant),
        Ok(false)
    );
    assert!(matches!(
        client_introspects(&p, &mine, &their_secret, &own),
        Err(Error::InvalidClient)
    ));
    // Revoking another client's token through this client does nothing.
    block_on(async {
        let cx = p.w.cx();
        let caller = introspection::revocation_client(
            &cx,
            &Documents::default(),
            &p.shop,
            &p.acme,
            introspection::Credentials::Basic(mine.id.as_str(), &secret),
        )
        .await?;
        introspection::revoke_token(&cx, &caller, &other).await?;
        introspection::revoke_token(&cx, &caller, &user_grant).await
    })
    .unwrap();
    assert!(p.active(&other) && p.active(&user_grant));
    // Disabled, it is no client of `/oauth/introspect` any more; enabled, it is again.
    p.disable(&mine);
    assert!(matches!(
        client_introspects(&p, &mine, &secret, &own),
        Err(Error::InvalidClient)
    ));
    p.patch(&mine, ClientSpec::default(), Some(ClientStatus::Active))
        .unwrap();
    p.w.advance_ms(6_000);
    let fresh = p.client_credentials(&mine, &secret).access_token;
    assert_eq!(client_introspects(&p, &mine, &secret, &fresh), Ok(true));
    let deleted = block_on(oauth::delete_client(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        mine.id.as_str(),
    ));
    assert!(deleted.is_ok());
    assert!(matches!(
        client_introspects(&p, &mine, &secret, &fresh),
        Err(Error::InvalidClient)
    ));
}

// ------------------------------------------------------------------ secret rotation

impl Place {
    fn rotate(&self, by: &Principal, client: &Client) -> Result<(Client, PlainSecret), Error> {
        block_on(oauth::rotate_client_secret(
            &self.w.cx(),
            by,
            &self.shop,
            &self.acme,
            client.id.as_str(),
        ))
    }
}

fn key_of(secret: &str) -> String {
    let hash = PlainSecret::from_client(SecretKind::ClientSecret, secret)
        .unwrap()
        .hash();
    format!("clientkey:{}", hash.as_str())
}

#[test]
fn a_rotated_secret_is_shown_once_and_the_old_one_stops_at_once_everywhere() {
    let p = place();
    let (client, old) = p.confidential(None, &["client_credentials"]);
    let before = p.client_credentials(&client, &old).access_token;
    assert_eq!(client_introspects(&p, &client, &old, &before), Ok(true));
    assert_eq!(p.client_keys(), [key_of(&old)]);
    p.w.advance_ms(1_000);
    let (rotated, secret) = p.rotate(&p.owner, &client).expect("rotated");
    let new = secret.expose().to_owned();
    assert!(new.starts_with("tss_") && new != old);
    assert_eq!(rotated.id, client.id);
    assert_eq!(rotated.updated_at, p.w.now());
    // Stored only as its hash; the one `clientkey:` entry is the new secret's.
    let stored = p.stored(&client);
    assert_eq!(stored.secret_hash, Some(secret.hash()));
    assert!(!format!("{:?}", p.w.db.snapshot()).contains(&new));
    assert_eq!(p.client_keys(), [key_of(&new)]);
    // The old secret is refused at the token endpoint and at introspection; the new works.
    assert_eq!(
        error_of(p.token(basic(&client, &old, "client_credentials"))),
        "invalid_client"
    );
    assert!(matches!(
        client_introspects(&p, &client, &old, &before),
        Err(Error::InvalidClient)
    ));
    assert!(
        !p.active(&before),
        "the client_credentials tokens a leaked secret got are cut"
    );
    // Past the cut's few seconds of margin, the new secret's tokens live.
    p.w.advance_ms(6_000);
    let after = p.client_credentials(&client, &new).access_token;
    assert_eq!(client_introspects(&p, &client, &new, &after), Ok(true));
    // Audited, without the secret.
    let entry =
        p.w.db
            .audit_entries()
            .into_iter()
            .find(|e| e.action.as_str() == "client.secret_rotate")
            .expect("audited");
    assert_eq!(entry.target, client.id.as_str());
    assert_eq!(entry.tenant_id.as_ref(), Some(&p.acme));
    assert!(!entry.detail.to_string().contains("tss_"));
    // Once more: the second secret stops too.
    let (_, third) = p.rotate(&p.owner, &client).unwrap();
    assert_eq!(
        error_of(p.token(basic(&client, &new, "client_credentials"))),
        "invalid_client"
    );
    assert_eq!(p.client_keys(), [key_of(third.expose())]);
}

#[test]
fn only_a_confidential_client_of_the_tenant_has_a_secret_to_rotate_by_a_clients_writer() {
    let p = place();
    let public = p.public_client();
    assert!(matches!(
        p.rotate(&p.owner, &public),
        Err(Error::Conflict(_))
    ));
    assert_eq!(p.stored(&public).secret_hash, None);
    let (client, secret) = p.confidential(None, &["client_credentials"]);
    let support = member(
        &p.w,
        &p.owner,
        &p.shop,
        "support@example.com",
        &[OperatorRole::Support],
    );
    assert!(matches!(
        p.rotate(&support, &client),
        Err(Error::Forbidden(_))
    ));
    let admin = member(
        &p.w,
        &p.owner,
        &p.shop,
        "mcp@example.com",
        &[OperatorRole::McpAdmin],
    );
    assert!(p.rotate(&admin, &client).is_ok());
    assert_eq!(
        error_of(p.token(basic(&client, &secret, "client_credentials"))),
        "invalid_client"
    );
    let unknown = block_on(oauth::rotate_client_secret(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &p.acme,
        "tsc_AAAAAAAAAAAAAAAAAAAAAA",
    ));
    assert_eq!(unknown.unwrap_err(), Error::ClientNotFound);
    let elsewhere = block_on(oauth::rotate_client_secret(
        &p.w.cx(),
        &p.owner,
        &p.shop,
        &TenantId::public(),
        client.id.as_str(),
    ));
    assert_eq!(elsewhere.unwrap_err(), Error::ClientNotFound);
}

#[test]
fn a_disabled_clients_new_secret_is_published_only_once_it_is_active_again() {
    let p = place();
    let (client, old) = p.confidential(None, &["client_credentials"]);
    p.disable(&client);
    assert!(p.client_keys().is_empty());
    let (rotated, secret) = p.rotate(&p.owner, &client).unwrap();
    assert_eq!(rotated.status, ClientStatus::Disabled);
    assert!(
        p.client_keys().is_empty(),
        "a disabled client is no client of introspection"
    );
    p.patch(&client, ClientSpec::default(), Some(ClientStatus::Active))
        .unwrap();
    assert_eq!(p.client_keys(), [key_of(secret.expose())]);
    p.w.advance_ms(6_000);
    assert_eq!(
        error_of(p.token(basic(&client, &old, "client_credentials"))),
        "invalid_client"
    );
    p.client_credentials(&client, secret.expose());
}

#[test]
fn a_rotation_that_cannot_write_kv_or_d1_leaves_no_secret_that_should_not_work() {
    let p = place();
    let (client, old) = p.confidential(None, &["client_credentials"]);
    let token = p.client_credentials(&client, &old).access_token;
    // The new secret cannot be published: nothing changed.
    p.w.kv
        .faults()
        .fail_when(|c| c.starts_with("kv put clientkey:"));
    let failed = p.rotate(&p.owner, &client);
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    p.w.kv.faults().heal();
    assert_eq!(p.stored(&client).secret_hash, client.secret_hash);
    assert_eq!(p.client_keys(), [key_of(&old)]);
    // The old one cannot be withdrawn: D1 is not changed, the new copy is taken back.
    let old_key = key_of(&old);
    let failing = format!("kv delete {old_key}");
    p.w.kv.faults().fail_when(move |c| c == failing);
    let failed = p.rotate(&p.owner, &client);
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    p.w.kv.faults().heal();
    assert_eq!(p.stored(&client).secret_hash, client.secret_hash);
    assert_eq!(p.client_keys(), [old_key]);
    // The client still authenticates with its old secret; its earlier token was cut by the
    // first attempt (the cut goes first: a rotation that fails later still ends them).
    assert_eq!(client_introspects(&p, &client, &old, &token), Ok(false));
    // D1 fails: the new copy is taken back and the old one stays withdrawn (fail closed):
    // refused at introspection, still good at the token endpoint, which reads D1.
    p.w.db
        .faults()
        .fail_when(|c| c == "db rotate_client_secret");
    let failed = p.rotate(&p.owner, &client);
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    p.w.db.faults().heal();
    assert_eq!(p.stored(&client).secret_hash, client.secret_hash);
    assert!(p.client_keys().is_empty(), "{:?}", p.client_keys());
    assert!(matches!(
        client_introspects(&p, &client, &old, &token),
        Err(Error::InvalidClient)
    ));
    p.client_credentials(&client, &old);
    // A rotation that goes through mends it.
    let (_, secret) = p.rotate(&p.owner, &client).unwrap();
    assert_eq!(p.client_keys(), [key_of(secret.expose())]);
}

// ------------------------------------------------------------------ concurrent changes

impl Place {
    /// The `clientkey:` entries in KV.
    fn client_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .w
            .kv
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("clientkey:"))
            .collect();
        keys.sort();
        keys
    }

    fn stored(&self, client: &Client) -> Client {
        block_on(self.w.db.find_client(&self.shop, &self.acme, &client.id))
            .unwrap()
            .expect("the client")
    }
}

/// Two PATCHes of one client at once, each made from the same read (the memory stores yield
/// at every KV call, so the two take turns between their read and their write): the second
/// write finds the version changed, reads again and applies its change over the first.
#[test]
fn two_concurrent_patches_of_a_client_lose_neither_change() {
    let p = place();
    let (client, _) = p.confidential(None, &["client_credentials"]);
    let other_isolate = tessera::service::Caches::default();
    p.w.db.faults().interleave(true);
    p.w.kv.faults().interleave(true);
    let (first, second) = (p.w.cx(), p.w.cx_with(&other_isolate));
    let (renamed, disabled) = block_on(async {
        // A narrowing rename (which cuts the client's tokens in KV between its read and its
        // write) and a disable (which withdraws its key and cuts its tokens).
        let rename = oauth::update_client(
            &first,
            &p.owner,
            &p.shop,
            &p.acme,
            client.id.as_str(),
            ClientSpec {
                name: Some("Renamed".to_owned()),
                scopes: Some(strings(&["mcp:read"])),
                ..ClientSpec::default()
            },
            None,
        );
        let disable = oauth::update_client(
            &second,
            &p.owner,
            &p.shop,
            &p.acme,
            client.id.as_str(),
            ClientSpec::default(),
            Some(ClientStatus::Disabled),
        );
        futures_util::join!(rename, disable)
    });
    p.w.db.faults().interleave(false);
    p.w.kv.faults().interleave(false);
    let (renamed, disabled) = (renamed.unwrap(), disabled.unwrap());
    let stored = p.stored(&client);
    assert_eq!(stored.name, "Renamed", "{renamed:?} {disabled:?}");
    assert_eq!(stored.scopes, ["mcp:read"]);
    assert_eq!(stored.status, ClientStatus::Disabled);
    assert_eq!(stored.version, 2, "two writes");
    assert!(p.client_keys().is_empty(), "disabled: no key");
    let updates =
        p.w.db
            .audit_entries()
            .iter()
            .filter(|e| e.action.as_str() == "client.update")
            .count();
    assert_eq!(updates, 2, "one entry per change written");
}

#[test]
fn a_public_client_is_no_client_of_introspection() {
    let p = place();
    let public = p.public_client();
    let token = p.grant(&public).access_token;
    assert!(matches!(
        client_introspects(
            &p,
            &public,
            "tss_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &token
        ),
        Err(Error::InvalidClient)
    ));
}

#[test]
fn a_bad_request_of_a_self_registered_client_is_never_sent_to_its_redirect() {
    let p = registering(Registration::Open);
    let registered = register(&p, native_registration()).expect("registered");
    assert!(registered.self_registered);
    for change in [
        ("code_challenge", ""),
        ("response_type", "token"),
        ("scope", "admin"),
    ] {
        assert!(
            matches!(
                p.authorize(&query(&registered, &[change]), None),
                PageOutcome::Refused { status: 400, .. }
            ),
            "{change:?}"
        );
    }
    let vetted = p.public_client();
    assert!(!vetted.self_registered);
    to_client(p.authorize(&query(&vetted, &[("code_challenge", "")]), None));
}

// ------------------------------------------------------------------ private_key_jwt

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn key_pair(seed: u8) -> ed25519_compact::KeyPair {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32]))
}

/// The public JWK of `key_pair(seed)`, named `kid`.
fn public_jwk(seed: u8, kid: &str) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": kid,
        "x": B64URL.encode(key_pair(seed).pk.as_ref()),
    })
}

/// A compact JWS of `claims` with `header`, signed by `key_pair(seed)`.
fn signed(seed: u8, header: serde_json::Value, claims: serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let signature = key_pair(seed).sk.sign(input.as_bytes(), None);
    format!("{input}.{}", B64URL.encode(signature.as_ref()))
}

/// The claims of a good assertion of `client` at `now` (Unix seconds) with `jti`.
fn assertion_claims(client: &Client, now: i64, jti: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": client.id.as_str(),
        "sub": client.id.as_str(),
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": jti,
    })
}

/// A `client_credentials` request authenticated by `assertion`.
fn with_assertion(assertion: &str) -> TokenRequest {
    TokenRequest {
        grant_type: Some("client_credentials".to_owned()),
        client_assertion_type: Some(ASSERTION_TYPE.to_owned()),
        client_assertion: Some(assertion.to_owned()),
        ..TokenRequest::default()
    }
}

fn jwt_spec(jwks: serde_json::Value) -> ClientSpec {
    ClientSpec {
        auth_method: Some("private_key_jwt".to_owned()),
        jwks: Some(jwks),
        ..confidential_spec(
            None,
            &["client_credentials", "authorization_code", "refresh_token"],
        )
    }
}

impl Place {
    /// A private_key_jwt client whose key is `key_pair(1)` (kid `k1`).
    fn jwt_client(&self) -> Client {
        let (client, secret) = self
            .create(jwt_spec(
                serde_json::json!({ "keys": [public_jwk(1, "k1")] }),
            ))
            .expect("a private_key_jwt client");
        assert!(secret.is_none(), "a private_key_jwt client has no secret");
        client
    }

    fn now_s(&self) -> i64 {
        self.w.now().unix_seconds()
    }
}

#[test]
fn a_private_key_jwt_client_authenticates_with_a_signed_assertion_used_once() {
    let p = place();
    let client = p.jwt_client();
    assert_eq!(client.auth_method, AuthMethod::PrivateKeyJwt);
    assert_eq!(client.secret_hash, None);
    let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
    let first = signed(
        1,
        header.clone(),
        assertion_claims(&client, p.now_s(), "one"),
    );
    let token = p.token(with_assertion(&first)).expect("authenticated");
    assert!(p.active(&token.access_token));
    assert_eq!(
        error_of(p.token(with_assertion(&first))),
        "invalid_client",
        "an assertion works once"
    );
    // The form's client_id may name the client.
    let second = signed(
        1,
        header.clone(),
        assertion_claims(&client, p.now_s(), "two"),
    );
    let request = TokenRequest {
        client_id: Some(client.id.to_string()),
        ..with_assertion(&second)
    };
    p.token(request).expect("with the client_id in the form");
    // Without a kid, the only fitting key.
    let third = signed(
        1,
        serde_json::json!({"alg": "EdDSA"}),
        assertion_claims(&client, p.now_s(), "three"),
    );
    p.token(with_assertion(&third)).expect("no kid, one key");
    // The code grant authenticates the same way.
    let code = p.code(&client);
    let four = signed(1, header, assertion_claims(&client, p.now_s(), "four"));
    let exchanged = p
        .token(TokenRequest {
            client_assertion_type: Some(ASSERTION_TYPE.to_owned()),
            client_assertion: Some(four),
            ..code_request(&client, &code)
        })
        .expect("a code exchanged by a private_key_jwt client");
    assert!(exchanged.refresh_token.is_some());
}

#[test]
fn an_assertion_is_refused_for_any_flaw_and_nothing_is_remembered_for_it() {
    let p = place();
    let client = p.jwt_client();
    let now = p.now_s();
    let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut claims = assertion_claims(&client, now, "flawed");
        change(&mut claims);
        signed(1, header.clone(), claims)
    };
    let flawed = [
        (
            "another key",
            signed(2, header.clone(), assertion_claims(&client, now, "flawed")),
        ),
        (
            "another audience",
            with(&|c| c["aud"] = "https://tessera.test/apps/shop/tenants/bravo".into()),
        ),
        (
            "no audience",
            with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        // Audience injection: only the issuer, as one string (not the endpoint, not a list).
        (
            "the token endpoint",
            with(&|c| c["aud"] = format!("{ISSUER}/oauth/token").into()),
        ),
        (
            "the issuer in a list",
            with(&|c| c["aud"] = serde_json::json!([ISSUER])),
        ),
        (
            "a list with the issuer",
            with(&|c| c["aud"] = serde_json::json!(["https://other.example", ISSUER])),
        ),
        (
            "a metadata document's id",
            with(&|c| {
                c["iss"] = "https://client.example/doc.json".into();
                c["sub"] = "https://client.example/doc.json".into();
            }),
        ),
        ("expired", with(&|c| c["exp"] = (now - 61).into())),
        ("valid too long", with(&|c| c["exp"] = (now + 3600).into())),
        ("not yet valid", with(&|c| c["nbf"] = (now + 120).into())),
        (
            "issued in the future",
            with(&|c| c["iat"] = (now + 120).into()),
        ),
        (
            "no exp",
            with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "no jti",
            with(&|c| drop(c.as_object_mut().unwrap().remove("jti"))),
        ),
        ("sub is another", with(&|c| c["sub"] = "tsc_someone".into())),
        (
            "a signature cut",
            with(&|_| ()).trim_end_matches(|c| c != '.').to_owned() + "AAAA",
        ),
        ("HS256", {
            let good = with(&|_| ());
            let (_, rest) = good.split_once('.').unwrap();
            format!("{}.{rest}", B64URL.encode(r#"{"alg":"HS256","kid":"k1"}"#))
        }),
        ("none", {
            let good = with(&|_| ());
            let (_, rest) = good.split_once('.').unwrap();
            let (payload, _) = rest.split_once('.').unwrap();
            format!("{}.{payload}.", B64URL.encode(r#"{"alg":"none"}"#))
        }),
        (
            "another kid",
            signed(
                1,
                serde_json::json!({"alg": "EdDSA", "kid": "k9"}),
                assertion_claims(&client, now, "flawed"),
            ),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (why, assertion) in &flawed {
        assert_eq!(
            error_of(p.token(with_assertion(assertion))),
            "invalid_client",
            "{why}"
        );
    }
    // None of them used the jti: a good assertion with it still works.
    let good = signed(1, header.clone(), assertion_claims(&client, now, "flawed"));
    p.token(with_assertion(&good))
        .expect("the jti was never taken");

    let fresh = || {
        signed(
            1,
            header.clone(),
            assertion_claims(&client, now, &format!("j{}", rand_jti())),
        )
    };
    let wrong_type = TokenRequest {
        client_assertion_type: Some(
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".to_owned(),
        ),
        ..with_assertion(&fresh())
    };
    assert_eq!(error_of(p.token(wrong_type)), "invalid_client");
    let other_id = TokenRequest {
        client_id: Some("tsc_someone".to_owned()),
        ..with_assertion(&fresh())
    };
    assert_eq!(error_of(p.token(other_id)), "invalid_client");
    let with_secret = TokenRequest {
        client_secret: Some("tss_x".to_owned()),
        ..with_assertion(&fresh())
    };
    assert_eq!(error_of(p.token(with_secret)), "invalid_request");
    // A secret client cannot use an assertion, nor the jwt client a secret or nothing.
    let (secret_client, secret) = p.confidential(None, &["client_credentials"]);
    let as_secret_client = signed(
        1,
        header.clone(),
        assertion_claims(&secret_client, now, "x"),
    );
    assert_eq!(
        error_of(p.token(with_assertion(&as_secret_client))),
        "invalid_client"
    );
    assert_eq!(
        error_of(p.token(basic(&client, &secret, "client_credentials"))),
        "invalid_client"
    );
    let bare = TokenRequest {
        grant_type: Some("client_credentials".to_owned()),
        client_id: Some(client.id.to_string()),
        ..TokenRequest::default()
    };
    assert_eq!(error_of(p.token(bare)), "invalid_client");
}

fn rand_jti() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn a_disabled_or_foreign_private_key_jwt_client_is_refused() {
    let p = place();
    let client = p.jwt_client();
    let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
    // At another tenant of the app the same assertion names no client there.
    let bravo = p.w.tenant(&p.owner, &p.shop, "bravo");
    let mut claims = assertion_claims(&client, p.now_s(), "elsewhere");
    claims["aud"] = "https://tessera.test/apps/shop/tenants/bravo".into();
    let there = block_on(oauth::token(
        &p.w.cx(),
        &Documents::default(),
        &p.shop,
        &bravo,
        with_assertion(&signed(1, header.clone(), claims)),
    ));
    assert_eq!(error_of(there), "invalid_client");
    p.disable(&client);
    let assertion = signed(1, header, assertion_claims(&client, p.now_s(), "off"));
    assert_eq!(
        error_of(p.token(with_assertion(&assertion))),
        "invalid_client"
    );
}

#[test]
fn registered_keys_are_public_signing_keys_of_private_key_jwt_clients_only_and_rotate_whole() {
    let p = place();
    let invalid = |spec: ClientSpec, why: &str| match p.create(spec) {
        Err(Error::Validation(_)) => {}
        other => panic!("{why}: {other:?}"),
    };
    let mut private = public_jwk(1, "k1");
    private["d"] = B64URL.encode([7u8; 32]).into();
    invalid(
        jwt_spec(serde_json::json!({"keys": [private]})),
        "a private key",
    );
    invalid(
        jwt_spec(serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
        "a symmetric key",
    );
    invalid(
        jwt_spec(
            serde_json::json!({"keys": [{"kty": "RSA", "n": B64URL.encode([0xff; 128]), "e": "AQAB"}]}),
        ),
        "RSA of 1024 bits",
    );
    invalid(jwt_spec(serde_json::json!({"keys": []})), "no key");
    invalid(
        jwt_spec(serde_json::json!([public_jwk(1, "k1")])),
        "not a set",
    );
    invalid(
        jwt_spec(serde_json::json!({"keys": [public_jwk(1, "k"), public_jwk(2, "k")]})),
        "one kid twice",
    );
    invalid(
        ClientSpec {
            jwks: None,
            ..jwt_spec(serde_json::json!({}))
        },
        "private_key_jwt without keys",
    );
    invalid(
        ClientSpec {
            jwks: Some(serde_json::json!({"keys": [public_jwk(1, "k1")]})),
            ..confidential_spec(None, &["client_credentials"])
        },
        "keys for a secret client",
    );
    invalid(
        ClientSpec {
            jwks: Some(serde_json::json!({"keys": [public_jwk(1, "k1")]})),
            ..public_spec("Public")
        },
        "keys for a public client",
    );
    let rsa_2048 =
        serde_json::json!({"kty": "RSA", "kid": "r", "n": B64URL.encode([0xc5; 256]), "e": "AQAB"});
    p.create(jwt_spec(
        serde_json::json!({"keys": [rsa_2048, public_jwk(1, "k1")]}),
    ))
    .expect("RSA 2048 and Ed25519");

    // Rotation: a PATCH replaces the keys; the old key stops working at once, and the
    // client_credentials tokens it got end with it.
    let client = p.jwt_client();
    let header = |kid: &str| serde_json::json!({"alg": "EdDSA", "kid": kid});
    let before = signed(
        1,
        header("k1"),
        assertion_claims(&client, p.now_s(), "before"),
    );
    let held = p
        .token(with_assertion(&before))
        .expect("a token")
        .access_token;
    assert!(p.active(&held));
    let rotated = p
        .patch(
            &client,
            ClientSpec {
                jwks: Some(serde_json::json!({"keys": [public_jwk(2, "k2")]})),
                ..ClientSpec::default()
            },
            None,
        )
        .expect("keys rotated");
    assert_eq!(rotated.auth_method, AuthMethod::PrivateKeyJwt);
    let old = signed(1, header("k1"), assertion_claims(&client, p.now_s(), "old"));
    assert_eq!(error_of(p.token(with_assertion(&old))), "invalid_client");
    assert!(!p.active(&held), "the retired key's token is cut");
    p.w.advance_ms(6_000);
    let new = signed(2, header("k2"), assertion_claims(&client, p.now_s(), "new"));
    let fresh = p
        .token(with_assertion(&new))
        .expect("the new key")
        .access_token;
    assert!(p.active(&fresh));
    // Adding a key (k2 kept) retires nothing: its tokens stay.
    p.patch(
        &client,
        ClientSpec {
            jwks: Some(serde_json::json!({"keys": [public_jwk(2, "k2"), public_jwk(3, "k3")]})),
            ..ClientSpec::default()
        },
        None,
    )
    .expect("a key added");
    assert!(p.active(&fresh), "nothing retired, nothing cut");
    // A secret client's PATCH cannot add keys.
    let (secret_client, _) = p.confidential(None, &["client_credentials"]);
    let added = p.patch(
        &secret_client,
        ClientSpec {
            jwks: Some(serde_json::json!({"keys": [public_jwk(2, "k2")]})),
            ..ClientSpec::default()
        },
        None,
    );
    assert!(matches!(added, Err(Error::Validation(_))), "{added:?}");
}

#[test]
fn dynamic_registration_takes_private_key_jwt_keys_by_value_only() {
    let p = registering(Registration::Open);
    let registered = register(
        &p,
        oauth::RegistrationRequest {
            token_endpoint_auth_method: Some("private_key_jwt".to_owned()),
            jwks: Some(serde_json::json!({"keys": [public_jwk(3, "k3")]})),
            ..native_registration()
        },
    )
    .expect("registered");
    assert_eq!(registered.auth_method, AuthMethod::PrivateKeyJwt);
    assert_eq!(registered.secret_hash, None);
    let by_uri = register(
        &p,
        oauth::RegistrationRequest {
            token_endpoint_auth_method: Some("private_key_jwt".to_owned()),
            jwks_uri: true,
            ..native_registration()
        },
    );
    assert_eq!(refused_code(by_uri), "invalid_client_metadata");
    let no_keys = register(
        &p,
        oauth::RegistrationRequest {
            token_endpoint_auth_method: Some("private_key_jwt".to_owned()),
            ..native_registration()
        },
    );
    assert_eq!(refused_code(no_keys), "invalid_client_metadata");
}

#[test]
fn an_assertion_is_refused_when_its_one_use_cannot_be_written_and_stays_usable() {
    let p = place();
    let client = p.jwt_client();
    let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
    let assertion = signed(1, header, assertion_claims(&client, p.now_s(), "down"));
    p.w.db.faults().fail_when(|c| c == "db use_assertion");
    match p.token(with_assertion(&assertion)) {
        Err(TokenFailure::Service(Error::Unavailable(_))) => {}
        other => panic!("not refused for the store: {other:?}"),
    }
    p.w.db.faults().heal();
    p.token(with_assertion(&assertion))
        .expect("nothing was remembered: the same assertion works once D1 is back");
}

// ------------------------------------------------------------------ passwordless at the pages

impl Place {
    /// The tenant offers passwordless sign-in too, and the app delivers to its outbox.
    fn with_passwordless(self) -> Self {
        self.w.mail_tenant(&self.owner, &self.shop, "acme");
        self.w.set_delivery(
            &self.owner,
            &self.shop,
            tessera::service::email::DeliveryRequest::Outbox,
        );
        self
    }

    /// Posts `step` of the pages with `fields`, with the page's CSRF token.
    fn step(&self, query: &str, step: &str, fields: PageForm) -> PageOutcome {
        let context = sign_in_page(self.authorize(query, None));
        self.submit(
            PageForm {
                step: Some(step.to_owned()),
                csrf: Some(context.csrf),
                request: Some(query.to_owned()),
                ..fields
            },
            CSRF_COOKIE,
            None,
        )
    }
}

fn code_page(outcome: PageOutcome) -> (PageContext, String, u16) {
    match outcome {
        PageOutcome::Code {
            context,
            attempt_id,
            status,
            ..
        } => (context, attempt_id, status),
        other => panic!("not the code page: {other:?}"),
    }
}

#[test]
fn a_browser_signs_in_with_an_emailed_code_and_a_new_address_gets_its_state_in_the_tenant() {
    let p = place().with_passwordless();
    let client = p.public_client();
    let q = query(&client, &[]);
    let page = sign_in_page(p.authorize(&q, None));
    assert!(page.password && page.passwordless, "both methods offered");
    let newcomer = "newcomer@example.com";
    let sent = p.step(
        &q,
        "passwordless",
        PageForm {
            email: Some(newcomer.to_owned()),
            ..PageForm::default()
        },
    );
    let (_, attempt, status) = code_page(sent);
    assert_eq!(status, 200);
    let code = p.w.last_message(&p.shop, newcomer).code.expect("a code");
    let with = |code: &str| {
        p.step(
            &q,
            "code",
            PageForm {
                email: Some(newcomer.to_owned()),
                attempt_id: Some(attempt.clone()),
                code: Some(code.to_owned()),
                ..PageForm::default()
            },
        )
    };
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (_, again, status) = code_page(with(&wrong));
    assert_eq!(
        (status, again.as_str()),
        (401, attempt.as_str()),
        "asked again"
    );
    assert_eq!(code_page(with("12x456")).2, 400);
    let PageOutcome::SignedIn { session, location } = with(&code) else {
        panic!("not signed in");
    };
    assert!(location.ends_with(&format!("/oauth/authorize?{q}")));
    assert_eq!(error_code_of(with(&code)), 401, "a code works once");
    let PageOutcome::Consent { email, .. } = p.authorize(&q, Some(&session)) else {
        panic!("not the consent page");
    };
    assert_eq!(email, newcomer);
    let approved = to_client(p.decide(&q, &session, "approve"));
    let tokens = p.exchange(&client, &approved["code"]).expect("exchanged");
    // The new address is a user of the tenant now, with its state: active, free plan.
    let Introspection::Active(found) = p.introspect(&tokens.access_token) else {
        panic!("inactive");
    };
    assert_eq!(
        found.flags.status,
        tessera::domain::user::UserStatus::Active
    );
    assert_eq!(found.flags.plan_tier.as_str(), "free");
    let (_, face) = block_on(p.w.db.find_tenant_user_by_email(
        &p.shop,
        &p.acme,
        &tessera::domain::email::Email::parse(newcomer).unwrap(),
    ))
    .unwrap()
    .expect("its state in the tenant");
    assert_eq!(found.token.claims.sub, face.user_id.to_string());
}

fn error_code_of(outcome: PageOutcome) -> u16 {
    match outcome {
        PageOutcome::Code { status, .. } | PageOutcome::SignIn { status, .. } => status,
        other => panic!("not a page with an error: {other:?}"),
    }
}

#[test]
fn a_tenant_without_passwordless_sends_no_code_from_the_pages() {
    let p = place();
    let client = p.public_client();
    let q = query(&client, &[]);
    let page = sign_in_page(p.authorize(&q, None));
    assert!(page.password && !page.passwordless);
    let refused = p.step(
        &q,
        "passwordless",
        PageForm {
            email: Some(USER.to_owned()),
            ..PageForm::default()
        },
    );
    assert!(
        matches!(refused, PageOutcome::SignIn { status: 403, .. }),
        "{refused:?}"
    );
    assert_eq!(p.w.outbox_len(&p.shop), 0);
    // A forged code step names no attempt of this tenant.
    let forged = p.step(
        &q,
        "code",
        PageForm {
            email: Some(USER.to_owned()),
            attempt_id: Some("not-an-attempt".to_owned()),
            code: Some("123456".to_owned()),
            ..PageForm::default()
        },
    );
    assert!(
        matches!(forged, PageOutcome::Refused { status: 400, .. }),
        "{forged:?}"
    );
}

fn asserted(assertion: &str) -> introspection::Credentials<'_> {
    introspection::Credentials::Assertion {
        assertion_type: Some(ASSERTION_TYPE),
        assertion: Some(assertion),
        client_id: None,
    }
}

#[test]
fn a_private_key_jwt_client_introspects_and_revokes_its_own_tokens_with_assertions_used_once() {
    use introspection::ClientCheck;
    let p = place();
    let client = p.jwt_client();
    let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
    let fresh = |jti: &str| signed(1, header.clone(), assertion_claims(&client, p.now_s(), jti));
    let own = p
        .token(with_assertion(&fresh("issue")))
        .expect("a token")
        .access_token;
    let user_grant = p.grant(&p.public_client()).access_token;
    let introspects = |assertion: &str, token: &str| -> Result<bool, Error> {
        block_on(async {
            let cx = p.w.cx();
            let check = introspection::introspection_client(
                &cx,
                &Documents::default(),
                &p.shop,
                &p.acme,
                asserted(assertion),
            )
            .await?;
            let ClientCheck::Authenticated(caller) = check else {
                panic!("failed closed");
            };
            Ok(!matches!(
                introspection::introspect(&cx, &caller, token).await,
                Introspection::Inactive
            ))
        })
    };
    let once = fresh("look-1");
    assert_eq!(introspects(&once, &own), Ok(true));
    assert_eq!(
        introspects(&once, &own),
        Err(Error::InvalidClient),
        "an assertion works once, here too"
    );
    assert_eq!(
        introspects(&fresh("look-2"), &user_grant),
        Ok(false),
        "not its token"
    );
    assert_eq!(
        introspects(
            &signed(2, header.clone(), assertion_claims(&client, p.now_s(), "x")),
            &own
        ),
        Err(Error::InvalidClient),
        "another key"
    );
    // It revokes its own token (and not another's).
    block_on(async {
        let cx = p.w.cx();
        let caller = introspection::revocation_client(
            &cx,
            &Documents::default(),
            &p.shop,
            &p.acme,
            asserted(&fresh("revoke")),
        )
        .await?;
        introspection::revoke_token(&cx, &caller, &user_grant).await?;
        introspection::revoke_token(&cx, &caller, &own).await
    })
    .unwrap();
    assert!(!p.active(&own));
    assert!(p.active(&user_grant));
}
