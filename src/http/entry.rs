//! The worker's entry points: resolve the route, build the use cases' context over the
//! bindings, run the handler, and turn every error into a problem document; and the cron
//! trigger. Nothing here panics on input.
//!
//! Routes come in two groups (`RouteId::at_edge`): the end users' and resource servers'
//! (`dispatch`, the hot ones in `handle`) and the rest (`administer`; the console and the
//! document in `handle`). One build answers both; the edge build (`--features edge`, a split
//! deployment's edge Worker) compiles only the first, forwards the rest unchanged to the full
//! Worker behind its `FULL` service binding (`forward`), and has no cron (the queue's
//! consumer, `queue`, is the full build's too).
//!
//! The fetch handler takes the runtime's request as it is (`RuntimeRequest`): introspection
//! reads it directly; every other route gets the worker crate's `Request`, made from it once
//! the route is known.

use super::console::{self, ConsoleFile};
use super::context::{isolate, name_test_instance, test_delay, Bindings, Ctx, Frame};
use super::error::problem;
use super::extract::RuntimeRequest;
use super::routes::{edge_routes, path_of, resolve, Params, RouteId};
use super::{
    account, api_keys, apps, audit, auth, authorization, billing, catalogue, deletions, discovery,
    email,
};
use super::{members, oauth, operators, recovery, tenants, thirdparty, users};
use crate::domain::deletion::Budget;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::service::{deletion, edge, keyring, maintenance};
use std::time::Duration;
use worker::worker_sys::web_sys;
use worker::{
    console_error, console_log, event, Context, Delay, Env, Request, Response, ScheduleContext,
    ScheduledEvent, Url,
};

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let response = match handle(RuntimeRequest::new(req), &env).await {
        Ok(response) => Ok(response),
        Err(error) => problem(&error).map(Into::into),
    };
    if let Ok(response) = &response {
        name_test_instance(&env, response);
    }
    retry_deferred_edge_writes(&env, &ctx);
    response
}

/// When a KV write of a mirrored document failed in this isolate (or was held back by KV's
/// one write per second per key), retries it after the response, past the per-key gap, with
/// back-off (1.1 s, 2.2 s, 4.4 s); what is still pending then is the cron's (`edge::sweep`).
/// One retry task per isolate at a time: later writes join the running one.
fn retry_deferred_edge_writes(env: &Env, ctx: &Context) {
    let Ok(isolate) = isolate(env) else { return };
    if !isolate.caches.edge.has_deferred() || !isolate.caches.edge.claim_retry() {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        for attempt in 0..3 {
            Delay::from(Duration::from_millis(1_100 << attempt)).await;
            let retried = async {
                let frame = Frame::at(&env, super::context::now())?;
                let bindings = Bindings::of(&env)?;
                Ok::<_, Error>(edge::retry_deferred(&frame.ctx(&bindings)).await)
            }
            .await;
            if !matches!(retried, Ok(n) if n > 0) {
                break;
            }
        }
        isolate.caches.edge.release_retry();
    });
}

