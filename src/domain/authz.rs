//! Authorization as one pure decision: `(principal, permission, target) → Decision`.
//!
//! The decision knows nothing of HTTP; the handler turns a `Deny` into `403 forbidden` (or
//! `401` when there is no principal at all). Every `/admin` handler calls `authorize` with the
//! permission named in its doc comment.

use super::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use super::member::{MemberStatus, OperatorRole};
use super::Error;

/// The management permissions of `API.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    TenantsRead,
    TenantsWrite,
    MembersRead,
    MembersWrite,
    UsersRead,
    UsersSuspend,
    UsersPlan,
    UsersWrite,
    RolesWrite,
    ApiKeysWrite,
    WebhooksWrite,
    AuditRead,
}

impl Permission {
    /// Every permission, in the order of `API.md`.
    pub const ALL: &'static [Permission] = &[
        Permission::TenantsRead,
        Permission::TenantsWrite,
        Permission::MembersRead,
        Permission::MembersWrite,
        Permission::UsersRead,
        Permission::UsersSuspend,
        Permission::UsersPlan,
        Permission::UsersWrite,
        Permission::RolesWrite,
        Permission::ApiKeysWrite,
        Permission::WebhooksWrite,
        Permission::AuditRead,
    ];

    /// The wire name, e.g. `tenants:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::TenantsRead => "tenants:read",
            Permission::TenantsWrite => "tenants:write",
            Permission::MembersRead => "members:read",
            Permission::MembersWrite => "members:write",
            Permission::UsersRead => "users:read",
            Permission::UsersSuspend => "users:suspend",
            Permission::UsersPlan => "users:plan",
            Permission::UsersWrite => "users:write",
            Permission::RolesWrite => "roles:write",
            Permission::ApiKeysWrite => "apikeys:write",
            Permission::WebhooksWrite => "webhooks:write",
            Permission::AuditRead => "audit:read",
        }
    }
}

/// What an API key may do: a management permission, or introspection of end-user tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Permission(Permission),
    Introspect,
}

impl Scope {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Permission(p) => p.as_str(),
            Scope::Introspect => "introspect",
        }
    }

    /// Parses a wire name; unknown scopes are a validation failure.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw == "introspect" {
            return Ok(Scope::Introspect);
        }
        Permission::ALL
            .iter()
            .find(|p| p.as_str() == raw)
            .map(|p| Scope::Permission(*p))
            .ok_or_else(|| Error::validation(format!("unknown scope {raw:?}")))
    }

    /// Parses a non-empty list, dropping duplicates.
    pub fn parse_list(raw: &[String]) -> Result<Vec<Self>, Error> {
        let mut scopes = Vec::new();
        for name in raw {
            let scope = Scope::parse(name)?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(Error::validation("scopes must name at least one scope"));
        }
        Ok(scopes)
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap operator: creates apps, holds `admin` on every app.
    PlatformOwner(OperatorId),
    /// Any other operator, with every membership it has not left.
    Operator { id: OperatorId, grants: Vec<Grant> },
    /// A tenant API key: its scopes, confined to its own app and tenant.
    ApiKey {
        id: ApiKeyId,
        app_id: AppId,
        tenant_id: TenantId,
        scopes: Vec<Scope>,
    },
}

/// What one membership grants: roles in an app, possibly narrowed to one tenant, while the
/// membership is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub app_id: AppId,
    pub tenant_id: Option<TenantId>,
    pub status: MemberStatus,
    pub roles: Vec<OperatorRole>,
}

impl Grant {
    /// Every permission the membership's roles bind, whatever its status (it grants them only
    /// while active).
    pub fn permissions(&self) -> Vec<Permission> {
        super::member::permissions_of(&self.roles)
    }
}

impl Principal {
    /// True when the principal may see `app` at all (for listings): the platform owner, an
    /// active member of the app, an API key of the app.
    pub fn can_see_app(&self, app: &AppId) -> bool {
        match self {
            Principal::PlatformOwner(_) => true,
            Principal::Operator { grants, .. } => grants
                .iter()
                .any(|g| &g.app_id == app && g.status == MemberStatus::Active),
            Principal::ApiKey { app_id, .. } => app_id == app,
        }
    }
}

/// What the request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// The whole deployment (creating apps).
    Platform,
    /// One app as a whole (its tenant list, its settings).
    App(&'a AppId),
    /// One tenant of an app.
    Tenant(&'a AppId, &'a TenantId),
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// Only the platform owner may do this.
    PlatformOwnerOnly,
    /// The principal lacks the permission.
    MissingPermission,
    /// The target lies outside the principal's app or tenant.
    OutsideScope,
    /// The membership is not active (invited, suspended, left): no permission at all.
    NotActive,
}

