//! The worker's side of a use case's `Ctx`: the D1, KV and queue bindings behind the port traits,
//! the deployment's configuration (read once per isolate), the isolate's caches, the clock,
//! the platform's randomness and its console.
//!
//! This is the only place that reads `Env`. Missing vars fall back to documented defaults;
//! malformed ones are an internal error, so a typo in `wrangler.toml` is noticed rather than
//! silently ignored. The test-only switches (`TESSERA_TEST_CLOCK`, which also enables the
//! panic, delay and instance headers, and `TESSERA_TEST_PBKDF2_ITERATIONS`) are compiled in
//! only with the `test-hooks` feature: the build that is deployed cannot honour them, whatever
//! its variables say.

use super::crypto::WebCrypto;
use super::extract::Incoming;
use crate::domain::delivery::DEFAULT_RETRY_BASE_SECONDS;
use crate::domain::links::WebUrl;
use crate::domain::origin::parse_origin;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::service::{Caches, Config, OsRandom, Stores};
use crate::store::d1::worker::D1Store;
use crate::store::kv::worker::WorkerKv;
use crate::store::kv::KvEdge;
use crate::store::queue::WorkerQueue;
use js_sys::Object;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{console_error, Env};

/// The worker's adapters: D1, KV and the email queue.
pub struct Live;

impl Stores for Live {
    type Db = D1Store;
    type Edge = KvEdge<WorkerKv>;
    type Verifier = WebCrypto;
    type Queue = WorkerQueue;
}

/// The service context of the worker.
pub type Ctx<'a> = crate::service::Ctx<'a, Live>;

/// What lives as long as the isolate: the parsed configuration and the caches.
pub struct Isolate {
    pub config: Config,
    pub caches: Caches,
    /// `ISSUER_ORIGIN`: the public origin of every issuer, discovery document and link — never
    /// the request's `Host`, which a client chooses.
    pub issuer_origin: String,
}

thread_local! {
    static ISOLATE: OnceCell<&'static Isolate> = const { OnceCell::new() };
}

/// The isolate's configuration and caches, reading the configuration from `env` the first time.
pub fn isolate(env: &Env) -> Result<&'static Isolate, Error> {
    if let Some(isolate) = ISOLATE.with(|i| i.get().copied()) {
        return Ok(isolate);
    }
    let issuer_origin = env
        .var("ISSUER_ORIGIN")
        .map(|v| v.to_string())
        .map_err(|_| Error::Internal("the var ISSUER_ORIGIN is not set".to_owned()))
        .and_then(|raw| {
            parse_origin(&raw)
                .map_err(|e| Error::Internal(format!("the var ISSUER_ORIGIN is invalid: {e}")))
        })?;
    let isolate: &'static Isolate = Box::leak(Box::new(Isolate {
        config: read_config(env)?,
        caches: Caches::default(),
        issuer_origin,
    }));
    ISOLATE.with(|i| {
        // A concurrent request of this isolate may have set it meanwhile: keep the first.
        let _ = i.set(isolate);
        Ok(*i.get().unwrap_or(&isolate))
    })
}

/// A secret (or, locally, a var) by name; `None` when unset or empty.
fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .or_else(|_| env.var(name))
        .ok()
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
}

/// A numeric var, or `default` when unset.
fn number_var(env: &Env, name: &str, default: i64) -> Result<i64, Error> {
    match env.var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .to_string()
            .trim()
            .parse()
            .map_err(|_| Error::Internal(format!("var {name} is not a whole number"))),
    }
}

fn read_config(env: &Env) -> Result<Config, Error> {
    let mut config = Config::with_secret(secret(env, "KEY_ENCRYPTION_SECRET").unwrap_or_default());
    config.admin_root_token = secret(env, "ADMIN_ROOT_TOKEN");
    config.operator_token_ttl_seconds = number_var(env, "OPERATOR_TOKEN_TTL_SECONDS", 900)?;
    config.jwks_max_age_seconds = number_var(env, "JWKS_MAX_AGE_SECONDS", 300)?;
    config.cache_ttl_seconds = number_var(env, "TENANCY_CACHE_TTL_SECONDS", 30)?;
    config.operator_key_rotation_days = number_var(env, "OPERATOR_KEY_ROTATION_DAYS", 30)?;
    config.audit_retention_days = number_var(env, "AUDIT_RETENTION_DAYS", 365)?;
    let retry_base = number_var(
        env,
        "EMAIL_RETRY_BASE_SECONDS",
        i64::from(DEFAULT_RETRY_BASE_SECONDS),
    )?;
    config.email_retry_base_seconds = u32::try_from(retry_base)
        .ok()
        .filter(|s| *s <= 3600)
        .ok_or_else(|| Error::Internal("EMAIL_RETRY_BASE_SECONDS must be 0 to 3600".into()))?;
    config.operator_link_base_url = match env.var("OPERATOR_LINK_BASE_URL") {
        Err(_) => None,
        Ok(v) => Some(WebUrl::parse_link_base(v.to_string().trim()).map_err(|_| {
            Error::Internal("OPERATOR_LINK_BASE_URL is not an https (or loopback) URL".into())
        })?),
    };
    config.operator_signup_open = match env.var("OPERATOR_SIGNUP") {
        Err(_) => false,
        Ok(v) => match v.to_string().trim() {
            "open" => true,
            "" | "closed" => false,
            _ => {
                return Err(Error::Internal(
                    "OPERATOR_SIGNUP must be open or closed".into(),
                ))
            }
        },
    };
    config.test_pbkdf2_iterations = test_hooks::pbkdf2_iterations(env)?;
    Ok(config)
}

