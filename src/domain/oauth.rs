//! The OAuth 2.1 authorization server of a tenant, as plain values and pure rules: the
//! tenant's OAuth settings, its clients, an authorization request and what is wrong with it,
//! PKCE, exact redirect-URI matching, scopes, authorization codes and the grant a session
//! carries when an OAuth client holds it.
//!
//! Secrets: a confidential client's secret (`tss_…`) and an authorization code (`tsa_…`) are
//! 256-bit `PlainSecret`s stored only as their SHA-256. A code works once, within
//! `CODE_TTL_MS`, for the client, redirect URI and PKCE challenge it was issued for. Nothing
//! here does I/O or reads a clock.

use super::client_assertion::ClientKeys;
use super::ids::{AppId, TenantId};
use super::links::WebUrl;
use super::secret::{secrets_match, SecretHash};
use super::session::SessionId;
use super::time::Timestamp;
use super::user::UserId;
use super::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How long an authorization code may be exchanged.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Most scopes a tenant may define, or a client may hold.
pub const MAX_SCOPES: usize = 50;
/// Most redirect URIs of a client.
pub const MAX_CLIENT_REDIRECT_URIS: usize = 20;
/// Longest client name.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;
/// Longest scope description.
pub const MAX_SCOPE_DESCRIPTION_CHARS: usize = 200;
/// Longest `state` a client may send (it comes back in the redirect).
pub const MAX_STATE_BYTES: usize = 1024;
/// Bounds of an OAuth access token's lifetime, seconds.
pub const ACCESS_TTL_BOUNDS: (i64, i64) = (60, 86_400);

/// Whether clients may register themselves (RFC 7591) at this tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Off,
    Open,
    Approval,
}

impl Registration {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Off => "off",
            Registration::Open => "open",
            Registration::Approval => "approval",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "off" => Ok(Registration::Off),
            "open" => Ok(Registration::Open),
            "approval" => Ok(Registration::Approval),
            _ => Err(Error::validation(
                "registration must be \"off\", \"open\" or \"approval\"",
            )),
        }
    }
}

/// A tenant's OAuth settings (stored as JSON with the tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthSettings {
    pub registration: Registration,
    pub client_id_metadata_documents: bool,
    /// Scope name → the description the consent page shows.
    pub scopes: BTreeMap<String, String>,
    pub access_token_ttl_seconds: i64,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            registration: Registration::Off,
            client_id_metadata_documents: false,
            scopes: BTreeMap::new(),
            access_token_ttl_seconds: 900,
        }
    }
}

impl OAuthSettings {
    /// Checks settings given by a member: scope names are RFC 6749 scope tokens, descriptions
    /// short, the lifetime within `ACCESS_TTL_BOUNDS`.
    pub fn validate(self) -> Result<Self, Error> {
        if self.scopes.len() > MAX_SCOPES {
            return Err(Error::validation(format!(
                "scopes holds at most {MAX_SCOPES} names"
            )));
        }
        for (name, description) in &self.scopes {
            if !is_scope_token(name) {
                return Err(Error::validation(format!(
                    "scope {name:?} is not a valid scope name (printable ASCII, no space, quote or backslash, at most 100 characters)"
                )));
            }
            if description.chars().count() > MAX_SCOPE_DESCRIPTION_CHARS
                || description.chars().any(char::is_control)
            {
                return Err(Error::validation(format!(
                    "the description of scope {name:?} must be at most {MAX_SCOPE_DESCRIPTION_CHARS} characters, without control characters"
                )));
            }
        }
        let (low, high) = ACCESS_TTL_BOUNDS;
        if !(low..=high).contains(&self.access_token_ttl_seconds) {
            return Err(Error::validation(format!(
                "access_token_ttl_seconds must be between {low} and {high}"
            )));
        }
        Ok(self)
    }

    /// Reads settings stored earlier (`None` when the row holds none: the defaults apply).
    pub fn from_stored(raw: Option<&str>) -> Result<Self, Error> {
        match raw {
            None => Ok(OAuthSettings::default()),
            Some(raw) => serde_json::from_str(raw)
                .map_err(|_| Error::Internal("stored OAuth settings are invalid".to_owned())),
        }
    }
}

/// An RFC 6749 scope token: `%x21 / %x23-5B / %x5D-7E`, here at most 100 characters.
pub fn is_scope_token(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 100
        && raw
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Parses a `scope` parameter: space-separated scope tokens, duplicates dropped, in order.
pub fn parse_scope(raw: &str) -> Option<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for token in raw.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return None;
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    (scopes.len() <= MAX_SCOPES).then_some(scopes)
}

/// A client's id: a registered client's `tsc_` and 22 base64url characters (128 random bits),
/// or the `https` URL of a Client ID Metadata Document (the client describes itself there).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

/// Longest metadata-document client id.
pub const MAX_DOCUMENT_CLIENT_ID_BYTES: usize = 255;

impl ClientId {
    /// A new id from 16 random bytes.
    pub fn generate(random: [u8; 16]) -> Self {
        ClientId(format!("tsc_{}", B64URL.encode(random)))
    }

