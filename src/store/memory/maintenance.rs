//! Pruning in memory, as the SQL of `store::d1::maintenance` does it: bounded batches, in the
//! order of the indexes the SQL walks.

use super::MemoryStore;
use crate::domain::session::SessionId;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::MaintenanceStore;

impl MaintenanceStore for MemoryStore {
    async fn prune_signin_failures(
        &self,
        idle_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, Error> {
        self.check("prune_signin_failures")?;
        let mut s = self.state.borrow_mut();
        let mut dead: Vec<_> = s
            .failures
            .iter()
            .filter(|(_, row)| row.last_failed_at < idle_before && row.blocked_until <= now)
            .map(|(key, row)| (row.last_failed_at, key.clone()))
            .collect();
        dead.sort();
        dead.truncate(limit);
        for (_, key) in &dead {
            s.failures.remove(key);
        }
        Ok(dead.len())
    }

    async fn prune_sessions(&self, ended_before: Timestamp, limit: usize) -> Result<usize, Error> {
        self.check("prune_sessions")?;
        let mut s = self.state.borrow_mut();
        let mut dead: Vec<SessionId> = s
            .sessions
            .iter()
            .filter(|(_, row)| {
                row.session.expires_at < ended_before
                    || row.session.revoked_at.is_some_and(|at| at < ended_before)
            })
            .map(|(id, _)| *id)
            .collect();
        dead.sort_by_key(|id| id.to_string());
        dead.truncate(limit);
        s.refresh_tokens
            .retain(|_, token| !dead.contains(&token.session_id));
        for id in &dead {
            s.sessions.remove(id);
        }
        Ok(dead.len())
    }

    async fn prune_webhook_events(
        &self,
        received_before: Timestamp,
        limit: usize,
    ) -> Result<usize, Error> {
        self.check("prune_webhook_events")?;
        let mut s = self.state.borrow_mut();
        let mut old: Vec<_> = s
            .webhook_events
            .iter()
            .filter(|(_, at)| **at < received_before)
            .map(|(key, at)| (*at, key.clone()))
            .collect();
        old.sort();
        old.truncate(limit);
        for (_, key) in &old {
            s.webhook_events.remove(key);
        }
        Ok(old.len())
    }

    async fn prune_audit(&self, written_before: Timestamp, limit: usize) -> Result<usize, Error> {
        self.check("prune_audit")?;
        let mut s = self.state.borrow_mut();
        let mut old: Vec<(Timestamp, usize)> = s
            .audit
            .iter()
            .enumerate()
            .filter(|(_, e)| e.at < written_before)
            .map(|(i, e)| (e.at, i))
            .collect();
        old.sort();
        old.truncate(limit);
        let mut doomed: Vec<usize> = old.iter().map(|(_, i)| *i).collect();
        doomed.sort_unstable_by(|a, b| b.cmp(a));
        for i in &doomed {
            s.audit.remove(*i);
        }
        Ok(doomed.len())
    }
}
