//! The bookkeeping of KV documents that mirror D1 (`EdgeSyncStore`, table `edge_sync`):
//! versions bumped by the changes (`edge_bump`, appended to their batches by the other
//! aggregates), leases of the writers that copy a document to KV, and the closing rule.
//! Must not depend on `service` or `http`.

use super::signing_keys::{keys_of, keys_statement};
use super::tenancy::LIVE_TENANT;
use super::user_state::policy_statements;
use super::users::{TenantUserRow, TENANT_USER_COLUMNS};
use super::{
    corrupt, int, only_if, rows, size, text, time, NumberRow, SqlBackend, SqlStore, Statement,
};
use crate::domain::edge::{EdgeKey, EdgeState, MirroredDoc, MAX_LISTED_REVOCATIONS};
use crate::domain::ids::AppId;
use crate::domain::keys::KeyOwner;
use crate::domain::policy::AppPolicy;
use crate::domain::session::SessionId;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{EdgeSyncStore, LeaseAt, StoredSigningKey};
use serde::Deserialize;

/// Bumps the version of the document `doc` With `only_if_changed`, only when the statement
/// before it in the batch changed a row.
pub(super) fn edge_bump(doc: &MirroredDoc, now: Timestamp, only_if_changed: bool) -> Statement {
    let condition = only_if(only_if_changed);
    // `WHERE true` when unconditional: SQLite needs a WHERE before an upsert's ON CONFLICT.
    let condition = if condition.is_empty() {
        " WHERE true"
    } else {
        condition
    };
    Statement::new(
        format!(
            "INSERT INTO edge_sync (doc, version, synced_version, changed_at) \
             SELECT ?1, 1, 0, ?2{condition} \
             ON CONFLICT (doc) DO UPDATE SET version = version + 1, \
             changed_at = excluded.changed_at"
        ),
        vec![text(&doc.name()), time(now)],
    )
}

fn lease(doc: &str, now: LeaseAt) -> Statement {
    Statement::new(
        "INSERT INTO edge_sync (doc, version, synced_version, leases, leased_at, changed_at) \
         VALUES (?1, 0, 0, 1, ?2, ?2) ON CONFLICT (doc) DO UPDATE SET \
         leases = leases + 1, \
         leased_at = CASE WHEN leases = 0 OR ?3 = 1 THEN excluded.leased_at ELSE leased_at END",
        vec![text(doc), time(now.at), int(i64::from(now.renews))],
    )
}

fn version_of(doc: &str) -> Statement {
    Statement::new(
        "SELECT version AS n FROM edge_sync WHERE doc = ?1",
        vec![text(doc)],
    )
}

fn version(rows: Vec<NumberRow>) -> i64 {
    rows.first().map_or(0, |r| r.n)
}

impl<B: SqlBackend> EdgeSyncStore for SqlStore<B> {
    async fn lease_user_edge(
        &self,
        key: &EdgeKey,
        revoked_since: Timestamp,
        now: impl Into<LeaseAt>,
    ) -> Result<EdgeState, Error> {
        #[derive(Deserialize)]
        struct RevokedRow {
            id: String,
            revoked_at: i64,
        }
        let doc = key.doc();
        let (app, tenant, user) = (
            text(key.app.as_str()),
            text(key.tenant.as_str()),
            text(&key.user.to_string()),
        );
        let results = self
            .batch(vec![
                lease(&doc, now.into()),
                version_of(&doc),
                // A tenant being deleted is gone for the document too (it is withdrawn).
                Statement::new(
                    format!(
                        "SELECT created_at AS n FROM tenants \
                         WHERE app_id = ?1 AND id = ?2 AND {LIVE_TENANT}"
                    ),
                    vec![app.clone(), tenant.clone()],
                ),
                Statement::new(
                    format!(
                        "SELECT {TENANT_USER_COLUMNS} FROM tenant_users tu \
                         JOIN users u ON u.app_id = tu.app_id AND u.id = tu.user_id \
                         WHERE tu.app_id = ?1 AND tu.tenant_id = ?2 AND tu.user_id = ?3"
                    ),
                    vec![app.clone(), tenant.clone(), user.clone()],
                ),
                Statement::new(
                    "SELECT id, revoked_at FROM sessions WHERE app_id = ?1 AND tenant_id = ?2 \
                     AND user_id = ?3 AND revoked_at > ?4 ORDER BY revoked_at DESC, id LIMIT ?5",
                    vec![
                        app,
                        tenant,
                        user,
                        time(revoked_since),
                        size(MAX_LISTED_REVOCATIONS + 1),
                    ],
                ),
            ])
            .await?;
        let face = rows::<TenantUserRow, _>(&results, 3)?
            .into_iter()
            .next()
            .map(|row| row.into_pair().map(|(_, face)| face))
            .transpose()?;
        let revoked = rows::<RevokedRow, _>(&results, 4)?
            .into_iter()
            .map(|r| {
                SessionId::parse(&r.id)
                    .map(|id| (id, Timestamp::from_unix_ms(r.revoked_at)))
                    .map_err(|_| corrupt("sessions"))
            })
            .collect::<Result<_, _>>()?;
        Ok(EdgeState {
            version: version(rows(&results, 1)?),
            tenant_created_at: rows::<NumberRow, _>(&results, 2)?
                .first()
                .map(|r| Timestamp::from_unix_ms(r.n)),
            face,
            revoked,
        })
    }

