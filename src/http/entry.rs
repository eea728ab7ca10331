//! The worker's entry point: resolve the route, build the context, run the handler, and turn
//! every error into a problem document. Nothing here panics on input.

use super::admin;
use super::context::Ctx;
use super::discovery;
use super::enduser;
use super::error::problem;
use super::members;
use super::rotation;
use super::routes::{resolve, RouteId};
use super::users;
use crate::domain::Error;
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
    let (route, params) = resolve(req.method().as_ref(), url.path())?;
    // Health and the OpenAPI document need no bindings: answer them even when D1 is missing.
    if matches!(route, RouteId::Health | RouteId::OpenApi) {
        return static_route(route);
    }
    let ctx = Ctx::for_request(env, url.origin().ascii_serialization(), &req)?;
    match route {
        RouteId::Health | RouteId::OpenApi => static_route(route),
        RouteId::Jwks => discovery::jwks(&ctx, &params).await,
        RouteId::OpenIdConfiguration => discovery::openid_configuration(&ctx, &params).await,
        RouteId::Signup => enduser::signup(&ctx, req, &params).await,
        RouteId::Signin => enduser::signin(&ctx, req, &params).await,
        RouteId::Refresh => enduser::refresh(&ctx, req, &params).await,
        RouteId::Signout => enduser::signout(&ctx, req, &params).await,
        RouteId::Me => enduser::me(&ctx, req, &params).await,
        RouteId::Introspect => enduser::introspect(&ctx, req, &params).await,
        RouteId::Revoke => enduser::revoke_token(&ctx, req, &params).await,
        RouteId::Bootstrap => admin::bootstrap(&ctx, req).await,
        RouteId::OperatorSignin => admin::operator_signin(&ctx, req).await,
        RouteId::CreateApp => admin::create_app(&ctx, req).await,
        RouteId::ListApps => admin::list_apps(&ctx, req).await,
        RouteId::GetApp => admin::get_app(&ctx, req, &params).await,
        RouteId::PatchApp => admin::patch_app(&ctx, req, &params).await,
        RouteId::RotateSigningKey => admin::rotate_signing_key(&ctx, req, &params).await,
        RouteId::InviteMember => members::invite(&ctx, req, &params).await,
        RouteId::AcceptInvite => members::accept(&ctx, req).await,
        RouteId::ListMembers => members::list(&ctx, req, &params).await,
        RouteId::PatchMember => members::patch(&ctx, req, &params).await,
        RouteId::Audit => members::audit(&ctx, req, &params).await,
        RouteId::CreateUser => users::create_user(&ctx, req, &params).await,
        RouteId::ListUsers => users::list_users(&ctx, req, &params).await,
        RouteId::GetUser => users::get_user(&ctx, req, &params).await,
        RouteId::PatchUser => users::patch_user(&ctx, req, &params).await,
        RouteId::SuspendUser => users::suspend(&ctx, req, &params).await,
        RouteId::UnsuspendUser => users::unsuspend(&ctx, req, &params).await,
        RouteId::PutUserRoles => users::put_user_roles(&ctx, req, &params).await,
        RouteId::AssociateUser => users::associate(&ctx, req, &params).await,
        RouteId::RevokeUserSessions => users::revoke_sessions(&ctx, req, &params).await,
        RouteId::GetMetadata => users::get_metadata(&ctx, req, &params).await,
        RouteId::PatchMetadata => users::patch_metadata(&ctx, req, &params).await,
        RouteId::PutRole => users::put_role(&ctx, req, &params).await,
        RouteId::ListRoles => users::list_roles(&ctx, req, &params).await,
        RouteId::PutPlan => users::put_plan(&ctx, req, &params).await,
        RouteId::RotateWebhookSecret => users::rotate_webhook_secret(&ctx, req, &params).await,
        RouteId::BillingWebhook => users::billing_webhook(&ctx, req, &params).await,
        RouteId::PutTenant => admin::put_tenant(&ctx, req, &params).await,
        RouteId::GetTenant => admin::get_tenant(&ctx, req, &params).await,
        RouteId::ListTenants => admin::list_tenants(&ctx, req, &params).await,
        RouteId::DeleteTenant => admin::delete_tenant(&ctx, req, &params).await,
        RouteId::CreateApiKey => admin::create_api_key(&ctx, req, &params).await,
        RouteId::ListApiKeys => admin::list_api_keys(&ctx, req, &params).await,
        RouteId::DeleteApiKey => admin::delete_api_key(&ctx, req, &params).await,
    }
}

fn static_route(route: RouteId) -> Result<Response, Error> {
    match route {
        RouteId::OpenApi => discovery::openapi(),
        _ => discovery::health(),
    }
}

/// The cron trigger of `wrangler.toml`: rotates signing keys that reached their age.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now_ms = event.schedule() as i64;
    let outcome = match Ctx::new(env, String::new(), now_ms) {
        Ok(ctx) => rotation::rotate_due_keys(&ctx).await,
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        console_error!("scheduled key rotation failed: {e:?}");
    }
}
