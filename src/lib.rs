//! Tessera: multi-tenant authentication at the edge, as one Rust crate compiled to a
//! Cloudflare Worker.
//!
//! The crate has three layers and one rule: the arrows only point down.
//!
//! ```text
//! http/    (wasm32 only) routing by app and tenant, request/response mapping, bindings,
//!    │      and the single error → status mapping. `http::routes` (the route table) is
//!    ▼      pure and compiled everywhere so the OpenAPI document can be checked natively.
//! domain/  pure Rust: ids, emails, passwords, secrets, keys, tokens, sessions, throttling,
//!    │      tenancy, users, members, authorization, policy (roles, plans), webhook signatures.
//!    │      No I/O, no clock, no randomness of its own: time and random bytes are arguments.
//!    ▼
//! store/   ports (traits in domain terms) and adapters: `memory` everywhere, `d1` and `kv`
//!          (the edge view) on wasm32.
//!          SQL lives only in the d1 adapter.
//! ```
//!
//! Gating `worker` and the `http`/`d1` modules behind `target_arch = "wasm32"` lets a plain
//! `cargo test` build only the domain and the memory store, and lets the compiler prove that the
//! domain never imports the worker.

pub mod domain;
pub mod http;
pub mod service;
pub mod store;
