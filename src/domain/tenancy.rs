//! Apps, tenants, login methods and tenant API keys, as plain values.

use super::authz::Scope;
use super::ids::{ApiKeyId, AppId, TenantId};
use super::Error;
use serde::{Deserialize, Serialize};

/// An app: an independent user pool with its own signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: AppId,
    pub created_at_ms: i64,
}

/// How end users of a tenant may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    /// Email and password.
    EmailPassword,
}

impl LoginMethod {
    /// Every method the worker knows, in a stable order.
    pub const ALL: &'static [LoginMethod] = &[LoginMethod::EmailPassword];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::EmailPassword => "emailpassword",
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
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Tenant {
    /// The `public` tenant every app is created with.
    pub fn public_of(app_id: &AppId, now_ms: i64) -> Self {
        Tenant {
            app_id: app_id.clone(),
            id: TenantId::public(),
            login_methods: vec![LoginMethod::EmailPassword],
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    /// True when end users may sign in with `method` here.
    pub fn allows(&self, method: LoginMethod) -> bool {
        self.login_methods.contains(&method)
    }
}

/// A tenant API key as stored: the secret itself is only ever held as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at_ms: i64,
}

/// Longest API key name, in characters.
pub const MAX_API_KEY_NAME_CHARS: usize = 100;

/// Checks an API key's name: 1..=100 characters, no control characters.
pub fn parse_api_key_name(raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_API_KEY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::validation(format!(
            "name must be 1 to {MAX_API_KEY_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_methods_parse_known_names_only() {
        let methods =
            LoginMethod::parse_list(&["emailpassword".into(), "emailpassword".into()]).unwrap();
        assert_eq!(methods, vec![LoginMethod::EmailPassword]);
        assert!(LoginMethod::parse_list(&["passkey".into()]).is_err());
        assert_eq!(LoginMethod::parse_list(&[]).unwrap(), vec![]);
    }

    #[test]
    fn api_key_names_are_bounded() {
        assert_eq!(parse_api_key_name("  ci key ").unwrap(), "ci key");
        assert!(parse_api_key_name("").is_err());
        assert!(parse_api_key_name("a\nb").is_err());
        assert!(parse_api_key_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn the_public_tenant_allows_email_and_password() {
        let app = AppId::parse("shop").unwrap();
        let t = Tenant::public_of(&app, 0);
        assert!(t.id.is_public());
        assert!(t.allows(LoginMethod::EmailPassword));
    }
}
