//! One KV get per request: reads the key `bench:flag` from the FLAGS namespace (`GET /`), or
//! the key named by the path (`GET /k/<key>`: the harness walks about a thousand distinct keys
//! with it, as cold introspection reads about a thousand distinct edge documents), and answers
//! 200 with its value (404 when absent, which the harness counts as an error).
use worker::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    // The raw URL string, not `req.path()`: parsing the URL would add work the reference
    // should not carry.
    let url = req.inner().url();
    let key = url.find("/k/").map_or("bench:flag", |i| &url[i + 3..]);
    match env.kv("FLAGS")?.get(key).text().await? {
        Some(value) => Response::ok(value),
        None => Response::error("missing", 404),
    }
}
