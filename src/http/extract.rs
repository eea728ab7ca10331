//! Reading requests into domain types: path parameters, bounded JSON bodies, form fields,
//! bearer credentials, query parameters, page requests and the client address. Parsing is all
//! that happens here; a value that does not parse is `400 validation_failed` (or the `404`
//! its absence means), before any use case runs. The header and body readers take any
//! `Incoming` request: the worker crate's `Request`, or the runtime's own (`RuntimeRequest`),
//! which introspection reads without the worker crate's conversion.

use super::routes::Params;
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::page::PageRequest;
use crate::domain::throttle::client_subject;
use crate::domain::user::UserId;
use crate::domain::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::{ByteStream, Request};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest declared body that is still read to its end before being refused.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// What the extractors read of a request: its headers, and its body once. The worker crate's
/// `Request` for most routes; `RuntimeRequest`, the runtime's own, where the worker crate's
/// conversion of every request is not worth its cost (introspection, the hottest path).
#[allow(async_fn_in_trait)] // wasm32 is single-threaded: no caller needs `Send` futures
pub trait Incoming {
    /// A header's value, if present.
    fn header(&self, name: &str) -> Option<String>;
    /// The whole body in one read (its declared length is within the limit).
    async fn whole_body(&mut self) -> worker::Result<Vec<u8>>;
    /// The body chunk by chunk (no declared length); `Err` when there is none.
    fn body_stream(&mut self) -> worker::Result<ByteStream>;
}

impl Incoming for Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers().get(name).ok().flatten()
    }

    async fn whole_body(&mut self) -> worker::Result<Vec<u8>> {
        self.bytes().await
    }

    fn body_stream(&mut self) -> worker::Result<ByteStream> {
        self.stream()
    }
}

/// The runtime's request as received, with its headers: what `handle` reads the route from and
/// introspection reads its credentials and body from, without the worker crate's `Request`
/// (whose conversion reads the method, URL, headers and `cf` of every request again).
pub struct RuntimeRequest {
    request: web_sys::Request,
    headers: web_sys::Headers,
    /// The body was read (or its reading begun): a second read is refused, as the worker
    /// crate refuses it, rather than reaching a stream the runtime holds locked.
    body_used: bool,
}

impl RuntimeRequest {
    pub fn new(request: web_sys::Request) -> Self {
        let headers = request.headers();
        RuntimeRequest {
            request,
            headers,
            body_used: false,
        }
    }

    /// The runtime's request itself.
    pub fn inner(&self) -> &web_sys::Request {
        &self.request
    }

    /// The worker crate's `Request`, for every route but the hottest.
    pub fn into_request(self) -> Request {
        Request::from(self.request)
    }
}

impl Incoming for RuntimeRequest {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    async fn whole_body(&mut self) -> worker::Result<Vec<u8>> {
        if std::mem::replace(&mut self.body_used, true) {
            return Err(worker::Error::BodyUsed);
        }
        let buffer = JsFuture::from(self.request.array_buffer()?).await?;
        Ok(js_sys::Uint8Array::new(&buffer).to_vec())
    }

    fn body_stream(&mut self) -> worker::Result<ByteStream> {
        if std::mem::replace(&mut self.body_used, true) {
            return Err(worker::Error::BodyUsed);
        }
        // Rare (a body without a declared length): the worker crate's stream reader. (A handle
        // to the same request: `web_sys::Request::clone` would be the runtime's `clone()`.)
        Request::from(<web_sys::Request as Clone>::clone(&self.request)).stream()
    }
}

/// A path parameter as matched by the route table (empty when the template has none).
pub fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or("")
}

/// `{app_id}` of the path.
pub fn app_id(params: &Params) -> Result<AppId, Error> {
    AppId::parse(param(params, "app_id"))
}

/// `{app_id}` and `{tenant_id}` of the path.
pub fn place(params: &Params) -> Result<(AppId, TenantId), Error> {
    Ok((
        app_id(params)?,
        TenantId::parse(param(params, "tenant_id"))?,
    ))
}

/// `{user_id}` of the path; one that is not a UUID cannot exist: `404 user_not_found`.
pub fn user_id(params: &Params) -> Result<UserId, Error> {
    UserId::parse(param(params, "user_id")).map_err(|_| Error::UserNotFound)
}

/// Reads and parses a JSON body. Over 64 KiB → `413`; empty, not JSON, or a field of the wrong
/// type → `400 validation_failed`. Unknown fields are ignored.
pub async fn json_body<T: DeserializeOwned>(req: &mut impl Incoming) -> Result<T, Error> {
    let bytes = bounded_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::validation("a JSON body is required"));
    }
    parse_json(&bytes)
}

/// Like `json_body`, but an empty body reads as `T::default()` (optional bodies).
pub async fn optional_json_body<T: DeserializeOwned + Default>(
    req: &mut impl Incoming,
) -> Result<T, Error> {
    let bytes = bounded_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(&bytes)
}

/// Parses a JSON object; anything else is `400 validation_failed` with serde's explanation.
///
/// Every body of the API is an object. serde also reads a struct from a JSON array (its fields
/// by position), so without the check `[null, null]` would pass for `{"plan_tier": null,
/// "rate_limit_override": null}` and change a user (found by the schemathesis run).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::validation("the JSON body must be an object"));
    }
    serde_json::from_slice(bytes).map_err(|e| Error::validation(format!("invalid JSON body: {e}")))
}

