//! Memberships: an operator's place in an app — lifecycle, type, role bindings, scope.
//!
//! `invited → active ⇄ suspended → left` (an invitation may also be withdrawn: `invited →
//! left`); `left` is final. The membership type and source are metadata only; permissions come
//! only from the operator roles bound to the membership — built-in ones, or roles the app
//! defines — and only while it is `active`.

use super::authz::Permission;
use super::email::Email;
use super::ids::{AppId, OperatorId, TenantId};
use super::names::OperatorRoleName;
use super::time::Timestamp;
use super::Error;

pub use super::ids::MemberId;

/// Where a membership stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    Invited,
    Active,
    Suspended,
    Left,
}

impl MemberStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Invited => "invited",
            MemberStatus::Active => "active",
            MemberStatus::Suspended => "suspended",
            MemberStatus::Left => "left",
        }
    }

    /// Parses a name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "invited" => Ok(MemberStatus::Invited),
            "active" => Ok(MemberStatus::Active),
            "suspended" => Ok(MemberStatus::Suspended),
            "left" => Ok(MemberStatus::Left),
            _ => Err(Error::validation(
                "status must be invited, active, suspended or left",
            )),
        }
    }

    /// Whether an operator may move a membership from `self` to `to` through `PATCH`.
    /// Activation of an invitation happens only by accepting it.
    pub fn can_become(self, to: MemberStatus) -> bool {
        use MemberStatus::*;
        matches!(
            (self, to),
            (Invited, Left)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Active, Left)
                | (Suspended, Left)
        ) || (self == to && self != Left)
    }
}

/// The kind of membership: metadata for people, never a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MembershipType {
    Owner,
    Admin,
    Member,
    Contractor,
    ServiceOperator,
    ReadonlyAuditor,
}

impl MembershipType {
    /// Every type, in the order of `API.md`.
    pub const ALL: &'static [MembershipType] = &[
        MembershipType::Owner,
        MembershipType::Admin,
        MembershipType::Member,
        MembershipType::Contractor,
        MembershipType::ServiceOperator,
        MembershipType::ReadonlyAuditor,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipType::Owner => "owner",
            MembershipType::Admin => "admin",
            MembershipType::Member => "member",
            MembershipType::Contractor => "contractor",
            MembershipType::ServiceOperator => "service_operator",
            MembershipType::ReadonlyAuditor => "readonly_auditor",
        }
    }

    /// Parses a name; anything else is `400 validation_failed`.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        MembershipType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = MembershipType::ALL.iter().map(|t| t.as_str()).collect();
                Error::validation(format!(
                    "membership_type must be one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// An operator role a membership binds: one of the built-in roles of `API.md`, or a role the
/// app defines itself (`PUT /admin/apps/{app}/operator-roles/{role}`), bound the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OperatorRole {
    Admin,
    SecurityAdmin,
    BillingAdmin,
    Support,
    Auditor,
    /// Runs a tenant's OAuth server: its settings and clients, and reads the audit log.
    McpAdmin,
    /// A role of the app; what it binds is its definition (`CustomRole`), which travels with
    /// the grants an operator holds (`authz::Grant`), never looked up per decision.
    Custom(OperatorRoleName),
}

impl OperatorRole {
    /// Every built-in role.
    pub const BUILT_IN: &'static [OperatorRole] = &[
        OperatorRole::Admin,
        OperatorRole::SecurityAdmin,
        OperatorRole::BillingAdmin,
        OperatorRole::Support,
        OperatorRole::Auditor,
        OperatorRole::McpAdmin,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            OperatorRole::Admin => "admin",
            OperatorRole::SecurityAdmin => "security_admin",
            OperatorRole::BillingAdmin => "billing_admin",
            OperatorRole::Support => "support",
            OperatorRole::Auditor => "auditor",
            OperatorRole::McpAdmin => "mcp_admin",
            OperatorRole::Custom(name) => name.as_str(),
        }
    }

    /// The built-in role of this name, if there is one.
    pub fn built_in(name: &str) -> Option<OperatorRole> {
        OperatorRole::BUILT_IN
            .iter()
            .find(|r| r.as_str() == name)
            .cloned()
    }

    /// True for the built-in roles, which no app can redefine.
    pub fn is_built_in(&self) -> bool {
        !matches!(self, OperatorRole::Custom(_))
    }

    /// Parses a role name: a built-in role, else a role the app may define. A name that cannot
    /// be a role cannot be defined either: `422 unknown_role`, like a well-formed name the app
    /// does not define (which the use case checks against the app's roles).
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if let Some(role) = OperatorRole::built_in(raw) {
            return Ok(role);
        }
        OperatorRoleName::parse(raw)
            .map(OperatorRole::Custom)
            .map_err(|_| Error::UnknownRole(raw.to_owned()))
    }

    /// Parses a list of role names, dropping duplicates (see `parse`).
    pub fn parse_list(raw: &[String]) -> Result<Vec<Self>, Error> {
        let mut roles = Vec::new();
        for name in raw {
            let role = OperatorRole::parse(name)?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    /// The permissions a built-in role binds (`API.md`, "Permissions and roles of
    /// operators"); `None` for a custom role, whose definition says.
    pub fn built_in_permissions(&self) -> Option<&'static [Permission]> {
        use Permission::*;
        Some(match self {
            OperatorRole::Admin => Permission::ALL,
            OperatorRole::SecurityAdmin => &[
                UsersRead,
                UsersSuspend,
                MembersRead,
                ApiKeysWrite,
                AuditRead,
                TenantsRead,
            ],
            OperatorRole::BillingAdmin => {
                &[UsersRead, UsersPlan, RolesWrite, WebhooksWrite, TenantsRead]
            }
            OperatorRole::Support => &[UsersRead, UsersSuspend, TenantsRead],
            OperatorRole::Auditor => &[TenantsRead, MembersRead, UsersRead, AuditRead],
            OperatorRole::McpAdmin => &[TenantsRead, AuditRead, ClientsRead, ClientsWrite],
            OperatorRole::Custom(_) => return None,
        })
    }

    /// True when the role binds `permission`, custom roles by their definition in `defined`
    /// (a custom role without one binds nothing).
    pub fn binds(&self, permission: Permission, defined: &[CustomRole]) -> bool {
        match (self.built_in_permissions(), self) {
            (Some(permissions), _) => permissions.contains(&permission),
            (None, OperatorRole::Custom(name)) => defined
                .iter()
                .any(|d| d.name == *name && d.permissions.contains(&permission)),
            (None, _) => false,
        }
    }
}

