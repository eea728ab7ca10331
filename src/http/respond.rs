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

/// `response` with a cookie holding a device token for `path` (`domain::device`): HttpOnly and
/// Secure, for as long as the token is honoured. `same_site` is `Strict` where the pages that
/// sign in are served by the worker itself (operators), `None` where an app's own origin calls
/// the worker (end users).
pub fn with_device_cookie(
    response: Response,
    token: &str,
    path: &str,
    same_site: &str,
) -> Result<Response, Error> {
    let cookie = format!(
        "{}={token}; Path={path}; Max-Age={}; Secure; HttpOnly; SameSite={same_site}",
        super::extract::DEVICE_COOKIE,
        crate::domain::device::DEVICE_TOKEN_TTL_SECONDS
    );
    response.headers().append("Set-Cookie", &cookie)?;
    Ok(response)
}
