//! Memberships of operators in apps (`MemberStore`): invitations, their acceptance, updates
//! under the last-admin guard (`ANOTHER_ADMIN`) and the grants an operator holds. Must not
//! depend on `service` or `http`.

use super::{
    audit_insert, changed, corrupt, first_changed, opt_text, phc, phc_params, size, text, time,
    SqlBackend, SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::authz::Grant;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, OperatorId, TenantId};
use crate::domain::member::{Member, MemberId, MemberStatus, MembershipType, OperatorRole};
use crate::domain::operator::Operator;
use crate::domain::secret::SecretHash;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::MemberStore;
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
}

const MEMBER_COLUMNS: &str = "id, app_id, operator_id, email, tenant_id, membership_type, roles, \
     status, invite_expires_at, created_at, updated_at";

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
            email: Email::parse(&self.email).map_err(bad)?,
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
        })
    }
}

fn roles_json(roles: &[OperatorRole]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
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
                Statement::new(
                    format!(
                        "INSERT INTO members ({MEMBER_COLUMNS}, invite_hash) \
                         SELECT ?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10 \
                         WHERE NOT EXISTS (SELECT 1 FROM members \
                         WHERE app_id = ?2 AND email = ?3 AND status != 'left')"
                    ),
                    vec![
                        text(&member.id.to_string()),
                        text(member.app_id.as_str()),
                        text(member.email.as_str()),
                        opt_text(member.tenant_id.as_ref().map(|t| t.as_str())),
                        text(member.membership_type.as_str()),
                        text(&roles_json(&member.roles)),
                        text(member.status.as_str()),
                        member.invite_expires_at.map(time).unwrap_or(SqlValue::Null),
                        time(member.created_at),
                        text(invite.as_str()),
                    ],
                ),
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
                         invite_hash = CASE WHEN ?3 = 'left' THEN NULL ELSE invite_hash END \
                         WHERE id = ?1 AND app_id = ?2 AND status = ?6{guard}"
                    ),
                    vec![
                        text(&member.id.to_string()),
                        text(member.app_id.as_str()),
                        text(member.status.as_str()),
                        text(&roles_json(&member.roles)),
                        time(member.updated_at),
                        text(expected.as_str()),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn find_grants(&self, operator: &OperatorId) -> Result<Vec<Grant>, Error> {
        self.all::<MemberRow>(Statement::new(
            format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE operator_id = ?1 AND status != 'left'"
            ),
            vec![text(&operator.to_string())],
        ))
        .await?
        .into_iter()
        .map(|row| {
            row.into_member().map(|m| Grant {
                app_id: m.app_id,
                tenant_id: m.tenant_id,
                status: m.status,
                roles: m.roles,
            })
        })
        .collect()
    }
}
