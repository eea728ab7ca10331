//! Authorization as one pure decision: `(principal, permission, target) → Decision`.
//!
//! The decision knows nothing of HTTP; the handler turns a `Deny` into `403 forbidden` (or
//! `401` when there is no principal at all). Every `/admin` handler calls `authorize` with the
//! permission named in its doc comment.

use super::ids::{ApiKeyId, AppId, OperatorId, TenantId};
use super::member::{CustomRole, MemberStatus, OperatorRole};
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
    ClientsRead,
    ClientsWrite,
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
        Permission::ClientsRead,
        Permission::ClientsWrite,
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
            Permission::ClientsRead => "clients:read",
            Permission::ClientsWrite => "clients:write",
        }
    }

    /// Parses a wire name; an unknown permission is `400 validation_failed`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| Error::validation(format!("unknown permission {raw:?}")))
    }

    /// Parses a list, in the order of `ALL` and without repeats.
    pub fn parse_set(raw: &[String]) -> Result<Vec<Self>, Error> {
        let parsed = raw
            .iter()
            .map(|p| Permission::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Permission::ALL
            .iter()
            .copied()
            .filter(|p| parsed.contains(p))
            .collect())
    }

    /// True for the permissions of an app's settings: reading and changing its tenants (login
    /// methods, link bases) and its email delivery. They are all an app made by operator
    /// sign-up offers until its owner has verified their email (`SETTINGS`).
    pub fn is_setting(self) -> bool {
        SETTINGS.contains(&self)
    }
}

/// What "settings" means for an app whose owner has not verified their email yet: reading and
/// changing its tenants and its email delivery, nothing else — no end users, members, roles,
/// API keys, webhook secrets or audit log.
pub const SETTINGS: &[Permission] = &[Permission::TenantsRead, Permission::TenantsWrite];

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
/// membership is active. Read with the membership (one lookup per request): the definitions
/// of the custom roles it binds and whether its app still waits for its owner's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub app_id: AppId,
    pub tenant_id: Option<TenantId>,
    pub status: MemberStatus,
    pub roles: Vec<OperatorRole>,
    /// The definitions of the custom roles among `roles` (one the app lacks binds nothing).
    pub custom_roles: Vec<CustomRole>,
    /// The app was made by operator sign-up and its owner has not verified their email: only
    /// its settings can be used (`SETTINGS`).
    pub app_pending: bool,
}

impl Grant {
    /// True when one of the roles binds `permission` (whatever the membership's status).
    pub fn binds(&self, permission: Permission) -> bool {
        self.roles
            .iter()
            .any(|r| r.binds(permission, &self.custom_roles))
    }

    /// Every permission the membership's roles bind, custom roles by their definitions,
    /// whatever its status (it grants them only while active) and whether its app waits for
    /// its owner's email (`app_pending`: then only `SETTINGS` are usable).
    pub fn permissions(&self) -> Vec<Permission> {
        super::member::permissions_of(&self.roles, &self.custom_roles)
    }

    /// The permissions of `permissions` that `authorize` lets through while the membership is
    /// active: all of them, or only the `SETTINGS` while the app waits for its owner's email.
    pub fn usable_permissions(&self) -> Vec<Permission> {
        let mut bound = self.permissions();
        if self.app_pending {
            bound.retain(|p| p.is_setting());
        }
        bound
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
    /// The app waits for its owner to verify their email: only its settings can be used.
    AppPending,
}

/// The outcome of `authorize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(DenyReason),
}

impl Decision {
    /// `Ok` for `Allow`, `403 forbidden` with a reason for `Deny` (`403 app_not_verified` for
    /// an app waiting for its owner's email).
    pub fn into_result(self) -> Result<(), Error> {
        let reason = match self {
            Decision::Allow => return Ok(()),
            Decision::Deny(DenyReason::AppPending) => return Err(Error::AppNotVerified),
            Decision::Deny(DenyReason::PlatformOwnerOnly) => "only the platform owner may do this",
            Decision::Deny(DenyReason::MissingPermission) => {
                "the credentials lack the needed permission"
            }
            Decision::Deny(DenyReason::OutsideScope) => {
                "the credentials do not reach this app or tenant"
            }
            Decision::Deny(DenyReason::NotActive) => "the membership is not active",
        };
        Err(Error::Forbidden(reason.to_owned()))
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
            if !grant.binds(permission) {
                Decision::Deny(DenyReason::MissingPermission)
            } else if grant.app_pending && !permission.is_setting() {
                // The caller would be allowed, but the app is not usable beyond its settings
                // until its owner has verified their email.
                Decision::Deny(DenyReason::AppPending)
            } else {
                Decision::Allow
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
            custom_roles: Vec::new(),
            app_pending: false,
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
    fn a_custom_role_grants_what_its_definition_binds_and_nothing_else() {
        use crate::domain::names::OperatorRoleName;
        let name = OperatorRoleName::parse("reader").unwrap();
        let mut g = grant("shop", None, MemberStatus::Active, &[]);
        g.roles = vec![OperatorRole::Custom(name.clone())];
        g.custom_roles = vec![CustomRole {
            name,
            permissions: vec![Permission::UsersRead],
        }];
        let reader = operator(vec![g.clone()]);
        let (shop, acme) = (app("shop"), tenant("acme"));
        for p in Permission::ALL {
            let expected = if *p == Permission::UsersRead {
                Decision::Allow
            } else {
                Decision::Deny(DenyReason::MissingPermission)
            };
            assert_eq!(
                authorize(&reader, Some(*p), &Target::Tenant(&shop, &acme)),
                expected,
                "{p:?}"
            );
        }
        // Without its definition (none travels with the grant) the role binds nothing.
        g.custom_roles.clear();
        assert_eq!(
            authorize(
                &operator(vec![g]),
                Some(Permission::UsersRead),
                &Target::App(&shop)
            ),
            Decision::Deny(DenyReason::MissingPermission)
        );
    }

    #[test]
    fn an_app_waiting_for_its_owners_email_offers_its_settings_only() {
        let mut g = grant("shop", None, MemberStatus::Active, &[OperatorRole::Admin]);
        g.app_pending = true;
        let owner = operator(vec![g]);
        let (shop, acme) = (app("shop"), tenant("acme"));
        // What a client is told it can use is exactly what is allowed.
        let Principal::Operator { grants, .. } = &owner else {
            unreachable!()
        };
        assert_eq!(grants[0].usable_permissions(), SETTINGS);
        for p in Permission::ALL {
            let expected = if SETTINGS.contains(p) {
                Decision::Allow
            } else {
                Decision::Deny(DenyReason::AppPending)
            };
            assert_eq!(
                authorize(&owner, Some(*p), &Target::Tenant(&shop, &acme)),
                expected,
                "{p:?}"
            );
        }
        assert_eq!(
            Decision::Deny(DenyReason::AppPending).into_result(),
            Err(Error::AppNotVerified)
        );
        assert_eq!(
            SETTINGS,
            [Permission::TenantsRead, Permission::TenantsWrite]
        );
    }

    #[test]
    fn permissions_parse_by_wire_name_into_a_set_in_table_order() {
        let raw = [
            "users:read".to_owned(),
            "tenants:read".to_owned(),
            "users:read".to_owned(),
        ];
        assert_eq!(
            Permission::parse_set(&raw).unwrap(),
            [Permission::TenantsRead, Permission::UsersRead]
        );
        assert!(Permission::parse("introspect").is_err());
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
