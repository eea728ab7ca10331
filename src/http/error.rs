//! The one place where errors become HTTP: status codes and RFC 9457 problem documents.
//!
//! Bodies carry the stable `code` and a safe `detail`; internal causes (`Unavailable`,
//! `Internal`) are logged here and replaced by a generic sentence, so no SQL, stack trace or
//! binding message ever reaches a client.

use super::dto::Problem;
use crate::domain::Error;
use worker::{console_error, Headers, Response};

/// The HTTP status of an error.
pub fn status(error: &Error) -> u16 {
    match error {
        Error::Validation(_) | Error::InvalidCode => 400,
        Error::InvalidCredentials
        | Error::InvalidToken
        | Error::TokenReused
        | Error::InvalidClient
        | Error::InvalidSignature
        | Error::WrongCode
        | Error::Unauthorized => 401,
        Error::Forbidden(_)
        | Error::UserSuspended
        | Error::LoginMethodDisabled
        | Error::EmailNotVerified
        | Error::AppNotVerified => 403,
        Error::RateLimited(_) => 429,
        Error::AppNotFound
        | Error::TenantNotFound
        | Error::MemberNotFound
        | Error::ClientNotFound
        | Error::UserNotFound
        | Error::NotFound(_)
        | Error::RouteNotFound => 404,
        Error::MethodNotAllowed(_) => 405,
        Error::Conflict(_)
        | Error::AlreadyBootstrapped
        | Error::EmailTaken
        | Error::EmailDeliveryNotConfigured => 409,
        Error::PayloadTooLarge(_) => 413,
        Error::UnknownRole(_) | Error::UnknownPlan(_) => 422,
        Error::Internal(_) => 500,
        Error::ProviderError(_) => 502,
        Error::Unavailable(_) => 503,
    }
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// The problem+json response for `error`.
pub fn problem(error: &Error) -> worker::Result<Response> {
    if let Error::Unavailable(cause) | Error::Internal(cause) | Error::ProviderError(cause) = error
    {
        console_error!("{}: {}", error.code(), cause);
    }
    let status = status(error);
    let body = Problem {
        kind: format!("urn:tessera:problem:{}", error.code()),
        title: title(status),
        status,
        code: error.code(),
        detail: error.public_detail(),
    };
    let headers = Headers::new();
    headers.set("Content-Type", "application/problem+json")?;
    headers.set("Cache-Control", "no-store")?;
    if let Error::MethodNotAllowed(allowed) = error {
        headers.set("Allow", &allowed.join(", "))?;
    }
    if matches!(
        error,
        Error::Unauthorized | Error::InvalidToken | Error::InvalidClient
    ) {
        headers.set("WWW-Authenticate", "Bearer")?;
    }
    if let Error::RateLimited(seconds) = error {
        headers.set("Retry-After", &seconds.to_string())?;
    }
    Ok(Response::from_json(&body)?
        .with_status(status)
        .with_headers(headers))
}

impl From<worker::Error> for Error {
    fn from(e: worker::Error) -> Self {
        Error::Internal(format!("worker: {e}"))
    }
}
