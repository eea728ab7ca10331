//! The route table: every path the worker serves, in one place.
//!
//! Pure and compiled on every target, so that a native test can check that the OpenAPI
//! document (`openapi.json` beside this file) describes exactly these routes. The wasm32
//! dispatcher maps each `RouteId` to its handler; a path that matches no template is
//! `404 not_found`, a known path with another method `405 method_not_allowed`.

use crate::domain::Error;
use std::collections::HashMap;

/// Names the handler of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    Health,
    OpenApi,
    Jwks,
    OpenIdConfiguration,
    Signup,
    Signin,
    Refresh,
    Signout,
    Me,
    Introspect,
    Revoke,
    Bootstrap,
    OperatorSignin,
    OperatorUnlock,
    OperatorMe,
    CreateApp,
    ListApps,
    GetApp,
    PatchApp,
    RotateSigningKey,
    InviteMember,
    AcceptInvite,
    ListMembers,
    PatchMember,
    Audit,
    CreateUser,
    ListUsers,
    GetUser,
    PatchUser,
    SuspendUser,
    UnsuspendUser,
    PutUserRoles,
    AssociateUser,
    RevokeUserSessions,
    GetMetadata,
    PatchMetadata,
    PutRole,
    ListRoles,
    PutPlan,
    RotateWebhookSecret,
    BillingWebhook,
    PutTenant,
    GetTenant,
    ListTenants,
    DeleteTenant,
    CreateApiKey,
    ListApiKeys,
    DeleteApiKey,
    SendEmailVerification,
    VerifyEmail,
    SendPasswordReset,
    ResetPassword,
    PasswordlessStart,
    PasswordlessConsume,
    ChangePassword,
    ListOwnSessions,
    EndOwnSession,
    LeaveTenant,
    SendOperatorPasswordReset,
    ResetOperatorPassword,
    PutEmailDelivery,
    GetEmailDelivery,
    ListDeadLetters,
    ListOutbox,
    PutProvider,
    GetProvider,
    ListProviders,
    DeleteProvider,
    ThirdPartyStart,
    ThirdPartyCallback,
    OperatorSignup,
    SendOperatorVerification,
    VerifyOperatorEmail,
    DeleteApp,
    DeleteUser,
    EraseUser,
    GetDeletion,
    PutOperatorRole,
    ListOperatorRoles,
    DeleteOperatorRole,
    ConsoleRedirect,
    Console,
    ConsoleAsset,
    OAuthMetadata,
    OAuthMetadataOidc,
    Authorize,
    AuthorizeSubmit,
    AuthorizeCallback,
    Token,
    PutOAuthSettings,
    GetOAuthSettings,
    CreateClient,
    ListClients,
    GetClient,
    PatchClient,
    DeleteClient,
    RotateClientSecret,
    Register,
    ListGrants,
    RevokeGrant,
}

/// The routes the edge Worker answers itself, as a pattern (`RouteId::at_edge`; the full
/// build's dispatch matches the rest exhaustively with it).
macro_rules! edge_routes {
    () => {
        $crate::http::routes::RouteId::Health
            | $crate::http::routes::RouteId::Jwks
            | $crate::http::routes::RouteId::OpenIdConfiguration
            | $crate::http::routes::RouteId::OAuthMetadata
            | $crate::http::routes::RouteId::OAuthMetadataOidc
            | $crate::http::routes::RouteId::Signup
            | $crate::http::routes::RouteId::Signin
            | $crate::http::routes::RouteId::Refresh
            | $crate::http::routes::RouteId::Signout
            | $crate::http::routes::RouteId::Me
            | $crate::http::routes::RouteId::LeaveTenant
            | $crate::http::routes::RouteId::Introspect
            | $crate::http::routes::RouteId::Revoke
            | $crate::http::routes::RouteId::Token
            | $crate::http::routes::RouteId::SendEmailVerification
            | $crate::http::routes::RouteId::VerifyEmail
            | $crate::http::routes::RouteId::SendPasswordReset
            | $crate::http::routes::RouteId::ResetPassword
            | $crate::http::routes::RouteId::PasswordlessStart
            | $crate::http::routes::RouteId::PasswordlessConsume
            | $crate::http::routes::RouteId::ChangePassword
            | $crate::http::routes::RouteId::ListOwnSessions
            | $crate::http::routes::RouteId::EndOwnSession
            | $crate::http::routes::RouteId::ThirdPartyStart
            | $crate::http::routes::RouteId::ThirdPartyCallback
    };
}
// Used by the wasm32 dispatcher (`entry`).
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_imports))]
pub(crate) use edge_routes;

