//! One KV get per request, three ways:
//! - `GET /` reads the key `bench:flag` from the FLAGS namespace (one key again and again);
//! - `GET /k/<key>` reads the named key from FLAGS (the harness walks about a thousand distinct
//!   keys with it, as cold introspection reads about a thousand distinct edge documents) and
//!   answers 404 when it is absent, which the harness counts as an error;
//! - `GET /m/<key>` reads the named key from EDGE, Tessera's own namespace, and answers 200
//!   with its value or with an empty body when it is absent: the harness walks the very edge
//!   documents cold introspection reads, in the same order (half of them absent), so the
//!   difference between the two is Tessera's own work, not the local KV's.
use worker::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    // The raw URL string, not `req.path()`: parsing the URL would add work the reference
    // should not carry.
    let url = req.inner().url();
    if let Some(i) = url.find("/m/") {
        let value = env.kv("EDGE")?.get(&url[i + 3..]).text().await?;
        return Response::ok(value.unwrap_or_default());
    }
    let key = url.find("/k/").map_or("bench:flag", |i| &url[i + 3..]);
    match env.kv("FLAGS")?.get(key).text().await? {
        Some(value) => Response::ok(value),
        None => Response::error("missing", 404),
    }
}