/// A role an app defines: its name and the permissions it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    pub name: OperatorRoleName,
    /// In the order of `Permission::ALL`, without repeats.
    pub permissions: Vec<Permission>,
}

/// The most roles an app may define beside the built-in ones (they travel with every grant).
pub const MAX_CUSTOM_ROLES: usize = 100;

/// Every permission `roles` bind, custom roles by their definitions in `defined`, in the order
/// of `Permission::ALL`.
pub fn permissions_of(roles: &[OperatorRole], defined: &[CustomRole]) -> Vec<Permission> {
    Permission::ALL
        .iter()
        .copied()
        .filter(|p| roles.iter().any(|r| r.binds(*p, defined)))
        .collect()
}

/// The custom roles among `roles` that `defined` lacks: the ones a membership cannot bind.
pub fn undefined_roles<'a>(roles: &'a [OperatorRole], defined: &[CustomRole]) -> Vec<&'a str> {
    roles
        .iter()
        .filter(|r| match r {
            OperatorRole::Custom(name) => !defined.iter().any(|d| d.name == *name),
            _ => false,
        })
        .map(|r| r.as_str())
        .collect()
}

/// How a membership came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MembershipSource {
    /// The platform owner's membership of the app `public`, made by `POST /admin/bootstrap`.
    Bootstrap,
    /// An invitation accepted (`POST /admin/apps/{app}/members`).
    Invite,
    /// The owner of an app made by operator sign-up (`POST /admin/signup`).
    Signup,
    /// Provisioned by SCIM (reserved: no SCIM endpoint exists yet).
    Scim,
}

impl MembershipSource {
    /// Every source.
    pub const ALL: &'static [MembershipSource] = &[
        MembershipSource::Bootstrap,
        MembershipSource::Invite,
        MembershipSource::Signup,
        MembershipSource::Scim,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipSource::Bootstrap => "bootstrap",
            MembershipSource::Invite => "invite",
            MembershipSource::Signup => "signup",
            MembershipSource::Scim => "scim",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        MembershipSource::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| Error::validation(format!("unknown membership source {raw:?}")))
    }
}

