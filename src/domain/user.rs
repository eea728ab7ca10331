//! End users: app-scoped identities with a per-tenant face.
//!
//! A user belongs to an app (`(app_id, user_id)`), holds the credentials, and appears in one
//! or more tenants through a `TenantUser`: the (tenant, email) identity plus the per-tenant
//! state (status, plan tier, rate-limit override). The same email in two tenants is two users
//! unless an operator associates one user with the second tenant.

use super::email::Email;
use super::ids::{AppId, ProviderId, TenantId};
use super::names::{PlanTier, RoleName};
use super::password::PasswordHash;
use super::policy::{AppPolicy, UserFlags};
use super::tenancy::LoginMethod;
use super::time::Timestamp;
use super::Error;
use serde::{Deserialize, Serialize};

pub use super::ids::UserId;

/// An end user of an app, with the credentials every associated tenant accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub app_id: AppId,
    pub id: UserId,
    pub email: Email,
    /// `None` for users created by an operator without a password, or by passwordless.
    pub password_hash: Option<PasswordHash>,
    /// True once the user proved the address (a verification link, a password reset or a
    /// passwordless sign-in).
    pub email_verified: bool,
    /// True once the user signed up or in with passwordless.
    pub passwordless: bool,
    pub created_at: Timestamp,
}

impl User {
    /// The ways the user has signed in or can sign in, app-wide: `emailpassword` while a
    /// password is set, `passwordless` once used.
    pub fn methods(&self) -> Vec<LoginMethod> {
        let mut methods = Vec::new();
        if self.password_hash.is_some() {
            methods.push(LoginMethod::EmailPassword);
        }
        if self.passwordless {
            methods.push(LoginMethod::Passwordless);
        }
        methods
    }
}

/// Whether a user may use a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Suspended,
}

impl UserStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "active" => Ok(UserStatus::Active),
            "suspended" => Ok(UserStatus::Suspended),
            _ => Err(Error::validation("status must be active or suspended")),
        }
    }
}

/// A user as one tenant sees it: the identity (tenant, email) and the per-tenant state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUser {
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub email: Email,
    pub status: UserStatus,
    pub plan_tier: PlanTier,
    pub rate_limit_override: Option<i64>,
    /// Roles assigned by hand (the plan's roles are derived, see `policy`).
    pub roles: Vec<RoleName>,
    /// Increases with every change of the face; carried into the KV flags document.
    pub version: i64,
    /// The third-party providers linked to the user in this tenant, by id, sorted. Read-only
    /// here: only the identity links (`store::ThirdPartyStore`) change it.
    pub providers: Vec<ProviderId>,
    pub created_at: Timestamp,
}

impl TenantUser {
    /// A new user's face in `tenant_id`: active, on the free plan, no roles.
    pub fn new(user: &User, tenant_id: &TenantId, now: Timestamp) -> Self {
        TenantUser {
            app_id: user.app_id.clone(),
            tenant_id: tenant_id.clone(),
            user_id: user.id,
            email: user.email.clone(),
            status: UserStatus::Active,
            plan_tier: PlanTier::free(),
            rate_limit_override: None,
            roles: Vec::new(),
            version: 0,
            providers: Vec::new(),
            created_at: now,
        }
    }

    /// The wire names of the face's sign-in methods: the user's app-wide ones
    /// (`User::methods`) and `thirdparty:<provider_id>` for each provider linked here.
    pub fn method_names(&self, user_methods: &[LoginMethod]) -> Vec<String> {
        user_methods
            .iter()
            .map(|m| m.as_str().to_owned())
            .chain(self.providers.iter().map(|p| format!("thirdparty:{p}")))
            .collect()
    }

    /// The inputs of the effective view (status, plan, override, hand roles).
    pub fn state(&self) -> UserFlags {
        UserFlags {
            status: self.status,
            plan_tier: self.plan_tier.clone(),
            version: self.version,
            assigned_roles: self.roles.clone(),
            rate_limit_override: self.rate_limit_override,
            ..UserFlags::from_token()
        }
    }

    /// The KV flags document of this face under `policy`: its state and its effective view.
    pub fn flags(&self, policy: &AppPolicy) -> UserFlags {
        let state = self.state();
        let effective = policy.effective(&state);
        UserFlags {
            rate_limit: effective.rate_limit,
            roles: effective.roles,
            permissions: effective.permissions,
            ..state
        }
    }
}
