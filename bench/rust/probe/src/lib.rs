//! Bench-only probe worker (never deployed). Routes, all GET:
//!   /noop                          200, no work (the baseline the harness subtracts)
//!   /pbkdf2?alg=sha256&i=600000    one PBKDF2-HMAC derivation with the pbkdf2 crate
//!   /jwt?n=1000                    n Ed25519 JWT verifies with jwt-compact + ed25519-compact
//! The harness times requests from outside and subtracts /noop: inside a worker the clock
//! only advances on I/O, so the work cannot time itself.
mod work;

use std::sync::OnceLock;
use worker::*;

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
        _ => Response::error("not found", 404),
    }
}
