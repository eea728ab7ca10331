//! End-user state as operators manage it (`UserStateStore`): the app's roles and plans, the
//! listing of a tenant's users, faces (compare-and-swap on their version), association with
//! another tenant, imports, revocation of a user's sessions and metadata. The billing methods
//! of the trait are in `billing`. Must not depend on `service` or `http`.

use super::billing;
use super::users::{
    face_values, user_inserts, TenantUserRow, UserRow, TENANT_USER_COLUMNS, USER_COLUMNS,
};
use super::{
    audit_insert, corrupt, first_changed, int, json_list, rows, size, text, time, SqlBackend,
    SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::names::{PlanTier, RoleName, UserPermission};
use crate::domain::policy::{AppPolicy, Plan};
use crate::domain::session::SessionId;
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId};
use crate::domain::Error;
use crate::store::{EventOutcome, UserFilter, UserStateStore};
use serde::Deserialize;

#[derive(Deserialize)]
struct RoleRow {
    name: String,
    permissions: String,
}

#[derive(Deserialize)]
struct PlanRow {
    tier: String,
    roles: String,
    rate_limit: Option<i64>,
}

impl<B: SqlBackend> UserStateStore for SqlStore<B> {
    async fn find_policy(&self, app: &AppId) -> Result<AppPolicy, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "SELECT name, permissions FROM end_user_roles WHERE app_id = ?1",
                    vec![text(app.as_str())],
                ),
                Statement::new(
                    "SELECT tier, roles, rate_limit FROM plans WHERE app_id = ?1",
                    vec![text(app.as_str())],
                ),
            ])
            .await?;
        let mut policy = AppPolicy::default();
        for row in rows::<RoleRow, _>(&results, 0)? {
            let name = RoleName::parse(&row.name).map_err(|_| corrupt("roles"))?;
            let permissions: Vec<UserPermission> =
                serde_json::from_str(&row.permissions).map_err(|_| corrupt("roles"))?;
            policy.roles.insert(name, permissions);
        }
        for row in rows::<PlanRow, _>(&results, 1)? {
            let tier = PlanTier::parse(&row.tier).map_err(|_| corrupt("plans"))?;
            let roles = serde_json::from_str(&row.roles).map_err(|_| corrupt("plans"))?;
            policy.plans.insert(
                tier,
                Plan {
                    roles,
                    rate_limit: row.rate_limit,
                },
            );
        }
        Ok(policy)
    }

    async fn put_role(
        &self,
        app: &AppId,
        name: &RoleName,
        permissions: &[UserPermission],
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            Statement::new(
                "INSERT INTO end_user_roles (app_id, name, permissions, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (app_id, name) DO UPDATE SET \
                 permissions = excluded.permissions, updated_at = excluded.updated_at",
                vec![
                    text(app.as_str()),
                    text(name.as_str()),
                    text(&json_list(permissions)),
                    time(now),
                ],
            ),
            audit_insert(audit, false),
        ])
        .await
        .map(drop)
    }

    async fn put_plan(
        &self,
        app: &AppId,
        tier: &PlanTier,
        plan: &Plan,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            Statement::new(
                "INSERT INTO plans (app_id, tier, roles, rate_limit, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (app_id, tier) DO UPDATE SET \
                 roles = excluded.roles, rate_limit = excluded.rate_limit, \
                 updated_at = excluded.updated_at",
                vec![
                    text(app.as_str()),
                    text(tier.as_str()),
                    text(&json_list(&plan.roles)),
                    plan.rate_limit.map(int).unwrap_or(SqlValue::Null),
                    time(now),
                ],
            ),
            audit_insert(audit, false),
        ])
        .await
        .map(drop)
    }

    async fn list_tenant_users(
        &self,
        app: &AppId,
        tenant: &TenantId,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(User, TenantUser)>, Error> {
        // D1 refuses bound values that the SQL does not use: number them as they are added.
        let mut args = vec![text(app.as_str()), text(tenant.as_str())];
        let mut conditions = vec!["tu.app_id = ?1".to_owned(), "tu.tenant_id = ?2".to_owned()];
        let mut bind = |conditions: &mut Vec<String>, sql: &str, value: SqlValue| {
            args.push(value);
            conditions.push(sql.replace('?', &format!("?{}", args.len())));
        };
        if let Some(status) = filter.status {
            bind(&mut conditions, "tu.status = ?", text(status.as_str()));
        }
        if let Some(tier) = &filter.plan_tier {
            bind(&mut conditions, "tu.plan_tier = ?", text(tier.as_str()));
        }
        let order = match &filter.email_prefix {
            Some(prefix) => {
                // A range over the (app, tenant, email) index: every email that starts with
                // the prefix.
                bind(&mut conditions, "tu.email >= ?", text(prefix));
                bind(
                    &mut conditions,
                    "tu.email < ? || char(1114111)",
                    text(prefix),
                );
                bind(&mut conditions, "tu.email > ?", text(after.unwrap_or("")));
                "tu.email"
            }
            None => {
                bind(&mut conditions, "tu.user_id > ?", text(after.unwrap_or("")));
                "tu.user_id"
            }
        };
        args.push(size(limit));
        let sql = format!(
            "SELECT {TENANT_USER_COLUMNS} FROM tenant_users tu \
             JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
             WHERE {} ORDER BY {order} LIMIT ?{}",
            conditions.join(" AND "),
            args.len()
        );
        self.all::<TenantUserRow>(Statement::new(sql, args))
            .await?
            .into_iter()
            .map(TenantUserRow::into_pair)
            .collect()
    }

    async fn find_user(&self, app: &AppId, id: &UserId) -> Result<Option<User>, Error> {
        self.first::<UserRow>(Statement::new(
            format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND id = ?2"),
            vec![text(app.as_str()), text(&id.to_string())],
        ))
        .await?
        .map(UserRow::into_user)
        .transpose()
    }

    async fn update_face(
        &self,
        face: &TenantUser,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE tenant_users SET status = ?4, plan_tier = ?5, \
                     rate_limit_override = ?6, roles = ?7, version = version + 1 \
                     WHERE app_id = ?1 AND tenant_id = ?2 AND user_id = ?3 AND version = ?8",
                    vec![
                        text(face.app_id.as_str()),
                        text(face.tenant_id.as_str()),
                        text(&face.user_id.to_string()),
                        text(face.status.as_str()),
                        text(face.plan_tier.as_str()),
                        face.rate_limit_override.map(int).unwrap_or(SqlValue::Null),
                        text(&json_list(&face.roles)),
                        int(expected_version),
                    ],
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn associate(&self, face: &TenantUser, audit: &AuditEntry) -> Result<bool, Error> {
        let results = self
            .batch(vec![
                Statement::new(
                    "INSERT OR IGNORE INTO tenant_users \
                     (app_id, tenant_id, user_id, email, status, plan_tier, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    face_values(face),
                ),
                audit_insert(audit, true),
            ])
            .await?;
        first_changed(&results)
    }

    async fn create_user_only(
        &self,
        user: &User,
        face: &TenantUser,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        let mut statements = user_inserts(user, face);
        statements.push(audit_insert(audit, true));
        let results = self.batch(statements).await?;
        first_changed(&results)
    }

    async fn revoke_user_sessions(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Vec<SessionId>, Error> {
        #[derive(Deserialize)]
        struct IdRow {
            id: String,
        }
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE sessions SET revoked_at = ?4 WHERE app_id = ?1 AND tenant_id = ?2 \
                     AND user_id = ?3 AND revoked_at IS NULL RETURNING id",
                    vec![
                        text(app.as_str()),
                        text(tenant.as_str()),
                        text(&user.to_string()),
                        time(now),
                    ],
                ),
                audit_insert(audit, false),
            ])
            .await?;
        rows::<IdRow, _>(&results, 0)?
            .iter()
            .map(|r| SessionId::parse(&r.id).map_err(|_| corrupt("sessions")))
            .collect()
    }

    async fn find_metadata(&self, app: &AppId, user: &UserId) -> Result<serde_json::Value, Error> {
        #[derive(Deserialize)]
        struct MetadataRow {
            metadata: String,
        }
        let row = self
            .first::<MetadataRow>(Statement::new(
                "SELECT metadata FROM user_metadata WHERE app_id = ?1 AND user_id = ?2",
                vec![text(app.as_str()), text(&user.to_string())],
            ))
            .await?;
        match row {
            Some(row) => serde_json::from_str(&row.metadata).map_err(|_| corrupt("user_metadata")),
            None => Ok(serde_json::json!({})),
        }
    }

    async fn put_metadata(
        &self,
        app: &AppId,
        user: &UserId,
        metadata: &serde_json::Value,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.batch(vec![
            Statement::new(
                "INSERT INTO user_metadata (app_id, user_id, metadata, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (app_id, user_id) DO UPDATE SET \
                 metadata = excluded.metadata, updated_at = excluded.updated_at",
                vec![
                    text(app.as_str()),
                    text(&user.to_string()),
                    text(&metadata.to_string()),
                    time(now),
                ],
            ),
            audit_insert(audit, false),
        ])
        .await
        .map(drop)
    }

    async fn find_webhook_secret(&self, app: &AppId) -> Result<Option<String>, Error> {
        billing::find_webhook_secret(self, app).await
    }

    async fn put_webhook_secret(
        &self,
        app: &AppId,
        sealed: &str,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        billing::put_webhook_secret(self, app, sealed, now, audit).await
    }

    async fn has_event(&self, app: &AppId, event_id: &str) -> Result<bool, Error> {
        billing::has_event(self, app, event_id).await
    }

    async fn apply_plan_event(
        &self,
        app: &AppId,
        event_id: &str,
        face: &TenantUser,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<EventOutcome, Error> {
        billing::apply_plan_event(self, app, event_id, face, now, audit).await
    }
}
