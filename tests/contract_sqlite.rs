//! The port contract on the D1 adapter: the very SQL strings of `store::d1`, run natively over
//! SQLite (the engine D1 is built on) with the real migrations. The same scenarios run on the
//! memory adapter in `tests/store.rs`; the Miniflare specs prove them once more against D1.
#![cfg(not(target_arch = "wasm32"))]

mod contract;

#[path = "support/sqlite.rs"]
mod sqlite_backend;

contract::contract_suite!(d1_sqlite, crate::sqlite_backend::sqlite_store);