    /// Parses a client id of either shape; anything else names no client. A document's URL
    /// is `https` on a host the worker may call (no IP literal of a private range, no
    /// `localhost`), with a path, without query, fragment or credentials.
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(body) = raw.strip_prefix("tsc_") {
            return (body.len() == 22
                && body
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| ClientId(raw.to_owned()));
        }
        Self::parse_document_url(raw)
    }

    fn parse_document_url(raw: &str) -> Option<Self> {
        if raw.len() > MAX_DOCUMENT_CLIENT_ID_BYTES || !raw.starts_with("https://") {
            return None;
        }
        let url = WebUrl::parse_provider_url(raw, "client_id").ok()?;
        let rest = &url.as_str()["https://".len()..];
        let slash = rest.find('/')?;
        let (authority, path) = rest.split_at(slash);
        // No port (443 only), no dot segment and no encoded `/`, `\` or `.` (the URL a
        // document is fetched from is the id it carries, not another path it resolves to).
        let lower = path.to_ascii_lowercase();
        let plain_path = !path.split('/').any(|seg| seg == "." || seg == "..")
            && !lower.contains("%2e")
            && !lower.contains("%2f")
            && !lower.contains("%5c");
        // Compared byte for byte with the document's own `client_id`: only the normalised
        // form (lower-case scheme and host) is an id.
        (url.as_str() == raw
            && path.len() > 1
            && !raw.contains('?')
            && !authority.contains(':')
            && plain_path)
            .then(|| ClientId(raw.to_owned()))
    }

    /// True for the URL of a Client ID Metadata Document.
    pub fn is_document(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The document's URL, for a document client id.
    pub fn document_url(&self) -> Option<WebUrl> {
        self.is_document()
            .then(|| WebUrl::parse_provider_url(&self.0, "client_id").ok())
            .flatten()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Public clients (native apps, SPAs, MCP clients without a backend) hold no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Public,
    Confidential,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "public" => Ok(ClientType::Public),
            "confidential" => Ok(ClientType::Confidential),
            _ => Err(Error::validation(
                "type must be \"public\" or \"confidential\"",
            )),
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A public client: its `client_id` only, PKCE proves the rest.
    None,
    /// HTTP Basic with the client id and secret.
    SecretBasic,
    /// `client_id` and `client_secret` in the form.
    SecretPost,
    /// A JWT signed with one of the client's registered keys (RFC 7523,
    /// `domain::client_assertion`).
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::SecretBasic => "client_secret_basic",
            AuthMethod::SecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "none" => Ok(AuthMethod::None),
            "client_secret_basic" => Ok(AuthMethod::SecretBasic),
            "client_secret_post" => Ok(AuthMethod::SecretPost),
            "private_key_jwt" => Ok(AuthMethod::PrivateKeyJwt),
            _ => Err(Error::validation(
                "token_endpoint_auth_method must be \"none\", \"client_secret_basic\", \"client_secret_post\" or \"private_key_jwt\"",
            )),
        }
    }
}

/// The grants a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
}

/// Whether a client may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Active,
    Disabled,
    /// Registered under `approval`, not yet approved by a member.
    Pending,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Disabled => "disabled",
            ClientStatus::Pending => "pending",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "active" => Ok(ClientStatus::Active),
            "disabled" => Ok(ClientStatus::Disabled),
            "pending" => Ok(ClientStatus::Pending),
            _ => Err(Error::validation(
                "status must be \"active\", \"disabled\" or \"pending\"",
            )),
        }
    }
}

/// An OAuth client of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<WebUrl>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub status: ClientStatus,
    /// The SHA-256 of a confidential client's secret (`client_secret_basic`/`_post`).
    pub secret_hash: Option<SecretHash>,
    /// The public keys of a `private_key_jwt` client.
    pub jwks: Option<ClientKeys>,
    /// Its `client_credentials` tokens issued before this time are revoked.
    pub tokens_revoked_before: Option<Timestamp>,
    /// Registered by itself (RFC 7591) or described by its own metadata document: nobody
    /// vetted its redirect URIs, so a bad request is never sent back to them before the user
    /// has seen the pages (RFC 9700 §4.11.2).
    pub self_registered: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// How many times the stored client was written since it was created: a change is written
    /// only over the version it was made from (compare-and-swap), so two concurrent changes
    /// never lose one another (`OAuthStore::update_client`).
    pub version: i64,
}

/// A confidential client as `/oauth/introspect` and `/oauth/revoke` know it: published in KV
/// under the hash of its secret while it is active (as API keys are), so that authenticating
/// it there reads no D1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub client_id: ClientId,
    pub created_at: Timestamp,
}

impl ClientKey {
    /// The published form of an active confidential client (`None` for any other).
    pub fn of(client: &Client) -> Option<(SecretHash, ClientKey)> {
        let hash = client.secret_hash.clone()?;
        client.is_active().then(|| {
            (
                hash,
                ClientKey {
                    app_id: client.app_id.clone(),
                    tenant_id: client.tenant_id.clone(),
                    client_id: client.id.clone(),
                    created_at: client.created_at,
                },
            )
        })
    }
}

/// The cut of a client's `client_credentials` tokens, as introspection reads it from KV: its
/// tokens issued before `not_before_ms` are revoked. Written only by the changes that revoke
/// them — revocation, disabling, narrowing (a cut a few seconds ahead, so a token issued while
/// the change is under way dies with the others), deletion (a cut that never passes) — before
/// D1 changes, and never by issuance: one writer of a cut, which only moves forward. It lives
/// in KV as long as any token it cuts could (no document: no cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTokens {
    /// Tokens issued before this are revoked (Unix ms).
    pub not_before_ms: i64,
    /// The document is kept until then (it expires from KV with it), Unix ms.
    pub until_ms: i64,
}

impl ClientTokens {
    /// How far ahead of the change a cut falls: a token issued by a request that read the
    /// client just before the change (and answered just after it) dies with the others.
    pub const MARGIN_MS: i64 = 5_000;
    /// How long past the longest token a document is kept.
    pub const SLACK_MS: i64 = 3600 * 1000;

    /// The cut of a deleted client: none of its tokens is ever active again.
    pub fn withdrawn(now: Timestamp) -> Self {
        ClientTokens {
            not_before_ms: i64::MAX,
            until_ms: Self::outliving(now),
        }
    }

    /// The cut of a client whose tokens issued until about `now` are revoked.
    pub fn cut_at(now: Timestamp) -> Self {
        ClientTokens {
            not_before_ms: now.unix_ms() + Self::MARGIN_MS,
            until_ms: Self::outliving(now),
        }
    }

    fn outliving(now: Timestamp) -> i64 {
        now.unix_ms()
            + super::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS.saturating_mul(1000)
            + Self::MARGIN_MS
            + Self::SLACK_MS
    }

    /// True when a client token issued at `iat` (Unix seconds) survives this cut.
    pub fn admits(&self, iat: i64) -> bool {
        iat.saturating_mul(1000) >= self.not_before_ms
    }
}

/// What a member (or a registration) says about a client; checked by `ClientSpec::check`.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub name: Option<String>,
    pub client_type: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub auth_method: Option<String>,
    /// The public keys of a `private_key_jwt` client (a JWK set).
    pub jwks: Option<serde_json::Value>,
}

