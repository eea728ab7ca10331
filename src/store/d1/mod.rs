//! The relational adapter: every port of `store` in SQL, written once and generic over a
//! `SqlBackend` — Cloudflare D1 on wasm32 (`worker`), SQLite for the native tests
//! (`tests/support/sqlite.rs`). All SQL of the crate lives in this module; it must not depend
//! on `service` or `http`.
//!
//! Writes that must stay together go through `batch`, which D1 runs as one transaction.
//! Races are settled by the database (`INSERT OR IGNORE`, `WHERE NOT EXISTS`, checked through
//! `changes()`), never by a read followed by a write. A failing binding becomes
//! `Error::Unavailable` with the cause for the log; a row that does not parse is
//! `Error::Internal`.
//!
//! Which calls are single statements (`first`, `all`, `run`) and which statements share a
//! `batch` is part of the contract: the end-to-end fault-injection specs intercept D1 calls by
//! that name and by the leading words of the SQL, so the SQL text and the grouping must not
//! drift.
//!
//! Files by aggregate: `tenancy` (apps, tenants), `operators`, `api_keys`, `signing_keys`,
//! `users` (end users and their faces), `sessions`, `throttle` (sign-in counting shared by
//! users and operators), `members`, `audit` (the log as read back), `user_state` (roles, plans,
//! listing, faces, metadata), `billing` (webhook secret and events), `maintenance` (pruning
//! what is past its use), `thirdparty` (providers, flows, identities), `oauth` (the OAuth
//! server's settings, clients, codes, consents) and `deletion` (deleting apps, tenants and
//! users in bounded steps).
#![expect(
    async_fn_in_trait,
    reason = "the worker is single-threaded: futures need no Send bound"
)]

mod api_keys;
mod audit;
mod billing;
mod deletion;
mod edge_sync;
mod email;
mod maintenance;
mod members;
mod oauth;
mod operators;
mod sessions;
mod signing_keys;
mod tenancy;
mod thirdparty;
mod throttle;
mod user_state;
mod users;
#[cfg(target_arch = "wasm32")]
pub mod worker;

#[cfg(target_arch = "wasm32")]
pub use worker::{D1Backend, D1Store};

use crate::domain::audit::AuditEntry;
use crate::domain::password::PasswordHash;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value bound to a statement parameter. D1 numbers are JS numbers: every integer bound here
/// (ms times, counters, limits) fits in 2^53.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

/// One SQL statement with its arguments, bound in order to `?1`, `?2`, … Its `Debug` shows the
/// SQL and how many arguments there are, never their values (password hashes, sealed keys).
#[derive(Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<SqlValue>,
}

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement")
            .field("sql", &self.sql)
            .field("args", &self.args.len())
            .finish()
    }
}

impl Statement {
    /// `sql` with `args`. The number of arguments must be the number of parameters of the SQL:
    /// D1 refuses a statement with an unused bound value.
    pub fn new(sql: impl Into<String>, args: Vec<SqlValue>) -> Self {
        Statement {
            sql: sql.into(),
            args,
        }
    }
}

/// The outcome of one statement of a batch.
pub trait SqlResult {
    /// The rows the statement returned (a `SELECT`, or a write with `RETURNING`), each
    /// deserialized from an object keyed by column name. A row that does not deserialize is
    /// `Error::Internal`.
    fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, Error>;
    /// How many rows the statement inserted, updated or deleted.
    fn changes(&self) -> Result<usize, Error>;
}

/// A SQLite-speaking database: what the adapter needs of D1. Rows are objects keyed by column
/// name (integers as numbers, text as strings, NULL as null); a row that does not deserialize
/// into `T` is `Error::Internal`, and a call the database refuses or cannot answer is
/// `Error::Unavailable`.
pub trait SqlBackend {
    /// The outcome of one statement of a batch.
    type Result: SqlResult;
    /// The first row of a statement, if any.
    async fn first<T: DeserializeOwned>(&self, statement: Statement) -> Result<Option<T>, Error>;
    /// Every row of a statement.
    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, Error>;
    /// Runs a write; returns how many rows it changed.
    async fn run(&self, statement: Statement) -> Result<usize, Error>;
    /// Runs the statements in order as one transaction (all or nothing), `changes()` in a
    /// statement seeing the one before it. One result per statement, in order.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Self::Result>, Error>;
}

/// Every relational port over one SQL database.
pub struct SqlStore<B> {
    backend: B,
}

impl<B: SqlBackend> SqlStore<B> {
    /// The ports over `backend`.
    pub fn new(backend: B) -> Self {
        SqlStore { backend }
    }

    /// The backend (tests inspect it).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    async fn first<T: DeserializeOwned>(&self, statement: Statement) -> Result<Option<T>, Error> {
        self.backend.first(statement).await
    }

    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, Error> {
        self.backend.all(statement).await
    }

    async fn run(&self, statement: Statement) -> Result<usize, Error> {
        self.backend.run(statement).await
    }

    /// Runs a batch and checks that it answered once per statement, so that callers may index
    /// the results by the position of their statements.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<B::Result>, Error> {
        let sent = statements.len();
        let results = self.backend.batch(statements).await?;
        if results.len() != sent {
            return Err(Error::Internal(format!(
                "D1 batch returned {} results for {sent} statements",
                results.len()
            )));
        }
        Ok(results)
    }
}

