//! Reading requests: bounded JSON bodies, bearer credentials, query parameters.

use crate::domain::Error;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use worker::Request;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest declared body that is still read to its end before being refused.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// Reads and parses a JSON body. Over 64 KiB → `413`; empty, not JSON, or a field of the wrong
/// type → `400 validation_failed`. Unknown fields are ignored.
pub async fn json_body<T: DeserializeOwned>(req: &mut Request) -> Result<T, Error> {
    let bytes = bounded_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::validation("a JSON body is required"));
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::validation(format!("invalid JSON body: {e}")))
}

/// Reads the body and refuses it (`413`) when it is larger than 64 KiB, declared length or
/// not: nothing past the limit is kept, so an endless chunked body never fills the isolate's
/// memory. A moderately oversized body (up to 1 MiB) is still read to its end before the
/// refusal, so a client that is still sending sees the 413 rather than a reset connection.
pub async fn bounded_body(req: &mut Request) -> Result<Vec<u8>, Error> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT_BYTES) {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        // No body at all.
        return Ok(body);
    };
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Error::validation("the request body cannot be read"))?;
        total += chunk.len();
        if total > DRAIN_LIMIT_BYTES {
            return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
        }
        if total <= MAX_BODY_BYTES {
            body.extend_from_slice(&chunk);
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    Ok(body)
}

/// The credential of an `Authorization: Bearer …` header, if present and well formed.
pub fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get("Authorization").ok().flatten()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 4096)
        .then(|| token.to_owned())
}

/// The query parameters of a request (the last value wins for a repeated name).
pub fn query(req: &Request) -> Result<HashMap<String, String>, Error> {
    let url = req
        .url()
        .map_err(|_| Error::validation("the request URL cannot be parsed"))?;
    Ok(url.query_pairs().into_owned().collect())
}
