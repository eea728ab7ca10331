//! The domain: pure Rust, no I/O, no clock, no worker types.
//!
//! Everything here compiles and tests natively. Time comes in as a `time::Timestamp` and
//! randomness as byte arrays, so every function is deterministic under test. The domain must
//! not depend on `service`, `store` or `http`. Its one use of the JavaScript runtime is Unicode
//! normalisation (`nfkc`): a pure function the engine already implements, tested to agree.

pub mod audit;
pub mod authz;
pub mod challenge;
pub mod client_assertion;
pub mod deletion;
pub mod delivery;
pub mod device;
pub mod edge;
pub mod email;
pub mod error;
pub mod ids;
pub mod jose;
pub mod keys;
pub mod links;
pub mod member;
pub mod names;
pub mod nfkc;
pub mod oauth;
pub mod operator;
pub mod origin;
pub mod page;
pub mod password;
pub mod policy;
pub mod secret;
pub mod session;
pub mod tenancy;
pub mod thirdparty;
pub mod throttle;
pub mod time;
pub mod token;
pub mod user;
pub mod webhook;

pub use error::Error;
