//! Memberships: an operator's place in an app — lifecycle, type, role bindings, scope.
//!
//! `invited → active ⇄ suspended → left` (an invitation may also be withdrawn: `invited →
//! left`); `left` is final. The membership type is metadata only; permissions come only from
//! the built-in operator roles bound to the membership, and only while it is `active`.

use super::authz::Permission;
use super::email::Email;
use super::ids::{AppId, OperatorId, TenantId};
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

/// The built-in operator roles of `API.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorRole {
    Admin,
    SecurityAdmin,
    BillingAdmin,
    Support,
    Auditor,
}

impl OperatorRole {
    /// Every built-in role.
    pub const ALL: &'static [OperatorRole] = &[
        OperatorRole::Admin,
        OperatorRole::SecurityAdmin,
        OperatorRole::BillingAdmin,
        OperatorRole::Support,
        OperatorRole::Auditor,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::Admin => "admin",
            OperatorRole::SecurityAdmin => "security_admin",
            OperatorRole::BillingAdmin => "billing_admin",
            OperatorRole::Support => "support",
            OperatorRole::Auditor => "auditor",
        }
    }

    /// Parses a list of role names; an unknown name is `422 unknown_role`.
    pub fn parse_list(raw: &[String]) -> Result<Vec<Self>, Error> {
        let mut roles = Vec::new();
        for name in raw {
            let role = OperatorRole::ALL
                .iter()
                .copied()
                .find(|r| r.as_str() == name)
                .ok_or_else(|| Error::UnknownRole(name.clone()))?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    /// The permissions the role binds (`API.md`, "Permissions and roles of operators").
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
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
        }
    }
}

/// Every permission `roles` bind, once each, in the order of `Permission::ALL`. A membership
/// grants them only while it is active (`domain::authz`).
pub fn permissions_of(roles: &[OperatorRole]) -> Vec<Permission> {
    Permission::ALL
        .iter()
        .copied()
        .filter(|p| roles.iter().any(|r| r.permissions().contains(p)))
        .collect()
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
        assert_eq!(OperatorRole::Admin.permissions().len(), 12);
        assert!(OperatorRole::Support
            .permissions()
            .contains(&Permission::UsersSuspend));
        assert!(!OperatorRole::Auditor
            .permissions()
            .contains(&Permission::UsersSuspend));
        assert!(OperatorRole::parse_list(&["owner".into()]).is_err());
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
            permissions_of(&[OperatorRole::Support, OperatorRole::Auditor]),
            vec![TenantsRead, MembersRead, UsersRead, UsersSuspend, AuditRead]
        );
        assert_eq!(permissions_of(&[]), Vec::<Permission>::new());
        assert_eq!(
            permissions_of(&[OperatorRole::Admin, OperatorRole::Support]),
            Permission::ALL
        );
    }
}
