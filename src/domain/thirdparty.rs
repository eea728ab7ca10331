//! Third-party sign-in per tenant, as plain values and pure rules: the providers a tenant
//! configures (`oidc`: any OpenID Connect issuer; `github`), the flows under way (state, PKCE,
//! nonce), what a provider asserts about its user, and the decision of what a first sign-in
//! does with an email the tenant already has.
//!
//! The flow's secrets: the client gets a 256-bit `state` (`tsf_…`), stored only as its hash.
//! The PKCE verifier and the OIDC nonce are HMACs of the state under a key derived from the
//! deployment secret (`FlowKey`), so they never need storing, and a state is good for exactly
//! one verifier and nonce. Nothing here does I/O or reads a clock.

use super::email::Email;
use super::ids::{AppId, ProviderId, TenantId};
use super::keys::derive_key;
use super::links::WebUrl;
use super::secret::{PlainSecret, SecretHash};
use super::time::Timestamp;
use super::user::{User, UserId};
use super::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// How long a started flow may be called back.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;
/// Most scopes a provider may request.
pub const MAX_SCOPES: usize = 20;
/// Longest client id accepted.
pub const MAX_CLIENT_ID_CHARS: usize = 255;
/// Longest client secret accepted.
pub const MAX_CLIENT_SECRET_BYTES: usize = 1024;

/// The web origin of github.com, the issuer of its identities.
pub const GITHUB_WEB: &str = "https://github.com";
/// The REST API of github.com.
pub const GITHUB_API: &str = "https://api.github.com";

/// What kind of identity provider a tenant configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenID Connect issuer: discovery, JWKS, ID tokens.
    Oidc,
    /// GitHub (or a GitHub Enterprise Server): OAuth 2 and the `user` and `user/emails` APIs.
    Github,
}

impl ProviderKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Oidc => "oidc",
            ProviderKind::Github => "github",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "oidc" => Ok(ProviderKind::Oidc),
            "github" => Ok(ProviderKind::Github),
            _ => Err(Error::validation("kind must be oidc or github")),
        }
    }

    /// The scopes requested when the operator names none.
    pub fn default_scopes(self) -> Vec<String> {
        let scopes: &[&str] = match self {
            ProviderKind::Oidc => &["openid", "email", "profile"],
            ProviderKind::Github => &["read:user", "user:email"],
        };
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the form (`client_secret_post`).
    Post,
}

impl TokenAuth {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAuth::Basic => "basic",
            TokenAuth::Post => "post",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "basic" => Some(TokenAuth::Basic),
            "post" => Some(TokenAuth::Post),
            _ => None,
        }
    }
}

/// Where a provider is reached: every URL the worker calls for it, fixed when it is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization_endpoint: WebUrl,
    pub token_endpoint: WebUrl,
    /// The issuer's keys (oidc).
    pub jwks_uri: Option<WebUrl>,
    /// The UserInfo endpoint (oidc, when the issuer has one), or the REST API's base (github).
    pub userinfo_endpoint: Option<WebUrl>,
    pub token_auth: TokenAuth,
}

/// A tenant's identity provider as stored: the client secret only sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub id: ProviderId,
    pub kind: ProviderKind,
    /// The OpenID issuer (oidc), or the web origin of the GitHub instance (github): also what
    /// the identities of this provider are bound to.
    pub issuer: WebUrl,
    pub client_id: String,
    /// The client secret, sealed (`KeyEncryptionKey`, `secret_context` as associated data).
    pub sealed_secret: String,
    pub scopes: Vec<String>,
    pub endpoints: Endpoints,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Provider {
    /// Whether a replacement may keep this provider's sealed client secret when it does not
    /// bring one: only when the secret would go to the same place — same kind, issuer, client
    /// id and endpoints. Otherwise whoever may configure providers could point a provider at
    /// a token endpoint of their own and have the worker post the stored secret there.
    pub fn secret_may_stay_for(
        &self,
        kind: ProviderKind,
        issuer: &WebUrl,
        client_id: &str,
        endpoints: &Endpoints,
    ) -> bool {
        self.kind == kind
            && self.issuer == *issuer
            && self.client_id == client_id
            && self.endpoints == *endpoints
    }

    /// The associated data a provider's client secret is sealed under: its full identity, so
    /// a sealed secret copied onto another provider's row does not open.
    pub fn secret_context(app: &AppId, tenant: &TenantId, id: &ProviderId) -> String {
        format!("provider:{app}:{tenant}:{id}")
    }
}

