//! The worker's side of the `Federation` port: requests to identity providers (and to OAuth
//! clients' metadata documents) over the platform's `fetch`, and JWS signature checks with
//! WebCrypto.
//!
//! A request goes only to the URL it names (one of the provider's configured URLs, or a
//! checked client id), follows no redirect (a 3xx is an answer, which the use case refuses),
//! must be answered — body included — within its `limits` (`OUTBOUND_TIMEOUT_SECONDS` for
//! providers), and its body is read as a stream and refused past them
//! (`MAX_OUTBOUND_BODY_BYTES` for providers). Reasons of failure name no header, form or body.
//!
//! Signatures: RSA (`RS*`, `PS*`) and ECDSA (`ES*`) with `crypto.subtle` — nothing of RSA or
//! P-256 is compiled into the wasm — and Ed25519 in Rust (`domain::jose::verify_eddsa`).

use crate::domain::jose::{verify_eddsa, Jwk, JwsAlgorithm};
use crate::domain::Error;
use crate::store::{
    OutboundMethod, OutboundRequest, OutboundResponse, ProviderHttp, SignatureVerifier,
};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

/// Identity providers reached from the worker.
pub struct WorkerFederation;

impl ProviderHttp for WorkerFederation {
    async fn send(&self, request: &OutboundRequest) -> Result<OutboundResponse, String> {
        let limits = request.limits;
        let built = || -> worker::Result<Request> {
            let headers = Headers::new();
            for (name, value) in &request.headers {
                headers.set(name, value)?;
            }
            let mut init = RequestInit::new();
            init.with_headers(headers)
                .with_redirect(RequestRedirect::Manual);
            match request.method {
                OutboundMethod::Get => {
                    init.with_method(Method::Get);
                }
                OutboundMethod::Post => {
                    init.headers
                        .set("Content-Type", "application/x-www-form-urlencoded")?;
                    init.with_method(Method::Post)
                        .with_body(request.form.as_deref().map(JsValue::from_str));
                }
            }
            Request::new_with_init(request.url.as_str(), &init)
        };
        let built = built().map_err(|_| "the request cannot be built".to_owned())?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut response = Fetch::Request(built)
                .send_with_signal(&signal)
                .await
                .map_err(|_| "the connection failed".to_owned())?;
            let status = response.status_code();
            let declared = response
                .headers()
                .get("Content-Length")
                .ok()
                .flatten()
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > limits.max_body_bytes) {
                return Err("the answer is too large".to_owned());
            }
            let mut body = Vec::new();
            if let Ok(mut stream) = response.stream() {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|_| "the answer was cut".to_owned())?;
                    if body.len() + chunk.len() > limits.max_body_bytes {
                        return Err("the answer is too large".to_owned());
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(OutboundResponse { status, body })
        };
        let timeout = Delay::from(Duration::from_secs(limits.timeout_seconds));
        let outcome = match select(Box::pin(exchange), Box::pin(timeout)).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => {
                controller.abort();
                Err(format!("no answer within {} s", limits.timeout_seconds))
            }
        };
        outcome
    }
}

impl SignatureVerifier for WorkerFederation {
    async fn verify(
        &self,
        alg: JwsAlgorithm,
        key: &Jwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Error> {
        if !key.fits(alg) {
            return Ok(false);
        }
        if alg == JwsAlgorithm::EdDsa {
            return Ok(verify_eddsa(key, message, signature));
        }
        // A key WebCrypto refuses to import (a malformed modulus, a point off the curve)
        // verifies nothing.
        Ok(web_crypto_verify(alg, key, message, signature)
            .await
            .unwrap_or(false))
    }
}

fn object(pairs: &[(&str, JsValue)]) -> Result<Object, JsValue> {
    let object = Object::new();
    for (name, value) in pairs {
        Reflect::set(&object, &JsValue::from_str(name), value)?;
    }
    Ok(object)
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

/// The public members of `key` as a JWK object for `importKey` (no `alg`, `use` or `kid`).
fn public_jwk(key: &Jwk) -> Result<Object, JsValue> {
    let mut pairs = vec![("kty", text(&key.kty))];
    for (name, member) in [
        ("n", &key.n),
        ("e", &key.e),
        ("crv", &key.crv),
        ("x", &key.x),
        ("y", &key.y),
    ] {
        if let Some(value) = member {
            pairs.push((name, text(value)));
        }
    }
    object(&pairs)
}

/// `(importKey's algorithm, verify's algorithm)` of a JWS algorithm (RFC 7518 §3).
fn algorithms(alg: JwsAlgorithm) -> Result<(Object, Object), JsValue> {
    let hash = || object(&[("name", text(alg.hash_name()))]).map(JsValue::from);
    Ok(match alg {
        JwsAlgorithm::Rs256 | JwsAlgorithm::Rs384 | JwsAlgorithm::Rs512 => {
            let name = text("RSASSA-PKCS1-v1_5");
            (
                object(&[("name", name.clone()), ("hash", hash()?)])?,
                object(&[("name", name)])?,
            )
        }
        JwsAlgorithm::Ps256 | JwsAlgorithm::Ps384 | JwsAlgorithm::Ps512 => {
            let salt = match alg {
                JwsAlgorithm::Ps256 => 32,
                JwsAlgorithm::Ps384 => 48,
                _ => 64,
            };
            let name = text("RSA-PSS");
            (
                object(&[("name", name.clone()), ("hash", hash()?)])?,
                object(&[("name", name), ("saltLength", JsValue::from(salt))])?,
            )
        }
        JwsAlgorithm::Es256 | JwsAlgorithm::Es384 | JwsAlgorithm::EdDsa => {
            let name = text("ECDSA");
            let curve = text(alg.curve().unwrap_or("P-256"));
            (
                object(&[("name", name.clone()), ("namedCurve", curve)])?,
                object(&[("name", name), ("hash", hash()?)])?,
            )
        }
    })
}

/// `crypto.subtle.importKey("jwk", …)` then `crypto.subtle.verify(…)`.
async fn web_crypto_verify(
    alg: JwsAlgorithm,
    key: &Jwk,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &text("crypto"))?;
    let subtle = Reflect::get(&crypto, &text("subtle"))?;
    let method = |name: &str| -> Result<Function, JsValue> {
        Reflect::get(&subtle, &text(name))?.dyn_into::<Function>()
    };
    let (import_alg, verify_alg) = algorithms(alg)?;
    let usages = Array::of1(&text("verify"));
    let import_args = Array::of5(
        &text("jwk"),
        &public_jwk(key)?.into(),
        &import_alg,
        &JsValue::FALSE,
        &usages,
    );
    let imported = method("importKey")?.apply(&subtle, &import_args)?;
    let crypto_key = JsFuture::from(js_sys::Promise::from(imported)).await?;
    let verify_args = Array::of4(
        &verify_alg,
        &crypto_key,
        &Uint8Array::from(signature),
        &Uint8Array::from(message),
    );
    let verified = method("verify")?.apply(&subtle, &verify_args)?;
    let verdict = JsFuture::from(js_sys::Promise::from(verified)).await?;
    Ok(verdict.as_bool().unwrap_or(false))
}
