//! Tessera: multi-tenant authentication at the edge, as one Rust crate compiled to a
//! Cloudflare Worker.
//!
//! The crate has four layers and one rule: the arrows only point down.
//!
//! ```text
//! http/     (wasm32 only, but for the pure route table, response DTOs and the console's header
//!    │       policy) the worker: routing by app and tenant, parse → call a use case → respond,
//!    │       bindings and configuration from `Env`, the single error → status mapping, and the
//!    │       operators' console (static assets from `console/`, served at `/console/`).
//!    │       With the feature `edge`, only the end users' routes: the rest are forwarded to
//!    │       the full Worker (a split deployment, `wrangler.edge.toml`).
//!    ▼
//! service/  the use cases — sign-up, sign-in, refresh, introspection, revocation, operators,
//!    │       apps and tenants, API keys, members, audit, end-user state, billing, email
//!    │       delivery, verification, password resets, passwordless, self-service, the OAuth
//!    │       authorization server of each tenant — written
//!    │       once, natively, generic over the ports (`service::Stores`), with time, randomness
//!    │       and configuration passed in. Everything that decides something lives here or below.
//!    ▼
//! domain/   pure Rust: ids, names, emails, passwords, secrets, keys, tokens, sessions,
//!    │       throttling, tenancy, users, members, authorization, policy, webhook signatures,
//!    │       emailed challenges, email delivery, link URLs, the OAuth server's rules.
//!    │       No I/O, no clock, no randomness of its own.
//!    ▼
//! store/    ports (traits in domain terms) and adapters: `d1` (all SQL, generic over an SQL
//!           backend: D1 on wasm32, SQLite in native tests), `kv` (the edge view, generic over a
//!           KV backend: Cloudflare KV on wasm32, memory natively), `queue` (the email queue's
//!           producer, wasm32), `memory` (every port).
//! ```
//!
//! Gating `worker` behind `target_arch = "wasm32"` lets a plain `cargo test` build and test
//! everything but the thin worker glue — every rule runs natively in milliseconds — and lets
//! the compiler prove that `domain`, `service` and `store` never import the worker.

pub mod domain;
pub mod http;
pub mod service;
pub mod store;