/// A row of one integer column named `n` (a count, a version, a time, a flag): one row type
/// for every such read, so the wasm carries one deserializer for them.
#[derive(serde::Deserialize)]
struct NumberRow {
    n: i64,
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

fn int(value: i64) -> SqlValue {
    SqlValue::Int(value)
}

fn time(value: Timestamp) -> SqlValue {
    SqlValue::Int(value.unix_ms())
}

fn opt_text(value: Option<&str>) -> SqlValue {
    value.map(text).unwrap_or(SqlValue::Null)
}

/// The parameters `?from, …, ?to`, for an `IN (…)` of as many bound values.
fn placeholders(from: usize, to: usize) -> String {
    (from..=to)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stored (PHC) form of an optional password hash.
fn phc(hash: Option<&PasswordHash>) -> SqlValue {
    opt_text(hash.map(|h| h.to_phc_string()).as_deref())
}

/// The parameters of a password hash as stored beside it (`password_params`), or NULL.
fn phc_params(hash: Option<&PasswordHash>) -> SqlValue {
    opt_text(hash.map(|h| h.params().to_phc_prefix()).as_deref())
}

/// A count (a page size) as bound.
fn size(value: usize) -> SqlValue {
    SqlValue::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

fn corrupt(what: &str) -> Error {
    Error::Internal(format!("D1 row of {what} does not parse"))
}

/// A JSON array of names as stored in a text column.
fn json_list<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// `true` when the first statement of a batch changed a row.
fn first_changed<R: SqlResult>(results: &[R]) -> Result<bool, Error> {
    changed(results, 0)
}

/// `true` when statement `index` of a batch changed exactly one row.
fn changed<R: SqlResult>(results: &[R], index: usize) -> Result<bool, Error> {
    let result = results
        .get(index)
        .ok_or_else(|| Error::Internal("D1 batch returned too few results".to_owned()))?;
    Ok(result.changes()? == 1)
}

/// The rows of statement `index` of a batch.
fn rows<T: DeserializeOwned, R: SqlResult>(results: &[R], index: usize) -> Result<Vec<T>, Error> {
    results
        .get(index)
        .ok_or_else(|| Error::Internal("D1 batch returned too few results".to_owned()))?
        .rows()
}

/// `statement` — an `INSERT … SELECT` without `WHERE` (`keyword` `WHERE`) or a statement whose
/// `WHERE` it extends (`keyword` `AND`) — made to run only when `select` finds a row; `select`
/// binds one more value, `value`, at its `?`. Lets a statement of a batch depend on one further
/// back than `changes()` reaches (the witness: a row an earlier statement wrote only when it
/// took effect).
fn when_exists(
    mut statement: Statement,
    keyword: &str,
    select: &str,
    value: SqlValue,
) -> Statement {
    statement.args.push(value);
    let bound = select.replacen('?', &format!("?{}", statement.args.len()), 1);
    statement.sql = format!("{} {keyword} EXISTS ({bound})", statement.sql);
    statement
}

/// `statement` (an `INSERT … SELECT` without `WHERE`) with `condition` (`only_if`'s) appended.
fn with_condition(mut statement: Statement, condition: &str) -> Statement {
    statement.sql.push_str(condition);
    statement
}

/// `when_exists` on the audit entry `entry`, written earlier in the batch only when the change
/// it records happened.
fn when_audited(statement: Statement, keyword: &str, entry: &AuditEntry) -> Statement {
    when_exists(
        statement,
        keyword,
        "SELECT 1 FROM audit_log WHERE id = ?",
        text(&entry.id.to_string()),
    )
}

/// The `WHERE` that makes an `INSERT … SELECT` depend on the statement before it in the batch.
fn only_if(changed: bool) -> &'static str {
    if changed {
        " WHERE changes() > 0"
    } else {
        ""
    }
}

/// The statement that writes `entry`. With `only_if_changed`, it writes only when the
/// statement just before it in the batch changed a row (`changes()`), so a refused or no-op
/// change leaves no entry.
fn audit_insert(entry: &AuditEntry, only_if_changed: bool) -> Statement {
    let condition = only_if(only_if_changed);
    Statement::new(
        format!(
            "INSERT INTO audit_log (id, app_id, at, actor, action, target, tenant_id, detail) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8{condition}"
        ),
        vec![
            text(&entry.id.to_string()),
            text(entry.app_id.as_str()),
            time(entry.at),
            text(&entry.actor.as_stored()),
            text(entry.action.as_str()),
            text(&entry.target),
            opt_text(entry.tenant_id.as_ref().map(|t| t.as_str())),
            text(&entry.detail.to_string()),
        ],
    )
}
