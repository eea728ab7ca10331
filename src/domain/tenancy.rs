//! Apps, tenants, login methods and tenant API keys, as plain values.

use super::authz::Scope;
use super::ids::{ApiKeyId, AppId, TenantId};
use super::links::WebUrl;
use super::password::{Algorithm, PasswordPolicy};
use super::time::Timestamp;
use super::Error;
use serde::{Deserialize, Serialize};

/// An app: an independent user pool with its own signing keys and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: AppId,
    pub settings: AppSettings,
    pub created_at: Timestamp,
    /// Made by operator sign-up, and its owner has not verified their email yet: only its
    /// settings can be used (`authz::SETTINGS`), and its end-user plane answers
    /// `403 app_not_verified`.
    pub pending_verification: bool,
}

impl App {
    /// `Err(AppNotVerified)` while the app waits for its owner's email: end-user flows of such
    /// an app do not run.
    pub fn require_usable(&self) -> Result<(), Error> {
        if self.pending_verification {
            Err(Error::AppNotVerified)
        } else {
            Ok(())
        }
    }
}

const DAY_SECONDS: i64 = 24 * 3600;

/// The longest access-token lifetime an app may configure.
pub const MAX_ACCESS_TOKEN_TTL_SECONDS: i64 = DAY_SECONDS;

/// Per-app lifetimes and hashing cost. Every field has a default, so a stored `{}` (or a
/// partial object from an older version) reads as the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    /// Lifetime of end-user access tokens (60 s to 1 day; default 900 s).
    pub access_token_ttl_seconds: i64,
    /// Absolute lifetime of a refresh session (default 30 days).
    pub session_absolute_ttl_seconds: i64,
    /// A session ends after this long without a refresh (default 7 days).
    pub session_idle_ttl_seconds: i64,
    /// How long the previous refresh token may be replayed after a rotation (default 30 s).
    pub refresh_grace_seconds: i64,
    /// `pbkdf2-sha512` (default) or `pbkdf2-sha256`.
    pub password_algorithm: String,
    /// PBKDF2 iterations (at least 100,000; default 210,000, OWASP's figure for SHA-512;
    /// OWASP asks 600,000 for SHA-256).
    pub password_iterations: u32,
    /// Age at which the scheduled job rotates the app's signing key (default 30 days).
    pub signing_key_rotation_days: i64,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            access_token_ttl_seconds: 900,
            session_absolute_ttl_seconds: 30 * DAY_SECONDS,
            session_idle_ttl_seconds: 7 * DAY_SECONDS,
            refresh_grace_seconds: 30,
            password_algorithm: "pbkdf2-sha512".to_owned(),
            password_iterations: 210_000,
            signing_key_rotation_days: 30,
        }
    }
}

impl AppSettings {
    /// Checks every bound; the message names the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let within = |name: &str, value: i64, lo: i64, hi: i64| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(Error::validation(format!("{name} must be {lo} to {hi}")))
            }
        };
        within(
            "access_token_ttl_seconds",
            self.access_token_ttl_seconds,
            60,
            DAY_SECONDS,
        )?;
        within(
            "session_absolute_ttl_seconds",
            self.session_absolute_ttl_seconds,
            60,
            365 * DAY_SECONDS,
        )?;
        within(
            "session_idle_ttl_seconds",
            self.session_idle_ttl_seconds,
            60,
            self.session_absolute_ttl_seconds,
        )?;
        within("refresh_grace_seconds", self.refresh_grace_seconds, 0, 300)?;
        within(
            "signing_key_rotation_days",
            self.signing_key_rotation_days,
            1,
            365,
        )?;
        self.password_policy().map(drop)
    }

    /// The password policy these settings ask for.
    pub fn password_policy(&self) -> Result<PasswordPolicy, Error> {
        let algorithm = match self.password_algorithm.as_str() {
            "pbkdf2-sha256" => Algorithm::Sha256,
            "pbkdf2-sha512" => Algorithm::Sha512,
            _ => {
                return Err(Error::validation(
                    "password_algorithm must be pbkdf2-sha256 or pbkdf2-sha512",
                ))
            }
        };
        PasswordPolicy::new(algorithm, self.password_iterations)
    }
}

/// How end users of a tenant may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    /// Email and password (sign-up, sign-in, password reset and change).
    EmailPassword,
    /// A code or link sent by email; signs up new emails too (see `service::passwordless`).
    Passwordless,
    /// Sign-in with a third-party identity provider of the tenant (see `service::thirdparty`);
    /// signs up new users too.
    ThirdParty,
}

impl LoginMethod {
    /// Every method the worker knows, in a stable order.
    pub const ALL: &'static [LoginMethod] = &[
        LoginMethod::EmailPassword,
        LoginMethod::Passwordless,
        LoginMethod::ThirdParty,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::EmailPassword => "emailpassword",
            LoginMethod::Passwordless => "passwordless",
            LoginMethod::ThirdParty => "thirdparty",
        }
    }

    /// Parses a wire name; unknown names are a validation failure.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        LoginMethod::ALL
            .iter()
            .copied()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| Error::validation(format!("unknown login method {raw:?}")))
    }

    /// Parses a list, dropping duplicates but keeping the order of first appearance.
    pub fn parse_list(raw: &[String]) -> Result<Vec<Self>, Error> {
        let mut methods = Vec::new();
        for name in raw {
            let method = LoginMethod::parse(name)?;
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        Ok(methods)
    }
}

