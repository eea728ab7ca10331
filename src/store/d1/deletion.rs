//! Deletions (`DeletionStore`): the record of each deletion, its atomic first step, and one
//! bounded purge per aggregate. Every purge deletes through `rowid IN (SELECT rowid … LIMIT n)`
//! over an index of its scope, so one statement never touches more than `n` rows, whatever the
//! size of the app or tenant. A tenant or app row goes last: the foreign keys that cascade from
//! it then find nothing left to cascade to. Must not depend on `service` or `http`.

use super::api_keys::HashRow;
use super::{
    audit_insert, changed, corrupt, int, json_list, only_if, opt_text, size, text, time,
    when_exists, SqlBackend, SqlResult, SqlStore, SqlValue, Statement,
};
use crate::domain::audit::AuditEntry;
use crate::domain::deletion::{Deletion, Kind, Phase, State, Target};
use crate::domain::ids::{AppId, DeletionId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS;
use crate::domain::time::Timestamp;
use crate::domain::user::UserId;
use crate::domain::Error;
use crate::store::DeletionStore;
use serde::Deserialize;

const DELETION_COLUMNS: &str = "id, kind, app_id, tenant_id, user_id, tenants, state, phase, \
     cursor, deleted, created_at, updated_at, finished_at";

#[derive(Deserialize)]
struct DeletionRow {
    id: String,
    kind: String,
    app_id: String,
    tenant_id: Option<String>,
    user_id: Option<String>,
    tenants: Option<String>,
    state: String,
    phase: i64,
    cursor: Option<String>,
    deleted: i64,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl DeletionRow {
    fn into_deletion(self) -> Result<Deletion, Error> {
        let bad = |_: Error| corrupt("deletions");
        let tenants: Vec<String> = match self.tenants.as_deref() {
            Some(json) => serde_json::from_str(json).map_err(|_| corrupt("deletions"))?,
            None => Vec::new(),
        };
        Ok(Deletion {
            id: DeletionId::parse(&self.id).map_err(bad)?,
            kind: Kind::parse(&self.kind)?,
            app_id: AppId::parse(&self.app_id).map_err(bad)?,
            tenant_id: self
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(bad)?,
            user_id: self
                .user_id
                .as_deref()
                .map(UserId::parse)
                .transpose()
                .map_err(bad)?,
            tenants: tenants
                .iter()
                .map(|t| TenantId::parse(t))
                .collect::<Result<_, _>>()
                .map_err(bad)?,
            state: State::parse(&self.state)?,
            phase: usize::try_from(self.phase).map_err(|_| corrupt("deletions"))?,
            cursor: self.cursor,
            deleted: self.deleted,
            created_at: Timestamp::from_unix_ms(self.created_at),
            updated_at: Timestamp::from_unix_ms(self.updated_at),
            finished_at: self.finished_at.map(Timestamp::from_unix_ms),
        })
    }
}

/// The stored `tenants` of a deletion: a JSON array, NULL when empty.
fn tenants_json(tenants: &[TenantId]) -> SqlValue {
    if tenants.is_empty() {
        SqlValue::Null
    } else {
        let names: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
        text(&json_list(&names))
    }
}

/// Inserts the record of `deletion`; an `INSERT … SELECT` without `WHERE`.
fn record_insert(deletion: &Deletion) -> Statement {
    Statement::new(
        format!(
            "INSERT INTO deletions ({DELETION_COLUMNS}) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10, ?10, NULL"
        ),
        vec![
            text(&deletion.id.to_string()),
            text(deletion.kind.as_str()),
            text(deletion.app_id.as_str()),
            opt_text(deletion.tenant_id.as_ref().map(TenantId::as_str)),
            opt_text(deletion.user_id.map(|u| u.to_string()).as_deref()),
            tenants_json(&deletion.tenants),
            text(deletion.state.as_str()),
            size(deletion.phase),
            SqlValue::Int(deletion.deleted),
            time(deletion.created_at),
        ],
    )
}

/// `statement` made to run only when the record of `deletion` was written earlier in the batch.
fn when_recorded(statement: Statement, keyword: &str, deletion: &Deletion) -> Statement {
    when_exists(
        statement,
        keyword,
        "SELECT 1 FROM deletions WHERE id = ?",
        text(&deletion.id.to_string()),
    )
}

/// The condition on `(app_id, tenant_id, user_id)` columns (with `prefix`, e.g. `s.`) that
/// selects what `target` covers, binding from `?1`; `user` names the user column, or `None`
/// for a table without one (which then has nothing of a user target).
fn scope(target: &Target, prefix: &str, user: Option<&str>) -> Option<(String, Vec<SqlValue>)> {
    Some(match target {
        Target::App(app) => (format!("{prefix}app_id = ?1"), vec![text(app.as_str())]),
        // Only while the tenant's row is marked deleted: a deletion left over from before its
        // app was deleted and made again finds nothing of the namesake tenant.
        Target::Tenant(app, tenant) => (
            format!(
                "{prefix}app_id = ?1 AND {prefix}tenant_id = ?2 AND EXISTS (SELECT 1 FROM \
                 tenants doomed WHERE doomed.app_id = ?1 AND doomed.id = ?2 \
                 AND doomed.deleted_at IS NOT NULL)"
            ),
            vec![text(app.as_str()), text(tenant.as_str())],
        ),
        Target::User {
            app,
            tenant: Some(tenant),
            user: id,
        } => (
            format!(
                "{prefix}app_id = ?1 AND {prefix}tenant_id = ?2 AND {prefix}{} = ?3",
                user?
            ),
            vec![
                text(app.as_str()),
                text(tenant.as_str()),
                text(&id.to_string()),
            ],
        ),
        Target::User {
            app,
            tenant: None,
            user: id,
        } => (
            format!("{prefix}app_id = ?1 AND {prefix}{} = ?2", user?),
            vec![text(app.as_str()), text(&id.to_string())],
        ),
    })
}

/// A bounded delete from `table` of the rows `condition` (binding `args`) selects: at most
/// `limit` of them.
fn bounded_delete(
    table: &str,
    condition: &str,
    mut args: Vec<SqlValue>,
    limit: usize,
) -> Statement {
    args.push(size(limit));
    let n = args.len();
    Statement::new(
        format!(
            "DELETE FROM {table} WHERE rowid IN \
             (SELECT rowid FROM {table} WHERE {condition} LIMIT ?{n})"
        ),
        args,
    )
}

/// The rows every statement of a batch changed, together.
fn changes_of<R: SqlResult>(results: &[R]) -> Result<usize, Error> {
    results.iter().map(SqlResult::changes).sum()
}

/// Only apps and tenants: the targets of a purge of app- or tenant-wide state.
fn app_or_tenant(target: &Target) -> Option<(String, Vec<SqlValue>)> {
    match target {
        Target::App(_) | Target::Tenant(..) => scope(target, "", None),
        Target::User { .. } => None,
    }
}

/// Only apps: the targets of a purge of app-wide state.
fn app_only(target: &Target) -> Option<&AppId> {
    match target {
        Target::App(app) => Some(app),
        _ => None,
    }
}

impl<B: SqlBackend> SqlStore<B> {
    /// Runs the bounded deletes of `tables` under one condition, in one batch; the rows they
    /// deleted together.
    async fn purge_tables(
        &self,
        tables: &[&str],
        condition: &str,
        args: &[SqlValue],
        limit: usize,
    ) -> Result<usize, Error> {
        let statements = tables
            .iter()
            .map(|table| bounded_delete(table, condition, args.to_vec(), limit))
            .collect();
        changes_of(&self.batch(statements).await?)
    }

    /// The first step of a user's deletion: its faces in `deletion.tenants` (all of them for
    /// an erasure) with what email flows kept of their addresses, then the user when no face
    /// is left.
    fn begin_user(&self, deletion: &Deletion, audit: &AuditEntry) -> Result<Vec<Statement>, Error> {
        let user = deletion
            .user_id
            .ok_or_else(|| Error::Internal("a user deletion without a user".to_owned()))?;
        let names: Vec<&str> = deletion.tenants.iter().map(TenantId::as_str).collect();
        let tenants = json_list(&names);
        // ?1 app, ?2 user, ?3 the tenants (JSON).
        let args = || {
            vec![
                text(deletion.app_id.as_str()),
                text(&user.to_string()),
                text(&tenants),
            ]
        };
        let in_tenants = "tenant_id IN (SELECT value FROM json_each(?3))";
        let faces_in_scope = format!(
            "(SELECT COUNT(*) FROM tenant_users WHERE app_id = ?1 AND user_id = ?2 AND {in_tenants})"
        );
        // The user must have a face in each tenant named — for an erasure, and no other; an
        // erasure of a user without any face needs the user.
        let mut guard = format!("WHERE {faces_in_scope} = json_array_length(?3)");
        if deletion.tenant_id.is_none() {
            guard.push_str(
                " AND (SELECT COUNT(*) FROM tenant_users WHERE app_id = ?1 AND user_id = ?2) \
                 = json_array_length(?3) \
                 AND EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?2)",
            );
        }
        let mut record = record_insert(deletion);
        let offset = record.args.len();
        record.args.extend(args());
        record.sql.push(' ');
        record.sql.push_str(
            &guard
                .replace("?1", &format!("?{}", offset + 1))
                .replace("?2", &format!("?{}", offset + 2))
                .replace("?3", &format!("?{}", offset + 3)),
        );
        // The address of the user's face in the row's tenant.
        let email_here = |table: &str| {
            format!(
                "(SELECT email FROM tenant_users tu WHERE tu.app_id = ?1 \
                 AND tu.tenant_id = {table}.tenant_id AND tu.user_id = ?2)"
            )
        };
        let no_face_left =
            "NOT EXISTS (SELECT 1 FROM tenant_users WHERE app_id = ?1 AND user_id = ?2)";
        let guarded = |sql: String| when_recorded(Statement::new(sql, args()), "AND", deletion);
        let app_and_user = || vec![text(deletion.app_id.as_str()), text(&user.to_string())];
        let guarded_user =
            |sql: String| when_recorded(Statement::new(sql, app_and_user()), "AND", deletion);
        // Older running deletions of the user that this one covers — its tenant's, or every
        // one of an erasure — are done: what they deleted is gone, and this one does what they
        // had left (its own wait covers every token of the faces made since they began).
        let supersede = Statement::new(
            "UPDATE deletions SET state = 'done', finished_at = ?4, updated_at = ?4, \
             user_id = NULL, tenants = '[]', cursor = NULL, \
             phase = CASE WHEN tenant_id IS NULL THEN ?7 ELSE ?8 END \
             WHERE app_id = ?1 AND user_id = ?2 AND kind = 'user' AND state = 'running' \
             AND id != ?5 AND (?6 = 1 OR tenant_id IN (SELECT value FROM json_each(?3))) \
             AND EXISTS (SELECT 1 FROM deletions WHERE id = ?5)",
            {
                let mut values = args();
                values.push(time(deletion.created_at));
                values.push(text(&deletion.id.to_string()));
                values.push(int(i64::from(deletion.tenant_id.is_none())));
                values.push(size(Kind::User.phases(false).len()));
                values.push(size(Kind::User.phases(true).len()));
                values
            },
        );
        Ok(vec![
            record,
            audit_insert(audit, true),
            supersede,
            guarded(format!(
                "DELETE FROM email_challenges WHERE app_id = ?1 AND {in_tenants} \
                 AND (subject_id = ?2 OR email = {})",
                email_here("email_challenges")
            )),
            guarded(format!(
                "DELETE FROM email_send_counts WHERE app_id = ?1 AND {in_tenants} \
                 AND subject = 'send:' || {}",
                email_here("email_send_counts")
            )),
            guarded(format!(
                "DELETE FROM email_outbox WHERE app_id = ?1 AND {in_tenants} AND recipient = {}",
                email_here("email_outbox")
            )),
            guarded(format!(
                "DELETE FROM email_dead_letters WHERE app_id = ?1 AND {in_tenants} \
                 AND recipient = {}",
                email_here("email_dead_letters")
            )),
            guarded(format!(
                "DELETE FROM signin_failures WHERE app_id = ?1 AND {in_tenants} \
                 AND subject IN ('account:' || {email}, 'code:' || {email})",
                email = email_here("signin_failures")
            )),
            // The foreign key would cascade them with the faces; said here so that the memory
            // adapter and a reader of this batch see the same list.
            guarded(format!(
                "DELETE FROM user_identities WHERE app_id = ?1 AND user_id = ?2 AND {in_tenants}"
            )),
            guarded(format!(
                "DELETE FROM oauth_codes WHERE app_id = ?1 AND user_id = ?2 AND {in_tenants}"
            )),
            guarded(format!(
                "DELETE FROM oauth_consents WHERE app_id = ?1 AND user_id = ?2 AND {in_tenants}"
            )),
            guarded(format!(
                "DELETE FROM tenant_users WHERE app_id = ?1 AND user_id = ?2 AND {in_tenants}"
            )),
            // The user's document in each tenant must now say "no face": pending from this
            // very step (`edge_bump`'s upsert, for every tenant at once), so the sweep rewrites
            // it even when the deletion's next steps fail.
            Statement::new(
                "INSERT INTO edge_sync (doc, version, synced_version, changed_at) \
                 SELECT 'flags:' || ?1 || ':' || value || ':' || ?2, 1, 0, ?4 \
                 FROM json_each(?3) WHERE EXISTS (SELECT 1 FROM deletions WHERE id = ?5) \
                 ON CONFLICT (doc) DO UPDATE SET version = version + 1, \
                 changed_at = excluded.changed_at",
                {
                    let mut values = args();
                    values.push(time(deletion.created_at));
                    values.push(text(&deletion.id.to_string()));
                    values
                },
            ),
            guarded_user(format!(
                "DELETE FROM user_metadata WHERE app_id = ?1 AND user_id = ?2 AND {no_face_left}"
            )),
            guarded_user(format!(
                "DELETE FROM users WHERE app_id = ?1 AND id = ?2 AND {no_face_left}"
            )),
        ])
    }
}

impl<B: SqlBackend> DeletionStore for SqlStore<B> {
    async fn begin_deletion(&self, deletion: &Deletion, audit: &AuditEntry) -> Result<bool, Error> {
        let statements = match deletion.kind {
            Kind::App => vec![
                Statement::new(
                    "UPDATE apps SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL \
                     AND id != 'public'",
                    vec![text(deletion.app_id.as_str()), time(deletion.created_at)],
                ),
                {
                    let mut record = record_insert(deletion);
                    record.sql.push_str(only_if(true));
                    record
                },
                audit_insert(audit, true),
            ],
            Kind::Tenant => {
                let tenant = deletion
                    .tenant_id
                    .as_ref()
                    .ok_or_else(|| Error::Internal("a tenant deletion without a tenant".into()))?;
                let args = || {
                    vec![
                        text(deletion.app_id.as_str()),
                        text(tenant.as_str()),
                        time(deletion.created_at),
                    ]
                };
                let mut record = record_insert(deletion);
                record.sql.push_str(only_if(true));
                vec![
                    Statement::new(
                        "UPDATE tenants SET deleted_at = ?3 WHERE app_id = ?1 AND id = ?2 \
                         AND id != 'public' AND deleted_at IS NULL \
                         AND EXISTS (SELECT 1 FROM apps WHERE id = ?1 AND deleted_at IS NULL)",
                        args(),
                    ),
                    record,
                    audit_insert(audit, true),
                    // Members narrowed to the tenant leave with it, so that a tenant re-created
                    // under the same id does not hand its old operators their access back.
                    when_recorded(
                        Statement::new(
                            "UPDATE members SET status = 'left', invite_hash = NULL, \
                             updated_at = ?3 WHERE app_id = ?1 AND tenant_id = ?2 \
                             AND status != 'left'",
                            args(),
                        ),
                        "AND",
                        deletion,
                    ),
                ]
            }
            Kind::User => self.begin_user(deletion, audit)?,
        };
        let record_at = match deletion.kind {
            Kind::User => 0,
            Kind::App | Kind::Tenant => 1,
        };
        let results = self.batch(statements).await?;
        changed(&results, record_at)
    }

    async fn find_deletion(&self, app: &AppId, id: &DeletionId) -> Result<Option<Deletion>, Error> {
        self.first::<DeletionRow>(Statement::new(
            format!("SELECT {DELETION_COLUMNS} FROM deletions WHERE id = ?1 AND app_id = ?2"),
            vec![text(&id.to_string()), text(app.as_str())],
        ))
        .await?
        .map(DeletionRow::into_deletion)
        .transpose()
    }

    async fn find_running_deletion(&self, target: &Target) -> Result<Option<Deletion>, Error> {
        self.first::<DeletionRow>(Statement::new(
            format!(
                "SELECT {DELETION_COLUMNS} FROM deletions WHERE app_id = ?1 AND kind = ?2 \
                 AND tenant_id IS ?3 AND user_id IS ?4 AND state = 'running' ORDER BY id LIMIT 1"
            ),
            vec![
                text(target.app_id().as_str()),
                text(target.kind().as_str()),
                opt_text(target.tenant_id().map(TenantId::as_str)),
                opt_text(target.user_id().map(|u| u.to_string()).as_deref()),
            ],
        ))
        .await?
        .map(DeletionRow::into_deletion)
        .transpose()
    }

    async fn list_due_deletions(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Deletion>, Error> {
        // `Deletion::next`'s wait, in SQL: a user's deletion in its `Flags` phase until
        // MAX_ACCESS_TOKEN_TTL_SECONDS after it began (the phase's number from the domain).
        let flags_at = |in_tenant: bool| {
            Kind::User
                .phases(in_tenant)
                .iter()
                .position(|p| *p == Phase::Flags)
                .map_or(SqlValue::Null, size)
        };
        self.all::<DeletionRow>(Statement::new(
            format!(
                "SELECT {DELETION_COLUMNS} FROM deletions WHERE state = 'running' \
                 AND NOT (kind = 'user' AND created_at > ?2 \
                 AND phase IS (CASE WHEN tenant_id IS NULL THEN ?3 ELSE ?4 END)) \
                 ORDER BY id LIMIT ?1"
            ),
            vec![
                size(limit),
                time(now.plus_seconds(-MAX_ACCESS_TOKEN_TTL_SECONDS)),
                flags_at(false),
                flags_at(true),
            ],
        ))
        .await?
        .into_iter()
        .map(DeletionRow::into_deletion)
        .collect()
    }

    async fn update_deletion(&self, deletion: &Deletion) -> Result<bool, Error> {
        self.run(Statement::new(
            "UPDATE deletions SET state = ?2, phase = ?3, cursor = ?4, deleted = ?5, \
             updated_at = ?6, finished_at = ?7, user_id = ?8, tenants = ?9 \
             WHERE id = ?1 AND state = 'running'",
            vec![
                text(&deletion.id.to_string()),
                text(deletion.state.as_str()),
                size(deletion.phase),
                opt_text(deletion.cursor.as_deref()),
                SqlValue::Int(deletion.deleted),
                time(deletion.updated_at),
                deletion.finished_at.map(time).unwrap_or(SqlValue::Null),
                opt_text(deletion.user_id.map(|u| u.to_string()).as_deref()),
                tenants_json(&deletion.tenants),
            ],
        ))
        .await
        .map(|changed| changed > 0)
    }

    async fn prune_deletions(
        &self,
        finished_before: Timestamp,
        limit: usize,
    ) -> Result<usize, Error> {
        self.run(bounded_delete(
            "deletions",
            "state = 'done' AND finished_at < ?1",
            vec![time(finished_before)],
            limit,
        ))
        .await
    }

    async fn purge_api_keys(
        &self,
        target: &Target,
        limit: usize,
    ) -> Result<Vec<SecretHash>, Error> {
        let Some((condition, args)) = app_or_tenant(target) else {
            return Ok(Vec::new());
        };
        let mut statement = bounded_delete("api_keys", &condition, args, limit);
        statement.sql.push_str(" RETURNING key_hash");
        Ok(self
            .all::<HashRow>(statement)
            .await?
            .into_iter()
            .map(|r| SecretHash::from_stored(r.key_hash))
            .collect())
    }

    async fn purge_sessions(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some((condition, args)) = scope(target, "s.", Some("user_id")) else {
            return Ok(0);
        };
        let n = args.len() + 1;
        let with_limit = || {
            let mut a = args.clone();
            a.push(size(limit));
            a
        };
        // The tokens first; a session goes once it has none left (a session's refresh tokens
        // are unbounded in number, so they cannot ride along with it).
        let results = self
            .batch(vec![
                Statement::new(
                    format!(
                        "DELETE FROM refresh_tokens WHERE rowid IN (SELECT rt.rowid \
                         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id \
                         WHERE {condition} LIMIT ?{n})"
                    ),
                    with_limit(),
                ),
                Statement::new(
                    format!(
                        "DELETE FROM sessions WHERE rowid IN (SELECT s.rowid FROM sessions s \
                         WHERE {condition} AND NOT EXISTS (SELECT 1 FROM refresh_tokens rt \
                         WHERE rt.session_id = s.id) LIMIT ?{n})"
                    ),
                    with_limit(),
                ),
            ])
            .await?;
        changes_of(&results)
    }

    async fn find_faces(
        &self,
        target: &Target,
        limit: usize,
    ) -> Result<Vec<(TenantId, UserId)>, Error> {
        let Some((condition, mut args)) = scope(target, "", Some("user_id")) else {
            return Ok(Vec::new());
        };
        args.push(size(limit));
        #[derive(Deserialize)]
        struct FaceRow {
            tenant_id: String,
            user_id: String,
        }
        self.all::<FaceRow>(Statement::new(
            format!(
                "SELECT tenant_id, user_id FROM tenant_users WHERE {condition} \
                 ORDER BY tenant_id, user_id LIMIT ?{}",
                args.len()
            ),
            args,
        ))
        .await?
        .into_iter()
        .map(|r| {
            let bad = |_: Error| corrupt("tenant_users");
            Ok((
                TenantId::parse(&r.tenant_id).map_err(bad)?,
                UserId::parse(&r.user_id).map_err(bad)?,
            ))
        })
        .collect()
    }

    async fn purge_users(
        &self,
        target: &Target,
        faces: &[(TenantId, UserId)],
        limit: usize,
    ) -> Result<usize, Error> {
        let app = target.app_id();
        if faces.is_empty() {
            // What no face holds any more: an app's users (their metadata cascades, one row
            // each).
            let Some(app) = app_only(target) else {
                return Ok(0);
            };
            return self
                .run(bounded_delete(
                    "users",
                    "app_id = ?1",
                    vec![text(app.as_str())],
                    limit,
                ))
                .await;
        }
        let pairs: Vec<[String; 2]> = faces
            .iter()
            .take(limit)
            .map(|(t, u)| [t.to_string(), u.to_string()])
            .collect();
        let args = || {
            vec![
                text(app.as_str()),
                text(&serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())),
            ]
        };
        let users = "SELECT json_extract(value, '$[1]') FROM json_each(?2)";
        let no_face_left = |table: &str, column: &str| {
            format!(
                "NOT EXISTS (SELECT 1 FROM tenant_users tu WHERE tu.app_id = ?1 \
                 AND tu.user_id = {table}.{column})"
            )
        };
        let results = self
            .batch(vec![
                Statement::new(
                    "DELETE FROM tenant_users WHERE app_id = ?1 AND (tenant_id, user_id) IN \
                     (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') \
                     FROM json_each(?2))",
                    args(),
                ),
                Statement::new(
                    format!(
                        "DELETE FROM user_metadata WHERE app_id = ?1 AND user_id IN ({users}) \
                         AND {}",
                        no_face_left("user_metadata", "user_id")
                    ),
                    args(),
                ),
                Statement::new(
                    format!(
                        "DELETE FROM users WHERE app_id = ?1 AND id IN ({users}) AND {}",
                        no_face_left("users", "id")
                    ),
                    args(),
                ),
            ])
            .await?;
        changes_of(&results)
    }

    async fn find_client_secrets(
        &self,
        target: &Target,
        limit: usize,
    ) -> Result<Vec<SecretHash>, Error> {
        let Some((condition, mut args)) = app_or_tenant(target) else {
            return Ok(Vec::new());
        };
        args.push(size(limit));
        let n = args.len();
        Ok(self
            .all::<HashRow>(Statement::new(
                format!(
                    "SELECT secret_hash AS key_hash FROM oauth_clients \
                     WHERE {condition} AND secret_hash IS NOT NULL LIMIT ?{n}"
                ),
                args,
            ))
            .await?
            .into_iter()
            .map(|r| SecretHash::from_stored(r.key_hash))
            .collect())
    }

    async fn forget_client_secrets(
        &self,
        target: &Target,
        hashes: &[SecretHash],
    ) -> Result<usize, Error> {
        let Some((condition, mut args)) = app_or_tenant(target) else {
            return Ok(0);
        };
        if hashes.is_empty() {
            return Ok(0);
        }
        let names: Vec<&str> = hashes.iter().map(SecretHash::as_str).collect();
        args.push(text(&json_list(&names)));
        let n = args.len();
        let statement = Statement::new(
            format!(
                "UPDATE oauth_clients SET secret_hash = NULL, version = version + 1 \
                 WHERE {condition} AND secret_hash IN (SELECT value FROM json_each(?{n}))"
            ),
            args,
        );
        changes_of(&self.batch(vec![statement]).await?)
    }

    async fn purge_thirdparty(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some((condition, args)) = app_or_tenant(target) else {
            return Ok(0);
        };
        self.purge_tables(
            &[
                "user_identities",
                "thirdparty_flows",
                "thirdparty_providers",
                "oauth_consents",
                "oauth_codes",
                "oauth_assertions",
                "oauth_clients",
            ],
            &condition,
            &args,
            limit,
        )
        .await
    }

    async fn purge_email(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some((condition, args)) = app_or_tenant(target) else {
            return Ok(0);
        };
        let mut tables = vec![
            "email_challenges",
            "email_send_counts",
            "email_outbox",
            "email_dead_letters",
        ];
        if app_only(target).is_some() {
            tables.push("email_delivery");
        }
        self.purge_tables(&tables, &condition, &args, limit).await
    }

    async fn purge_signin_failures(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some((condition, args)) = app_or_tenant(target) else {
            return Ok(0);
        };
        self.purge_tables(&["signin_failures"], &condition, &args, limit)
            .await
    }

    async fn purge_members(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some(app) = app_only(target) else {
            return Ok(0);
        };
        self.purge_tables(&["members"], "app_id = ?1", &[text(app.as_str())], limit)
            .await
    }

    async fn purge_catalogue(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some(app) = app_only(target) else {
            return Ok(0);
        };
        self.purge_tables(
            &["end_user_roles", "plans", "operator_roles"],
            "app_id = ?1",
            &[text(app.as_str())],
            limit,
        )
        .await
    }

    async fn purge_billing(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some(app) = app_only(target) else {
            return Ok(0);
        };
        self.purge_tables(
            &["webhook_secrets", "webhook_events"],
            "app_id = ?1",
            &[text(app.as_str())],
            limit,
        )
        .await
    }

    async fn purge_audit(
        &self,
        target: &Target,
        pseudonym: &str,
        limit: usize,
    ) -> Result<usize, Error> {
        match target {
            Target::App(app) => {
                self.purge_tables(&["audit_log"], "app_id = ?1", &[text(app.as_str())], limit)
                    .await
            }
            // A user's deletion from one tenant renames them only once the user is gone from
            // the app (its last face went with the first step, and the user record with it).
            Target::User { app, user, .. } => {
                self.run(Statement::new(
                    "UPDATE audit_log SET target = ?3 WHERE rowid IN (SELECT rowid \
                     FROM audit_log WHERE app_id = ?1 AND target = ?2 \
                     AND NOT EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?2) \
                     LIMIT ?4)",
                    vec![
                        text(app.as_str()),
                        text(&user.to_string()),
                        text(pseudonym),
                        size(limit),
                    ],
                ))
                .await
            }
            _ => Ok(0),
        }
    }

    async fn purge_signing_keys(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        let Some(app) = app_only(target) else {
            return Ok(0);
        };
        self.purge_tables(
            &["signing_keys"],
            "owner = ?1",
            &[text(&KeyOwner::App(app.clone()).as_stored())],
            limit,
        )
        .await
    }

    async fn purge_tenants(&self, target: &Target, limit: usize) -> Result<Vec<TenantId>, Error> {
        let Some(app) = app_only(target) else {
            return Ok(Vec::new());
        };
        #[derive(Deserialize)]
        struct IdRow {
            id: String,
        }
        let mut statement =
            bounded_delete("tenants", "app_id = ?1", vec![text(app.as_str())], limit);
        statement.sql.push_str(" RETURNING id");
        self.all::<IdRow>(statement)
            .await?
            .iter()
            .map(|r| TenantId::parse(&r.id).map_err(|_| corrupt("tenants")))
            .collect()
    }

    async fn find_edge_docs(&self, target: &Target, limit: usize) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct DocRow {
            doc: String,
        }
        let names = target.edge_docs();
        let [first, second] = match names.exact.as_slice() {
            [] => [SqlValue::Null, SqlValue::Null],
            [one] => [text(one), SqlValue::Null],
            [one, two] => [text(one), text(two)],
            _ => return Err(Error::Internal("more exact documents than bound".into())),
        };
        // A prefix and suffix compared as strings (not LIKE: `_` and `-` are no wildcards
        // there); a NULL prefix or name matches nothing.
        let mut statement = Statement::new(
            "SELECT doc FROM edge_sync WHERE ((substr(doc, 1, length(?1)) = ?1 \
             AND substr(doc, length(doc) - length(?2) + 1) = ?2) OR doc IN (?3, ?4))"
                .to_owned(),
            vec![
                opt_text(names.prefix.as_deref()),
                text(&names.suffix),
                first,
                second,
                size(limit),
            ],
        );
        if let Target::Tenant(app, tenant) = target {
            // The `scope` guard: a deletion left over from before its app was made again finds
            // nothing of the namesake tenant.
            statement.sql.push_str(
                " AND EXISTS (SELECT 1 FROM tenants doomed WHERE doomed.app_id = ?6 \
                 AND doomed.id = ?7 AND doomed.deleted_at IS NOT NULL)",
            );
            statement
                .args
                .extend([text(app.as_str()), text(tenant.as_str())]);
        }
        statement.sql.push_str(" ORDER BY doc LIMIT ?5");
        Ok(self
            .all::<DocRow>(statement)
            .await?
            .into_iter()
            .map(|r| r.doc)
            .collect())
    }

    async fn forget_edge_docs(&self, docs: &[String]) -> Result<usize, Error> {
        if docs.is_empty() {
            return Ok(0);
        }
        let statements = docs
            .iter()
            .map(|doc| Statement::new("DELETE FROM edge_sync WHERE doc = ?1", vec![text(doc)]))
            .collect();
        changes_of(&self.batch(statements).await?)
    }

    async fn delete_target_row(&self, target: &Target) -> Result<bool, Error> {
        let statement = match target {
            Target::App(app) => Statement::new(
                "DELETE FROM apps WHERE id = ?1 AND deleted_at IS NOT NULL",
                vec![text(app.as_str())],
            ),
            Target::Tenant(app, tenant) => Statement::new(
                "DELETE FROM tenants WHERE app_id = ?1 AND id = ?2 AND deleted_at IS NOT NULL",
                vec![text(app.as_str()), text(tenant.as_str())],
            ),
            Target::User { .. } => return Ok(true),
        };
        self.run(statement).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_delete_selects_rowids_under_a_limit() {
        let s = bounded_delete("members", "app_id = ?1", vec![text("shop")], 500);
        assert_eq!(
            s.sql,
            "DELETE FROM members WHERE rowid IN (SELECT rowid FROM members WHERE app_id = ?1 LIMIT ?2)"
        );
        assert_eq!(s.args.len(), 2);
    }

    #[test]
    fn a_user_target_has_nothing_in_a_table_without_a_user_column() {
        let user = Target::User {
            app: AppId::parse("shop").unwrap(),
            tenant: None,
            user: UserId::generate(Timestamp::EPOCH, [1; 10]),
        };
        assert!(scope(&user, "", None).is_none());
        assert!(app_or_tenant(&user).is_none());
        let (condition, args) = scope(&user, "s.", Some("user_id")).unwrap();
        assert_eq!(condition, "s.app_id = ?1 AND s.user_id = ?2");
        assert_eq!(args.len(), 2);
    }
}
