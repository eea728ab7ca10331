//! What the cron trigger does besides key rotation: pruning every table that grows without a
//! bound of its own, in bounded batches, with the retention the README documents.
//!
//! - sign-in counters: once they neither block nor count (no failure for a day, the longest
//!   decay of `domain::throttle`, and not blocked now);
//! - sessions and all their refresh tokens: a day after they were revoked or reached their
//!   absolute end (by then no access token of theirs can be alive, so nothing needs them to
//!   answer a refresh or a revocation: an unknown refresh token is refused all the same);
//! - billing events: a day after they arrived (a replay needs a signature at most 300 s old,
//!   so an event id older than that can never be replayed);
//! - audit entries: after `AUDIT_RETENTION_DAYS` (default 365);
//! - third-party flows: once expired (10 minutes after their start);
//! - OAuth authorization codes: once expired (10 minutes after their issue; a used one is
//!   kept until then, so that a replay within its lifetime still revokes what it gave).

use super::{Ctx, Stores};
use crate::domain::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS;
use crate::domain::throttle::ACCOUNT;
use crate::domain::Error;
use crate::store::{MaintenanceStore, OAuthStore, ThirdPartyStore};
use std::future::Future;

/// Rows deleted per call.
const BATCH: usize = 500;
/// Calls per table per run: at most 10,000 rows of a table per run; the rest waits for the
/// next run (every 30 minutes), so no run does unbounded work.
const MAX_BATCHES: usize = 20;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// How many rows one run deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub signin_failures: usize,
    pub sessions: usize,
    pub webhook_events: usize,
    pub audit: usize,
    pub thirdparty_flows: usize,
    pub oauth_codes: usize,
}

/// Calls `batch` until it deletes fewer than a batch, at most `MAX_BATCHES` times.
async fn drain<F, Fut>(mut batch: F) -> Result<usize, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, Error>>,
{
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let deleted = batch().await?;
        total += deleted;
        if deleted < BATCH {
            break;
        }
    }
    Ok(total)
}

/// Prunes every table past its retention (see the module header).
pub async fn prune<S: Stores>(cx: &Ctx<'_, S>) -> Result<Pruned, Error> {
    let now = cx.now;
    let idle_before = now.plus_ms(-ACCOUNT.decay_ms);
    let ended_before = now.plus_seconds(-MAX_ACCESS_TOKEN_TTL_SECONDS);
    let received_before = now.plus_ms(-DAY_MS);
    let written_before = now.plus_ms(-cx.config.audit_retention_days.saturating_mul(DAY_MS));
    Ok(Pruned {
        signin_failures: drain(|| cx.db.prune_signin_failures(idle_before, now, BATCH)).await?,
        sessions: drain(|| cx.db.prune_sessions(ended_before, BATCH)).await?,
        webhook_events: drain(|| cx.db.prune_webhook_events(received_before, BATCH)).await?,
        audit: drain(|| cx.db.prune_audit(written_before, BATCH)).await?,
        thirdparty_flows: drain(|| cx.db.prune_flows(now, BATCH)).await?,
        oauth_codes: drain(|| cx.db.prune_codes(now, BATCH)).await?,
    })
}
