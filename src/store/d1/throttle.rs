//! Sign-in attempt counting, shared by end users (`users`, `sessions`) and operators
//! (`operators`): one upsert per subject that refuses to count while the subject is blocked
//! (`COUNT_ATTEMPT`), run in the same batch as the account lookup, and the settlement of a
//! successful attempt. The policies themselves are `domain::throttle`'s. Must not depend on
//! `service` or `http`.

use super::{int, placeholders, text, time, SqlBackend, SqlResult, SqlStore, Statement};
use crate::domain::throttle::{retry_after_seconds, ThrottlePolicy, ACCOUNT, CLIENT, SIGNUP};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::Attempt;
use serde::Deserialize;

/// The app and tenant columns of the operator plane's sign-in counters (no app has an empty id).
pub(super) const OPERATOR_PLANE: &str = "";

/// Counts one attempt against a subject unless it is blocked (the `WHERE` of the upsert), and
/// sets how long the subject is blocked should this attempt fail, from the policy's back-off
/// table. Returns a row only when the attempt was counted.
const COUNT_ATTEMPT: &str = "INSERT INTO signin_failures \
     (app_id, tenant_id, subject, failures, last_failed_at, blocked_until) \
     VALUES (?1, ?2, ?3, 1, ?4, ?4 + json_extract(?5, '$[1]')) \
     ON CONFLICT (app_id, tenant_id, subject) DO UPDATE SET \
     failures = CASE WHEN ?4 - last_failed_at > ?6 THEN 1 ELSE failures + 1 END, \
     blocked_until = ?4 + json_extract(?5, '$[' || \
       MIN(CASE WHEN ?4 - last_failed_at > ?6 THEN 1 ELSE failures + 1 END, ?7) || ']'), \
     last_failed_at = ?4 \
     WHERE signin_failures.blocked_until <= ?4 \
     RETURNING failures";

/// `COUNT_ATTEMPT`, but only when the statement before it in the batch changed a row: the
/// account of an attempt is counted only when its client was, so a blocked client cannot keep
/// adding a counter row per (random) email it tries.
const COUNT_ATTEMPT_IF_COUNTED: &str = "INSERT INTO signin_failures \
     (app_id, tenant_id, subject, failures, last_failed_at, blocked_until) \
     SELECT ?1, ?2, ?3, 1, ?4, ?4 + json_extract(?5, '$[1]') WHERE changes() > 0 \
     ON CONFLICT (app_id, tenant_id, subject) DO UPDATE SET \
     failures = CASE WHEN ?4 - last_failed_at > ?6 THEN 1 ELSE failures + 1 END, \
     blocked_until = ?4 + json_extract(?5, '$[' || \
       MIN(CASE WHEN ?4 - last_failed_at > ?6 THEN 1 ELSE failures + 1 END, ?7) || ']'), \
     last_failed_at = ?4 \
     WHERE signin_failures.blocked_until <= ?4 \
     RETURNING failures";

fn count_statement_of(
    sql: &'static str,
    app: &str,
    tenant: &str,
    subject: &str,
    policy: &ThrottlePolicy,
    now: Timestamp,
) -> Result<Statement, Error> {
    let table = serde_json::to_string(&policy.backoff_table())
        .map_err(|e| Error::Internal(format!("back-off table: {e}")))?;
    Ok(Statement::new(
        sql,
        vec![
            text(app),
            text(tenant),
            text(subject),
            time(now),
            text(&table),
            int(policy.decay_ms),
            int(policy.lockout_failures),
        ],
    ))
}

/// Runs `lookup` and counts `attempt` in one batch. Returns the batch's results (the lookup's
/// first) and, when a subject was blocked, the seconds to wait.
pub(super) async fn count_attempt<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &str,
    tenant: &str,
    attempt: &Attempt,
    lookup: Statement,
) -> Result<(Vec<B::Result>, Option<i64>), Error> {
    count_attempt_with(store, app, tenant, attempt, lookup, &ACCOUNT).await
}

/// `count_attempt` with `account_policy` for the attempt's account subject.
pub(super) async fn count_attempt_with<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &str,
    tenant: &str,
    attempt: &Attempt,
    lookup: Statement,
    account_policy: &ThrottlePolicy,
) -> Result<(Vec<B::Result>, Option<i64>), Error> {
    // The client first: while it is blocked, the account is not counted either (no row is
    // written for an email a blocked client makes up).
    let mut subjects = Vec::new();
    if let Some(client) = &attempt.client {
        subjects.push((client.as_str(), &CLIENT));
    }
    subjects.push((attempt.account.as_str(), account_policy));
    count_subjects(store, app, tenant, lookup, &subjects, attempt.now).await
}

