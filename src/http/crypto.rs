//! The worker's `Verifier`: Ed25519 checked by the runtime's WebCrypto (`crypto.subtle`,
//! workerd's native code), called from Rust through wasm-bindgen. `make bench` measured it at
//! about a tenth of ed25519-compact compiled to wasm (`BENCHMARKS.md`, Costs). Only the
//! signature check moves: jwt-compact still signs, and `domain::token::parse_access` takes the
//! token apart. Imported keys are kept per isolate.
//! Should the runtime lack Ed25519, the check falls back to ed25519-compact (never to "valid").

use crate::domain::token::verify_ed25519;
use crate::domain::Error;
use crate::service::Verifier;
use ed25519_compact::PublicKey;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(
        format: &str,
        key: &Uint8Array,
        algorithm: &JsValue,
        extractable: bool,
        usages: &Array,
    ) -> Promise;
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Promise;
}

/// Imported keys kept at most (an app has a handful of live keys).
const MAX_KEYS: usize = 64;

thread_local! {
    static ALGORITHM: JsValue = {
        let algorithm = Object::new();
        let _ = Reflect::set(&algorithm, &"name".into(), &"Ed25519".into());
        algorithm.into()
    };
    static KEYS: RefCell<HashMap<[u8; 32], JsValue>> = RefCell::default();
    static UNSUPPORTED: Cell<bool> = const { Cell::new(false) };
}

/// Ed25519 through `crypto.subtle`.
pub struct WebCrypto;

async fn crypto_key(key: &PublicKey) -> Result<JsValue, JsValue> {
    let raw: [u8; 32] = **key;
    if let Some(found) = KEYS.with(|keys| keys.borrow().get(&raw).cloned()) {
        return Ok(found);
    }
    let algorithm = ALGORITHM.with(Clone::clone);
    let usages = Array::of1(&"verify".into());
    let imported = JsFuture::from(import_key(
        "raw",
        &Uint8Array::from(&raw[..]),
        &algorithm,
        false,
        &usages,
    ))
    .await?;
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(raw, imported.clone());
    });
    Ok(imported)
}

async fn web_verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<bool, JsValue> {
    let crypto_key = crypto_key(key).await?;
    let algorithm = ALGORITHM.with(Clone::clone);
    // Copies into JS memory: nothing the runtime holds points into the wasm memory.
    let verdict = JsFuture::from(subtle_verify(
        &algorithm,
        &crypto_key,
        &Uint8Array::from(signature),
        &Uint8Array::from(message),
    ))
    .await?;
    Ok(verdict.as_bool() == Some(true))
}

impl Verifier for WebCrypto {
    async fn verify_ed25519(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Error> {
        if !UNSUPPORTED.with(Cell::get) {
            match web_verify(key, message, signature).await {
                Ok(verdict) => return Ok(verdict),
                Err(e) => {
                    UNSUPPORTED.with(|u| u.set(true));
                    worker::console_error!(
                        "WebCrypto Ed25519 unavailable, verifying in wasm: {e:?}"
                    );
                }
            }
        }
        Ok(verify_ed25519(key, message, signature))
    }
}
