//! The HTTP layer: routing by app and tenant, parsing requests into domain types, calling the
//! use cases of `service`, and writing responses — with the single error → status mapping
//! (`error`). A handler is parse → call → respond; it holds no rule of its own.
//!
//! `routes` (the route table) and `dto` (the response bodies) are pure and compile natively,
//! so `tests/openapi.rs` can check `/openapi.json` against both; so are the console's header
//! policy (`console`, whose serving part is wasm32 only), the OAuth server's pages
//! (`pages`: their HTML, escaping and Content-Security-Policy) and the form-body reader
//! (`form`: the pairs of an urlencoded body). Everything else is wasm32 only and
//! may depend on `worker`; nothing below `http` may depend on it.
//!
//! - `entry`: the fetch and scheduled events; `context`: bindings, configuration, clock;
//!   `extract` / `respond` / `error`: reading requests, writing responses, problem documents.
//! - One module per resource: `auth` (end-user sign-up, sign-in, sessions), `oauth`
//!   (introspection, revocation), `discovery`, `operators`, `apps`, `tenants`, `api_keys`,
//!   `members` (and operator roles), `audit`, `users`, `catalogue`, `billing`, `deletions`
//!   (apps, tenants, users, and their progress), `email` (delivery, outbox, dead letters),
//!   `recovery` (verification, password resets, passwordless), `account` (an end user's own
//!   password, sessions, leaving), `thirdparty` (a tenant's identity providers, and sign-in
//!   through them), `authorization` (a tenant's OAuth 2.1 server: metadata, the authorization
//!   pages, the token endpoint, registration, clients, an end user's grants).
//! - `queue`: the email queue's consumer and the mailer it posts to; `federation`: the
//!   requests to identity providers and the WebCrypto check of their signatures.
//! - `console`: the operators' console (static assets through the `ASSETS` binding).

// The edge build (`--features edge`, `RouteId::at_edge`) forwards the operator routes to the
// full Worker, so their handlers and helpers go unreferenced there and the linker drops them;
// dead code is caught by the full build's lints (`make clippy` checks both builds).
#![cfg_attr(feature = "edge", allow(dead_code, unused_imports))]

pub mod console;
pub mod dto;
pub mod form;
pub mod pages;
pub mod routes;

#[cfg(target_arch = "wasm32")]
mod account;
#[cfg(target_arch = "wasm32")]
mod api_keys;
#[cfg(target_arch = "wasm32")]
mod apps;
#[cfg(target_arch = "wasm32")]
mod audit;
#[cfg(target_arch = "wasm32")]
mod auth;
#[cfg(target_arch = "wasm32")]
mod authorization;
#[cfg(target_arch = "wasm32")]
mod billing;
#[cfg(target_arch = "wasm32")]
mod catalogue;
#[cfg(target_arch = "wasm32")]
mod context;
#[cfg(target_arch = "wasm32")]
mod crypto;
#[cfg(target_arch = "wasm32")]
mod deletions;
#[cfg(target_arch = "wasm32")]
mod discovery;
#[cfg(target_arch = "wasm32")]
mod email;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod extract;
#[cfg(target_arch = "wasm32")]
mod federation;
#[cfg(target_arch = "wasm32")]
mod members;
#[cfg(target_arch = "wasm32")]
mod oauth;
#[cfg(target_arch = "wasm32")]
mod operators;
// The email queue's consumer runs in the full Worker only.
#[cfg(all(target_arch = "wasm32", not(feature = "edge")))]
mod queue;
#[cfg(target_arch = "wasm32")]
mod recovery;
#[cfg(target_arch = "wasm32")]
mod respond;
#[cfg(target_arch = "wasm32")]
mod tenants;
#[cfg(target_arch = "wasm32")]
mod thirdparty;
#[cfg(target_arch = "wasm32")]
mod users;

/// The OpenAPI 3.1 document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");
