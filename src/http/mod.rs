//! The HTTP layer: routing by app and tenant, request and response mapping, bindings and
//! secrets, and the single error → status mapping (`error`).
//!
//! Only `routes` (the pure route table) compiles natively; everything else is wasm32 only and
//! may depend on `worker`. Handlers orchestrate: parse input into domain types, ask the store,
//! call the domain, answer. They hold no business rules of their own.

pub mod routes;

#[cfg(target_arch = "wasm32")]
mod admin;
#[cfg(target_arch = "wasm32")]
mod cache;
#[cfg(target_arch = "wasm32")]
mod context;
#[cfg(target_arch = "wasm32")]
mod discovery;
#[cfg(target_arch = "wasm32")]
mod enduser;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod keyring;
#[cfg(target_arch = "wasm32")]
mod members;
#[cfg(target_arch = "wasm32")]
mod request;
#[cfg(target_arch = "wasm32")]
mod rotation;
#[cfg(target_arch = "wasm32")]
mod users;

/// The OpenAPI 3.1 document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");
