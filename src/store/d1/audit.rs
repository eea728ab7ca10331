//! The audit log as read back (`AuditStore`). Entries are written by the change they describe,
//! in its batch, through `audit_insert` in `mod.rs`. Must not depend on `service` or `http`.

use super::{corrupt, int, size, text, SqlBackend, SqlStore, Statement};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::domain::ids::{AppId, AuditId, TenantId};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::AuditStore;
use serde::Deserialize;

#[derive(Deserialize)]
struct AuditRow {
    id: String,
    app_id: String,
    at: i64,
    actor: String,
    action: String,
    target: String,
    tenant_id: Option<String>,
    detail: String,
}

impl AuditRow {
    fn into_record(self) -> Result<AuditRecord, Error> {
        let bad = |_: Error| corrupt("audit_log");
        Ok(AuditRecord {
            id: AuditId::parse(&self.id).map_err(bad)?,
            at: Timestamp::from_unix_ms(self.at),
            actor: self.actor,
            action: AuditAction::parse(&self.action).map_err(bad)?,
            target: self.target,
            tenant_id: self
                .tenant_id
                .as_deref()
                .map(TenantId::parse)
                .transpose()
                .map_err(bad)?,
            detail: serde_json::from_str(&self.detail).map_err(|_| corrupt("audit_log"))?,
        })
    }
}

/// The keyset bound of a first page: above every UUID (`~` sorts after hex digits and `-`).
pub(super) const NEWEST: &str = "~";

impl<B: SqlBackend> AuditStore for SqlStore<B> {
    async fn list_audit(
        &self,
        app: &AppId,
        tenant: Option<(&TenantId, Timestamp)>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        let before = before.unwrap_or(NEWEST);
        let statement = match tenant {
            Some((t, since)) => Statement::new(
                "SELECT * FROM audit_log WHERE app_id = ?1 AND tenant_id = ?2 AND at >= ?3 \
                 AND id < ?4 ORDER BY id DESC LIMIT ?5",
                vec![
                    text(app.as_str()),
                    text(t.as_str()),
                    int(since.unix_ms()),
                    text(before),
                    size(limit),
                ],
            ),
            None => Statement::new(
                "SELECT * FROM audit_log WHERE app_id = ?1 AND id < ?2 \
                 ORDER BY id DESC LIMIT ?3",
                vec![text(app.as_str()), text(before), size(limit)],
            ),
        };
        self.all::<AuditRow>(statement)
            .await?
            .into_iter()
            .filter(|r| r.app_id == app.as_str())
            .map(AuditRow::into_record)
            .collect()
    }
}
