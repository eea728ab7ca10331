//! The use cases of `service`, run natively over the memory adapters: every rule the
//! Miniflare specs prove through HTTP, proven here in milliseconds.

mod world;

mod account;
mod api_keys;
mod billing;
mod deletion;
mod edge;
mod email;
mod failures;
mod introspection;
mod maintenance;
mod members;
mod oauth;
mod operators;
mod passwordless;
mod recovery;
mod secret;
mod sessions;
mod signin;
mod signup;
mod tenancy;
mod thirdparty;
mod users;