/// Checks a client id: 1 to 255 printable characters without spaces.
pub fn parse_client_id(raw: &str) -> Result<String, Error> {
    let ok = !raw.is_empty()
        && raw.chars().count() <= MAX_CLIENT_ID_CHARS
        && raw.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| raw.to_owned()).ok_or_else(|| {
        Error::validation(format!(
            "client_id must be 1 to {MAX_CLIENT_ID_CHARS} printable ASCII characters"
        ))
    })
}

/// Checks a client secret: 1 to 1024 bytes of printable ASCII.
pub fn check_client_secret(raw: &str) -> Result<(), Error> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_CLIENT_SECRET_BYTES
        && raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "client_secret must be 1 to {MAX_CLIENT_SECRET_BYTES} printable ASCII characters"
        )))
    }
}

/// The scopes to request: the given ones (scope tokens of RFC 6749 §3.3, at most 20, duplicates
/// dropped) or the kind's defaults; an OIDC provider's must include `openid`.
pub fn parse_scopes(kind: ProviderKind, raw: Option<&[String]>) -> Result<Vec<String>, Error> {
    let Some(raw) = raw else {
        return Ok(kind.default_scopes());
    };
    if raw.is_empty() || raw.len() > MAX_SCOPES {
        return Err(Error::validation(format!(
            "scopes must hold 1 to {MAX_SCOPES} scopes"
        )));
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw {
        let ok = !scope.is_empty()
            && scope.len() <= 128
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !ok {
            return Err(Error::validation(format!(
                "scope {scope:?} is not a scope token"
            )));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    if kind == ProviderKind::Oidc && !scopes.iter().any(|s| s == "openid") {
        return Err(Error::validation(
            "an oidc provider's scopes must include openid",
        ));
    }
    Ok(scopes)
}

/// The issuer and endpoints of GitHub: github.com, or the GitHub Enterprise Server at `base`
/// (its web origin; its API is under `/api/v3`).
pub fn github_endpoints(base: Option<&WebUrl>) -> Result<(WebUrl, Endpoints), Error> {
    let url = |raw: &str| WebUrl::parse_provider_url(raw, "enterprise_url");
    let (web, api) = match base {
        None => (url(GITHUB_WEB)?, url(GITHUB_API)?),
        Some(base) => {
            let web = base.as_str().trim_end_matches('/');
            (url(web)?, url(&format!("{web}/api/v3"))?)
        }
    };
    let endpoints = Endpoints {
        authorization_endpoint: url(&format!("{web}/login/oauth/authorize"))?,
        token_endpoint: url(&format!("{web}/login/oauth/access_token"))?,
        jwks_uri: None,
        userinfo_endpoint: Some(api),
        token_auth: TokenAuth::Post,
    };
    Ok((web, endpoints))
}

/// Where an issuer's discovery document is (OpenID Connect Discovery §4).
pub fn discovery_url(issuer: &WebUrl) -> Result<WebUrl, Error> {
    let base = issuer.as_str().trim_end_matches('/');
    WebUrl::parse_provider_url(
        &format!("{base}/.well-known/openid-configuration"),
        "issuer",
    )
}

/// The members of a discovery document this worker reads.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoveryDocument {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// The endpoints an issuer's discovery document names. Refused (`502 provider_error`) unless
/// the document is of exactly this issuer, every URL is https (or loopback http), the client
/// can authenticate with a secret, and PKCE S256 is not ruled out.
pub fn endpoints_of(issuer: &WebUrl, doc: &DiscoveryDocument) -> Result<Endpoints, Error> {
    let provider = |reason: &str| Error::ProviderError(format!("discovery refused: {reason}"));
    if doc.issuer != issuer.as_str() {
        return Err(provider("the document is of another issuer"));
    }
    let url = |raw: &str, field: &str| {
        WebUrl::parse_provider_url(raw, field).map_err(|_| provider("an endpoint is not https"))
    };
    let token_auth = match &doc.token_endpoint_auth_methods_supported {
        None => TokenAuth::Basic,
        Some(methods) if methods.iter().any(|m| m == "client_secret_basic") => TokenAuth::Basic,
        Some(methods) if methods.iter().any(|m| m == "client_secret_post") => TokenAuth::Post,
        Some(_) => return Err(provider("no client secret authentication")),
    };
    if doc
        .code_challenge_methods_supported
        .as_ref()
        .is_some_and(|methods| !methods.iter().any(|m| m == "S256"))
    {
        return Err(provider("no PKCE S256"));
    }
    Ok(Endpoints {
        authorization_endpoint: url(&doc.authorization_endpoint, "authorization_endpoint")?,
        token_endpoint: url(&doc.token_endpoint, "token_endpoint")?,
        jwks_uri: Some(url(&doc.jwks_uri, "jwks_uri")?),
        userinfo_endpoint: doc
            .userinfo_endpoint
            .as_deref()
            .map(|u| url(u, "userinfo_endpoint"))
            .transpose()?,
        token_auth,
    })
}

/// A flow started and not yet called back, as stored (the state only as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub state_hash: SecretHash,
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub provider_id: ProviderId,
    pub redirect_uri: WebUrl,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Flow {
    /// True when the flow was started at this tenant for this provider and is still alive.
    pub fn is_open_for(
        &self,
        app: &AppId,
        tenant: &TenantId,
        provider: &ProviderId,
        now: Timestamp,
    ) -> bool {
        &self.app_id == app
            && &self.tenant_id == tenant
            && &self.provider_id == provider
            && now < self.expires_at
    }
}

/// The key of the values derived from a flow's state (PKCE verifier, nonce).
pub struct FlowKey([u8; 32]);

impl FlowKey {
    /// Derives the key from the deployment secret (its own label).
    pub fn from_secret(secret: &str) -> Result<Self, Error> {
        derive_key(secret, b"tessera/thirdparty-flow/v1").map(FlowKey)
    }

    fn derive(&self, purpose: &str, state: &PlainSecret) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(state.expose().as_bytes());
        B64URL.encode(mac.finalize().into_bytes())
    }

    /// The PKCE `code_verifier` of the flow (43 base64url characters, RFC 7636 §4.1).
    pub fn verifier(&self, state: &PlainSecret) -> String {
        self.derive("pkce", state)
    }

    /// The OIDC `nonce` of the flow.
    pub fn nonce(&self, state: &PlainSecret) -> String {
        self.derive("nonce", state)
    }
}

/// The S256 `code_challenge` of a verifier (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// The URL the user's browser is sent to: the provider's authorization endpoint with the
/// authorization request (code flow, PKCE S256, and the nonce for OIDC).
pub fn authorization_url(
    provider: &Provider,
    redirect_uri: &WebUrl,
    state: &PlainSecret,
    key: &FlowKey,
) -> String {
    let scope = provider.scopes.join(" ");
    let challenge = code_challenge(&key.verifier(state));
    let nonce = key.nonce(state);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", provider.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", scope.as_str()),
        ("state", state.expose()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if provider.kind == ProviderKind::Oidc {
        pairs.push(("nonce", nonce.as_str()));
    }
    provider.endpoints.authorization_endpoint.with_query(&pairs)
}

/// What a provider asserts about the person who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The provider's stable id of the person (`sub`, GitHub's numeric user id).
    pub subject: String,
    pub email: Option<Email>,
    /// True only when the provider asserted the email verified.
    pub email_verified: bool,
}

/// A provider's subject linked to a user of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub provider_id: ProviderId,
    pub subject: String,
    /// The provider's issuer when the link was made.
    pub issuer: String,
    pub user_id: UserId,
    /// The email the provider asserted at the link.
    pub email: Option<Email>,
    pub created_at: Timestamp,
}