impl RouteId {
    /// Whether the edge Worker answers this route itself (the `edge` build, `wrangler.edge.toml`):
    /// what end users and resource servers call on every sign-in and every request — health,
    /// keys and discovery, sign-up, sign-in, refresh, sign-out, introspection, revocation, the
    /// token endpoint, recovery and passwordless, the account's own routes and third-party
    /// sign-in. Everything else — the operator API under `/admin`, the console, `/openapi.json`,
    /// the OAuth server's pages, client registration and management, grants, and the billing
    /// webhook — the edge Worker forwards unchanged to the full Worker behind its `FULL`
    /// service binding, so the wasm at the edge carries none of their code. A single Worker
    /// (`wrangler.toml`) answers every route itself, through the same two groups.
    pub const fn at_edge(self) -> bool {
        matches!(self, edge_routes!())
    }
}

/// Every route: handler, method, path template (`{name}` matches one segment).
pub const ROUTES: &[(RouteId, &str, &str)] = &[
    (RouteId::Health, "GET", "/healthz"),
    (RouteId::OpenApi, "GET", "/openapi.json"),
    // The operators' console (`http::console`): the page and its hashed assets.
    (RouteId::ConsoleRedirect, "GET", "/console"),
    (RouteId::Console, "GET", "/console/"),
    (RouteId::ConsoleAsset, "GET", "/console/assets/{file}"),
    (RouteId::Jwks, "GET", "/apps/{app_id}/.well-known/jwks.json"),
    (
        RouteId::OpenIdConfiguration,
        "GET",
        "/apps/{app_id}/tenants/{tenant_id}/.well-known/openid-configuration",
    ),
    (
        RouteId::Signup,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/signup",
    ),
    (
        RouteId::Signin,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/signin",
    ),
    (
        RouteId::Refresh,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/refresh",
    ),
    (
        RouteId::Signout,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/signout",
    ),
    (
        RouteId::Me,
        "GET",
        "/apps/{app_id}/tenants/{tenant_id}/auth/me",
    ),
    (
        RouteId::LeaveTenant,
        "DELETE",
        "/apps/{app_id}/tenants/{tenant_id}/auth/me",
    ),
    (
        RouteId::SendEmailVerification,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/email-verification/send",
    ),
    (
        RouteId::VerifyEmail,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/email-verification/verify",
    ),
    (
        RouteId::SendPasswordReset,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/password-reset/send",
    ),
    (
        RouteId::ResetPassword,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/password-reset",
    ),
    (
        RouteId::PasswordlessStart,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/passwordless/start",
    ),
    (
        RouteId::PasswordlessConsume,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/passwordless/consume",
    ),
    (
        RouteId::ChangePassword,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/password",
    ),
    (
        RouteId::ListOwnSessions,
        "GET",
        "/apps/{app_id}/tenants/{tenant_id}/auth/sessions",
    ),
    (
        RouteId::EndOwnSession,
        "DELETE",
        "/apps/{app_id}/tenants/{tenant_id}/auth/sessions/{session_id}",
    ),
    (
        RouteId::ThirdPartyStart,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/thirdparty/{provider_id}/start",
    ),
    (
        RouteId::ThirdPartyCallback,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/auth/thirdparty/{provider_id}/callback",
    ),
    (
        RouteId::Introspect,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/oauth/introspect",
    ),
    (
        RouteId::Revoke,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/oauth/revoke",
    ),
    (
        RouteId::BillingWebhook,
        "POST",
        "/apps/{app_id}/webhooks/billing",
    ),
    (RouteId::Bootstrap, "POST", "/admin/bootstrap"),
    (RouteId::OperatorSignin, "POST", "/admin/auth/signin"),
    (RouteId::OperatorUnlock, "POST", "/admin/auth/unlock"),
    (RouteId::OperatorMe, "GET", "/admin/me"),
    (
        RouteId::SendOperatorPasswordReset,
        "POST",
        "/admin/auth/password-reset/send",
    ),
    (
        RouteId::ResetOperatorPassword,
        "POST",
        "/admin/auth/password-reset",
    ),
    (RouteId::OperatorSignup, "POST", "/admin/signup"),
    (
        RouteId::SendOperatorVerification,
        "POST",
        "/admin/auth/email-verification/send",
    ),
    (
        RouteId::VerifyOperatorEmail,
        "POST",
        "/admin/auth/email-verification/verify",
    ),
    (RouteId::CreateApp, "POST", "/admin/apps"),
    (RouteId::ListApps, "GET", "/admin/apps"),
    (RouteId::GetApp, "GET", "/admin/apps/{app_id}"),
    (RouteId::PatchApp, "PATCH", "/admin/apps/{app_id}"),
    (RouteId::DeleteApp, "DELETE", "/admin/apps/{app_id}"),
    (
        RouteId::GetDeletion,
        "GET",
        "/admin/apps/{app_id}/deletions/{deletion_id}",
    ),
    (
        RouteId::ListOperatorRoles,
        "GET",
        "/admin/apps/{app_id}/operator-roles",
    ),
    (
        RouteId::PutOperatorRole,
        "PUT",
        "/admin/apps/{app_id}/operator-roles/{role}",
    ),
    (
        RouteId::DeleteOperatorRole,
        "DELETE",
        "/admin/apps/{app_id}/operator-roles/{role}",
    ),
    (
        RouteId::RotateSigningKey,
        "POST",
        "/admin/apps/{app_id}/signing-keys/rotate",
    ),
    (
        RouteId::InviteMember,
        "POST",
        "/admin/apps/{app_id}/members",
    ),
    (RouteId::ListMembers, "GET", "/admin/apps/{app_id}/members"),
    (
        RouteId::PatchMember,
        "PATCH",
        "/admin/apps/{app_id}/members/{member_id}",
    ),
    (RouteId::AcceptInvite, "POST", "/admin/invites/accept"),
    (RouteId::Audit, "GET", "/admin/apps/{app_id}/audit"),
    (RouteId::PutRole, "PUT", "/admin/apps/{app_id}/roles/{role}"),
    (RouteId::ListRoles, "GET", "/admin/apps/{app_id}/roles"),
    (
        RouteId::PutPlan,
        "PUT",
        "/admin/apps/{app_id}/plans/{plan_tier}",
    ),
    (
        RouteId::RotateWebhookSecret,
        "POST",
        "/admin/apps/{app_id}/webhook-secret",
    ),
    (
        RouteId::PutEmailDelivery,
        "PUT",
        "/admin/apps/{app_id}/email-delivery",
    ),
    (
        RouteId::GetEmailDelivery,
        "GET",
        "/admin/apps/{app_id}/email-delivery",
    ),
    (
        RouteId::ListDeadLetters,
        "GET",
        "/admin/apps/{app_id}/email-delivery/dead-letters",
    ),
    (RouteId::ListOutbox, "GET", "/admin/apps/{app_id}/outbox"),
    (
        RouteId::EraseUser,
        "DELETE",
        "/admin/apps/{app_id}/users/{user_id}",
    ),
    (
        RouteId::GetMetadata,
        "GET",
        "/admin/apps/{app_id}/users/{user_id}/metadata",
    ),
    (
        RouteId::PatchMetadata,
        "PATCH",
        "/admin/apps/{app_id}/users/{user_id}/metadata",
    ),
    (
        RouteId::CreateUser,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users",
    ),
    (
        RouteId::ListUsers,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users",
    ),
    (
        RouteId::GetUser,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}",
    ),
    (
        RouteId::PatchUser,
        "PATCH",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}",
    ),
    (
        RouteId::DeleteUser,
        "DELETE",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}",
    ),
    (
        RouteId::SuspendUser,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/suspend",
    ),
    (
        RouteId::UnsuspendUser,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/unsuspend",
    ),
    (
        RouteId::PutUserRoles,
        "PUT",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/roles",
    ),
    (
        RouteId::AssociateUser,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/associate",
    ),
    (
        RouteId::RevokeUserSessions,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/users/{user_id}/sessions/revoke",
    ),
    (RouteId::ListTenants, "GET", "/admin/apps/{app_id}/tenants"),
    (
        RouteId::PutTenant,
        "PUT",
        "/admin/apps/{app_id}/tenants/{tenant_id}",
    ),
    (
        RouteId::GetTenant,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}",
    ),
    (
        RouteId::DeleteTenant,
        "DELETE",
        "/admin/apps/{app_id}/tenants/{tenant_id}",
    ),
    (
        RouteId::CreateApiKey,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/api-keys",
    ),
    (
        RouteId::ListApiKeys,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/api-keys",
    ),
    (
        RouteId::DeleteApiKey,
        "DELETE",
        "/admin/apps/{app_id}/tenants/{tenant_id}/api-keys/{key_id}",
    ),
    (
        RouteId::ListProviders,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/providers",
    ),
    (
        RouteId::PutProvider,
        "PUT",
        "/admin/apps/{app_id}/tenants/{tenant_id}/providers/{provider_id}",
    ),
    (
        RouteId::GetProvider,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/providers/{provider_id}",
    ),
    (
        RouteId::DeleteProvider,
        "DELETE",
        "/admin/apps/{app_id}/tenants/{tenant_id}/providers/{provider_id}",
    ),
    // The OAuth 2.1 authorization server of each tenant (`http::authorization`).
    (
        RouteId::OAuthMetadata,
        "GET",
        "/.well-known/oauth-authorization-server/apps/{app_id}/tenants/{tenant_id}",
    ),
    (
        RouteId::OAuthMetadataOidc,
        "GET",
        "/.well-known/openid-configuration/apps/{app_id}/tenants/{tenant_id}",
    ),
    (
        RouteId::Authorize,
        "GET",
        "/apps/{app_id}/tenants/{tenant_id}/oauth/authorize",
    ),
    (
        RouteId::AuthorizeSubmit,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/oauth/authorize",
    ),
    (
        RouteId::AuthorizeCallback,
        "GET",
        "/apps/{app_id}/tenants/{tenant_id}/oauth/callback",
    ),
    (
        RouteId::Token,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/oauth/token",
    ),
    (
        RouteId::Register,
        "POST",
        "/apps/{app_id}/tenants/{tenant_id}/oauth/register",
    ),
    (
        RouteId::ListGrants,
        "GET",
        "/apps/{app_id}/tenants/{tenant_id}/auth/grants",
    ),
    (
        RouteId::RevokeGrant,
        "DELETE",
        "/apps/{app_id}/tenants/{tenant_id}/auth/grants/{client_id}",
    ),
    (
        RouteId::PutOAuthSettings,
        "PUT",
        "/admin/apps/{app_id}/tenants/{tenant_id}/oauth",
    ),
    (
        RouteId::GetOAuthSettings,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/oauth",
    ),
    (
        RouteId::CreateClient,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/clients",
    ),
    (
        RouteId::ListClients,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/clients",
    ),
    (
        RouteId::GetClient,
        "GET",
        "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}",
    ),
    (
        RouteId::PatchClient,
        "PATCH",
        "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}",
    ),
    (
        RouteId::DeleteClient,
        "DELETE",
        "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}",
    ),
    (
        RouteId::RotateClientSecret,
        "POST",
        "/admin/apps/{app_id}/tenants/{tenant_id}/clients/{client_id}/secret",
    ),
];

