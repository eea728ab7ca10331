//! One KV get per request, three ways:
//! - `GET /` reads the key `bench:flag` from the FLAGS namespace (one key again and again);
//! - `GET /k/<key>` reads the named key from FLAGS (the harness walks about a thousand distinct
//!   keys with it, as cold introspection reads about a thousand distinct edge documents) and
//!   answers 404 when it is absent, which the harness counts as an error;
//! - `GET /m/<key>` reads the named key from EDGE, Tessera's own namespace, and answers 200
//!   with its value or with an empty body when it is absent: the harness walks the very edge
//!   documents cold introspection reads, in the same order (half of them absent), so the
//!   difference between the two is not the local KV's. This is a plain workers-rs worker (the
//!   crate's Request, Env, KvStore and Response per request), whose wrappers Tessera's
//!   introspection path avoids: the difference is at least Tessera's own work (BENCHMARKS.md).
use worker::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    // The raw URL string, not `req.path()`: parsing the URL would add work the reference
    // should not carry.
    let url = req.inner().url();
    // The path: what follows the origin (`scheme://host[:port]`).
    let path = url
        .find("://")
        .and_then(|s| url[s + 3..].find('/').map(|p| &url[s + 3 + p..]))
        .unwrap_or("/");
    if let Some(key) = path.strip_prefix("/m/") {
        let value = env.kv("EDGE")?.get(key).text().await?;
        return Response::ok(value.unwrap_or_default());
    }
    let key = path.strip_prefix("/k/").unwrap_or("bench:flag");
    match env.kv("FLAGS")?.get(key).text().await? {
        Some(value) => Response::ok(value),
        None => Response::error("missing", 404),
    }
}
