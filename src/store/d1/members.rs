//! Memberships of operators in apps (`MemberStore`): invitations, their acceptance, updates
//! under the last-admin guard (`ANOTHER_ADMIN`), the operator roles an app defines (bound only
//! while defined: `ROLES_DEFINED`, `ROLE_UNBOUND`) and the grants an operator holds. Must not
//! depend on `service` or `http`.

use super::{
    audit_insert, changed, corrupt, first_changed, json_list, opt_text, phc, phc_params, rows,
    size, text, time, SqlBackend, SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::authz::{Grant, Permission};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, OperatorId, TenantId};
use crate::domain::member::{
    CustomRole, Member, MemberId, MemberStatus, MembershipSource, MembershipType, OperatorRole,
    MAX_CUSTOM_ROLES,
};
use crate::domain::names::OperatorRoleName;
use crate::domain::operator::Operator;
use crate::domain::secret::SecretHash;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{MemberStore, RoleDeletion};
use serde::Deserialize;

#[derive(Deserialize)]
struct MemberRow {
    id: String,
    app_id: String,
    operator_id: Option<String>,
    email: String,
    tenant_id: Option<String>,
    membership_type: String,
    roles: String,
    status: String,
    invite_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    source: String,
}

const MEMBER_COLUMNS: &str = "id, app_id, operator_id, email, tenant_id, membership_type, roles, \
     status, invite_expires_at, created_at, updated_at, source";

