//! Audit entries: who changed what, on what, when. Written in the same D1 batch as the change
//! itself, so a change is never recorded without happening, nor the reverse.

use super::ids::{AppId, AuditId, TenantId};
use super::time::Timestamp;
use super::Error;
use serde_json::Value;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Operator(String),
    ApiKey(String),
    /// The billing webhook of the app.
    Webhook,
    /// The end user the entry's target names, acting on itself (leaving a tenant, consenting
    /// to an OAuth client or revoking that). Stored without its id: the target names it, and
    /// an erasure rewrites the target.
    EndUser,
    /// An OAuth client registering itself (RFC 7591); the target names it.
    Registration,
}

impl Actor {
    /// The stored form: `operator:<id>`, `api_key:<id>`, `webhook:billing`, `end_user:self`,
    /// `registration:dynamic`.
    pub fn as_stored(&self) -> String {
        match self {
            Actor::Operator(id) => format!("operator:{id}"),
            Actor::ApiKey(id) => format!("api_key:{id}"),
            Actor::Webhook => "webhook:billing".to_owned(),
            Actor::EndUser => "end_user:self".to_owned(),
            Actor::Registration => "registration:dynamic".to_owned(),
        }
    }
}

macro_rules! audit_actions {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What a change did: the stored and wire name of an audit entry's action.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($variant),*
        }

        impl AuditAction {
            /// Every action, in declaration order.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant),*];

            /// The stored and wire name, e.g. `tenant.create`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name),*
                }
            }
        }
    };
}

audit_actions! {
    AppCreate => "app.create",
    AppUpdate => "app.update",
    AppSignup => "app.signup",
    AppDelete => "app.delete",
    SigningKeyRotate => "signing_key.rotate",
    TenantCreate => "tenant.create",
    TenantUpdate => "tenant.update",
    TenantDelete => "tenant.delete",
    ApiKeyCreate => "api_key.create",
    ApiKeyDelete => "api_key.delete",
    MemberInvite => "member.invite",
    MemberAccept => "member.accept",
    MemberUpdate => "member.update",
    OperatorRolePut => "operator_role.put",
    OperatorRoleDelete => "operator_role.delete",
    UserCreate => "user.create",
    UserSuspend => "user.suspend",
    UserUnsuspend => "user.unsuspend",
    UserPlan => "user.plan",
    UserRoles => "user.roles",
    UserRevert => "user.revert",
    UserAssociate => "user.associate",
    UserSessionsRevoke => "user.sessions_revoke",
    UserMetadata => "user.metadata",
    UserDelete => "user.delete",
    UserErase => "user.erase",
    UserLeave => "user.leave",
    RolePut => "role.put",
    PlanPut => "plan.put",
    WebhookSecretRotate => "webhook_secret.rotate",
    EmailDeliveryPut => "email_delivery.put",
    ProviderPut => "provider.put",
    ProviderDelete => "provider.delete",
    OAuthSettingsPut => "oauth_settings.put",
    ClientCreate => "client.create",
    ClientUpdate => "client.update",
    ClientDelete => "client.delete",
    ClientSecretRotate => "client.secret_rotate",
    ClientRegister => "client.register",
    GrantConsent => "grant.consent",
    GrantRevoke => "grant.revoke",
}

impl AuditAction {
    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        AuditAction::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| Error::validation(format!("unknown audit action {raw:?}")))
    }
}

/// One audit entry. `detail` is a small object and never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// UUIDv7: entries sort by time.
    pub id: AuditId,
    pub app_id: AppId,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: AuditAction,
    /// What was acted on, e.g. the tenant id or key id.
    pub target: String,
    pub tenant_id: Option<TenantId>,
    pub detail: Value,
}

/// An audit entry as read back for the log: the actor in its stored form.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: AuditId,
    pub at: Timestamp,
    pub actor: String,
    pub action: AuditAction,
    pub target: String,
    pub tenant_id: Option<TenantId>,
    pub detail: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_through_its_stored_name() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()).unwrap(), *action);
        }
        assert!(AuditAction::parse("user.delete_everything").is_err());
    }
}
