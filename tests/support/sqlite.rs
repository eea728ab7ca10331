//! A native SQLite backend for the SQL adapter (`tessera::store::d1::SqlStore`), so that the
//! adapter's SQL runs under `cargo test` against the database engine D1 itself is built on.
//!
//! Use it from any integration test file with
//!
//! ```ignore
//! #[path = "support/sqlite.rs"]
//! mod sqlite;
//! let store = sqlite::sqlite_store();
//! ```
//!
//! Every call of `sqlite_store()` is a fresh in-memory database with every `migrations/*.sql`
//! applied in file-name order. It behaves as D1 does where the adapter depends on it:
//! - a batch is one transaction, rolled back when any statement fails;
//! - `changes()` in a statement sees the statement before it in the batch (one connection);
//! - foreign keys are enforced (D1 enforces them);
//! - a statement whose bound values do not match its parameters is refused (D1 errors on an
//!   unused bound value), so a numbering mistake fails natively too;
//! - rows are JSON objects keyed by column name (integers as i64, text as strings, NULL as
//!   null), deserialized into the adapter's row structs;
//! - a failing statement is `Error::Unavailable`, a row that does not deserialize
//!   `Error::Internal`.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    dead_code,
    reason = "each test crate that includes this module uses a different part of it"
)]

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection};
use serde::de::DeserializeOwned;
use tessera::domain::Error;
use tessera::store::d1::{SqlBackend, SqlResult, SqlStore, SqlValue, Statement};

/// Every port over a fresh, migrated, in-memory SQLite database.
pub fn sqlite_store() -> SqlStore<SqliteBackend> {
    SqlStore::new(SqliteBackend::migrated())
}

/// One in-memory SQLite database.
pub struct SqliteBackend {
    conn: Connection,
}

/// One statement's outcome: its rows as JSON objects and the rows it changed.
pub struct SqliteOutcome {
    rows: Vec<serde_json::Value>,
    changes: usize,
}

impl SqliteBackend {
    /// A fresh database with every migration applied, in file-name order.
    pub fn migrated() -> Self {
        let conn = Connection::open_in_memory().expect("an in-memory SQLite database opens");
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .expect("foreign keys can be enforced");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("the migrations folder is readable")
            .map(|entry| entry.expect("a migration entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).expect("a migration is readable");
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{} applies: {e}", file.display()));
        }
        SqliteBackend { conn }
    }

    /// The connection, to look at what the adapter wrote.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The number of rows of `table`.
    pub fn count(&self, table: &str) -> i64 {
        self.conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap_or_else(|e| panic!("rows of {table} can be counted: {e}"))
    }
}

fn unavailable(statement: &Statement, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("SQLite: {e} (in {})", statement.sql))
}

fn bound(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Text(s) => Value::Text(s.clone()),
    }
}

fn json(value: ValueRef<'_>) -> Result<serde_json::Value, Error> {
    Ok(match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => serde_json::Value::from(i),
        ValueRef::Real(f) => serde_json::Value::from(f),
        ValueRef::Text(bytes) => serde_json::Value::from(
            std::str::from_utf8(bytes)
                .map_err(|e| Error::Internal(format!("SQLite text is not UTF-8: {e}")))?,
        ),
        // D1 hands blobs to JS as arrays of bytes.
        ValueRef::Blob(bytes) => serde_json::Value::from(bytes.to_vec()),
    })
}

/// Runs one statement on `conn` (the database, or the transaction of a batch).
fn execute(conn: &Connection, statement: &Statement) -> Result<SqliteOutcome, Error> {
    let mut prepared = conn
        .prepare(&statement.sql)
        .map_err(|e| unavailable(statement, e))?;
    let parameters = prepared.parameter_count();
    if parameters != statement.args.len() {
        return Err(unavailable(
            statement,
            format!(
                "{} values bound to {parameters} parameters",
                statement.args.len()
            ),
        ));
    }
    let columns: Vec<String> = prepared.column_names().map(str::to_owned).collect();
    // A read leaves SQLite's change count as the last write set it; D1 reports none for it.
    let writes = !prepared.readonly();
    let mut rows = Vec::new();
    let mut cursor = prepared
        .query(params_from_iter(statement.args.iter().map(bound)))
        .map_err(|e| unavailable(statement, e))?;
    while let Some(row) = cursor.next().map_err(|e| unavailable(statement, e))? {
        let mut object = serde_json::Map::new();
        for (index, name) in columns.iter().enumerate() {
            let value = row.get_ref(index).map_err(|e| unavailable(statement, e))?;
            object.insert(name.clone(), json(value)?);
        }
        rows.push(serde_json::Value::Object(object));
    }
    // The count is final once the statement has run to its end, as the loop above made it.
    drop(cursor);
    let changes = if writes {
        usize::try_from(conn.changes()).unwrap_or(usize::MAX)
    } else {
        0
    };
    Ok(SqliteOutcome { rows, changes })
}

fn decode<T: DeserializeOwned>(row: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(row).map_err(|e| Error::Internal(format!("SQLite row: {e}")))
}

impl SqlResult for SqliteOutcome {
    fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, Error> {
        self.rows.iter().cloned().map(decode).collect()
    }

    fn changes(&self) -> Result<usize, Error> {
        Ok(self.changes)
    }
}

impl SqlBackend for SqliteBackend {
    type Result = SqliteOutcome;

    async fn first<T: DeserializeOwned>(&self, statement: Statement) -> Result<Option<T>, Error> {
        execute(&self.conn, &statement)?
            .rows
            .into_iter()
            .next()
            .map(decode)
            .transpose()
    }

    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, Error> {
        execute(&self.conn, &statement)?
            .rows
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn run(&self, statement: Statement) -> Result<usize, Error> {
        Ok(execute(&self.conn, &statement)?.changes)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<SqliteOutcome>, Error> {
        // Dropping the transaction without committing rolls it back: all or nothing.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| Error::Unavailable(format!("SQLite begin: {e}")))?;
        let outcomes = statements
            .iter()
            .map(|statement| execute(&tx, statement))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()
            .map_err(|e| Error::Unavailable(format!("SQLite commit: {e}")))?;
        Ok(outcomes)
    }
}
