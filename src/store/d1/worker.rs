//! The Cloudflare D1 backend of `SqlStore` (wasm32 only): the `DB` binding. Single statements
//! go through D1's `first`, `all` and `run`, batches through `batch` — the calls the
//! end-to-end fault-injection specs intercept by name. A binding that is missing makes every
//! call `Unavailable`, so the request fails closed. Must not depend on `service` or `http`.

use super::{SqlBackend, SqlResult, SqlStore, SqlValue, Statement};
use crate::domain::Error;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// Every port over the `DB` binding.
pub type D1Store = SqlStore<D1Backend>;

impl SqlStore<D1Backend> {
    /// The ports over a D1 database.
    pub fn from_d1(db: D1Database) -> Self {
        SqlStore::new(D1Backend::new(Ok(db)))
    }
}

/// One D1 database, or why it could not be bound.
pub struct D1Backend {
    db: Result<D1Database, String>,
}

impl D1Backend {
    /// Wraps the binding (or the error of looking it up).
    pub fn new(db: Result<D1Database, String>) -> Self {
        D1Backend { db }
    }

    fn db(&self) -> Result<&D1Database, Error> {
        self.db
            .as_ref()
            .map_err(|e| Error::Unavailable(format!("binding DB: {e}")))
    }

    fn prepare(&self, statement: Statement) -> Result<D1PreparedStatement, Error> {
        let args: Vec<JsValue> = statement.args.iter().map(js_value).collect();
        self.db()?
            .prepare(statement.sql)
            .bind(&args)
            .map_err(|e| unavailable("bind", e))
    }
}

fn js_value(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Null => JsValue::NULL,
        // D1 numbers are JS numbers; every integer stored here (ms times, flags) fits in 2^53.
        SqlValue::Int(i) => JsValue::from_f64(*i as f64),
        SqlValue::Text(s) => JsValue::from_str(s),
    }
}

fn unavailable(what: &str, e: worker::Error) -> Error {
    Error::Unavailable(format!("D1 {what}: {e}"))
}

fn undecodable(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("D1 row does not decode: {e}"))
}

/// Rows are taken from D1 as JSON values first, so that a JS call that fails
/// (`Unavailable`) is told apart from a row that does not fit its struct (`Internal`).
fn decode<T: DeserializeOwned>(row: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(row).map_err(undecodable)
}

fn decode_all<T: DeserializeOwned>(result: &D1Result) -> Result<Vec<T>, Error> {
    result
        .results::<serde_json::Value>()
        .map_err(undecodable)?
        .into_iter()
        .map(decode)
        .collect()
}

fn changes(result: &D1Result) -> Result<usize, Error> {
    result
        .meta()
        .map_err(|e| unavailable("meta", e))?
        .and_then(|m| m.changes)
        .ok_or_else(|| Error::Internal("D1 result has no change count".to_owned()))
}

/// One statement's outcome in a D1 batch.
pub struct D1Outcome(D1Result);

impl SqlResult for D1Outcome {
    fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, Error> {
        decode_all(&self.0)
    }

    fn changes(&self) -> Result<usize, Error> {
        changes(&self.0)
    }
}

impl SqlBackend for D1Backend {
    type Result = D1Outcome;

    async fn first<T: DeserializeOwned>(&self, statement: Statement) -> Result<Option<T>, Error> {
        self.prepare(statement)?
            .first::<serde_json::Value>(None)
            .await
            .map_err(|e| unavailable("read", e))?
            .map(decode)
            .transpose()
    }

    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, Error> {
        let result = self
            .prepare(statement)?
            .all()
            .await
            .map_err(|e| unavailable("read", e))?;
        decode_all(&result)
    }

    async fn run(&self, statement: Statement) -> Result<usize, Error> {
        let result = self
            .prepare(statement)?
            .run()
            .await
            .map_err(|e| unavailable("write", e))?;
        changes(&result)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<D1Outcome>, Error> {
        let prepared = statements
            .into_iter()
            .map(|s| self.prepare(s))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self
            .db()?
            .batch(prepared)
            .await
            .map_err(|e| unavailable("batch", e))?;
        Ok(results.into_iter().map(D1Outcome).collect())
    }
}