/// A client's checked properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientShape {
    pub name: String,
    pub client_type: ClientType,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<WebUrl>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub jwks: Option<ClientKeys>,
}

/// Characters a name must not hold: controls, and the invisible or direction-changing format
/// characters a client could use to pass for another (U+200B–U+200F, U+202A–U+202E,
/// U+2060–U+2069, U+FEFF, U+061C, U+180E).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}')
        || matches!(c, '\u{FEFF}' | '\u{061C}' | '\u{180E}')
}

fn check_name(raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_CLIENT_NAME_CHARS
        || name.chars().any(is_hidden)
    {
        return Err(Error::validation(format!(
            "name must be 1 to {MAX_CLIENT_NAME_CHARS} characters, without control or invisible characters"
        )));
    }
    Ok(name.to_owned())
}

fn check_redirect_uris(raw: &[String]) -> Result<Vec<WebUrl>, Error> {
    if raw.len() > MAX_CLIENT_REDIRECT_URIS {
        return Err(Error::validation(format!(
            "redirect_uris holds at most {MAX_CLIENT_REDIRECT_URIS} URIs"
        )));
    }
    let mut uris: Vec<WebUrl> = Vec::new();
    for item in raw {
        let uri = WebUrl::parse_redirect_uri(item)?;
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

fn check_scopes(raw: &[String], settings: &OAuthSettings) -> Result<Vec<String>, Error> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw {
        if !settings.scopes.contains_key(scope) {
            return Err(Error::validation(format!(
                "scope {scope:?} is not one of the tenant's OAuth scopes"
            )));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    Ok(scopes)
}

impl ClientSpec {
    /// The shape of a new client: defaults filled in, every rule checked against the tenant's
    /// settings. A public client authenticates with `none` and cannot use
    /// `client_credentials`; a confidential one uses a secret; the code grant needs at least
    /// one redirect URI.
    pub fn check_new(self, settings: &OAuthSettings) -> Result<ClientShape, Error> {
        let name = check_name(self.name.as_deref().unwrap_or(""))?;
        let client_type = ClientType::parse(self.client_type.as_deref().unwrap_or(""))?;
        let auth_method = match (client_type, self.auth_method.as_deref()) {
            (ClientType::Public, None) => AuthMethod::None,
            (ClientType::Confidential, None) => AuthMethod::SecretBasic,
            (_, Some(raw)) => AuthMethod::parse(raw)?,
        };
        let grant_types = self
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
        let shape = ClientShape {
            name,
            client_type,
            auth_method,
            redirect_uris: check_redirect_uris(&self.redirect_uris.unwrap_or_default())?,
            grant_types: parse_grant_types(&grant_types)?,
            scopes: check_scopes(&self.scopes.unwrap_or_default(), settings)?,
            jwks: self.jwks.as_ref().map(ClientKeys::parse).transpose()?,
        };
        shape.consistent()
    }

    /// `shape` changed by this spec (a PATCH): only the fields it names.
    pub fn check_change(
        self,
        shape: ClientShape,
        settings: &OAuthSettings,
    ) -> Result<ClientShape, Error> {
        if self.client_type.is_some() || self.auth_method.is_some() {
            return Err(Error::validation(
                "type and token_endpoint_auth_method cannot change; register another client",
            ));
        }
        let changed = ClientShape {
            name: match self.name {
                Some(name) => check_name(&name)?,
                None => shape.name,
            },
            redirect_uris: match self.redirect_uris {
                Some(uris) => check_redirect_uris(&uris)?,
                None => shape.redirect_uris,
            },
            grant_types: match self.grant_types {
                Some(grants) => parse_grant_types(&grants)?,
                None => shape.grant_types,
            },
            scopes: match self.scopes {
                Some(scopes) => check_scopes(&scopes, settings)?,
                None => shape.scopes,
            },
            // A private_key_jwt client's keys change whole (a rotation); `consistent` refuses
            // keys for any other client.
            jwks: match self.jwks {
                Some(jwks) => Some(ClientKeys::parse(&jwks)?),
                None => shape.jwks,
            },
            ..shape
        };
        changed.consistent()
    }
}

fn parse_grant_types(raw: &[String]) -> Result<Vec<GrantType>, Error> {
    let mut grants: Vec<GrantType> = Vec::new();
    for item in raw {
        let grant = GrantType::parse(item).ok_or_else(|| {
            Error::validation(format!(
                "grant type {item:?} is not one of authorization_code, refresh_token, client_credentials"
            ))
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    grants.sort();
    if grants.is_empty() {
        return Err(Error::validation("grant_types must not be empty"));
    }
    Ok(grants)
}

impl ClientShape {
    fn consistent(self) -> Result<Self, Error> {
        match (self.client_type, self.auth_method) {
            (ClientType::Public, AuthMethod::None) => {}
            (
                ClientType::Confidential,
                AuthMethod::SecretBasic | AuthMethod::SecretPost | AuthMethod::PrivateKeyJwt,
            ) => {}
            _ => {
                return Err(Error::validation(
                    "a public client authenticates with \"none\"; a confidential one with client_secret_basic, client_secret_post or private_key_jwt",
                ))
            }
        }
        match (self.auth_method, &self.jwks) {
            (AuthMethod::PrivateKeyJwt, None) => {
                return Err(Error::validation(
                    "a private_key_jwt client registers its public keys (jwks)",
                ))
            }
            (AuthMethod::PrivateKeyJwt, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(Error::validation(
                    "only a private_key_jwt client registers keys (jwks)",
                ))
            }
        }
        if self.client_type == ClientType::Public
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(Error::validation(
                "a public client cannot use client_credentials",
            ));
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            return Err(Error::validation(
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        Ok(self)
    }
}

impl Client {
    /// The client's checked properties (what a change starts from).
    pub fn shape(&self) -> ClientShape {
        ClientShape {
            name: self.name.clone(),
            client_type: self.client_type,
            auth_method: self.auth_method,
            redirect_uris: self.redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            scopes: self.scopes.clone(),
            jwks: self.jwks.clone(),
        }
    }

    /// True when the client may be used at all.
    pub fn is_active(&self) -> bool {
        self.status == ClientStatus::Active
    }

    /// May use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The registered redirect URI that `requested` matches exactly — or, for a loopback IP
    /// redirect, whatever its port (RFC 8252 §7.3) — as the requested text.
    pub fn redirect_for(&self, requested: &str) -> Option<WebUrl> {
        let requested = WebUrl::parse_redirect_uri(requested).ok()?;
        let loose = requested.without_loopback_port();
        self.redirect_uris
            .iter()
            .any(|registered| {
                registered == &requested || registered.without_loopback_port() == loose
            })
            .then_some(requested)
    }

    /// Whether `presented` is this client's secret (constant time).
    pub fn secret_matches(&self, presented_hash: &SecretHash) -> bool {
        self.secret_hash
            .as_ref()
            .is_some_and(|stored| secrets_match(presented_hash.as_str(), stored.as_str()))
    }

    /// A hash of what a user's consent to this client depends on: its redirect URIs and the
    /// resource (RFC 8707) its tokens are for. A remembered consent whose hash differs is
    /// asked again.
    pub fn consent_fingerprint(&self, resource: Option<&str>) -> String {
        let mut hasher = Sha256::new();
        for uri in &self.redirect_uris {
            hasher.update((uri.as_str().len() as u64).to_be_bytes());
            hasher.update(uri.as_str().as_bytes());
        }
        hasher.update([0xff]);
        hasher.update(resource.unwrap_or("").as_bytes());
        super::secret::hex(&hasher.finalize())
    }
}

/// Largest Client ID Metadata Document read, in bytes.
pub const DOCUMENT_MAX_BYTES: usize = 5 * 1024;
/// How long a Client ID Metadata Document's host has to answer, in seconds.
pub const DOCUMENT_TIMEOUT_SECONDS: u64 = 5;
/// How long a fetched document is kept (in KV) before it is fetched again, in seconds.
pub const DOCUMENT_CACHE_SECONDS: u64 = 3600;

#[derive(Deserialize)]
struct DocumentIn {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// The client a Client ID Metadata Document describes, as a public client of the tenant whose
/// `settings` it is used under: its `client_id` must be the URL it was fetched from, its
/// `redirect_uris` valid, its method `none` (the only one offered to such clients here), its
/// grants within `authorization_code` and `refresh_token`, and its scopes those of its `scope`
/// the tenant offers (all the tenant's when it names none). Why not, otherwise.
pub fn client_of_document(
    id: &ClientId,
    body: &[u8],
    app: &AppId,
    tenant: &TenantId,
    settings: &OAuthSettings,
    now: Timestamp,
) -> Result<Client, String> {
    if body.len() > DOCUMENT_MAX_BYTES {
        return Err("the document is larger than 5 KB".to_owned());
    }
    let doc: DocumentIn = serde_json::from_slice(body)
        .map_err(|_| "the document is not client metadata".to_owned())?;
    if doc.client_id != id.as_str() {
        return Err("the document's client_id is not its URL".to_owned());
    }
    if doc
        .response_types
        .is_some_and(|t| t.iter().any(|t| t != "code"))
    {
        return Err("the document asks for a response type other than code".to_owned());
    }
    if doc
        .token_endpoint_auth_method
        .as_deref()
        .is_some_and(|m| m != "none")
    {
        return Err(
            "the document's client authenticates with a method not offered here".to_owned(),
        );
    }
    let scopes: Vec<String> = match doc.scope.as_deref() {
        None => settings.scopes.keys().cloned().collect(),
        Some(raw) => parse_scope(raw)
            .ok_or_else(|| "the document's scope does not parse".to_owned())?
            .into_iter()
            .filter(|s| settings.scopes.contains_key(s))
            .collect(),
    };
    let grants = doc
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
    if grants.iter().any(|g| g == "client_credentials") {
        return Err("a document's client cannot use client_credentials".to_owned());
    }
    let host = id
        .document_url()
        .map(|u| u.authority().to_owned())
        .unwrap_or_default();
    let name = doc
        .client_name
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.chars().take(MAX_CLIENT_NAME_CHARS).collect::<String>())
        .unwrap_or_else(|| host.clone());
    let shape = ClientSpec {
        name: Some(name),
        client_type: Some("public".to_owned()),
        redirect_uris: Some(doc.redirect_uris),
        grant_types: Some(grants),
        scopes: Some(scopes),
        auth_method: Some("none".to_owned()),
        jwks: None,
    }
    .check_new(settings)
    .map_err(|e| e.to_string())?;
    Ok(Client {
        app_id: app.clone(),
        tenant_id: tenant.clone(),
        id: id.clone(),
        name: shape.name,
        client_type: shape.client_type,
        auth_method: shape.auth_method,
        redirect_uris: shape.redirect_uris,
        grant_types: shape.grant_types,
        scopes: shape.scopes,
        status: ClientStatus::Active,
        secret_hash: None,
        jwks: None,
        tokens_revoked_before: None,
        self_registered: true,
        created_at: now,
        updated_at: now,
        version: 0,
    })
}

/// Checks a PKCE `code_verifier` (RFC 7636 §4.1: 43 to 128 unreserved characters) against
/// the S256 `challenge`, in constant time.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let shaped = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    shaped
        && secrets_match(
            &B64URL.encode(Sha256::digest(verifier.as_bytes())),
            challenge,
        )
}

/// True for the shape of an S256 challenge: 43 base64url characters.
pub fn is_s256_challenge(raw: &str) -> bool {
    raw.len() == 43
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An authorization request as the client sent it (the query of `/oauth/authorize`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

impl AuthorizationRequest {
    /// Reads the parameters of a query (a parameter given twice is an error, RFC 6749 §3.1).
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut request = AuthorizationRequest::default();
        let mut twice = false;
        for (name, value) in pairs {
            let slot = match name {
                "response_type" => &mut request.response_type,
                "client_id" => &mut request.client_id,
                "redirect_uri" => &mut request.redirect_uri,
                "code_challenge" => &mut request.code_challenge,
                "code_challenge_method" => &mut request.code_challenge_method,
                "state" => &mut request.state,
                "scope" => &mut request.scope,
                "resource" => &mut request.resource,
                _ => continue,
            };
            twice |= slot.is_some();
            *slot = Some(value.to_owned());
        }
        if twice {
            // Ambiguous: no value can be trusted, so the redirect URI cannot be either.
            request.redirect_uri = None;
        }
        request
    }
}

/// Why an authorization request fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestProblem {
    /// The client or its redirect URI cannot be trusted: an HTML page, never a redirect.
    NoRedirect(String),
    /// Told to the client at its redirect URI: an RFC 6749 error code and a description.
    Redirect {
        redirect_uri: WebUrl,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

/// An authorization request that passed every check, ready for sign-in and consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    pub client: Client,
    pub redirect_uri: WebUrl,
    pub code_challenge: String,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
}

impl ValidRequest {
    /// The granted scopes as one space-separated string.
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Checks an authorization request against the client it names (`client`, already looked up
/// in this tenant: `None` when there is no such client). The order follows RFC 6749 §4.1.2.1:
/// first what decides whether a redirect can be trusted.
pub fn check_request(
    request: &AuthorizationRequest,
    client: Option<Client>,
) -> Result<ValidRequest, RequestProblem> {
    let no_redirect = |why: &str| RequestProblem::NoRedirect(why.to_owned());
    let client = client
        .filter(Client::is_active)
        .ok_or_else(|| no_redirect("This application is not known here, or not enabled."))?;
    let redirect_uri = request
        .redirect_uri
        .as_deref()
        .and_then(|raw| client.redirect_for(raw))
        .ok_or_else(|| {
            no_redirect("The address this application asked to return to is not one it registered.")
        })?;
    let state = request.state.clone().filter(|s| s.len() <= MAX_STATE_BYTES);
    let self_registered = client.self_registered;
    let redirect = |error: &'static str, description: &str| {
        if self_registered {
            // Nobody vetted this redirect URI: no error goes there unseen by the user.
            RequestProblem::NoRedirect(format!("This request cannot be used: {description}."))
        } else {
            RequestProblem::Redirect {
                redirect_uri: redirect_uri.clone(),
                error,
                description: description.to_owned(),
                state: state.clone(),
            }
        }
    };
    if request
        .state
        .as_ref()
        .is_some_and(|s| s.len() > MAX_STATE_BYTES)
    {
        return Err(redirect("invalid_request", "state is too long"));
    }
    if request.response_type.as_deref() != Some("code") {
        return Err(redirect(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(redirect(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        ));
    }
    let challenge = match (
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    ) {
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => challenge.to_owned(),
        _ => {
            return Err(redirect(
                "invalid_request",
                "PKCE is required: code_challenge (S256) and code_challenge_method=S256",
            ))
        }
    };
    let scopes = parse_scope(request.scope.as_deref().unwrap_or(""))
        .filter(|scopes| scopes.iter().all(|s| client.scopes.contains(s)))
        .ok_or_else(|| {
            redirect(
                "invalid_scope",
                "a requested scope is not allowed for this client",
            )
        })?;
    let resource = match request.resource.as_deref() {
        None => None,
        Some(raw) => Some(check_resource(raw).ok_or_else(|| {
            redirect(
                "invalid_target",
                "resource must be an absolute https (or loopback http) URI without fragment",
            )
        })?),
    };
    Ok(ValidRequest {
        client,
        redirect_uri,
        code_challenge: challenge,
        state,
        scopes,
        resource,
    })
}

/// An RFC 8707 resource indicator: an absolute URI without fragment (here: https, or loopback
/// http, like every URL the worker accepts).
pub fn check_resource(raw: &str) -> Option<String> {
    WebUrl::parse_redirect_uri(raw)
        .ok()
        .map(|url| url.as_str().to_owned())
}

/// What an OAuth grant adds to a session: the client holding it, the scopes granted and the
/// audience its access tokens name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    pub client_id: ClientId,
    /// Space-separated scopes.
    pub scope: String,
    /// The RFC 8707 resource, when the client asked for one.
    pub resource: Option<String>,
}

/// Consent a user gave a client, remembered so that the next authorization of the same
/// scopes does not ask again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub scopes: Vec<String>,
    /// `Client::consent_fingerprint` when it was given.
    pub fingerprint: String,
    pub created_at: Timestamp,
}

impl Consent {
    /// True when this consent covers `request`: the same client, as it was (its redirect
    /// URIs unchanged), and every scope asked for.
    pub fn covers(&self, request: &ValidRequest) -> bool {
        self.client_id == request.client.id
            && self.fingerprint
                == request
                    .client
                    .consent_fingerprint(request.resource.as_deref())
            && request.scopes.iter().all(|s| self.scopes.contains(s))
    }
}

/// An authorization code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub hash: SecretHash,
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub resource: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When it was exchanged, and the session that exchange started.
    pub used: Option<(Timestamp, SessionId)>,
}

/// Why a code exchange fails; every case is `invalid_grant` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeProblem {
    /// Not this client's, another redirect URI, expired, or a wrong verifier.
    Invalid,
    /// Exchanged before: what the first exchange issued is revoked.
    Replayed,
}

impl AuthorizationCode {
    /// Checks an exchange of this code by `client` at `now`.
    pub fn check_exchange(
        &self,
        client: &ClientId,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        now: Timestamp,
    ) -> Result<(), CodeProblem> {
        if self.used.is_some() {
            // Only the code's own client's replay revokes what it gave: anyone else holding a
            // used code learns nothing and ends nothing.
            return Err(if &self.client_id == client {
                CodeProblem::Replayed
            } else {
                CodeProblem::Invalid
            });
        }
        let fits = &self.client_id == client
            && redirect_uri == Some(self.redirect_uri.as_str())
            && now < self.expires_at
            && verifier.is_some_and(|v| pkce_matches(&self.code_challenge, v));
        if fits {
            Ok(())
        } else {
            Err(CodeProblem::Invalid)
        }
    }
}

/// How long the browser stays signed in at a tenant's authorization pages.
pub const BROWSER_SESSION_TTL_SECONDS: i64 = 15 * 60;

/// The key of the authorization pages' browser state, derived from the deployment secret
/// under its own label: the sign-in cookie (`v1.<user>.<expires>.<mac>`, a MAC over tenant,
/// user and expiry) and the CSRF token of each form (a MAC of the browser's CSRF cookie).
pub struct PageKey(Vec<u8>);

impl PageKey {
    /// The key, from the deployment secret.
    pub fn from_secret(secret: &str) -> Result<Self, Error> {
        Ok(PageKey(
            super::keys::derive_key(secret, b"tessera/oauth-pages/v1")?.to_vec(),
        ))
    }

    fn mac(&self, parts: &[&str]) -> Result<String, Error> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .map_err(|_| Error::Internal("cannot key HMAC".to_owned()))?;
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Ok(B64URL.encode(mac.finalize().into_bytes()))
    }

    /// The CSRF token of the forms a tenant's pages show the browser holding `cookie`.
    pub fn csrf(&self, app: &AppId, tenant: &TenantId, cookie: &str) -> Result<String, Error> {
        self.mac(&["csrf", app.as_str(), tenant.as_str(), cookie])
    }

    /// True when `presented` is the CSRF token of `cookie` at this tenant (constant time).
    pub fn csrf_matches(
        &self,
        app: &AppId,
        tenant: &TenantId,
        cookie: &str,
        presented: &str,
    ) -> bool {
        !cookie.is_empty()
            && self
                .csrf(app, tenant, cookie)
                .is_ok_and(|expected| secrets_match(presented, &expected))
    }

    /// The sign-in cookie of `user` at tenant `app`/`tenant`, from `now`, naming the tenant
    /// session its sign-in started (`v1.<user>.<session>.<expires>.<mac>`) and bound to the
    /// user's `credential` (`credential_of`): whatever ends that session — signing out
    /// everywhere, suspension — ends it, and so does a new password, which is app-wide (it
    /// ends the sessions of the tenant it was changed in only).
    pub fn browser_session(
        &self,
        app: &AppId,
        tenant: &TenantId,
        (user, session): (&UserId, &SessionId),
        credential: &str,
        now: Timestamp,
    ) -> Result<String, Error> {
        let expires = (now.unix_seconds() + BROWSER_SESSION_TTL_SECONDS).to_string();
        let (user, session) = (user.to_string(), session.to_string());
        let mac = self.mac(&[
            "session",
            app.as_str(),
            tenant.as_str(),
            &user,
            &session,
            &expires,
            credential,
        ])?;
        Ok(format!("v1.{user}.{session}.{expires}.{mac}"))
    }

    /// The user a sign-in cookie claims (nothing verified: read the user's credential, then
    /// `verify_browser_session`).
    pub fn claimed_user(presented: &str) -> Option<UserId> {
        let mut parts = presented.split('.');
        (parts.next() == Some("v1"))
            .then(|| parts.next())
            .flatten()
            .and_then(|user| UserId::parse(user).ok())
    }

    /// The user and session a sign-in cookie of this tenant names, when it is valid,
    /// unexpired and made for the user's current `credential` (the session itself is the
    /// store's to check).
    pub fn verify_browser_session(
        &self,
        app: &AppId,
        tenant: &TenantId,
        presented: &str,
        credential: &str,
        now: Timestamp,
    ) -> Option<(UserId, SessionId)> {
        if presented.len() > 300 {
            return None;
        }
        let mut parts = presented.split('.');
        let (Some("v1"), Some(user), Some(session), Some(expires), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let expected = self
            .mac(&[
                "session",
                app.as_str(),
                tenant.as_str(),
                user,
                session,
                expires,
                credential,
            ])
            .ok()?;
        if !secrets_match(mac, &expected) {
            return None;
        }
        let expires: i64 = expires.parse().ok()?;
        if expires <= now.unix_seconds() {
            return None;
        }
        Some((UserId::parse(user).ok()?, SessionId::parse(session).ok()?))
    }
}

/// What a sign-in cookie is bound to besides its session: the user's password as stored (its
/// hash's digest), so that a password change or reset in any tenant of the app signs the
/// browser out of every tenant's pages.
pub fn credential_of(password_phc: Option<&str>) -> String {
    password_phc.map_or_else(
        || "none".to_owned(),
        |phc| super::secret::hex(&Sha256::digest(phc.as_bytes())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

    fn settings() -> OAuthSettings {
        OAuthSettings {
            scopes: [("mcp:tools".to_owned(), "Use tools".to_owned())]
                .into_iter()
                .collect(),
            ..OAuthSettings::default()
        }
    }

    fn client(uris: &[&str]) -> Client {
        let shape = ClientSpec {
            name: Some("Claude".to_owned()),
            client_type: Some("public".to_owned()),
            redirect_uris: Some(uris.iter().map(|u| (*u).to_owned()).collect()),
            scopes: Some(vec!["mcp:tools".to_owned()]),
            ..ClientSpec::default()
        }
        .check_new(&settings())
        .unwrap();
        Client {
            app_id: AppId::parse("a").unwrap(),
            tenant_id: TenantId::public(),
            id: ClientId::generate([1; 16]),
            name: shape.name,
            client_type: shape.client_type,
            auth_method: shape.auth_method,
            redirect_uris: shape.redirect_uris,
            grant_types: shape.grant_types,
            scopes: shape.scopes,
            jwks: None,
            status: ClientStatus::Active,
            secret_hash: None,
            tokens_revoked_before: None,
            self_registered: false,
            created_at: NOW,
            updated_at: NOW,
            version: 0,
        }
    }

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn request(redirect: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            response_type: Some("code".to_owned()),
            client_id: None,
            redirect_uri: Some(redirect.to_owned()),
            code_challenge: Some(CHALLENGE.to_owned()),
            code_challenge_method: Some("S256".to_owned()),
            state: Some("xyz".to_owned()),
            scope: Some("mcp:tools".to_owned()),
            resource: Some("https://mcp.example/".to_owned()),
        }
    }

    #[test]
    fn pkce_s256_is_the_rfc_7636_example() {
        assert!(pkce_matches(CHALLENGE, VERIFIER));
        assert!(!pkce_matches(CHALLENGE, &VERIFIER.replace('d', "e")));
        assert!(!pkce_matches(CHALLENGE, "short"));
        assert!(!pkce_matches(VERIFIER, VERIFIER));
    }

    #[test]
    fn redirect_uris_match_exactly_but_for_loopback_ports() {
        let c = client(&["https://app.example/cb", "http://127.0.0.1/cb"]);
        assert!(c.redirect_for("https://app.example/cb").is_some());
        assert!(c.redirect_for("HTTPS://APP.EXAMPLE/cb").is_some());
        assert!(c.redirect_for("https://app.example/cb/").is_none());
        assert!(c.redirect_for("https://app.example/cb?x=1").is_none());
        assert!(c.redirect_for("https://app.example:444/cb").is_none());
        assert!(c.redirect_for("https://evil.example/cb").is_none());
        assert!(c.redirect_for("http://127.0.0.1:53123/cb").is_some());
        assert!(c.redirect_for("http://127.0.0.1:53123/other").is_none());
        assert!(c.redirect_for("http://localhost:53123/cb").is_none());
    }

    #[test]
    fn a_good_request_passes_and_keeps_the_state() {
        let valid = check_request(
            &request("https://app.example/cb"),
            Some(client(&["https://app.example/cb"])),
        )
        .unwrap();
        assert_eq!(valid.scopes, vec!["mcp:tools"]);
        assert_eq!(valid.state.as_deref(), Some("xyz"));
        assert_eq!(valid.resource.as_deref(), Some("https://mcp.example/"));
    }

    #[test]
    fn an_unknown_client_or_a_foreign_redirect_is_never_redirected_to() {
        let r = request("https://evil.example/cb");
        assert!(matches!(
            check_request(&r, None),
            Err(RequestProblem::NoRedirect(_))
        ));
        assert!(matches!(
            check_request(&r, Some(client(&["https://app.example/cb"]))),
            Err(RequestProblem::NoRedirect(_))
        ));
        let mut disabled = client(&["https://app.example/cb"]);
        disabled.status = ClientStatus::Disabled;
        assert!(matches!(
            check_request(&request("https://app.example/cb"), Some(disabled)),
            Err(RequestProblem::NoRedirect(_))
        ));
    }

    #[test]
    fn missing_pkce_an_unknown_scope_or_response_type_go_back_to_the_client() {
        let c = client(&["https://app.example/cb"]);
        let error_of = |r: AuthorizationRequest| match check_request(&r, Some(c.clone())) {
            Err(RequestProblem::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("xyz"));
                error
            }
            other => panic!("{other:?}"),
        };
        let mut r = request("https://app.example/cb");
        r.code_challenge = None;
        assert_eq!(error_of(r), "invalid_request");
        let mut r = request("https://app.example/cb");
        r.code_challenge_method = Some("plain".to_owned());
        assert_eq!(error_of(r), "invalid_request");
        let mut r = request("https://app.example/cb");
        r.scope = Some("mcp:tools admin".to_owned());
        assert_eq!(error_of(r), "invalid_scope");
        let mut r = request("https://app.example/cb");
        r.response_type = Some("token".to_owned());
        assert_eq!(error_of(r), "unsupported_response_type");
    }

    #[test]
    fn a_parameter_given_twice_trusts_no_redirect() {
        let pairs = [
            ("redirect_uri", "https://app.example/cb"),
            ("redirect_uri", "https://evil.example/cb"),
        ];
        let r = AuthorizationRequest::from_pairs(pairs.into_iter());
        assert_eq!(r.redirect_uri, None);
    }

    #[test]
    fn client_shapes_are_consistent() {
        let s = settings();
        let public_cc = ClientSpec {
            name: Some("x".to_owned()),
            client_type: Some("public".to_owned()),
            grant_types: Some(vec!["client_credentials".to_owned()]),
            ..ClientSpec::default()
        };
        assert!(public_cc.check_new(&s).is_err());
        let no_uri = ClientSpec {
            name: Some("x".to_owned()),
            client_type: Some("public".to_owned()),
            ..ClientSpec::default()
        };
        assert!(no_uri.check_new(&s).is_err());
        let unknown_scope = ClientSpec {
            name: Some("x".to_owned()),
            client_type: Some("confidential".to_owned()),
            grant_types: Some(vec!["client_credentials".to_owned()]),
            scopes: Some(vec!["admin".to_owned()]),
            ..ClientSpec::default()
        };
        assert!(unknown_scope.check_new(&s).is_err());
        let confidential = ClientSpec {
            name: Some("x".to_owned()),
            client_type: Some("confidential".to_owned()),
            grant_types: Some(vec!["client_credentials".to_owned()]),
            ..ClientSpec::default()
        }
        .check_new(&s)
        .unwrap();
        assert_eq!(confidential.auth_method, AuthMethod::SecretBasic);
    }

    #[test]
    fn a_code_is_good_once_for_its_client_redirect_and_verifier_within_ten_minutes() {
        let c = client(&["https://app.example/cb"]);
        let code = AuthorizationCode {
            hash: SecretHash::from_stored("00".to_owned()),
            app_id: c.app_id.clone(),
            tenant_id: c.tenant_id.clone(),
            client_id: c.id.clone(),
            user_id: UserId::generate(NOW, [2; 10]),
            redirect_uri: "https://app.example/cb".to_owned(),
            code_challenge: CHALLENGE.to_owned(),
            scope: String::new(),
            resource: None,
            created_at: NOW,
            expires_at: NOW.plus_ms(CODE_TTL_MS),
            used: None,
        };
        let uri = Some("https://app.example/cb");
        assert_eq!(code.check_exchange(&c.id, uri, Some(VERIFIER), NOW), Ok(()));
        let other = ClientId::generate([3; 16]);
        assert!(code
            .check_exchange(&other, uri, Some(VERIFIER), NOW)
            .is_err());
        assert!(code
            .check_exchange(&c.id, Some("https://app.example/x"), Some(VERIFIER), NOW)
            .is_err());
        assert!(code.check_exchange(&c.id, uri, None, NOW).is_err());
        assert!(code
            .check_exchange(&c.id, uri, Some(VERIFIER), NOW.plus_ms(CODE_TTL_MS))
            .is_err());
        let used = AuthorizationCode {
            used: Some((NOW, SessionId::generate(NOW, [4; 10]))),
            ..code
        };
        assert_eq!(
            used.check_exchange(&c.id, uri, Some(VERIFIER), NOW),
            Err(CodeProblem::Replayed)
        );
    }

    #[test]
    fn browser_sessions_and_csrf_tokens_hold_only_where_they_were_made() {
        let key = PageKey::from_secret(&"k".repeat(32)).unwrap();
        let app = AppId::parse("a").unwrap();
        let public = TenantId::public();
        let user = UserId::generate(NOW, [5; 10]);
        let session = SessionId::generate(NOW, [6; 10]);
        let cookie = key
            .browser_session(&app, &public, (&user, &session), "pw1", NOW)
            .unwrap();
        assert_eq!(PageKey::claimed_user(&cookie), Some(user));
        assert_eq!(
            key.verify_browser_session(&app, &public, &cookie, "pw1", NOW),
            Some((user, session))
        );
        assert!(key
            .verify_browser_session(&app, &public, &cookie, "pw2", NOW)
            .is_none());
        let acme = TenantId::parse("acme").unwrap();
        assert!(key
            .verify_browser_session(&app, &acme, &cookie, "pw1", NOW)
            .is_none());
        let later = NOW.plus_seconds(BROWSER_SESSION_TTL_SECONDS);
        assert!(key
            .verify_browser_session(&app, &public, &cookie, "pw1", later)
            .is_none());
        let other = PageKey::from_secret(&"j".repeat(32)).unwrap();
        assert!(other
            .verify_browser_session(&app, &public, &cookie, "pw1", NOW)
            .is_none());
        // Another session or user under the same MAC is no cookie.
        let parts: Vec<&str> = cookie.split('.').collect();
        let another = SessionId::generate(NOW, [7; 10]).to_string();
        let swapped = [parts[0], parts[1], &another, parts[3], parts[4]].join(".");
        assert!(key
            .verify_browser_session(&app, &public, &swapped, "pw1", NOW)
            .is_none());
        assert_ne!(
            credential_of(Some("$pbkdf2$a")),
            credential_of(Some("$pbkdf2$b"))
        );
        let csrf = key.csrf(&app, &public, "cookie-1").unwrap();
        assert!(key.csrf_matches(&app, &public, "cookie-1", &csrf));
        assert!(!key.csrf_matches(&app, &acme, "cookie-1", &csrf));
        assert!(!key.csrf_matches(&app, &public, "cookie-2", &csrf));
        assert!(!key.csrf_matches(&app, &public, "", &key.csrf(&app, &public, "").unwrap()));
    }

    #[test]
    fn document_client_ids_are_https_urls_of_public_hosts_with_a_path() {
        assert!(ClientId::parse("https://client.example/oauth/client.json").is_some());
        assert!(ClientId::parse("https://client.example/oauth/client.json")
            .unwrap()
            .is_document());
        for bad in [
            "http://client.example/c.json",
            "https://client.example",
            "https://client.example/",
            "https://127.0.0.1/c.json",
            "https://10.0.0.1/c.json",
            "https://localhost/c.json",
            "https://[::1]/c.json",
            "https://user@client.example/c.json",
            "https://client.example/c.json?x=1",
            "https://client.example/c.json#f",
            "https://CLIENT.example/c.json",
            "https://client.example:8443/c.json",
            "https://client.example:443/c.json",
            "https://client.example/a/../b/c.json",
            "https://client.example/a/./c.json",
            "https://client.example/a/%2e%2e/c.json",
            "https://client.example/a%2Fb/c.json",
            "tsc_short",
        ] {
            assert!(ClientId::parse(bad).is_none(), "{bad}");
        }
        let long = format!("https://client.example/{}", "a".repeat(300));
        assert!(ClientId::parse(&long).is_none());
    }

    #[test]
    fn a_document_describes_a_public_client_of_the_tenant() {
        let id = ClientId::parse("https://client.example/c.json").unwrap();
        let app = AppId::parse("a").unwrap();
        let doc = |extra: &str| {
            format!(
                r#"{{"client_id":"https://client.example/c.json","client_name":"Doc","redirect_uris":["http://127.0.0.1/cb"]{extra}}}"#
            )
        };
        let client = client_of_document(
            &id,
            doc("").as_bytes(),
            &app,
            &TenantId::public(),
            &settings(),
            NOW,
        )
        .unwrap();
        assert_eq!(client.client_type, ClientType::Public);
        assert_eq!(client.auth_method, AuthMethod::None);
        assert_eq!(client.scopes, vec!["mcp:tools"]);
        assert_eq!(client.name, "Doc");
        let other = ClientId::parse("https://client.example/other.json").unwrap();
        assert!(client_of_document(
            &other,
            doc("").as_bytes(),
            &app,
            &TenantId::public(),
            &settings(),
            NOW
        )
        .is_err());
        for extra in [
            r#","token_endpoint_auth_method":"client_secret_basic""#,
            r#","grant_types":["client_credentials"]"#,
            r#","response_types":["token"]"#,
        ] {
            assert!(
                client_of_document(
                    &id,
                    doc(extra).as_bytes(),
                    &app,
                    &TenantId::public(),
                    &settings(),
                    NOW
                )
                .is_err(),
                "{extra}"
            );
        }
        let scoped = client_of_document(
            &id,
            doc(r#","scope":"mcp:tools admin""#).as_bytes(),
            &app,
            &TenantId::public(),
            &settings(),
            NOW,
        )
        .unwrap();
        assert_eq!(scoped.scopes, vec!["mcp:tools"]);
        let big = format!("{}{}", doc(""), " ".repeat(DOCUMENT_MAX_BYTES));
        assert!(client_of_document(
            &id,
            big.as_bytes(),
            &app,
            &TenantId::public(),
            &settings(),
            NOW
        )
        .is_err());
        assert!(client_of_document(
            &id,
            b"not json",
            &app,
            &TenantId::public(),
            &settings(),
            NOW
        )
        .is_err());
    }

    #[test]
    fn settings_are_checked() {
        let mut s = settings();
        s.scopes.insert("bad scope".to_owned(), String::new());
        assert!(s.validate().is_err());
        let s = OAuthSettings {
            access_token_ttl_seconds: 10,
            ..settings()
        };
        assert!(s.validate().is_err());
        assert!(settings().validate().is_ok());
    }
}
