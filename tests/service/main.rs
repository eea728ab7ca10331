//! The use cases of `service`, run natively over the memory adapters: every rule the
//! Miniflare specs prove through HTTP, proven here in milliseconds.

mod world;

mod api_keys;
mod billing;
mod failures;
mod introspection;
mod maintenance;
mod members;
mod operators;
mod sessions;
mod signin;
mod tenancy;
mod users;