/// The runtime's request in, the runtime's `Response` out: introspection reads the one and
/// builds the other directly; every other route takes the worker crate's `Request` and answers
/// a `worker::Response`, converted here.
async fn handle(mut req: RuntimeRequest, env: &Env) -> Result<web_sys::Response, Error> {
    // The path straight out of the runtime's URL when it is already canonical (nearly every
    // request); the full URL parser for anything else (dot segments, `%2e`, `\`, …).
    let url = req.inner().url();
    let parsed;
    let path = match path_of(&url) {
        Some(path) => path,
        None => {
            parsed = Url::parse(&url)
                .map_err(|_| Error::validation("the request URL cannot be parsed"))?;
            parsed.path()
        }
    };
    // The method as received: `Request::method()` of the worker crate reads any method it does
    // not know (QUERY, PROPFIND, …) as GET, which would serve GET handlers for them.
    let (route, params) = resolve(&req.inner().method(), path)?;
    // The edge build forwards what is not its own before it needs any configuration.
    #[cfg(feature = "edge")]
    if !route.at_edge() {
        return forward(env, req.inner()).await;
    }
    // Health, the OpenAPI document and the console need no storage and no configuration:
    // answered even when D1 is missing.
    match route {
        RouteId::Health => return discovery::health().map(Into::into),
        #[cfg(not(feature = "edge"))]
        RouteId::OpenApi => return discovery::openapi().map(Into::into),
        #[cfg(not(feature = "edge"))]
        RouteId::ConsoleRedirect => return console::redirect().map(Into::into),
        #[cfg(not(feature = "edge"))]
        RouteId::Console | RouteId::ConsoleAsset => {
            let file = if route == RouteId::Console {
                ConsoleFile::Page
            } else {
                ConsoleFile::Asset
            };
            return console::serve(env, req.into_request(), file)
                .await
                .map(Into::into);
        }
        _ => {}
    }
    let frame = Frame::for_request(env, &req)?;
    test_delay(env, &req).await;
    let bindings = Bindings::of(env)?;
    let cx = &frame.ctx(&bindings);
    // The edge's secret must be the full Worker's (the full Worker's cron records it).
    #[cfg(feature = "edge")]
    keyring::confirm_secret(cx).await?;
    let p = &params;
    // The hot paths are awaited here; every other route runs in `dispatch`, boxed: its state
    // machine holds the largest handler's state (every handler is inlined into one function
    // of hundreds of kilobytes), and introspection should neither allocate nor poll it.
    if route == RouteId::Introspect {
        return oauth::introspect(cx, &mut req, p).await;
    }
    let req = req.into_request();
    match route {
        RouteId::Me => auth::me(cx, req, p).await.map(Into::into),
        RouteId::Refresh => auth::refresh(cx, req, p).await.map(Into::into),
        RouteId::Jwks => discovery::jwks(cx, p).await.map(Into::into),
        #[cfg(not(feature = "edge"))]
        _ if !route.at_edge() => Box::pin(administer(cx, route, req, p))
            .await
            .map(Into::into),
        _ => Box::pin(dispatch(cx, route, req, p)).await.map(Into::into),
    }
}

/// The edge's routes (`RouteId::at_edge`) but the ones `handle` answers itself.
async fn dispatch(
    cx: &Ctx<'_>,
    route: RouteId,
    req: Request,
    p: &Params,
) -> Result<Response, Error> {
    match route {
        RouteId::OpenIdConfiguration => authorization::metadata(cx, p).await,
        RouteId::Signup => auth::signup(cx, req, p).await,
        RouteId::Signin => auth::signin(cx, req, p).await,
        RouteId::Signout => auth::signout(cx, req, p).await,
        RouteId::OAuthMetadata | RouteId::OAuthMetadataOidc => authorization::metadata(cx, p).await,
        RouteId::Token => authorization::token(cx, req, p).await,
        RouteId::Revoke => oauth::revoke(cx, req, p).await,
        RouteId::SendEmailVerification => recovery::send_verification(cx, req, p).await,
        RouteId::VerifyEmail => recovery::verify_email(cx, req, p).await,
        RouteId::SendPasswordReset => recovery::send_reset(cx, req, p).await,
        RouteId::ResetPassword => recovery::reset_password(cx, req, p).await,
        RouteId::PasswordlessStart => recovery::passwordless_start(cx, req, p).await,
        RouteId::PasswordlessConsume => recovery::passwordless_consume(cx, req, p).await,
        RouteId::ChangePassword => account::change_password(cx, req, p).await,
        RouteId::ListOwnSessions => account::sessions(cx, req, p).await,
        RouteId::EndOwnSession => account::end_session(cx, req, p).await,
        RouteId::LeaveTenant => account::leave(cx, req, p).await,
        RouteId::ThirdPartyStart => thirdparty::start(cx, req, p).await,
        RouteId::ThirdPartyCallback => thirdparty::callback(cx, req, p).await,
        _ => Err(Error::Internal(format!(
            "{route:?} is answered by `handle` or `administer`, not `dispatch`"
        ))),
    }
}

/// The edge Worker's service binding to the full Worker (`wrangler.edge.toml`).
#[cfg(feature = "edge")]
const FULL_WORKER: &str = "FULL";

/// The edge build (`--features edge`): a route that is not the edge's goes unchanged (method,
/// URL, headers, body) to the full Worker behind the `FULL` service binding, and its answer
/// comes back unchanged. A missing binding is a deployment error (500, logged); a full Worker
/// that cannot be reached answers 503.
#[cfg(feature = "edge")]
async fn forward(env: &Env, req: &web_sys::Request) -> Result<web_sys::Response, Error> {
    use worker::wasm_bindgen::JsCast;
    use worker::wasm_bindgen_futures::JsFuture;
    let full = env
        .service(FULL_WORKER)
        .map_err(|e| Error::Internal(format!("the {FULL_WORKER} service binding: {e}")))?
        .into_rpc::<worker::worker_sys::Fetcher>();
    let answer = async {
        JsFuture::from(full.fetch(req)?)
            .await?
            .dyn_into::<web_sys::Response>()
    };
    answer
        .await
        .map_err(|e| Error::Unavailable(format!("the full Worker: {e:?}")))
}