/// Runs `lookup` and counts one attempt against each of `subjects` (each under its policy,
/// unless it is blocked), in one batch, in order: a subject is counted only when every one
/// before it was (`COUNT_ATTEMPT_IF_COUNTED`), so put the client first — a blocked client then
/// writes no counter for the account, address or code it tries. Returns the batch's results
/// (the lookup's first) and, when a subject was blocked, the seconds until the latest of them
/// is free again.
pub(super) async fn count_subjects<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &str,
    tenant: &str,
    lookup: Statement,
    subjects: &[(&str, &ThrottlePolicy)],
    now: Timestamp,
) -> Result<(Vec<B::Result>, Option<i64>), Error> {
    let mut statements = vec![lookup];
    for (n, (subject, policy)) in subjects.iter().enumerate() {
        let sql = if n == 0 {
            COUNT_ATTEMPT
        } else {
            COUNT_ATTEMPT_IF_COUNTED
        };
        statements.push(count_statement_of(sql, app, tenant, subject, policy, now)?);
    }
    // `subject IN (?3, …)`; with no subject at all, one that no count has.
    let mut args = vec![text(app), text(tenant)];
    args.extend(subjects.iter().map(|(subject, _)| text(subject)));
    if subjects.is_empty() {
        args.push(text(""));
    }
    statements.push(Statement::new(
        format!(
            "SELECT MAX(blocked_until) AS until FROM signin_failures \
             WHERE app_id = ?1 AND tenant_id = ?2 AND subject IN ({})",
            placeholders(3, args.len())
        ),
        args,
    ));
    // `batch` answers once per statement: the counts sit between the lookup and the maximum.
    let results = store.batch(statements).await?;
    #[derive(Deserialize)]
    struct Counted {
        #[expect(dead_code, reason = "only its presence matters")]
        failures: i64,
    }
    #[derive(Deserialize)]
    struct Until {
        until: Option<i64>,
    }
    let mut blocked = false;
    for counted in &results[1..results.len() - 1] {
        blocked |= counted.rows::<Counted>()?.is_empty();
    }
    let retry_after = if blocked {
        let until = results
            .last()
            .map(|r| r.rows::<Until>())
            .transpose()?
            .and_then(|rows| rows.into_iter().next())
            .and_then(|row| row.until)
            .unwrap_or(0);
        Some(retry_after_seconds(Timestamp::from_unix_ms(until), now).unwrap_or(1))
    } else {
        None
    };
    Ok((results, retry_after))
}

/// Counts a sign-up from `client` in a plane (`signup:<address>` under `SIGNUP`) unless it is
/// blocked; `Some(seconds)` when it is. The same counting as a sign-in's client subject, under
/// a subject of its own: the account part of the attempt is the address too, so only one
/// counter moves.
pub(super) async fn count_signup<B: SqlBackend>(
    store: &SqlStore<B>,
    app: &str,
    tenant: &str,
    client: &str,
    now: Timestamp,
) -> Result<Option<i64>, Error> {
    let attempt = Attempt {
        account: format!("signup:{client}"),
        client: None,
        now,
    };
    let nothing = Statement::new("SELECT 1 AS one", vec![]);
    let (_, retry_after) =
        count_attempt_with(store, app, tenant, &attempt, nothing, &SIGNUP).await?;
    Ok(retry_after)
}

/// After a successful sign-in: the account's count is cleared, and the client's count gets
/// this (counted) attempt back, unblocking it if that takes it under the free attempts.
pub(super) fn settle_attempt(app: &str, tenant: &str, attempt: &Attempt) -> Vec<Statement> {
    settle_subjects(
        app,
        tenant,
        Some(&attempt.account),
        attempt.client.as_deref(),
    )
}

/// The settlement of a success: `clear`'s count is deleted, and `give_back` (a client) gets
/// its counted attempt back, unblocked if that takes it under the free attempts.
pub(super) fn settle_subjects(
    app: &str,
    tenant: &str,
    clear: Option<&str>,
    give_back: Option<&str>,
) -> Vec<Statement> {
    let mut statements = Vec::new();
    if let Some(subject) = clear {
        statements.push(Statement::new(
            "DELETE FROM signin_failures WHERE app_id = ?1 AND tenant_id = ?2 AND subject = ?3",
            vec![text(app), text(tenant), text(subject)],
        ));
    }
    if let Some(client) = give_back {
        statements.push(Statement::new(
            "UPDATE signin_failures SET failures = failures - 1, \
             blocked_until = CASE WHEN failures - 1 < ?4 THEN 0 ELSE blocked_until END \
             WHERE app_id = ?1 AND tenant_id = ?2 AND subject = ?3 AND failures > 0",
            vec![
                text(app),
                text(tenant),
                text(client),
                int(CLIENT.free_failures),
            ],
        ));
    }
    statements
}