/// A membership as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    pub app_id: AppId,
    /// Set once the invitation is accepted.
    pub operator_id: Option<OperatorId>,
    pub email: Email,
    /// `None`: the whole app; `Some`: only this tenant.
    pub tenant_id: Option<TenantId>,
    pub membership_type: MembershipType,
    pub roles: Vec<OperatorRole>,
    pub status: MemberStatus,
    /// How the membership was made.
    pub source: MembershipSource,
    pub invite_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Member {
    /// True for an active, app-wide `admin`: the memberships an app must keep at least one of.
    pub fn is_active_app_admin(&self) -> bool {
        self.status == MemberStatus::Active
            && self.tenant_id.is_none()
            && self.roles.contains(&OperatorRole::Admin)
    }
}

/// How long an invitation can be accepted.
pub const INVITE_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_transitions_follow_the_diagram() {
        use MemberStatus::*;
        let all = [Invited, Active, Suspended, Left];
        let allowed = [
            (Invited, Left),
            (Active, Suspended),
            (Suspended, Active),
            (Active, Left),
            (Suspended, Left),
            (Invited, Invited),
            (Active, Active),
            (Suspended, Suspended),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} → {to:?}"
                );
            }
        }
    }

    #[test]
    fn roles_bind_the_permissions_of_the_table() {
        assert_eq!(permissions_of(&[OperatorRole::Admin], &[]).len(), 14);
        assert!(OperatorRole::McpAdmin.binds(Permission::ClientsWrite, &[]));
        assert!(!OperatorRole::McpAdmin.binds(Permission::UsersRead, &[]));
        assert!(OperatorRole::Support.binds(Permission::UsersSuspend, &[]));
        assert!(!OperatorRole::Auditor.binds(Permission::UsersSuspend, &[]));
        assert!(OperatorRole::parse_list(&["Owner".into()]).is_err());
        assert!(OperatorRole::parse_list(&["owner".into()]).is_ok());
        assert_eq!(
            MembershipType::parse("owner").unwrap(),
            MembershipType::Owner
        );
        assert!(MembershipType::parse("root").is_err());
    }

    #[test]
    fn the_permissions_of_several_roles_are_their_union_once_each() {
        use Permission::*;
        assert_eq!(
            permissions_of(&[OperatorRole::Support, OperatorRole::Auditor], &[]),
            vec![TenantsRead, MembersRead, UsersRead, UsersSuspend, AuditRead]
        );
        assert_eq!(permissions_of(&[], &[]), Vec::<Permission>::new());
        assert_eq!(
            permissions_of(&[OperatorRole::Admin, OperatorRole::Support], &[]),
            Permission::ALL
        );
    }

    #[test]
    fn custom_roles_bind_what_their_definition_says_and_nothing_without_one() {
        let reader = OperatorRole::parse("reader").unwrap();
        assert!(!reader.is_built_in());
        assert_eq!(OperatorRole::parse("admin").unwrap(), OperatorRole::Admin);
        let defined = [CustomRole {
            name: OperatorRoleName::parse("reader").unwrap(),
            permissions: vec![Permission::UsersRead],
        }];
        assert!(reader.binds(Permission::UsersRead, &defined));
        assert!(!reader.binds(Permission::UsersWrite, &defined));
        assert!(!reader.binds(Permission::UsersRead, &[]));
        assert_eq!(
            permissions_of(&[reader.clone(), OperatorRole::Support], &defined),
            [
                Permission::TenantsRead,
                Permission::UsersRead,
                Permission::UsersSuspend
            ]
        );
        assert_eq!(
            undefined_roles(std::slice::from_ref(&reader), &[]),
            ["reader"]
        );
        assert!(undefined_roles(&[reader], &defined).is_empty());
    }

    #[test]
    fn sources_round_trip() {
        for source in MembershipSource::ALL {
            assert_eq!(MembershipSource::parse(source.as_str()).unwrap(), *source);
        }
        assert!(MembershipSource::parse("magic").is_err());
    }
}