/// The raw values of a matched template's `{name}` segments (not yet validated).
pub type Params = HashMap<&'static str, String>;

/// The segments of `path` paired with the template's, each template parameter with its name;
/// `None` when the path does not fit the template (a parameter never binds an empty segment).
/// Nothing is allocated: the router tries every template on every request, and only the one
/// that matches collects its parameters.
fn match_template<'p>(
    template: &'static str,
    path: &'p str,
) -> Option<impl Iterator<Item = (&'static str, &'p str)>> {
    let mut segments = path.split('/');
    for expected in template.split('/') {
        let actual = segments.next()?;
        let fits = match parameter(expected) {
            Some(_) => !actual.is_empty(),
            None => expected == actual,
        };
        if !fits {
            return None;
        }
    }
    if segments.next().is_some() {
        return None;
    }
    Some(
        template
            .split('/')
            .zip(path.split('/'))
            .filter_map(|(expected, actual)| parameter(expected).map(|name| (name, actual))),
    )
}

/// The name of a template segment `{name}`.
fn parameter(segment: &'static str) -> Option<&'static str> {
    segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
}

/// The number of `/` in `text` (a template's or a path's depth), usable in constants.
const fn depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'/' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The depth of each template of `ROUTES`, in order: most templates are skipped on it alone.
const DEPTHS: [usize; ROUTES.len()] = {
    let mut depths = [0; ROUTES.len()];
    let mut i = 0;
    while i < ROUTES.len() {
        depths[i] = depth(ROUTES[i].2);
        i += 1;
    }
    depths
};

/// Whether `template` may match a path of `path_depth` segments ending in `last`: the depths
/// are equal and, when the template ends in a literal, it is `last`. A cheap filter before
/// `match_template`, which decides.
fn may_match(template: &'static str, template_depth: usize, path_depth: usize, last: &str) -> bool {
    template_depth == path_depth
        && template
            .rsplit('/')
            .next()
            .is_none_or(|end| parameter(end).is_some() || end == last)
}

/// The path of an absolute URL as the runtime hands it over (`request.url`), when that path
/// is already in the form a WHATWG URL parser would give it: the text between the authority
/// and the query or fragment, made only of characters the parser leaves alone, with no `.` or
/// `..` segment and no `%2e`. `None` otherwise — a path to resolve with a full URL parser
/// (the caller does). Runtimes differ here: Miniflare re-serialises the URL with the WHATWG
/// parser, while workerd's own listener keeps `%2e%2e`, `\` and raw non-ASCII as received, so
/// trusting an uncanonical path would route differently from the parser. Parsing the whole
/// URL on every request cost more than routing; the router needs only this.
pub fn path_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let tail = &rest[rest.find(['/', '?', '#']).unwrap_or(rest.len())..];
    let path = &tail[..tail.find(['?', '#']).unwrap_or(tail.len())];
    if path.is_empty() {
        return Some("/");
    }
    // (A non-empty `path` starts with `/`: `tail` begins at the first `/`, `?` or `#`.)
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b))
        && !path
            .as_bytes()
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'e'))
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    plain.then_some(path)
}

