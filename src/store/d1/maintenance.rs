//! Pruning of what is past its use: sign-in counters, dead sessions with their refresh tokens,
//! old billing events, audit entries past their retention. Each call deletes a bounded batch
//! (`LIMIT` in a subquery over an index) so no query does unbounded work. Must not depend on
//! `service` or `http`.

use super::{size, time, SqlBackend, SqlResult, SqlStore, Statement};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::MaintenanceStore;

impl<B: SqlBackend> MaintenanceStore for SqlStore<B> {
    async fn prune_signin_failures(
        &self,
        idle_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, Error> {
        self.run(Statement::new(
            "DELETE FROM signin_failures WHERE rowid IN (SELECT rowid FROM signin_failures \
             WHERE last_failed_at < ?1 AND blocked_until <= ?2 ORDER BY last_failed_at LIMIT ?3)",
            vec![time(idle_before), time(now), size(limit)],
        ))
        .await
    }

    async fn prune_sessions(&self, ended_before: Timestamp, limit: usize) -> Result<usize, Error> {
        // The same ordered subquery picks the same sessions in both statements of the batch (a
        // transaction): their refresh tokens first, then the sessions.
        let dead = "SELECT id FROM sessions WHERE expires_at < ?1 \
                    UNION SELECT id FROM sessions WHERE revoked_at < ?1 ORDER BY id LIMIT ?2";
        let results = self
            .batch(vec![
                Statement::new(
                    format!("DELETE FROM refresh_tokens WHERE session_id IN ({dead})"),
                    vec![time(ended_before), size(limit)],
                ),
                Statement::new(
                    format!("DELETE FROM sessions WHERE id IN ({dead})"),
                    vec![time(ended_before), size(limit)],
                ),
            ])
            .await?;
        results
            .get(1)
            .ok_or_else(|| Error::Internal("D1 batch returned too few results".to_owned()))?
            .changes()
    }

    async fn prune_webhook_events(
        &self,
        received_before: Timestamp,
        limit: usize,
    ) -> Result<usize, Error> {
        self.run(Statement::new(
            "DELETE FROM webhook_events WHERE rowid IN (SELECT rowid FROM webhook_events \
             WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
            vec![time(received_before), size(limit)],
        ))
        .await
    }

    async fn prune_audit(&self, written_before: Timestamp, limit: usize) -> Result<usize, Error> {
        self.run(Statement::new(
            "DELETE FROM audit_log WHERE rowid IN (SELECT rowid FROM audit_log \
             WHERE at < ?1 ORDER BY at LIMIT ?2)",
            vec![time(written_before), size(limit)],
        ))
        .await
    }
}