    async fn lease_policy_edge(
        &self,
        app: &AppId,
        now: impl Into<LeaseAt>,
    ) -> Result<(i64, AppPolicy), Error> {
        let doc = MirroredDoc::Policy(app.clone()).name();
        let mut statements = vec![lease(&doc, now.into()), version_of(&doc)];
        statements.extend(policy_statements(app));
        let results = self.batch(statements).await?;
        let policy = super::user_state::policy_of(&results, 2)?;
        Ok((version(rows(&results, 1)?), policy))
    }

    async fn lease_keys_edge(
        &self,
        owner: &KeyOwner,
        now: impl Into<LeaseAt>,
    ) -> Result<(i64, Vec<StoredSigningKey>), Error> {
        let doc = MirroredDoc::Keys(owner.clone()).name();
        let results = self
            .batch(vec![
                lease(&doc, now.into()),
                version_of(&doc),
                keys_statement(owner),
            ])
            .await?;
        Ok((version(rows(&results, 1)?), keys_of(&results, 2, owner)?))
    }

    async fn release_edge(&self, doc: &str, version: i64, written: bool) -> Result<bool, Error> {
        // Every SET expression reads the row as it was: `version` and `leases` are the values
        // before this release. `n` is 1 when the document is now closed.
        let row = self
            .first::<NumberRow>(Statement::new(
                "UPDATE edge_sync SET leases = max(leases - 1, 0), \
                 version = CASE WHEN version != ?2 THEN version + 1 ELSE version END, \
                 synced_version = CASE \
                 WHEN version != ?2 THEN 0 \
                 WHEN ?3 = 1 AND leases <= 1 THEN ?2 \
                 ELSE synced_version END \
                 WHERE doc = ?1 RETURNING synced_version = version AS n",
                vec![text(doc), int(version), int(i64::from(written))],
            ))
            .await?;
        Ok(row.is_some_and(|r| r.n == 1))
    }

    async fn find_stale_edges(
        &self,
        expired_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct DocRow {
            doc: String,
        }
        let results = self
            .batch(vec![
                Statement::new(
                    "UPDATE edge_sync SET leases = 0 WHERE leases > 0 AND leased_at < ?1",
                    vec![time(expired_before)],
                ),
                Statement::new(
                    "SELECT doc FROM edge_sync WHERE version > synced_version \
                     ORDER BY changed_at LIMIT ?1",
                    vec![size(limit)],
                ),
            ])
            .await?;
        Ok(rows::<DocRow, _>(&results, 1)?
            .into_iter()
            .map(|r| r.doc)
            .collect())
    }

    async fn mark_edge_changed(&self, doc: &str, now: Timestamp) -> Result<(), Error> {
        let parsed = MirroredDoc::parse(doc)
            .ok_or_else(|| Error::Internal(format!("{doc} is not a mirrored document")))?;
        self.run(edge_bump(&parsed, now, false)).await.map(drop)
    }
}