/// Finds the route for `method` and `path`. `HEAD` is served as `GET`.
pub fn resolve(method: &str, path: &str) -> Result<(RouteId, Params), Error> {
    let path_depth = depth(path);
    let last = path.rsplit('/').next().unwrap_or(path);
    resolve_among(method, path, |template, template_depth| {
        may_match(template, template_depth, path_depth, last)
    })
}

/// `resolve` over the templates `candidate` (given each template and its depth) keeps.
fn resolve_among(
    method: &str,
    path: &str,
    candidate: impl Fn(&'static str, usize) -> bool,
) -> Result<(RouteId, Params), Error> {
    let method = if method == "HEAD" { "GET" } else { method };
    let mut allowed = Vec::new();
    for ((id, route_method, template), template_depth) in ROUTES.iter().zip(DEPTHS) {
        if !candidate(template, template_depth) {
            continue;
        }
        if let Some(params) = match_template(template, path) {
            if *route_method == method {
                let params = params
                    .map(|(name, value)| (name, value.to_owned()))
                    .collect();
                return Ok((*id, params));
            }
            allowed.push(*route_method);
        }
    }
    if allowed.is_empty() {
        Err(Error::RouteNotFound)
    } else {
        Err(Error::MethodNotAllowed(allowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The router before its depth and last-segment filter: every template, in order.
    fn resolve_unfiltered(method: &str, path: &str) -> Result<(RouteId, Params), Error> {
        resolve_among(method, path, |_, _| true)
    }

    #[test]
    fn the_edge_serves_end_users_and_forwards_operators() {
        for (id, method, template) in ROUTES {
            let operator_only = template.starts_with("/admin")
                || template.starts_with("/console")
                || *template == "/openapi.json"
                || [
                    "/oauth/authorize",
                    "/oauth/callback",
                    "/oauth/register",
                    "/auth/grants",
                ]
                .iter()
                .any(|page| template.contains(page))
                || template.contains("/webhooks/");
            assert!(
                !(operator_only && id.at_edge()),
                "{method} {template} must be forwarded to the full Worker"
            );
        }
        for hot in [
            RouteId::Introspect,
            RouteId::Me,
            RouteId::Refresh,
            RouteId::Jwks,
        ] {
            assert!(hot.at_edge(), "{hot:?} must be answered at the edge");
        }
    }

    #[test]
    fn the_filter_changes_no_answer() {
        let mut paths = vec![
            String::new(),
            "/".to_owned(),
            "//".to_owned(),
            "/apps".to_owned(),
            "/apps/a/tenants//auth/me".to_owned(),
        ];
        for (_, _, template) in ROUTES {
            let filled: Vec<String> = template
                .split('/')
                .map(|s| {
                    if parameter(s).is_some() {
                        "x".to_owned()
                    } else {
                        s.to_owned()
                    }
                })
                .collect();
            let path = filled.join("/");
            paths.push(format!("{path}/"));
            paths.push(format!("{path}/extra"));
            paths.push(path.replace("/x", "/"));
            paths.push(format!(
                "{}/other",
                path.rsplit_once('/').map_or("", |(a, _)| a)
            ));
            paths.push(path);
        }
        for path in &paths {
            for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "QUERY"] {
                assert_eq!(
                    resolve(method, path),
                    resolve_unfiltered(method, path),
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn the_path_of_a_serialised_url_is_what_lies_between_authority_and_query() {
        let cases = [
            (
                "https://auth.example/apps/a/tenants/t/oauth/introspect",
                "/apps/a/tenants/t/oauth/introspect",
            ),
            ("http://127.0.0.1:8787/healthz?x=1#f", "/healthz"),
            ("http://h/", "/"),
            ("http://h?q", "/"),
            ("http://h#f", "/"),
            ("http://user:p%40ss@[::1]:1/a%2Fb/c?d/e", "/a%2Fb/c"),
            ("http://h/a?b#c/d", "/a"),
            ("http://h/a#b?c", "/a"),
            ("http://h/a..b/.c/d.", "/a..b/.c/d."),
        ];
        for (url, path) in cases {
            assert_eq!(path_of(url), Some(path), "{url}");
            assert_eq!(url::Url::parse(url).unwrap().path(), path, "{url}");
        }
        assert_eq!(path_of("not a url"), None);
    }

    #[test]
    fn hosts_are_ascii_and_a_host_needing_idna_mapping_is_refused_by_the_parser() {
        // `idna_adapter` is held at 1.0.0 (Cargo.toml): the URL parser keeps ASCII and punycode
        // hosts, and refuses a host that would need Unicode mapping instead of compiling the
        // IDNA tables into the wasm. Handlers that read the URL answer such a request 400;
        // the router's fast path (`path_of`) reads the path only, and no handler uses the host.
        let ascii = url::Url::parse("https://Auth.Example:8443/apps/a?x=1").unwrap();
        assert_eq!(ascii.host_str(), Some("auth.example"));
        let punycode = url::Url::parse("https://xn--bcher-kva.example/p").unwrap();
        assert_eq!(punycode.host_str(), Some("xn--bcher-kva.example"));
        assert!(url::Url::parse("https://bücher.example/p").is_err());
        assert!(url::Url::parse("https://ＡＵＴＨ.example/p").is_err());
        // Not a host: IP literals and paths with non-ASCII characters are unaffected.
        assert!(url::Url::parse("http://[::1]:1/caf%C3%A9").is_ok());
        assert_eq!(path_of("http://h/café"), None);
    }

    #[test]
    fn a_path_the_parser_would_change_is_left_to_the_parser() {
        // What workerd's own listener may hand over as received: dot segments (plain or
        // percent-encoded), backslashes, characters the WHATWG parser percent-encodes.
        for url in [
            "http://h/apps/public/x/%2e%2e/.well-known/jwks.json",
            "http://h/admin/apps/%2E",
            "http://h/a/./b",
            "http://h/a/..",
            "http://h/admin\\apps",
            "http://h/apps/a\"b",
            "http://h/apps/\u{e9}",
            "http://h/a b",
            "http://h/a{b}",
            "http://h/a^b",
            "http://h/a|b",
        ] {
            assert_eq!(path_of(url), None, "{url}");
        }
    }

    proptest::proptest! {
        /// Whenever `path_of` answers, it answers what a WHATWG URL parser says; and it does
        /// answer for the parser's own serialisation of a plain path (the fast path is taken).
        #[test]
        fn path_of_agrees_with_the_url_parser(
            path in "(/(\\.|\\.\\.|[a-z.]{0,3}|%2[eE]|%2f|[\\\\\"'~^|{}@:;=+$,!*()\\[\\] ]|\u{e9}){0,2}){0,5}",
            query in "(\\?[a-z/?#:]{0,6})?(#[a-z/?#]{0,4})?",
        ) {
            let url = format!("http://h.example:1{path}{query}");
            if let (Some(mine), Ok(parsed)) = (path_of(&url), url::Url::parse(&url)) {
                proptest::prop_assert_eq!(mine, parsed.path(), "{}", url);
            }
            if let Ok(parsed) = url::Url::parse(&url) {
                if parsed.path().bytes().all(|b| b.is_ascii_lowercase() || b == b'/') {
                    proptest::prop_assert_eq!(path_of(parsed.as_str()), Some(parsed.path()));
                }
            }
        }
    }

    #[test]
    fn templates_bind_their_segments() {
        let (id, params) = resolve("DELETE", "/admin/apps/shop/tenants/acme/api-keys/k1").unwrap();
        assert_eq!(id, RouteId::DeleteApiKey);
        assert_eq!(params["app_id"], "shop");
        assert_eq!(params["tenant_id"], "acme");
        assert_eq!(params["key_id"], "k1");
    }

    #[test]
    fn unknown_paths_are_not_found_and_wrong_methods_list_the_allowed_ones() {
        assert_eq!(resolve("GET", "/nope"), Err(Error::RouteNotFound));
        assert_eq!(resolve("GET", "/healthz/"), Err(Error::RouteNotFound));
        assert_eq!(
            resolve("GET", "/admin/apps//tenants"),
            Err(Error::RouteNotFound)
        );
        assert_eq!(
            resolve("POST", "/admin/apps/shop/tenants/acme"),
            Err(Error::MethodNotAllowed(vec!["PUT", "GET", "DELETE"]))
        );
        assert_eq!(resolve("HEAD", "/healthz").unwrap().0, RouteId::Health);
    }

    #[test]
    fn the_console_is_its_page_and_its_assets_only() {
        assert_eq!(
            resolve("GET", "/console").unwrap().0,
            RouteId::ConsoleRedirect
        );
        assert_eq!(resolve("GET", "/console/").unwrap().0, RouteId::Console);
        let (id, params) = resolve("GET", "/console/assets/index-abc.js").unwrap();
        assert_eq!(id, RouteId::ConsoleAsset);
        assert_eq!(params["file"], "index-abc.js");
        assert_eq!(
            resolve("GET", "/console/index.html"),
            Err(Error::RouteNotFound)
        );
        assert_eq!(
            resolve("GET", "/console/assets/a/b.js"),
            Err(Error::RouteNotFound)
        );
        assert_eq!(
            resolve("POST", "/console/"),
            Err(Error::MethodNotAllowed(vec!["GET"]))
        );
    }
}
