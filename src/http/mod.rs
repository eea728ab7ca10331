//! The HTTP layer (being rebuilt on the service layer).

pub mod routes;

/// The OpenAPI 3.1 document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");
