//! Bench-only probe worker (never deployed). Routes, all GET:
//!   /noop                          200, no work (the baseline the harness subtracts)
//!   /pbkdf2?alg=sha256&i=600000    one PBKDF2-HMAC derivation with the pbkdf2 crate
//!   /jwt?n=1000                    n Ed25519 JWT verifies with jwt-compact + ed25519-compact
//!   /jwt-webcrypto?n=1000          n verifies of the same token: jwt-compact parses, the
//!                                  runtime's WebCrypto Ed25519 checks the signature (called
//!                                  from Rust through wasm-bindgen, one await each)
//! The harness times requests from outside and subtracts /noop: inside a worker the clock
//! only advances on I/O, so the work cannot time itself.
mod work;

use std::sync::OnceLock;
use wasm_bindgen::prelude::*;
use worker::js_sys::{self, Array, Uint8Array};
use worker::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(format: &str, key: &Uint8Array, alg: &JsValue, extractable: bool, usages: &Array) -> js_sys::Promise;
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify)]
    fn subtle_verify(alg: &JsValue, key: &JsValue, signature: &[u8], data: &[u8]) -> js_sys::Promise;
}

fn ed25519() -> JsValue {
    let alg = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&alg, &"name".into(), &"Ed25519".into());
    alg.into()
}

/// n verifies of `token` with WebCrypto: parse with jwt-compact (as Tessera does), then
/// `crypto.subtle.verify` over the signing input. Returns how many verified.
async fn verify_webcrypto_n(token: &str, key: &ed25519_compact::PublicKey, n: u32) -> std::result::Result<u32, JsValue> {
    let alg = ed25519();
    let usages = Array::of1(&"verify".into());
    let raw = Uint8Array::from(&key[..]);
    let crypto_key = worker::wasm_bindgen_futures::JsFuture::from(import_key("raw", &raw, &alg, false, &usages)).await?;
    let mut ok = 0;
    for _ in 0..n {
        let Some((message, signature)) = work::split_for_webcrypto(std::hint::black_box(token)) else { continue };
        let verified = worker::wasm_bindgen_futures::JsFuture::from(subtle_verify(&alg, &crypto_key, &signature, message.as_bytes())).await?;
        if verified.as_bool() == Some(true) && work::claims_ok(token) {
            ok += 1;
        }
    }
    Ok(ok)
}

static FIXTURE: OnceLock<(String, ed25519_compact::PublicKey)> = OnceLock::new();

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    match url.path() {
        "/noop" => Response::ok("ok"),
        "/pbkdf2" => {
            let alg = param(&url, "alg").unwrap_or_else(|| "sha256".into());
            let iterations: u32 = param(&url, "i").and_then(|s| s.parse().ok()).unwrap_or(600_000);
            match work::pbkdf2(&alg, iterations) {
                Some(out) => Response::ok(format!("{}", out.len())),
                None => Response::error("alg must be sha256 or sha512", 400),
            }
        }
        "/jwt" => {
            let n: u32 = param(&url, "n").and_then(|s| s.parse().ok()).unwrap_or(1);
            let (token, key) = FIXTURE.get_or_init(work::fixture);
            let ok = work::verify_n(token, key, n);
            if ok == n {
                Response::ok(format!("{ok}"))
            } else {
                Response::error(format!("only {ok} of {n} verified"), 500)
            }
        }
        "/jwt-webcrypto" => {
            let n: u32 = param(&url, "n").and_then(|s| s.parse().ok()).unwrap_or(1);
            let (token, key) = FIXTURE.get_or_init(work::fixture);
            match verify_webcrypto_n(token, key, n).await {
                Ok(ok) if ok == n => Response::ok(format!("{ok}")),
                Ok(ok) => Response::error(format!("only {ok} of {n} verified"), 500),
                Err(e) => Response::error(format!("WebCrypto: {e:?}"), 500),
            }
        }
        _ => Response::error("not found", 404),
    }
}
