//! Writing responses: JSON bodies (typed, from `dto`) that no cache keeps, empty `204`s, and
//! bodies that may be cached for a while (JWKS, discovery).

use crate::domain::Error;
use serde::Serialize;
use worker::worker_sys::web_sys;
use worker::Response;

/// A JSON response with `status` that no cache keeps.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, Error> {
    let response = Response::from_json(body)?.with_status(status);
    response.headers().set("Cache-Control", "no-store")?;
    Ok(response)
}

/// The same JSON answer built straight as the runtime's `Response`, for the hot paths: one
/// string in, no `worker::Response` to convert, and the header set built once per isolate and
/// copied by the runtime (`new Response(body, { headers })` copies, so sharing it is safe).
pub fn json_raw<T: Serialize>(status: u16, body: &T) -> Result<web_sys::Response, Error> {
    thread_local! {
        static HEADERS: Option<web_sys::Headers> = web_sys::Headers::new().ok().filter(|h| {
            h.set("Content-Type", "application/json").is_ok()
                && h.set("Cache-Control", "no-store").is_ok()
        });
    }
    let text = serde_json::to_string(body).map_err(|e| Error::Internal(e.to_string()))?;
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    HEADERS.with(|headers| match headers {
        Some(headers) => {
            init.set_headers(headers);
            Ok(())
        }
        None => Err(Error::Internal(
            "the response headers could not be built".into(),
        )),
    })?;
    web_sys::Response::new_with_opt_str_and_init(Some(&text), &init)
        .map_err(|_| Error::Internal("the runtime refused a response".into()))
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