/// What a first sign-in with a provider (no identity of its subject yet) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstSignIn {
    /// No user of the tenant has the email, and the provider asserted it verified: sign up.
    SignUp,
    /// The tenant's user of that email, and the provider asserted it verified: link. When that
    /// user never verified the email, `takeover` is set: whoever made the account may not be
    /// the email's owner (pre-account takeover), so its password is removed and its sessions
    /// revoked as the link is made.
    Link { takeover: bool },
}

/// Decides a first sign-in (the linking rules of `API.md`): linking by email needs the
/// provider to assert the email verified (else `409 email_taken`), and so does signing up
/// (else `403 email_not_verified`): nobody gets an account of an address nobody proved.
pub fn first_sign_in(profile: &Profile, existing: Option<&User>) -> Result<FirstSignIn, Error> {
    match (existing, profile.email.is_some() && profile.email_verified) {
        (Some(user), true) => Ok(FirstSignIn::Link {
            takeover: !user.email_verified,
        }),
        (Some(_), false) => Err(Error::EmailTaken),
        (None, true) => Ok(FirstSignIn::SignUp),
        (None, false) => Err(Error::EmailNotVerified),
    }
}

/// GitHub's `GET /user` (the members read).
#[derive(Debug, Clone, Deserialize)]
pub struct GithubUser {
    pub id: u64,
}