/// The storage bindings, shared by every request of an isolate (`Bindings::of`): they must
/// hold handles only, never per-request state.
pub struct Bindings {
    pub db: D1Store,
    pub edge: KvEdge<WorkerKv>,
    pub queue: WorkerQueue,
}

thread_local! {
    /// The bindings of the last `env` seen, with it: the runtime hands an isolate the same
    /// `env` object request after request, and looking the bindings up again costs about
    /// fifteen calls into JS (property reads, constructor names) on every request.
    static BINDINGS: RefCell<Option<(JsValue, Rc<Bindings>)>> = const { RefCell::new(None) };
}

impl Bindings {
    /// The `DB`, `FLAGS` and `EMAIL_QUEUE` bindings of `env` (looked up once per `env`
    /// object). A missing `DB` is `503 unavailable`; a missing `FLAGS` makes every KV call
    /// fail (introspection then fails closed), a missing `EMAIL_QUEUE` every send (flows that
    /// send answer `503`).
    pub fn of(env: &Env) -> Result<Rc<Self>, Error> {
        let this: &JsValue = env.as_ref();
        let known = BINDINGS.with(|b| {
            b.borrow()
                .as_ref()
                .filter(|(seen, _)| Object::is(seen, this))
                .map(|(_, bindings)| Rc::clone(bindings))
        });
        if let Some(bindings) = known {
            return Ok(bindings);
        }
        let bindings = Rc::new(Self::look_up(env)?);
        BINDINGS.with(|b| *b.borrow_mut() = Some((this.clone(), Rc::clone(&bindings))));
        Ok(bindings)
    }

    fn look_up(env: &Env) -> Result<Self, Error> {
        let db = env
            .d1("DB")
            .map_err(|e| Error::Unavailable(format!("binding DB: {e}")))?;
        Ok(Bindings {
            db: D1Store::from_d1(db),
            edge: KvEdge::new(WorkerKv::new(env.kv("FLAGS").map_err(|e| e.to_string()))),
            queue: WorkerQueue::new(env.queue("EMAIL_QUEUE").map_err(|e| e.to_string())),
        })
    }
}

/// The `ASSETS` binding: the console's static files (`[assets]` in `wrangler.toml`), if this
/// deployment has them.
pub fn console_assets(env: &Env) -> Option<worker::Fetcher> {
    env.assets("ASSETS").ok()
}

/// Reports a failure that does not fail the request.
fn log(message: &str) {
    console_error!("{message}");
}

/// The platform's CSPRNG (`crypto.getRandomValues`).
static RANDOM: OsRandom = OsRandom;

/// Everything but the bindings: built per request and borrowed by the `Ctx`.
pub struct Frame {
    pub now: Timestamp,
    pub isolate: &'static Isolate,
}

impl Frame {
    /// The frame of a request: its time (the test clock when the `test-hooks` build is told to
    /// take it from a header).
    pub fn for_request(env: &Env, req: &impl Incoming) -> Result<Self, Error> {
        test_hooks::panic_if_asked(env, req);
        Ok(Frame {
            now: test_hooks::request_time(env, req)?.unwrap_or_else(now),
            isolate: isolate(env)?,
        })
    }

    /// The frame of a queue batch: the platform clock (the test clock is a request header,
    /// and a batch has no request).
    pub fn for_batch(env: &Env) -> Result<Self, Error> {
        Frame::at(env, now())
    }

    /// The frame of a scheduled event at `now`.
    pub fn at(env: &Env, now: Timestamp) -> Result<Self, Error> {
        Ok(Frame {
            now,
            isolate: isolate(env)?,
        })
    }

    /// The use cases' context over `bindings`.
    pub fn ctx<'a>(&'a self, bindings: &'a Bindings) -> Ctx<'a> {
        crate::service::Ctx {
            db: &bindings.db,
            edge: &bindings.edge,
            verifier: &WebCrypto,
            queue: &bindings.queue,
            now: self.now,
            origin: &self.isolate.issuer_origin,
            config: &self.isolate.config,
            caches: &self.isolate.caches,
            random: &RANDOM,
            log,
        }
    }
}

