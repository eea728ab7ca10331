//! The runtime's ceiling: a Rust worker that answers 200 without touching any binding.
use worker::*;

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    Response::ok("ok")
}