impl MemberRow {
    fn into_member(self) -> Result<Member, Error> {
        let bad = |_: Error| corrupt("members");
        let roles: Vec<String> =
            serde_json::from_str(&self.roles).map_err(|_| corrupt("members"))?;
        Ok(Member {
            id: MemberId::parse(&self.id).map_err(bad)?,
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            operator_id: self
                .operator_id
                .as_deref()
                .map(OperatorId::parse)
                .transpose()
                .map_err(bad)?,
            email: Email::from_stored(&self.email).map_err(bad)?,
            tenant_id: self
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(bad)?,
            membership_type: MembershipType::parse(&self.membership_type).map_err(bad)?,
            roles: OperatorRole::parse_list(&roles).map_err(bad)?,
            status: MemberStatus::parse(&self.status).map_err(bad)?,
            invite_expires_at: self.invite_expires_at.map(Timestamp::from_unix_ms),
            created_at: Timestamp::from_unix_ms(self.created_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
            source: MembershipSource::parse(&self.source).map_err(bad)?,
        })
    }
}

fn roles_json(roles: &[OperatorRole]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
}

/// The permissions of an operator role as stored (a JSON array of names).
fn permissions_json(permissions: &[Permission]) -> String {
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    json_list(&names)
}

fn parse_permissions(raw: &[String]) -> Result<Vec<Permission>, Error> {
    Permission::parse_set(raw).map_err(|_| corrupt("operator_roles"))
}

/// Inserts `member` (with the hash of its invitation, if any); an `INSERT … SELECT` without
/// `WHERE`, so callers add the condition it runs under.
pub(super) fn member_insert(member: &Member, invite: Option<&SecretHash>) -> Statement {
    Statement::new(
        format!(
            "INSERT INTO members ({MEMBER_COLUMNS}, invite_hash) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12"
        ),
        vec![
            text(&member.id.to_string()),
            text(member.app_id.as_str()),
            opt_text(member.operator_id.map(|id| id.to_string()).as_deref()),
            text(member.email.as_str()),
            opt_text(member.tenant_id.as_ref().map(|t| t.as_str())),
            text(member.membership_type.as_str()),
            text(&roles_json(&member.roles)),
            text(member.status.as_str()),
            member.invite_expires_at.map(time).unwrap_or(SqlValue::Null),
            time(member.created_at),
            text(member.source.as_str()),
            opt_text(invite.map(SecretHash::as_str)),
        ],
    )
}

/// SQL true when every custom role named in the JSON array `?{roles}` is defined by app
/// `?{app}`: a membership binds only roles that exist, checked in the statement that writes it,
/// so a role cannot be bound while it is deleted.
fn roles_defined(roles: usize, app: usize) -> String {
    let built_in: Vec<String> = OperatorRole::BUILT_IN
        .iter()
        .map(|r| format!("'{}'", r.as_str()))
        .collect();
    format!(
        "NOT EXISTS (SELECT 1 FROM json_each(?{roles}) j WHERE j.value NOT IN ({}) \
         AND NOT EXISTS (SELECT 1 FROM operator_roles r WHERE r.app_id = ?{app} \
         AND r.name = j.value))",
        built_in.join(", ")
    )
}

/// SQL true when no membership of app `?1` that is not left binds the role `?2`.
const ROLE_UNBOUND: &str = "NOT EXISTS (SELECT 1 FROM members m, json_each(m.roles) j \
     WHERE m.app_id = ?1 AND m.status != 'left' AND j.value = ?2)";

#[derive(Deserialize)]
struct CustomRoleRow {
    name: String,
    permissions: Vec<String>,
}

impl CustomRoleRow {
    fn into_role(self) -> Result<CustomRole, Error> {
        Ok(CustomRole {
            name: OperatorRoleName::parse(&self.name).map_err(|_| corrupt("operator_roles"))?,
            permissions: parse_permissions(&self.permissions)?,
        })
    }
}

#[derive(Deserialize)]
struct GrantRow {
    app_id: String,
    tenant_id: Option<String>,
    status: String,
    roles: String,
    app_pending: i64,
    /// JSON: `[{"name", "permissions": [...]}]` of the custom roles the membership binds.
    custom_roles: String,
}

impl GrantRow {
    fn into_grant(self) -> Result<Grant, Error> {
        let bad = |_: Error| corrupt("members");
        let roles: Vec<String> =
            serde_json::from_str(&self.roles).map_err(|_| corrupt("members"))?;
        let custom: Vec<CustomRoleRow> =
            serde_json::from_str(&self.custom_roles).map_err(|_| corrupt("operator_roles"))?;
        Ok(Grant {
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: self
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(bad)?,
            status: MemberStatus::parse(&self.status).map_err(bad)?,
            roles: OperatorRole::parse_list(&roles).map_err(bad)?,
            custom_roles: custom
                .into_iter()
                .map(CustomRoleRow::into_role)
                .collect::<Result<_, _>>()?,
            app_pending: self.app_pending != 0,
        })
    }
}

/// SQL true when another active, app-wide admin than member `?1` exists in app `?2`.
const ANOTHER_ADMIN: &str = "EXISTS (SELECT 1 FROM members m2 WHERE m2.app_id = ?2 \
     AND m2.id != ?1 AND m2.status = 'active' AND m2.tenant_id IS NULL \
     AND EXISTS (SELECT 1 FROM json_each(m2.roles) WHERE json_each.value = 'admin'))";

impl<B: SqlBackend> MemberStore for SqlStore<B> {
    async fn create_member(
        &self,
        member: &Member,
        invite: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                // An invitation that expired unaccepted no longer holds the email.
                Statement::new(
                    "UPDATE members SET status = 'left', invite_hash = NULL, updated_at = ?3 \
                     WHERE app_id = ?1 AND email = ?2 AND status = 'invited' \
                     AND invite_expires_at <= ?3",
                    vec![
                        text(member.app_id.as_str()),
                        text(member.email.as_str()),
                        time(member.created_at),
                    ],
                ),
                {
                    let mut insert = member_insert(
                        &Member {
                            operator_id: None,
                            ..member.clone()
                        },
                        Some(invite),
                    );
                    insert.sql.push_str(&format!(
                        " WHERE NOT EXISTS (SELECT 1 FROM members \
                         WHERE app_id = ?2 AND email = ?4 AND status != 'left') AND {}",
                        roles_defined(7, 2)
                    ));
                    insert
                },
                audit_insert(audit, true),
            ])
            .await?;
        changed(&results, 1)
    }

    async fn find_invite(&self, invite: &SecretHash) -> Result<Option<Member>, Error> {
        self.first::<MemberRow>(Statement::new(
            format!("SELECT {MEMBER_COLUMNS} FROM members WHERE invite_hash = ?1"),
            vec![text(invite.as_str())],
        ))
        .await?
        .map(MemberRow::into_member)
        .transpose()
    }

    async fn accept_invite(
        &self,
        invite: &SecretHash,
        operator: &OperatorId,
        new_operator: Option<&Operator>,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let pending = "EXISTS (SELECT 1 FROM members WHERE invite_hash = ?1 \
                       AND status = 'invited' AND invite_expires_at > ?2)";
        let mut statements = Vec::new();
        if let Some(new) = new_operator {
            statements.push(Statement::new(
                format!(
                    "INSERT INTO operators \
                     (id, email, password_hash, is_platform_owner, created_at, password_params) \
                     SELECT ?3, ?4, ?5, 0, ?2, ?6 WHERE {pending}"
                ),
                vec![
                    text(invite.as_str()),
                    time(now),
                    text(&new.id.to_string()),
                    text(new.email.as_str()),
                    phc(new.password_hash.as_ref()),
                    phc_params(new.password_hash.as_ref()),
                ],
            ));
        }
        let update_index = statements.len();
        statements.push(Statement::new(
            "UPDATE members SET status = 'active', operator_id = ?3, invite_hash = NULL, \
             invite_expires_at = NULL, updated_at = ?2 \
             WHERE invite_hash = ?1 AND status = 'invited' AND invite_expires_at > ?2",
            vec![
                text(invite.as_str()),
                time(now),
                text(&operator.to_string()),
            ],
        ));
        statements.push(audit_insert(audit, true));
        let results = self.batch(statements).await?;
        changed(&results, update_index)
    }

    async fn find_member(&self, app: &AppId, id: &MemberId) -> Result<Option<Member>, Error> {
        self.first::<MemberRow>(Statement::new(
            format!("SELECT {MEMBER_COLUMNS} FROM members WHERE app_id = ?1 AND id = ?2"),
            vec![text(app.as_str()), text(&id.to_string())],
        ))
        .await?
        .map(MemberRow::into_member)
        .transpose()
    }

    async fn list_members(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Member>, Error> {
        self.all::<MemberRow>(Statement::new(
            format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE app_id = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3"
            ),
            vec![text(app.as_str()), text(after.unwrap_or("")), size(limit)],
        ))
        .await?
        .into_iter()
        .map(MemberRow::into_member)
        .collect()
    }

    async fn update_member(
        &self,
        member: &Member,
        expected: MemberStatus,
        keep_an_admin: bool,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let guard = if keep_an_admin {
            format!(" AND {ANOTHER_ADMIN}")
        } else {
            String::new()
        };
        let results = self
            .batch(vec![
                Statement::new(
                    format!(
                        "UPDATE members SET status = ?3, roles = ?4, updated_at = ?5, \
                         membership_type = ?7, \
                         invite_hash = CASE WHEN ?3 = 'left' THEN NULL ELSE invite_hash END \
                         WHERE id = ?1 AND app_id = ?2 AND status = ?6 AND {}{guard}",
                        roles_defined(4, 2)
                    ),
                    vec![
                        text(&member.id.to_string()),
                        text(member.app_id.as_str()),
                        text(member.status.as_str()),
                        text(&roles_json(&member.roles)),
                        time(member.updated_at),
                        text(expected.as_str()),
                        text(member.membership_type.as_str()),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_grants(&self, operator: &OperatorId) -> Result<Vec<Grant>, Error> {
        // One read: each membership with its app's state and the definitions of the custom
        // roles it binds, in the order of the index on operator_id.
        self.all::<GrantRow>(Statement::new(
            "SELECT m.app_id, m.tenant_id, m.status, m.roles, \
             a.pending_verification AS app_pending, \
             (SELECT json_group_array(json_object('name', r.name, \
                'permissions', json(r.permissions))) \
              FROM operator_roles r WHERE r.app_id = m.app_id \
              AND r.name IN (SELECT value FROM json_each(m.roles))) AS custom_roles \
             FROM members m JOIN apps a ON a.id = m.app_id \
             WHERE m.operator_id = ?1 AND m.status != 'left' AND a.deleted_at IS NULL \
             ORDER BY m.rowid",
            vec![text(&operator.to_string())],
        ))
        .await?
        .into_iter()
        .map(GrantRow::into_grant)
        .collect()
    }

    async fn find_operator_roles(&self, app: &AppId) -> Result<Vec<CustomRole>, Error> {
        #[derive(Deserialize)]
        struct Row {
            name: String,
            permissions: String,
        }
        self.all::<Row>(Statement::new(
            "SELECT name, permissions FROM operator_roles WHERE app_id = ?1 ORDER BY name",
            vec![text(app.as_str())],
        ))
        .await?
        .into_iter()
        .map(|row| {
            let permissions: Vec<String> =
                serde_json::from_str(&row.permissions).map_err(|_| corrupt("operator_roles"))?;
            CustomRoleRow {
                name: row.name,
                permissions,
            }
            .into_role()
        })
        .collect()
    }

    async fn put_operator_role(
        &self,
        app: &AppId,
        role: &CustomRole,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "INSERT INTO operator_roles (app_id, name, permissions, updated_at) \
                     SELECT ?1, ?2, ?3, ?4 \
                     WHERE EXISTS (SELECT 1 FROM operator_roles WHERE app_id = ?1 AND name = ?2) \
                     OR (SELECT COUNT(*) FROM operator_roles WHERE app_id = ?1) < ?5 \
                     ON CONFLICT (app_id, name) DO UPDATE SET \
                     permissions = excluded.permissions, updated_at = excluded.updated_at",
                    vec![
                        text(app.as_str()),
                        text(role.name.as_str()),
                        text(&permissions_json(&role.permissions)),
                        time(now),
                        size(MAX_CUSTOM_ROLES),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn delete_operator_role(
        &self,
        app: &AppId,
        name: &OperatorRoleName,
        audit: &AuditEntry,
    ) -> Result<RoleDeletion, Error> {
        let args = || vec![text(app.as_str()), text(name.as_str())];
        let results = self
            .batch(vec![
                Statement::new(
                    format!(
                        "DELETE FROM operator_roles WHERE app_id = ?1 AND name = ?2 \
                         AND {ROLE_UNBOUND}"
                    ),
                    args(),
                ),
                audit_insert(audit, true),
                Statement::new(
                    "SELECT 1 AS found FROM operator_roles WHERE app_id = ?1 AND name = ?2",
                    args(),
                ),
            ])
            .await?;
        #[derive(Deserialize)]
        struct Found {
            #[expect(dead_code, reason = "only its presence matters")]
            found: i64,
        }
        Ok(if first_changed(&results)? {
            RoleDeletion::Deleted
        } else if rows::<Found, _>(&results, 2)?.is_empty() {
            RoleDeletion::NotFound
        } else {
            RoleDeletion::InUse
        })
    }
}
