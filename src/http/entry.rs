//! The worker's entry points: resolve the route, build the use cases' context over the
//! bindings, run the handler, and turn every error into a problem document; and the cron
//! trigger. Nothing here panics on input.

use super::context::{Bindings, Frame};
use super::error::problem;
use super::routes::{resolve, RouteId};
use super::{api_keys, apps, audit, auth, billing, catalogue, discovery, members, oauth};
use super::{operators, tenants, users};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::service::keyring;
use worker::{
    console_error, event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    match handle(req, env).await {
        Ok(response) => Ok(response),
        Err(error) => problem(&error),
    }
}

async fn handle(req: Request, env: Env) -> Result<Response, Error> {
    let url = req
        .url()
        .map_err(|_| Error::validation("the request URL cannot be parsed"))?;
    // The method as received: `Request::method()` of the worker crate reads any method it does
    // not know (QUERY, PROPFIND, …) as GET, which would serve GET handlers for them.
    let (route, params) = resolve(&req.inner().method(), url.path())?;
    // Health and the OpenAPI document need no bindings: answer them even when D1 is missing.
    match route {
        RouteId::Health => return discovery::health(),
        RouteId::OpenApi => return discovery::openapi(),
        _ => {}
    }
    let frame = Frame::for_request(&env, &req, url.origin().ascii_serialization())?;
    let bindings = Bindings::of(&env)?;
    let cx = &frame.ctx(&bindings);
    let p = &params;
    match route {
        RouteId::Health => discovery::health(),
        RouteId::OpenApi => discovery::openapi(),
        RouteId::Jwks => discovery::jwks(cx, p).await,
        RouteId::OpenIdConfiguration => discovery::openid_configuration(cx, p).await,
        RouteId::Signup => auth::signup(cx, req, p).await,
        RouteId::Signin => auth::signin(cx, req, p).await,
        RouteId::Refresh => auth::refresh(cx, req, p).await,
        RouteId::Signout => auth::signout(cx, req, p).await,
        RouteId::Me => auth::me(cx, req, p).await,
        RouteId::Introspect => oauth::introspect(cx, req, p).await,
        RouteId::Revoke => oauth::revoke(cx, req, p).await,
        RouteId::Bootstrap => operators::bootstrap(cx, req).await,
        RouteId::OperatorSignin => operators::signin(cx, req).await,
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
        RouteId::DeleteTenant => tenants::delete(cx, req, p).await,
        RouteId::CreateApiKey => api_keys::create(cx, req, p).await,
        RouteId::ListApiKeys => api_keys::list(cx, req, p).await,
        RouteId::DeleteApiKey => api_keys::delete(cx, req, p).await,
    }
}

/// The cron trigger of `wrangler.toml`: rotates signing keys that reached their age.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = Timestamp::from_unix_ms(event.schedule() as i64);
    let outcome = async {
        let frame = Frame::at(&env, now)?;
        let bindings = Bindings::of(&env)?;
        keyring::rotate_due_keys(&frame.ctx(&bindings)).await
    }
    .await;
    if let Err(e) = outcome {
        console_error!("scheduled key rotation failed: {e:?}");
    }
}