/// The platform clock.
pub fn now() -> Timestamp {
    Timestamp::from_unix_ms(js_sys::Date::now() as i64)
}

/// The specs' build names the wasm instance that answered on each response
/// (`X-Tessera-Test-Instance`, with the test hooks on); every other build does nothing.
pub fn name_test_instance(env: &Env, response: &worker::worker_sys::web_sys::Response) {
    test_hooks::name_instance(env, response);
}

/// The specs' build holds a request when asked (`X-Tessera-Test-Delay-Ms`, with the test hooks
/// on); every other build does nothing.
pub async fn test_delay(env: &Env, req: &impl Incoming) {
    test_hooks::delay_if_asked(env, req).await;
}

/// Test-only switches, compiled in only with the `test-hooks` feature (the Miniflare specs'
/// build). Without it they answer "not set" (and never panic), whatever the environment holds.
#[cfg(feature = "test-hooks")]
mod test_hooks {
    use super::Incoming;
    use crate::domain::time::Timestamp;
    use crate::domain::Error;
    use worker::worker_sys::web_sys;
    use worker::Env;

    /// Header that sets the request's clock when `TESSERA_TEST_CLOCK` is `header`.
    const TEST_CLOCK_HEADER: &str = "X-Tessera-Test-Now-Ms";

    /// Header that makes the request panic when `TESSERA_TEST_CLOCK` is `header`: the specs
    /// prove the isolate recovers (a fresh wasm instance for the next request).
    const TEST_PANIC_HEADER: &str = "X-Tessera-Test-Panic";

    fn enabled(env: &Env) -> bool {
        env.var("TESSERA_TEST_CLOCK")
            .is_ok_and(|v| v.to_string() == "header")
    }

    pub fn panic_if_asked(env: &Env, req: &impl Incoming) {
        if enabled(env) && req.header(TEST_PANIC_HEADER).is_some() {
            panic!("{TEST_PANIC_HEADER}: a panic on request");
        }
    }

    /// Header that holds the request this many milliseconds (a timer: a JavaScript callback
    /// into the wasm) before it is answered, when the hooks are on: the specs make another
    /// request panic meanwhile.
    const TEST_DELAY_HEADER: &str = "X-Tessera-Test-Delay-Ms";

    pub async fn delay_if_asked(env: &Env, req: &impl Incoming) {
        let asked = req.header(TEST_DELAY_HEADER);
        if let Some(ms) = asked
            .filter(|_| enabled(env))
            .and_then(|v| v.parse::<u64>().ok())
        {
            worker::Delay::from(std::time::Duration::from_millis(ms.min(5_000))).await;
        }
    }

    /// Header naming the wasm instance that answered: random per instance (its memory holds
    /// it), so the specs can tell a fresh instance after a panic from the one that panicked.
    const TEST_INSTANCE_HEADER: &str = "X-Tessera-Test-Instance";

    thread_local! {
        static INSTANCE: String = {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).unwrap_or_default();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
    }

    /// Names the instance on `response` when the hooks are on (a response whose headers are
    /// immutable, such as one forwarded from another Worker, is left as it is).
    pub fn name_instance(env: &Env, response: &web_sys::Response) {
        if enabled(env) {
            INSTANCE.with(|id| {
                let _ = response.headers().set(TEST_INSTANCE_HEADER, id);
            });
        }
    }

    pub fn request_time(env: &Env, req: &impl Incoming) -> Result<Option<Timestamp>, Error> {
        if !enabled(env) {
            return Ok(None);
        }
        match req.header(TEST_CLOCK_HEADER) {
            None => Ok(None),
            Some(at) => at
                .parse()
                .map(Timestamp::from_unix_ms)
                .map(Some)
                .map_err(|_| Error::validation(format!("{TEST_CLOCK_HEADER} is not a number"))),
        }
    }

    pub fn pbkdf2_iterations(env: &Env) -> Result<Option<u32>, Error> {
        match env.var("TESSERA_TEST_PBKDF2_ITERATIONS") {
            Err(_) => Ok(None),
            Ok(v) => v.to_string().parse().map(Some).map_err(|_| {
                Error::Internal("TESSERA_TEST_PBKDF2_ITERATIONS is not a number".into())
            }),
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
mod test_hooks {
    use super::Incoming;
    use crate::domain::time::Timestamp;
    use crate::domain::Error;
    use worker::Env;

    pub fn request_time(_: &Env, _: &impl Incoming) -> Result<Option<Timestamp>, Error> {
        Ok(None)
    }

    pub fn panic_if_asked(_: &Env, _: &impl Incoming) {}

    pub fn name_instance(_: &Env, _: &worker::worker_sys::web_sys::Response) {}

    pub async fn delay_if_asked(_: &Env, _: &impl Incoming) {}

    pub fn pbkdf2_iterations(_: &Env) -> Result<Option<u32>, Error> {
        Ok(None)
    }
}