/// One entry of GitHub's `GET /user/emails`.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubEmail {
    pub email: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub verified: bool,
}

/// What GitHub asserts: the numeric user id as subject, and the primary email with its
/// verification (an account without a primary email asserts none).
pub fn github_profile(user: &GithubUser, emails: &[GithubEmail]) -> Profile {
    let primary = emails
        .iter()
        .find(|e| e.primary)
        .and_then(|e| Email::parse(&e.email).ok().map(|email| (email, e.verified)));
    Profile {
        subject: user.id.to_string(),
        email_verified: primary.as_ref().is_some_and(|(_, verified)| *verified),
        email: primary.map(|(email, _)| email),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret::SecretKind;

    fn user(verified: bool) -> User {
        User {
            app_id: AppId::parse("shop").unwrap(),
            id: UserId::generate(Timestamp::EPOCH, [1; 10]),
            email: Email::parse("ada@example.com").unwrap(),
            password_hash: None,
            email_verified: verified,
            passwordless: false,
            created_at: Timestamp::EPOCH,
        }
    }

    fn profile(email: Option<&str>, verified: bool) -> Profile {
        Profile {
            subject: "123".into(),
            email: email.map(|e| Email::parse(e).unwrap()),
            email_verified: verified,
        }
    }

    #[test]
    fn first_sign_ins_link_only_emails_the_provider_verified() {
        let ada = Some("ada@example.com");
        let table = [
            (
                profile(ada, true),
                Some(user(true)),
                Ok(FirstSignIn::Link { takeover: false }),
            ),
            (
                profile(ada, true),
                Some(user(false)),
                Ok(FirstSignIn::Link { takeover: true }),
            ),
            (
                profile(ada, false),
                Some(user(true)),
                Err(Error::EmailTaken),
            ),
            (
                profile(ada, false),
                Some(user(false)),
                Err(Error::EmailTaken),
            ),
            (profile(ada, true), None, Ok(FirstSignIn::SignUp)),
            (profile(ada, false), None, Err(Error::EmailNotVerified)),
            (profile(None, true), None, Err(Error::EmailNotVerified)),
        ];
        for (profile, existing, expected) in table {
            assert_eq!(
                first_sign_in(&profile, existing.as_ref()),
                expected,
                "{profile:?} with {existing:?}"
            );
        }
    }

    #[test]
    fn the_verifier_and_nonce_are_bound_to_the_state() {
        let key = FlowKey::from_secret("0123456789abcdef0123456789abcdef").unwrap();
        let a = PlainSecret::generate(SecretKind::FlowState, [1; 32]);
        let b = PlainSecret::generate(SecretKind::FlowState, [2; 32]);
        assert_eq!(key.verifier(&a), key.verifier(&a));
        assert_ne!(key.verifier(&a), key.verifier(&b));
        assert_ne!(key.verifier(&a), key.nonce(&a));
        assert_eq!(key.verifier(&a).len(), 43);
        let other = FlowKey::from_secret("another secret that is long enough!").unwrap();
        assert_ne!(key.nonce(&a), other.nonce(&a));
    }

    #[test]
    fn the_code_challenge_is_rfc_7636s() {
        // RFC 7636, Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn discovery_must_be_of_the_issuer_and_use_safe_urls() {
        let issuer = WebUrl::parse_provider_url("https://idp.example", "issuer").unwrap();
        let doc = |iss: &str, token: &str| DiscoveryDocument {
            issuer: iss.into(),
            authorization_endpoint: "https://idp.example/auth".into(),
            token_endpoint: token.into(),
            jwks_uri: "https://keys.idp.example/jwks".into(),
            userinfo_endpoint: None,
            token_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: None,
        };
        let ok = endpoints_of(
            &issuer,
            &doc("https://idp.example", "https://idp.example/t"),
        );
        assert_eq!(ok.unwrap().token_auth, TokenAuth::Basic);
        assert!(endpoints_of(
            &issuer,
            &doc("https://evil.example", "https://idp.example/t")
        )
        .is_err());
        assert!(
            endpoints_of(&issuer, &doc("https://idp.example", "http://idp.example/t")).is_err()
        );
        let mut post = doc("https://idp.example", "https://idp.example/t");
        post.token_endpoint_auth_methods_supported = Some(vec!["client_secret_post".into()]);
        assert_eq!(
            endpoints_of(&issuer, &post).unwrap().token_auth,
            TokenAuth::Post
        );
        post.token_endpoint_auth_methods_supported = Some(vec!["private_key_jwt".into()]);
        assert!(endpoints_of(&issuer, &post).is_err());
        let mut plain = doc("https://idp.example", "https://idp.example/t");
        plain.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert!(endpoints_of(&issuer, &plain).is_err());
        assert_eq!(
            discovery_url(&issuer).unwrap().as_str(),
            "https://idp.example/.well-known/openid-configuration"
        );
    }

    #[test]
    fn scopes_default_per_kind_and_oidc_needs_openid() {
        assert_eq!(parse_scopes(ProviderKind::Oidc, None).unwrap()[0], "openid");
        assert!(parse_scopes(ProviderKind::Oidc, Some(&["email".into()])).is_err());
        assert!(parse_scopes(ProviderKind::Github, Some(&["a b".into()])).is_err());
        assert!(parse_scopes(ProviderKind::Github, Some(&[])).is_err());
        assert_eq!(
            parse_scopes(ProviderKind::Github, Some(&["x".into(), "x".into()])).unwrap(),
            vec!["x"]
        );
    }

    #[test]
    fn github_asserts_its_primary_email_with_its_verification() {
        let user = GithubUser { id: 42 };
        let email = |e: &str, primary, verified| GithubEmail {
            email: e.into(),
            primary,
            verified,
        };
        let p = github_profile(
            &user,
            &[
                email("old@example.com", false, true),
                email("ada@example.com", true, true),
            ],
        );
        assert_eq!(p.subject, "42");
        assert_eq!(p.email.unwrap().as_str(), "ada@example.com");
        assert!(p.email_verified);
        let unverified = github_profile(&user, &[email("ada@example.com", true, false)]);
        assert!(!unverified.email_verified);
        let none = github_profile(&user, &[email("old@example.com", false, true)]);
        assert_eq!((none.email, none.email_verified), (None, false));
    }

    #[test]
    fn github_enterprise_is_reached_under_its_own_origin() {
        let (web, e) = github_endpoints(None).unwrap();
        assert_eq!(web.as_str(), GITHUB_WEB);
        assert_eq!(
            e.token_endpoint.as_str(),
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(e.userinfo_endpoint.unwrap().as_str(), GITHUB_API);
        let base = WebUrl::parse_provider_url("https://ghe.example/", "enterprise_url").unwrap();
        let (web, e) = github_endpoints(Some(&base)).unwrap();
        assert_eq!(web.as_str(), "https://ghe.example");
        assert_eq!(
            e.userinfo_endpoint.unwrap().as_str(),
            "https://ghe.example/api/v3"
        );
    }
}