/// The outcome of `authorize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(DenyReason),
}

impl Decision {
    /// `Ok` for `Allow`, `403 forbidden` with a reason for `Deny`.
    pub fn into_result(self) -> Result<(), Error> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => Err(Error::Forbidden(
                match reason {
                    DenyReason::PlatformOwnerOnly => "only the platform owner may do this",
                    DenyReason::MissingPermission => "the credentials lack the needed permission",
                    DenyReason::OutsideScope => "the credentials do not reach this app or tenant",
                    DenyReason::NotActive => "the membership is not active",
                }
                .to_owned(),
            )),
        }
    }
}

/// Decides whether `principal` may use `permission` on `target`. `permission` is `None` for
/// actions reserved to the platform owner (creating apps).
pub fn authorize(
    principal: &Principal,
    permission: Option<Permission>,
    target: &Target,
) -> Decision {
    match principal {
        Principal::PlatformOwner(_) => Decision::Allow,
        Principal::Operator { grants, .. } => {
            let Some(permission) = permission else {
                return Decision::Deny(DenyReason::PlatformOwnerOnly);
            };
            let (app, tenant) = match target {
                Target::Platform => return Decision::Deny(DenyReason::PlatformOwnerOnly),
                Target::App(app) => (*app, None),
                Target::Tenant(app, tenant) => (*app, Some(*tenant)),
            };
            let Some(grant) = grants.iter().find(|g| &g.app_id == app) else {
                return Decision::Deny(DenyReason::OutsideScope);
            };
            // The lifecycle comes first: a membership that is not active grants nothing,
            // whatever its roles.
            if grant.status != MemberStatus::Active {
                return Decision::Deny(DenyReason::NotActive);
            }
            if let Some(own) = &grant.tenant_id {
                if tenant != Some(own) {
                    return Decision::Deny(DenyReason::OutsideScope);
                }
            }
            if grant
                .roles
                .iter()
                .any(|r| r.permissions().contains(&permission))
            {
                Decision::Allow
            } else {
                Decision::Deny(DenyReason::MissingPermission)
            }
        }
        Principal::ApiKey {
            app_id,
            tenant_id,
            scopes,
            ..
        } => {
            let Some(permission) = permission else {
                return Decision::Deny(DenyReason::PlatformOwnerOnly);
            };
            let inside = match target {
                Target::Platform | Target::App(_) => false,
                Target::Tenant(app, tenant) => *app == app_id && *tenant == tenant_id,
            };
            if !inside {
                Decision::Deny(DenyReason::OutsideScope)
            } else if scopes.contains(&Scope::Permission(permission)) {
                Decision::Allow
            } else {
                Decision::Deny(DenyReason::MissingPermission)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

    fn app(s: &str) -> AppId {
        AppId::parse(s).unwrap()
    }
    fn tenant(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn every_scope_round_trips_and_unknown_scopes_are_refused() {
        for p in Permission::ALL {
            assert_eq!(Scope::parse(p.as_str()).unwrap(), Scope::Permission(*p));
        }
        assert_eq!(Scope::parse("introspect").unwrap(), Scope::Introspect);
        assert!(Scope::parse("admin").is_err());
        assert!(Scope::parse_list(&[]).is_err());
    }

    fn operator(grants: Vec<Grant>) -> Principal {
        Principal::Operator {
            id: OperatorId::generate(Timestamp::EPOCH, [1; 10]),
            grants,
        }
    }

    fn grant(
        app_id: &str,
        tenant: Option<&str>,
        status: MemberStatus,
        roles: &[OperatorRole],
    ) -> Grant {
        Grant {
            app_id: app(app_id),
            tenant_id: tenant.map(self::tenant),
            status,
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn operators_act_through_active_memberships_only() {
        use DenyReason::*;
        use MemberStatus::*;
        use OperatorRole::*;
        let (shop, other_app, acme, beta) =
            (app("shop"), app("other"), tenant("acme"), tenant("beta"));
        let app_admin = operator(vec![grant("shop", None, Active, &[Admin])]);
        let tenant_support = operator(vec![grant("shop", Some("acme"), Active, &[Support])]);
        let suspended_admin = operator(vec![grant("shop", None, Suspended, &[Admin])]);
        let invited_admin = operator(vec![grant("shop", None, Invited, &[Admin])]);
        let auditor = operator(vec![grant("shop", None, Active, &[Auditor])]);
        let table: Vec<(&Principal, Option<Permission>, Target, Decision)> = vec![
            (
                &app_admin,
                Some(Permission::MembersWrite),
                Target::App(&shop),
                Decision::Allow,
            ),
            (
                &app_admin,
                Some(Permission::TenantsWrite),
                Target::Tenant(&shop, &beta),
                Decision::Allow,
            ),
            (
                &app_admin,
                Some(Permission::TenantsRead),
                Target::App(&other_app),
                Decision::Deny(OutsideScope),
            ),
            (
                &app_admin,
                None,
                Target::Platform,
                Decision::Deny(PlatformOwnerOnly),
            ),
            (
                &tenant_support,
                Some(Permission::UsersSuspend),
                Target::Tenant(&shop, &acme),
                Decision::Allow,
            ),
            (
                &tenant_support,
                Some(Permission::UsersSuspend),
                Target::Tenant(&shop, &beta),
                Decision::Deny(OutsideScope),
            ),
            (
                &tenant_support,
                Some(Permission::TenantsRead),
                Target::App(&shop),
                Decision::Deny(OutsideScope),
            ),
            (
                &tenant_support,
                Some(Permission::UsersPlan),
                Target::Tenant(&shop, &acme),
                Decision::Deny(MissingPermission),
            ),
            (
                &suspended_admin,
                Some(Permission::TenantsRead),
                Target::App(&shop),
                Decision::Deny(NotActive),
            ),
            (
                &invited_admin,
                Some(Permission::TenantsRead),
                Target::App(&shop),
                Decision::Deny(NotActive),
            ),
            (
                &auditor,
                Some(Permission::AuditRead),
                Target::App(&shop),
                Decision::Allow,
            ),
            (
                &auditor,
                Some(Permission::TenantsWrite),
                Target::Tenant(&shop, &acme),
                Decision::Deny(MissingPermission),
            ),
        ];
        for (principal, permission, target, expected) in table {
            assert_eq!(
                authorize(principal, permission, &target),
                expected,
                "{principal:?} {permission:?} {target:?}"
            );
        }
    }

    #[test]
    fn the_lifecycle_is_checked_before_any_role_or_scope() {
        let suspended_elsewhere = operator(vec![grant(
            "shop",
            Some("acme"),
            MemberStatus::Suspended,
            &[],
        )]);
        let (shop, beta) = (app("shop"), tenant("beta"));
        assert_eq!(
            authorize(
                &suspended_elsewhere,
                Some(Permission::TenantsRead),
                &Target::Tenant(&shop, &beta)
            ),
            Decision::Deny(DenyReason::NotActive)
        );
    }

    #[test]
    fn decisions_follow_the_table() {
        let owner = Principal::PlatformOwner(OperatorId::generate(Timestamp::EPOCH, [0; 10]));
        let operator = operator(vec![]);
        let (shop, acme, other) = (app("shop"), tenant("acme"), tenant("other"));
        let key = Principal::ApiKey {
            id: ApiKeyId::generate(Timestamp::EPOCH, [2; 10]),
            app_id: shop.clone(),
            tenant_id: acme.clone(),
            scopes: vec![
                Scope::Permission(Permission::ApiKeysWrite),
                Scope::Introspect,
            ],
        };
        use DenyReason::*;
        let allow = Decision::Allow;
        let deny = Decision::Deny;
        let table: Vec<(&Principal, Option<Permission>, Target, Decision)> = vec![
            (&owner, None, Target::Platform, allow),
            (
                &owner,
                Some(Permission::TenantsWrite),
                Target::App(&shop),
                allow,
            ),
            (&operator, None, Target::Platform, deny(PlatformOwnerOnly)),
            (
                &operator,
                Some(Permission::TenantsRead),
                Target::App(&shop),
                deny(OutsideScope),
            ),
            (&key, None, Target::Platform, deny(PlatformOwnerOnly)),
            (
                &key,
                Some(Permission::ApiKeysWrite),
                Target::Tenant(&shop, &acme),
                allow,
            ),
            (
                &key,
                Some(Permission::TenantsRead),
                Target::Tenant(&shop, &acme),
                deny(MissingPermission),
            ),
            (
                &key,
                Some(Permission::ApiKeysWrite),
                Target::Tenant(&shop, &other),
                deny(OutsideScope),
            ),
            (
                &key,
                Some(Permission::ApiKeysWrite),
                Target::App(&shop),
                deny(OutsideScope),
            ),
        ];
        for (principal, permission, target, expected) in table {
            assert_eq!(
                authorize(principal, permission, &target),
                expected,
                "{principal:?} {permission:?} {target:?}"
            );
        }
    }
}
