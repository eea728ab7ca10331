//! One KV get per request: reads the key `bench:flag` from the FLAGS namespace and answers 200
//! with its value (404 when absent, which the harness counts as an error).
use worker::*;

#[event(fetch)]
async fn fetch(_req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match env.kv("FLAGS")?.get("bench:flag").text().await? {
        Some(value) => Response::ok(value),
        None => Response::error("missing", 404),
    }
}