/// A tenant of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub app_id: AppId,
    pub id: TenantId,
    pub login_methods: Vec<LoginMethod>,
    /// Where emailed links point: `<link_base_url>?type=<type>&token=<token>`. Flows that send
    /// a link need it.
    pub link_base_url: Option<WebUrl>,
    /// Where a third-party sign-in may return (exact match, at most `MAX_REDIRECT_URIS`).
    pub redirect_uris: Vec<WebUrl>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The most redirect URIs a tenant may list.
pub const MAX_REDIRECT_URIS: usize = 20;

/// Parses a tenant's `redirect_uris`: each an https (or loopback http) URL without fragment,
/// at most `MAX_REDIRECT_URIS`, duplicates dropped (the order of first appearance kept).
pub fn parse_redirect_uris(raw: &[String]) -> Result<Vec<WebUrl>, Error> {
    if raw.len() > MAX_REDIRECT_URIS {
        return Err(Error::validation(format!(
            "redirect_uris holds at most {MAX_REDIRECT_URIS} URIs"
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

impl Tenant {
    /// The `public` tenant every app is created with.
    pub fn public_of(app_id: &AppId, now: Timestamp) -> Self {
        Tenant {
            app_id: app_id.clone(),
            id: TenantId::public(),
            login_methods: vec![LoginMethod::EmailPassword],
            link_base_url: None,
            redirect_uris: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The tenant's redirect URI that is exactly `raw` (as the client sent it); anything else,
    /// however close, is `400 validation_failed`.
    pub fn redirect_uri(&self, raw: &str) -> Result<WebUrl, Error> {
        self.redirect_uris
            .iter()
            .find(|uri| uri.as_str() == raw)
            .cloned()
            .ok_or_else(|| {
                Error::validation("redirect_uri is not one of the tenant's redirect_uris")
            })
    }

    /// True when end users may sign in with `method` here.
    pub fn allows(&self, method: LoginMethod) -> bool {
        self.login_methods.contains(&method)
    }

    /// `403 login_method_disabled` unless the tenant allows `method`.
    pub fn require(&self, method: LoginMethod) -> Result<(), Error> {
        if self.allows(method) {
            Ok(())
        } else {
            Err(Error::LoginMethodDisabled)
        }
    }
}

/// A tenant API key as stored: the secret itself is only ever held as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub name: ApiKeyName,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
}

/// Longest API key name, in characters.
pub const MAX_API_KEY_NAME_CHARS: usize = 100;

/// The name an operator gives an API key: 1..=100 printable characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// Trims and checks a name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_API_KEY_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(Error::validation(format!(
                "name must be 1 to {MAX_API_KEY_NAME_CHARS} printable characters"
            )));
        }
        Ok(ApiKeyName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_methods_parse_known_names_only() {
        let methods =
            LoginMethod::parse_list(&["emailpassword".into(), "emailpassword".into()]).unwrap();
        assert_eq!(methods, vec![LoginMethod::EmailPassword]);
        let all = LoginMethod::parse_list(&["thirdparty".into(), "passwordless".into()]).unwrap();
        assert_eq!(
            all,
            vec![LoginMethod::ThirdParty, LoginMethod::Passwordless]
        );
        assert!(LoginMethod::parse_list(&["passkey".into()]).is_err());
        assert_eq!(LoginMethod::parse_list(&[]).unwrap(), vec![]);
    }

    #[test]
    fn api_key_names_are_bounded() {
        assert_eq!(ApiKeyName::parse("  ci key ").unwrap().as_str(), "ci key");
        assert!(ApiKeyName::parse("").is_err());
        assert!(ApiKeyName::parse("a\nb").is_err());
        assert!(ApiKeyName::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn settings_default_from_an_empty_object_and_are_bounded() {
        let defaults: AppSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(defaults, AppSettings::default());
        assert!(defaults.validate().is_ok());
        let bad = [
            AppSettings {
                access_token_ttl_seconds: 59,
                ..AppSettings::default()
            },
            AppSettings {
                session_idle_ttl_seconds: 31 * DAY_SECONDS,
                ..AppSettings::default()
            },
            AppSettings {
                password_iterations: 99_999,
                ..AppSettings::default()
            },
            AppSettings {
                password_algorithm: "md5".into(),
                ..AppSettings::default()
            },
            AppSettings {
                refresh_grace_seconds: -1,
                ..AppSettings::default()
            },
        ];
        for settings in bad {
            assert!(settings.validate().is_err(), "{settings:?}");
        }
        let sha512 = AppSettings {
            password_algorithm: "pbkdf2-sha512".into(),
            password_iterations: 210_000,
            ..AppSettings::default()
        };
        assert!(sha512.validate().is_ok());
    }

    #[test]
    fn a_redirect_uri_must_be_listed_exactly() {
        let mut t = Tenant::public_of(&AppId::parse("shop").unwrap(), Timestamp::EPOCH);
        t.redirect_uris = parse_redirect_uris(&[
            "https://app.example/cb".into(),
            "https://app.example/cb".into(),
        ])
        .unwrap();
        assert_eq!(t.redirect_uris.len(), 1);
        assert!(t.redirect_uri("https://app.example/cb").is_ok());
        for near in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "HTTPS://app.example/cb",
            "https://app.example/c",
            "",
        ] {
            assert!(t.redirect_uri(near).is_err(), "{near:?} must not match");
        }
        assert!(parse_redirect_uris(&vec!["https://a.example/".to_owned(); 21]).is_err());
        assert!(parse_redirect_uris(&["http://a.example/cb".into()]).is_err());
    }

    #[test]
    fn the_public_tenant_allows_email_and_password() {
        let app = AppId::parse("shop").unwrap();
        let t = Tenant::public_of(&app, Timestamp::EPOCH);
        assert!(t.id.is_public());
        assert!(t.allows(LoginMethod::EmailPassword));
    }
}
