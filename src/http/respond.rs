//! Writing responses: JSON bodies (typed, from `dto`) that no cache keeps, empty `204`s, and
//! bodies that may be cached for a while (JWKS, discovery).

use crate::domain::Error;
use serde::Serialize;
use worker::Response;

/// A JSON response with `status` that no cache keeps.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, Error> {
    let response = Response::from_json(body)?.with_status(status);
    response.headers().set("Cache-Control", "no-store")?;
    Ok(response)
}

/// `204 No Content`.
pub fn no_content() -> Result<Response, Error> {
    Ok(Response::empty()?.with_status(204))
}

/// A `200` JSON response that clients may cache for `max_age_seconds`.
pub fn cacheable<T: Serialize>(body: &T, max_age_seconds: i64) -> Result<Response, Error> {
    let response = Response::from_json(body)?;
    response.headers().set(
        "Cache-Control",
        &format!("public, max-age={max_age_seconds}"),
    )?;
    Ok(response)
}