/// Reads the body and refuses it (`413`) when it is larger than 64 KiB, declared length or
/// not: nothing past the limit is kept, so an endless chunked body never fills the isolate's
/// memory. A moderately oversized body (up to 1 MiB) is still read to its end before the
/// refusal, so a client that is still sending sees the 413 rather than a reset connection.
pub async fn bounded_body(req: &mut impl Incoming) -> Result<Vec<u8>, Error> {
    let declared = req
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT_BYTES) {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    if declared.is_some_and(|n| n <= MAX_BODY_BYTES) {
        // A declared length within the limit is what the runtime delivers (HTTP framing), so
        // the body is read in one call rather than chunk by chunk across JS and wasm.
        let body = req
            .whole_body()
            .await
            .map_err(|_| Error::validation("the request body cannot be read"))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
        }
        return Ok(body);
    }
    let mut body = Vec::new();
    let Ok(mut stream) = req.body_stream() else {
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

/// The parameters of an RFC 7662/7009 request, form fields or JSON fields: the token, and a
/// client's RFC 7523 assertion when the client authenticates in the body (`private_key_jwt`).
#[derive(Default)]
pub struct TokenParameters {
    pub token: String,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    pub client_id: Option<String>,
}

/// The parameters of an RFC 7662/7009 request (the first of a repeated form field).
pub async fn token_parameters(req: &mut impl Incoming) -> Result<TokenParameters, Error> {
    let is_form = req.header("Content-Type").is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !is_form {
        #[derive(serde::Deserialize)]
        struct TokenBody {
            token: String,
            #[serde(default)]
            client_assertion_type: Option<String>,
            #[serde(default)]
            client_assertion: Option<String>,
            #[serde(default)]
            client_id: Option<String>,
        }
        let body = json_body::<TokenBody>(req).await?;
        return Ok(TokenParameters {
            token: body.token,
            client_assertion_type: body.client_assertion_type,
            client_assertion: body.client_assertion,
            client_id: body.client_id,
        });
    }
    let bytes = bounded_body(req).await?;
    let mut found = TokenParameters::default();
    let mut token = None;
    for (name, value) in super::form::pairs(&bytes) {
        let slot = match name.as_ref() {
            "token" => &mut token,
            "client_assertion_type" => &mut found.client_assertion_type,
            "client_assertion" => &mut found.client_assertion,
            "client_id" => &mut found.client_id,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    found.token = token.ok_or_else(|| Error::validation("the token parameter is required"))?;
    Ok(found)
}

/// The credential of an `Authorization: Bearer …` header, if present and well formed.
pub fn bearer(req: &impl Incoming) -> Option<String> {
    let value = req.header("Authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 4096)
        .then(|| token.to_owned())
}

/// HTTP Basic client credentials, each part form-decoded (RFC 6749 §2.3.1); `Err` when the
/// header is Basic but malformed.
pub fn basic_credentials(req: &impl Incoming) -> Result<Option<(String, String)>, ()> {
    let Some(value) = req.header("Authorization") else {
        return Ok(None);
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;
    let form_decode = |part: &str| -> String {
        form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// The value of a request header, if present.
pub fn header(req: &impl Incoming, name: &str) -> Option<String> {
    req.header(name)
}

/// The query parameters of a request (the last value wins for a repeated name).
pub fn query(req: &Request) -> Result<HashMap<String, String>, Error> {
    let url = req
        .url()
        .map_err(|_| Error::validation("the request URL cannot be parsed"))?;
    Ok(url.query_pairs().into_owned().collect())
}

/// `?limit=` and `?cursor=` of a listing.
pub fn page_request(query: &HashMap<String, String>) -> Result<PageRequest, Error> {
    PageRequest::parse(
        query.get("limit").map(String::as_str),
        query.get("cursor").map(String::as_str),
    )
}

/// The throttling subject of the client address. Cloudflare always sets `CF-Connecting-IP`;
/// without it (a local run) there is no address to count, and lumping every such request under
/// one key would lock everyone out at once.
pub fn client_subject_of(req: &Request) -> Option<String> {
    header(req, "CF-Connecting-IP").map(|ip| client_subject(ip.trim()))
}

/// Who calls an `/admin` endpoint (`401 unauthorized` without a valid operator token or API
/// key). What they may do is the use case's decision.
pub async fn caller(cx: &super::context::Ctx<'_>, req: &Request) -> Result<Principal, Error> {
    crate::service::principal::principal(cx, bearer(req).as_deref()).await
}

/// The caller, when it holds `permission` on `target` (`None`: the platform owner's): checked
/// before the body is read, so a caller who may not act learns nothing from validation. The use
/// case checks again — it is the authority; this only keeps `401 → 403 → 400` in that order.
pub async fn allowed(
    cx: &super::context::Ctx<'_>,
    req: &Request,
    permission: Option<Permission>,
    target: Target<'_>,
) -> Result<Principal, Error> {
    let caller = caller(cx, req).await?;
    authorize(&caller, permission, &target).into_result()?;
    Ok(caller)
}

/// The name of the device-token cookie (`domain::device`).
pub const DEVICE_COOKIE: &str = "tessera_device";

/// The value of cookie `name`, if the request carries it (the first one of that name), when
/// it is at most 512 characters long.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    cookie_up_to(req, name, 512)
}

/// `cookie` for a value of up to `max` characters (a cookie that carries a request).
pub fn cookie_up_to(req: &Request, name: &str, max: usize) -> Option<String> {
    let header = header(req, "Cookie")?;
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name && !value.is_empty() && value.len() <= max).then(|| value.to_owned())
    })
}