/// The full build's routes that are not the edge's (the operator API, the OAuth server's pages
/// and management) but the console and the document, which `handle` answers itself.
#[cfg(not(feature = "edge"))]
async fn administer(
    cx: &Ctx<'_>,
    route: RouteId,
    req: Request,
    p: &Params,
) -> Result<Response, Error> {
    match route {
        RouteId::Authorize => authorization::authorize(cx, req, p).await,
        RouteId::AuthorizeSubmit => authorization::submit(cx, req, p).await,
        RouteId::AuthorizeCallback => authorization::callback(cx, req, p).await,
        RouteId::Register => authorization::register(cx, req, p).await,
        RouteId::ListGrants => authorization::grants(cx, req, p).await,
        RouteId::RevokeGrant => authorization::revoke_grant(cx, req, p).await,
        RouteId::PutOAuthSettings => authorization::put_settings(cx, req, p).await,
        RouteId::GetOAuthSettings => authorization::get_settings(cx, req, p).await,
        RouteId::CreateClient => authorization::create_client(cx, req, p).await,
        RouteId::ListClients => authorization::list_clients(cx, req, p).await,
        RouteId::GetClient => authorization::get_client(cx, req, p).await,
        RouteId::PatchClient => authorization::patch_client(cx, req, p).await,
        RouteId::DeleteClient => authorization::delete_client(cx, req, p).await,
        RouteId::RotateClientSecret => authorization::rotate_client_secret(cx, req, p).await,
        RouteId::Bootstrap => operators::bootstrap(cx, req).await,
        RouteId::OperatorSignin => operators::signin(cx, req).await,
        RouteId::OperatorUnlock => operators::unlock(cx, req).await,
        RouteId::OperatorMe => operators::me(cx, req).await,
        RouteId::CreateApp => apps::create(cx, req).await,
        RouteId::ListApps => apps::list(cx, req).await,
        RouteId::GetApp => apps::get(cx, req, p).await,
        RouteId::PatchApp => apps::patch(cx, req, p).await,
        RouteId::RotateSigningKey => apps::rotate_signing_key(cx, req, p).await,
        RouteId::InviteMember => members::invite(cx, req, p).await,
        RouteId::AcceptInvite => members::accept(cx, req).await,
        RouteId::ListMembers => members::list(cx, req, p).await,
        RouteId::PatchMember => members::patch(cx, req, p).await,
        RouteId::Audit => audit::list(cx, req, p).await,
        RouteId::CreateUser => users::create(cx, req, p).await,
        RouteId::ListUsers => users::list(cx, req, p).await,
        RouteId::GetUser => users::get(cx, req, p).await,
        RouteId::PatchUser => users::patch(cx, req, p).await,
        RouteId::SuspendUser => users::suspend(cx, req, p).await,
        RouteId::UnsuspendUser => users::unsuspend(cx, req, p).await,
        RouteId::PutUserRoles => users::put_roles(cx, req, p).await,
        RouteId::AssociateUser => users::associate(cx, req, p).await,
        RouteId::RevokeUserSessions => users::revoke_sessions(cx, req, p).await,
        RouteId::GetMetadata => users::get_metadata(cx, req, p).await,
        RouteId::PatchMetadata => users::patch_metadata(cx, req, p).await,
        RouteId::PutRole => catalogue::put_role(cx, req, p).await,
        RouteId::ListRoles => catalogue::list_roles(cx, req, p).await,
        RouteId::PutPlan => catalogue::put_plan(cx, req, p).await,
        RouteId::RotateWebhookSecret => billing::rotate_secret(cx, req, p).await,
        RouteId::BillingWebhook => billing::webhook(cx, req, p).await,
        RouteId::PutTenant => tenants::put(cx, req, p).await,
        RouteId::GetTenant => tenants::get(cx, req, p).await,
        RouteId::ListTenants => tenants::list(cx, req, p).await,
        RouteId::DeleteTenant => deletions::delete_tenant(cx, req, p).await,
        RouteId::CreateApiKey => api_keys::create(cx, req, p).await,
        RouteId::ListApiKeys => api_keys::list(cx, req, p).await,
        RouteId::DeleteApiKey => api_keys::delete(cx, req, p).await,
        RouteId::SendOperatorPasswordReset => recovery::send_operator_reset(cx, req).await,
        RouteId::ResetOperatorPassword => recovery::reset_operator_password(cx, req).await,
        RouteId::PutEmailDelivery => email::put_delivery(cx, req, p).await,
        RouteId::GetEmailDelivery => email::get_delivery(cx, req, p).await,
        RouteId::ListDeadLetters => email::dead_letters(cx, req, p).await,
        RouteId::ListOutbox => email::outbox(cx, req, p).await,
        RouteId::PutProvider => thirdparty::put(cx, req, p).await,
        RouteId::GetProvider => thirdparty::get(cx, req, p).await,
        RouteId::ListProviders => thirdparty::list(cx, req, p).await,
        RouteId::DeleteProvider => thirdparty::delete(cx, req, p).await,
        RouteId::OperatorSignup => operators::signup(cx, req).await,
        RouteId::SendOperatorVerification => operators::send_verification(cx, req).await,
        RouteId::VerifyOperatorEmail => operators::verify_email(cx, req).await,
        RouteId::DeleteApp => deletions::delete_app(cx, req, p).await,
        RouteId::DeleteUser => deletions::delete_user(cx, req, p).await,
        RouteId::EraseUser => deletions::erase_user(cx, req, p).await,
        RouteId::GetDeletion => deletions::get(cx, req, p).await,
        RouteId::PutOperatorRole => members::put_role(cx, req, p).await,
        RouteId::ListOperatorRoles => members::list_roles(cx, req, p).await,
        RouteId::DeleteOperatorRole => members::delete_role(cx, req, p).await,
        // Exhaustive on purpose: a new route must be placed in one of the two groups.
        edge_routes!()
        | RouteId::OpenApi
        | RouteId::ConsoleRedirect
        | RouteId::Console
        | RouteId::ConsoleAsset => Err(Error::Internal(format!(
            "{route:?} is answered by `handle` or `dispatch`, not `administer`"
        ))),
    }
}

