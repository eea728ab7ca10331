//! One KV get per request: reads the key `bench:flag` from the FLAGS namespace (`GET /`), or
//! the key named by the path (`GET /k/<key>`: the harness walks about a thousand distinct keys
//! with it, as cold introspection reads about a thousand distinct edge documents), and answers
//! 200 with its value (404 when absent, which the harness counts as an error).
use worker::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let key = path.strip_prefix("/k/").unwrap_or("bench:flag");
    match env.kv("FLAGS")?.get(key).text().await? {
        Some(value) => Response::ok(value),
        None => Response::error("missing", 404),
    }
}