/// The cron expressions of `wrangler.toml` (keep them in step): every minute only the sweep;
/// daily also the signing-key rotation; any other trigger (every 30 minutes) also prunes.
#[cfg(not(feature = "edge"))]
const SWEEP_CRON: &str = "* * * * *";
#[cfg(not(feature = "edge"))]
const ROTATION_CRON: &str = "17 3 * * *";

/// The cron triggers of `wrangler.toml`. Every run sweeps the KV documents that do not yet say
/// what D1 holds (`edge::sweep`: cheap when nothing is pending, and safe to run concurrently —
/// leases — so a deployment with any one of the triggers still converges). Beyond the
/// every-minute one, a run also continues the deletions under way
/// (`service::deletion::resume`) and prunes what is past its use (the tables of
/// `service::maintenance`, and what email flows keep no longer: `service::email::prune`), and
/// the daily one rotates signing keys that reached their age (which rewrites every owner's
/// public keys in KV from D1).
// The full Worker runs the crons; the edge Worker has none.
#[cfg(not(feature = "edge"))]
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = Timestamp::from_unix_ms(event.schedule() as i64);
    let setup = Frame::at(&env, now).and_then(|frame| Ok((frame, Bindings::of(&env)?)));
    let (frame, bindings) = match setup {
        Ok(setup) => setup,
        Err(e) => {
            console_error!("scheduled jobs cannot start: {e:?}");
            return;
        }
    };
    let cx = frame.ctx(&bindings);
    // The deployment secret's fingerprint, which an edge Worker compares its own with.
    keyring::record_secret(&cx).await;
    let cron = event.cron();
    match edge::sweep(&cx, edge::SWEEP_BATCH).await {
        Ok(swept) if swept.pending > 0 => console_log!("KV sweep: {swept:?}"),
        Ok(_) => {}
        Err(e) => console_error!("scheduled KV sweep failed: {e:?}"),
    }
    if cron == SWEEP_CRON {
        return;
    }
    if cron == ROTATION_CRON {
        if let Err(e) = keyring::rotate_due_keys(&cx).await {
            console_error!("scheduled key rotation failed: {e:?}");
        }
    }
    match deletion::resume(&cx, Budget::CRON).await {
        Ok(finished) => console_log!("deletions finished: {finished}"),
        Err(e) => console_error!("scheduled deletions failed: {e:?}"),
    }
    match maintenance::prune(&cx).await {
        Ok(pruned) => console_log!("pruned: {pruned:?}"),
        Err(e) => console_error!("scheduled maintenance failed: {e:?}"),
    }
    if let Err(e) = crate::service::email::prune(&cx).await {
        console_error!("scheduled email clean-up failed: {e:?}");
    }
}
