//! Response bodies as typed structs: the wire names of `API.md`, checked by the compiler, and
//! by `tests/openapi.rs` against the schemas of `/openapi.json` (`Documented`). Built from the
//! domain values the use cases return. Pure and compiled on every target.

use crate::domain::audit::AuditRecord;
use crate::domain::authz::Grant;
use crate::domain::client_assertion::ClientKeys;
use crate::domain::deletion::{Deletion, State as DeletionState};
use crate::domain::delivery::{DeadLetter, Delivery, Message};
use crate::domain::jose::JwsAlgorithm;
use crate::domain::member::Member;
use crate::domain::names::{PlanTier, RoleName, UserPermission};
use crate::domain::oauth::{Client, OAuthSettings, Registration};
use crate::domain::operator::Operator;
use crate::domain::page::Page;
use crate::domain::policy::Plan;
use crate::domain::policy::{Effective, UserFlags};
use crate::domain::session::{Session, SessionId};
use crate::domain::tenancy::{ApiKey, App, AppSettings, Tenant};
use crate::domain::thirdparty::Provider;
use crate::service::cache::VerifiedToken;
use crate::service::members::RoleView;
use crate::service::operators::{Myself, OperatorToken};
use crate::service::sessions::IssuedSession;
use crate::service::users::EndUser;
use serde::Serialize;
use serde_json::Value;

/// A body whose fields are a component schema of `/openapi.json`; `example` is a value with
/// every optional field present, so a test can compare the serialized keys with the schema.
pub trait Documented: Serialize {
    /// The name under `components.schemas`.
    const SCHEMA: &'static str;
    /// A value with every field set.
    fn example() -> Self;
}

/// `user`: an end user as one tenant sees it.
#[derive(Debug, Clone, Serialize)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub tenant_id: String,
    pub status: &'static str,
    pub plan_tier: PlanTier,
    pub roles: Vec<RoleName>,
    pub permissions: Vec<UserPermission>,
    pub rate_limit: Option<i64>,
    pub email_verified: bool,
    /// `emailpassword`, `passwordless`, `thirdparty:<provider_id>`.
    pub methods: Vec<String>,
    pub created_at: String,
}

impl From<&EndUser> for UserBody {
    fn from(user: &EndUser) -> Self {
        let face = &user.face;
        UserBody {
            id: face.user_id.to_string(),
            email: face.email.to_string(),
            tenant_id: face.tenant_id.to_string(),
            status: face.status.as_str(),
            plan_tier: face.plan_tier.clone(),
            roles: user.effective.roles.clone(),
            permissions: user.effective.permissions.clone(),
            rate_limit: user.effective.rate_limit,
            email_verified: user.email_verified,
            methods: face.method_names(&user.methods),
            created_at: face.created_at.rfc3339(),
        }
    }
}

/// `user` as the admin user endpoints show it: what the user sees, plus what an operator sets
/// by hand — the roles assigned to it (`roles` adds the plan's) and its rate-limit override
/// (`rate_limit` is the effective one) — so a client can edit those without taking the plan's
/// part for its own.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedUserBody {
    #[serde(flatten)]
    pub user: UserBody,
    pub assigned_roles: Vec<RoleName>,
    pub rate_limit_override: Option<i64>,
}

impl From<&EndUser> for ManagedUserBody {
    fn from(user: &EndUser) -> Self {
        ManagedUserBody {
            user: user.into(),
            assigned_roles: user.face.roles.clone(),
            rate_limit_override: user.face.rate_limit_override,
        }
    }
}

/// `{"user"}` of the admin user endpoints.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedUserEnvelope {
    pub user: ManagedUserBody,
}

/// `session`: what a client keeps after sign-up, sign-in or refresh.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct SessionBody {
    pub session_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

impl From<&IssuedSession> for SessionBody {
    fn from(s: &IssuedSession) -> Self {
        SessionBody {
            session_id: s.session_id.to_string(),
            access_token: s.access_token.clone(),
            refresh_token: s.refresh_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: s.expires_in,
        }
    }
}

/// `{"user", "session"}` of sign-up and sign-in.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct UserAndSession {
    pub user: UserBody,
    pub session: SessionBody,
}

/// `{"session"}` of refresh.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct SessionEnvelope {
    pub session: SessionBody,
}

/// `{"user"}`.
#[derive(Debug, Clone, Serialize)]
pub struct UserEnvelope {
    pub user: UserBody,
}

impl From<&EndUser> for UserEnvelope {
    fn from(user: &EndUser) -> Self {
        UserEnvelope { user: user.into() }
    }
}

/// An active token at `/oauth/introspect` (RFC 7662 plus the user's state). The token's
/// strings are borrowed from the verified token the isolate holds, the state is moved in:
/// nothing is copied on the hot path.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveIntrospection<'a> {
    pub active: bool,
    pub token_type: &'static str,
    pub sub: &'a str,
    pub app_id: &'a str,
    pub tenant_id: &'a str,
    pub sid: &'a str,
    pub iss: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub status: &'static str,
    pub plan_tier: PlanTier,
    pub rate_limit: Option<i64>,
    pub roles: Vec<RoleName>,
    pub permissions: Vec<UserPermission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
}

impl<'a> ActiveIntrospection<'a> {
    /// The answer for `active`, whose verified token outlives it.
    pub fn new(token: &'a VerifiedToken, flags: UserFlags, effective: Effective) -> Self {
        let claims = &token.claims;
        ActiveIntrospection {
            active: true,
            token_type: "access_token",
            sub: &claims.sub,
            app_id: &claims.app,
            tenant_id: &claims.tid,
            sid: &claims.sid,
            iss: &claims.iss,
            iat: token.iat,
            exp: token.exp,
            status: flags.status.as_str(),
            plan_tier: flags.plan_tier,
            rate_limit: effective.rate_limit,
            roles: effective.roles,
            permissions: effective.permissions,
            client_id: claims.client_id.as_deref(),
            scope: claims.scope.as_deref(),
            aud: claims.aud.as_deref(),
        }
    }
}

/// An active `client_credentials` token: its subject is the client; no session, no user.
#[derive(Debug, Clone, Serialize)]
pub struct ClientIntrospection<'a> {
    pub active: bool,
    pub token_type: &'static str,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub aud: &'a str,
    pub app_id: &'a str,
    pub tenant_id: &'a str,
    pub iss: &'a str,
    pub iat: i64,
    pub exp: i64,
}

impl<'a> ClientIntrospection<'a> {
    /// The answer for a verified `client_credentials` token.
    pub fn new(token: &'a VerifiedToken) -> Self {
        let claims = &token.claims;
        ClientIntrospection {
            active: true,
            token_type: "access_token",
            sub: &claims.sub,
            client_id: claims.client_id.as_deref().unwrap_or(""),
            scope: claims.scope.as_deref().unwrap_or(""),
            aud: claims.aud.as_deref().unwrap_or(""),
            app_id: &claims.app,
            tenant_id: &claims.tid,
            iss: &claims.iss,
            iat: token.iat,
            exp: token.exp,
        }
    }
}

impl Documented for ClientIntrospection<'static> {
    const SCHEMA: &'static str = "Introspection";
    fn example() -> Self {
        ClientIntrospection {
            active: true,
            token_type: "access_token",
            sub: "tsc_AAAAAAAAAAAAAAAAAAAAAA",
            client_id: "tsc_AAAAAAAAAAAAAAAAAAAAAA",
            scope: "files:read",
            aud: "https://t.example/apps/shop/tenants/acme",
            app_id: "shop",
            tenant_id: "acme",
            iss: "https://t.example/apps/shop/tenants/acme",
            iat: 0,
            exp: 900,
        }
    }
}

/// Every inactive token: exactly `{"active": false}`.
#[derive(Debug, Clone, Serialize)]
pub struct InactiveIntrospection {
    pub active: bool,
}

/// An RFC 9457 problem document: the stable `code` and a detail safe to show.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
}

impl Documented for Problem {
    const SCHEMA: &'static str = "Problem";
    fn example() -> Self {
        Problem {
            kind: "urn:tessera:problem:forbidden".into(),
            title: "Forbidden",
            status: 403,
            code: "forbidden",
            detail: "the credentials lack the needed permission".into(),
        }
    }
}

/// `{}`.
#[derive(Debug, Clone, Serialize)]
pub struct Empty {}

/// `{"status": "ok"}` and the billing webhook's `{"status": "applied" | "duplicate"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub status: &'static str,
}

/// An operator account (never its password hash).
#[derive(Debug, Clone, Serialize)]
pub struct OperatorBody {
    pub id: String,
    pub email: String,
    pub is_platform_owner: bool,
    /// Whether the operator proved its email (`/admin/auth/email-verification/verify`).
    pub email_verified: bool,
    pub created_at: String,
}

impl From<&Operator> for OperatorBody {
    fn from(o: &Operator) -> Self {
        OperatorBody {
            id: o.id.to_string(),
            email: o.email.to_string(),
            is_platform_owner: o.is_platform_owner,
            email_verified: o.email_verified_at.is_some(),
            created_at: o.created_at.rfc3339(),
        }
    }
}

/// `{"operator"}`.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorEnvelope {
    pub operator: OperatorBody,
}

/// One membership of the caller (`GET /admin/me`): where it acts, its lifecycle, its roles
/// and the permissions they bind that are usable now (granted only while `status` is
/// `active`; while the app waits for its owner's email, only its settings).
#[derive(Debug, Clone, Serialize)]
pub struct MembershipBody {
    pub app_id: String,
    /// `null`: the whole app.
    pub tenant_id: Option<String>,
    pub status: &'static str,
    pub roles: Vec<String>,
    pub permissions: Vec<&'static str>,
    /// The app was made by operator sign-up and its owner has not verified their email: every
    /// permission but its settings answers `403 app_not_verified` until then.
    pub app_not_verified: bool,
}

impl From<&Grant> for MembershipBody {
    fn from(g: &Grant) -> Self {
        MembershipBody {
            app_id: g.app_id.to_string(),
            tenant_id: g.tenant_id.as_ref().map(|t| t.to_string()),
            status: g.status.as_str(),
            roles: g.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            permissions: g.usable_permissions().iter().map(|p| p.as_str()).collect(),
            app_not_verified: g.app_pending,
        }
    }
}

/// `{"operator", "memberships"}`: the caller of `GET /admin/me`.
#[derive(Debug, Clone, Serialize)]
pub struct MeBody {
    pub operator: OperatorBody,
    pub memberships: Vec<MembershipBody>,
}

impl From<&Myself> for MeBody {
    fn from(me: &Myself) -> Self {
        MeBody {
            operator: (&me.operator).into(),
            memberships: me.memberships.iter().map(MembershipBody::from).collect(),
        }
    }
}

/// An operator access token.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct OperatorTokenBody {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

impl From<OperatorToken> for OperatorTokenBody {
    fn from(t: OperatorToken) -> Self {
        OperatorTokenBody {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
        }
    }
}

/// An app and its settings.
#[derive(Debug, Clone, Serialize)]
pub struct AppBody {
    pub id: String,
    pub settings: AppSettings,
    /// `active`, or `pending_verification` while an app made by operator sign-up waits for its
    /// owner's email (only its settings can be used).
    pub status: &'static str,
    pub created_at: String,
}

impl From<&App> for AppBody {
    fn from(app: &App) -> Self {
        AppBody {
            id: app.id.to_string(),
            settings: app.settings.clone(),
            status: if app.pending_verification {
                "pending_verification"
            } else {
                "active"
            },
            created_at: app.created_at.rfc3339(),
        }
    }
}

/// `{"app"}`.
#[derive(Debug, Clone, Serialize)]
pub struct AppEnvelope {
    pub app: AppBody,
}

/// `{"operator", "app"}` of operator sign-up.
#[derive(Debug, Clone, Serialize)]
pub struct SignedUpBody {
    pub operator: OperatorBody,
    pub app: AppBody,
}

/// An operator role: built-in, or defined by the app.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorRoleBody {
    pub name: String,
    pub permissions: Vec<&'static str>,
    pub built_in: bool,
}

impl From<&RoleView> for OperatorRoleBody {
    fn from(r: &RoleView) -> Self {
        OperatorRoleBody {
            name: r.name.clone(),
            permissions: r.permissions.iter().map(|p| p.as_str()).collect(),
            built_in: r.built_in,
        }
    }
}

/// `{"role"}` of an operator role.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorRoleEnvelope {
    pub role: OperatorRoleBody,
}

/// How far a deletion got.
#[derive(Debug, Clone, Serialize)]
pub struct DeletionProgress {
    /// The phase it is in (`null` once done): `api_keys`, `revocations`, `sessions`, `users`,
    /// `flags`, `email`, `throttle`, `members`, `catalogue`, `billing`, `audit`,
    /// `signing_keys`, `tenants`, `row`.
    pub phase: Option<&'static str>,
    pub phases_done: usize,
    pub phases_total: usize,
    /// Rows deleted (or audit entries rewritten) so far.
    pub rows_deleted: i64,
}

/// A deletion of an app, a tenant or a user (never naming the user).
#[derive(Debug, Clone, Serialize)]
pub struct DeletionBody {
    pub id: String,
    /// `app`, `tenant` or `user`.
    pub kind: &'static str,
    pub app_id: String,
    pub tenant_id: Option<String>,
    /// `running` or `done`.
    pub state: &'static str,
    pub progress: DeletionProgress,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl From<&Deletion> for DeletionBody {
    fn from(d: &Deletion) -> Self {
        DeletionBody {
            id: d.id.to_string(),
            kind: d.kind.as_str(),
            app_id: d.app_id.to_string(),
            tenant_id: d.tenant_id.as_ref().map(|t| t.to_string()),
            state: d.state.as_str(),
            progress: DeletionProgress {
                phase: match d.state {
                    DeletionState::Running => d.current_phase().map(|p| p.as_str()),
                    DeletionState::Done => None,
                },
                phases_done: d.phase.min(d.phases_total()),
                phases_total: d.phases_total(),
                rows_deleted: d.deleted,
            },
            created_at: d.created_at.rfc3339(),
            updated_at: d.updated_at.rfc3339(),
            finished_at: d.finished_at.map(|t| t.rfc3339()),
        }
    }
}

/// `{"deletion"}`.
#[derive(Debug, Clone, Serialize)]
pub struct DeletionEnvelope {
    pub deletion: DeletionBody,
}

/// A tenant and its login methods.
#[derive(Debug, Clone, Serialize)]
pub struct TenantBody {
    pub id: String,
    pub app_id: String,
    pub login_methods: Vec<&'static str>,
    pub link_base_url: Option<String>,
    pub redirect_uris: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Tenant> for TenantBody {
    fn from(t: &Tenant) -> Self {
        TenantBody {
            id: t.id.to_string(),
            app_id: t.app_id.to_string(),
            login_methods: t.login_methods.iter().map(|m| m.as_str()).collect(),
            link_base_url: t.link_base_url.as_ref().map(|u| u.to_string()),
            redirect_uris: t.redirect_uris.iter().map(|u| u.to_string()).collect(),
            created_at: t.created_at.rfc3339(),
            updated_at: t.updated_at.rfc3339(),
        }
    }
}

/// `{"tenant"}`.
#[derive(Debug, Clone, Serialize)]
pub struct TenantEnvelope {
    pub tenant: TenantBody,
}

/// An API key without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyBody {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub name: String,
    pub scopes: Vec<&'static str>,
    pub created_at: String,
}

impl From<&ApiKey> for ApiKeyBody {
    fn from(k: &ApiKey) -> Self {
        ApiKeyBody {
            id: k.id.to_string(),
            app_id: k.app_id.to_string(),
            tenant_id: k.tenant_id.to_string(),
            name: k.name.as_str().to_owned(),
            scopes: k.scopes.iter().map(|s| s.as_str()).collect(),
            created_at: k.created_at.rfc3339(),
        }
    }
}

/// A new API key with its secret (`key`), shown this once.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct ApiKeyWithSecret {
    #[serde(flatten)]
    pub body: ApiKeyBody,
    pub key: String,
}

/// A membership of an operator in an app.
#[derive(Debug, Clone, Serialize)]
pub struct MemberBody {
    pub id: String,
    pub app_id: String,
    pub email: String,
    pub operator_id: Option<String>,
    pub tenant_id: Option<String>,
    pub membership_type: &'static str,
    pub roles: Vec<String>,
    pub status: &'static str,
    /// `bootstrap`, `invite`, `signup` or `scim`.
    pub source: &'static str,
    pub invite_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Member> for MemberBody {
    fn from(m: &Member) -> Self {
        MemberBody {
            id: m.id.to_string(),
            app_id: m.app_id.to_string(),
            email: m.email.to_string(),
            operator_id: m.operator_id.map(|id| id.to_string()),
            tenant_id: m.tenant_id.as_ref().map(|t| t.to_string()),
            membership_type: m.membership_type.as_str(),
            roles: m.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            status: m.status.as_str(),
            source: m.source.as_str(),
            invite_expires_at: m.invite_expires_at.map(|t| t.rfc3339()),
            created_at: m.created_at.rfc3339(),
            updated_at: m.updated_at.rfc3339(),
        }
    }
}

/// `{"member"}`, and after accepting an invitation that created the operator, `"operator"`.
#[derive(Debug, Clone, Serialize)]
pub struct MemberEnvelope {
    pub member: MemberBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorBody>,
}

/// `{"member", "invite_token"}`: the invitation, its token shown this once.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct Invited {
    pub member: MemberBody,
    pub invite_token: String,
}

/// One audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditBody {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub action: &'static str,
    pub target: String,
    pub tenant_id: Option<String>,
    pub detail: Value,
}

impl From<&AuditRecord> for AuditBody {
    fn from(e: &AuditRecord) -> Self {
        AuditBody {
            id: e.id.to_string(),
            at: e.at.rfc3339(),
            actor: e.actor.clone(),
            action: e.action.as_str(),
            target: e.target.clone(),
            tenant_id: e.tenant_id.as_ref().map(|t| t.to_string()),
            detail: e.detail.clone(),
        }
    }
}

/// An end-user role and its permissions.
#[derive(Debug, Clone, Serialize)]
pub struct RoleBody {
    pub name: RoleName,
    pub permissions: Vec<UserPermission>,
}

/// `{"role"}`.
#[derive(Debug, Clone, Serialize)]
pub struct RoleEnvelope {
    pub role: RoleBody,
}

/// A plan: its roles and default rate limit.
#[derive(Debug, Clone, Serialize)]
pub struct PlanBody {
    pub tier: PlanTier,
    pub roles: Vec<RoleName>,
    pub rate_limit: Option<i64>,
}

impl PlanBody {
    /// The plan `plan` under `tier`.
    pub fn new(tier: PlanTier, plan: Plan) -> Self {
        PlanBody {
            tier,
            roles: plan.roles,
            rate_limit: plan.rate_limit,
        }
    }
}

/// `{"plan"}`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEnvelope {
    pub plan: PlanBody,
}

/// `{"metadata"}`: a user's metadata object.
#[derive(Debug, Clone, Serialize)]
pub struct MetadataEnvelope {
    pub metadata: Value,
}

/// `{"secret"}`: a webhook secret, shown this once.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct SecretEnvelope {
    pub secret: String,
}

/// `{"revoked": n}`.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub revoked: usize,
}

/// `{"kid", "activates_at"}` of a rotated-in signing key.
#[derive(Debug, Clone, Serialize)]
pub struct RotatedKeyBody {
    pub kid: String,
    pub activates_at: String,
}

/// An app's email delivery, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryBody {
    pub kind: &'static str,
    /// The webhook's URL (`webhook` only).
    pub url: Option<String>,
}

impl From<&Delivery> for DeliveryBody {
    fn from(d: &Delivery) -> Self {
        DeliveryBody {
            kind: d.kind().as_str(),
            url: d.url().map(|u| u.to_string()),
        }
    }
}

/// `{"delivery"}`, and after a `PUT` of a webhook its `secret`, shown this once.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct DeliveryEnvelope {
    pub delivery: DeliveryBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A message of the outbox: what the mailer would have been sent.
/// Holds a secret (the code, the link's token): no `Debug`.
#[derive(Clone, Serialize)]
pub struct OutboxMessageBody {
    pub id: String,
    pub at: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub to: String,
    pub tenant_id: Option<String>,
    pub code: Option<String>,
    pub link: Option<String>,
}

impl From<&Message> for OutboxMessageBody {
    fn from(m: &Message) -> Self {
        OutboxMessageBody {
            id: m.id.to_string(),
            at: m.created_at.rfc3339(),
            kind: m.purpose.as_str(),
            to: m.to.to_string(),
            tenant_id: m.tenant_id.as_ref().map(|t| t.to_string()),
            code: m.code.clone(),
            link: m.link.clone(),
        }
    }
}

/// A message that could not be delivered (no code, no link).
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterBody {
    pub id: String,
    pub at: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub to: String,
    pub tenant_id: Option<String>,
    pub attempts: u32,
    pub reason: String,
}

impl From<&DeadLetter> for DeadLetterBody {
    fn from(d: &DeadLetter) -> Self {
        DeadLetterBody {
            id: d.id.to_string(),
            at: d.at.rfc3339(),
            kind: d.purpose.as_str(),
            to: d.to.to_string(),
            tenant_id: d.tenant_id.as_ref().map(|t| t.to_string()),
            attempts: d.attempts,
            reason: d.reason.clone(),
        }
    }
}

/// `{"attempt_id", "expires_in"}` of a started passwordless attempt.
#[derive(Debug, Clone, Serialize)]
pub struct PasswordlessStarted {
    pub attempt_id: String,
    pub expires_in: i64,
}

/// `{"user", "session", "created"}` of a passwordless sign-in.
/// Holds a secret: no `Debug`, so it cannot end up in a log by accident.
#[derive(Clone, Serialize)]
pub struct PasswordlessSignedIn {
    pub user: UserBody,
    pub session: SessionBody,
    pub created: bool,
}

/// A tenant's identity provider, without its client secret.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderBody {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub kind: &'static str,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Provider> for ProviderBody {
    fn from(p: &Provider) -> Self {
        let e = &p.endpoints;
        ProviderBody {
            id: p.id.to_string(),
            app_id: p.app_id.to_string(),
            tenant_id: p.tenant_id.to_string(),
            kind: p.kind.as_str(),
            issuer: p.issuer.to_string(),
            client_id: p.client_id.clone(),
            scopes: p.scopes.clone(),
            authorization_endpoint: e.authorization_endpoint.to_string(),
            token_endpoint: e.token_endpoint.to_string(),
            jwks_uri: e.jwks_uri.as_ref().map(|u| u.to_string()),
            userinfo_endpoint: e.userinfo_endpoint.as_ref().map(|u| u.to_string()),
            created_at: p.created_at.rfc3339(),
            updated_at: p.updated_at.rfc3339(),
        }
    }
}

/// `{"provider"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderEnvelope {
    pub provider: ProviderBody,
}

/// `{"authorization_url", "state"}` of a started third-party sign-in.
/// Holds the flow's state: no `Debug`.
#[derive(Clone, Serialize)]
pub struct ThirdPartyStarted {
    pub authorization_url: String,
    pub state: String,
}

/// One of a user's own sessions.
#[derive(Debug, Clone, Serialize)]
pub struct OwnSessionBody {
    pub session_id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub current: bool,
}

impl OwnSessionBody {
    /// `session`, marked `current` when it is `current`.
    pub fn new(session: &Session, current: &SessionId) -> Self {
        OwnSessionBody {
            session_id: session.id.to_string(),
            created_at: session.created_at.rfc3339(),
            last_used_at: session.last_used_at.rfc3339(),
            current: session.id == *current,
        }
    }
}

/// `{"items": [...], "next_cursor": ...}`: one page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageBody<T> {
    /// The page of bodies made from a page of domain values.
    pub fn of<'a, D>(page: &'a Page<D>, body: impl Fn(&'a D) -> T) -> Self {
        PageBody {
            items: page.items.iter().map(body).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// One published key of a JWKS (RFC 7517, OKP / Ed25519).
#[derive(Debug, Clone, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub key_use: &'static str,
}

impl Jwk {
    /// The JWK of an Ed25519 signing key.
    pub fn ed25519(kid: String, x: String) -> Self {
        Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x,
            kid,
            alg: "EdDSA",
            key_use: "sig",
        }
    }
}

/// `{"keys": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// A tenant's authorization server metadata (RFC 8414), served alike at its three discovery
/// URLs (`API.md`).
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub response_types_supported: [&'static str; 1],
    pub response_modes_supported: [&'static str; 1],
    pub grant_types_supported: [&'static str; 3],
    pub code_challenge_methods_supported: [&'static str; 1],
    pub token_endpoint_auth_methods_supported: [&'static str; 4],
    /// The algorithms of `private_key_jwt` assertions.
    pub token_endpoint_auth_signing_alg_values_supported: [&'static str; 9],
    pub introspection_endpoint_auth_methods_supported: [&'static str; 1],
    pub revocation_endpoint_auth_methods_supported: [&'static str; 1],
    pub scopes_supported: Vec<String>,
    pub client_id_metadata_document_supported: bool,
    pub authorization_response_iss_parameter_supported: bool,
    pub subject_types_supported: [&'static str; 1],
    pub id_token_signing_alg_values_supported: [&'static str; 1],
}

impl Discovery {
    /// The document of `issuer`, whose keys are at `jwks_uri`, with the tenant's `settings`.
    pub fn new(issuer: String, jwks_uri: String, settings: &OAuthSettings) -> Self {
        Discovery {
            authorization_endpoint: format!("{issuer}/oauth/authorize"),
            token_endpoint: format!("{issuer}/oauth/token"),
            registration_endpoint: (settings.registration != Registration::Off)
                .then(|| format!("{issuer}/oauth/register")),
            introspection_endpoint: format!("{issuer}/oauth/introspect"),
            revocation_endpoint: format!("{issuer}/oauth/revoke"),
            issuer,
            jwks_uri,
            response_types_supported: ["code"],
            response_modes_supported: ["query"],
            grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
            code_challenge_methods_supported: ["S256"],
            token_endpoint_auth_methods_supported: [
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            token_endpoint_auth_signing_alg_values_supported: JwsAlgorithm::ALL
                .map(JwsAlgorithm::as_str),
            introspection_endpoint_auth_methods_supported: ["bearer"],
            revocation_endpoint_auth_methods_supported: ["bearer"],
            scopes_supported: settings.scopes.keys().cloned().collect(),
            client_id_metadata_document_supported: settings.client_id_metadata_documents,
            authorization_response_iss_parameter_supported: true,
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["EdDSA"],
        }
    }
}

/// `{"oauth"}`: a tenant's OAuth settings.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthSettingsEnvelope {
    pub oauth: OAuthSettings,
}

/// An OAuth client of a tenant (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct ClientBody {
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub client_type: &'static str,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: &'static str,
    /// A `private_key_jwt` client's public keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Client> for ClientBody {
    fn from(c: &Client) -> Self {
        ClientBody {
            client_id: c.id.to_string(),
            name: c.name.clone(),
            client_type: c.client_type.as_str(),
            redirect_uris: c.redirect_uris.iter().map(|u| u.to_string()).collect(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            scopes: c.scopes.clone(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            jwks: c.jwks.as_ref().map(ClientKeys::to_json),
            status: c.status.as_str(),
            created_at: c.created_at.rfc3339(),
            updated_at: c.updated_at.rfc3339(),
        }
    }
}

/// `{"client"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientEnvelope {
    pub client: ClientBody,
}

/// `{"client", "client_secret"}`: a new client, with a confidential one's secret shown this
/// once. Holds the secret: no `Debug`.
#[derive(Clone, Serialize)]
pub struct ClientCreated {
    pub client: ClientBody,
    pub client_secret: Option<String>,
}

/// A token answer (RFC 6749 §5.1). Holds tokens: no `Debug`.
#[derive(Clone, Serialize)]
pub struct TokenBody {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// A client registered by itself (RFC 7591 §3.2.1). Holds its secret: no `Debug`.
#[derive(Clone, Serialize)]
pub struct RegisteredClient {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// `0` (never) when there is a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub response_types: [&'static str; 1],
    pub token_endpoint_auth_method: &'static str,
    /// A `private_key_jwt` client's public keys, as registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    pub scope: String,
    /// `active`, or `pending` until a member approves it.
    pub status: &'static str,
}

impl RegisteredClient {
    /// The answer for `client`, with its secret when it has one.
    pub fn new(client: &Client, secret: Option<String>) -> Self {
        RegisteredClient {
            client_id: client.id.to_string(),
            client_secret_expires_at: secret.as_ref().map(|_| 0),
            client_secret: secret,
            client_id_issued_at: client.created_at.unix_seconds(),
            client_name: client.name.clone(),
            redirect_uris: client.redirect_uris.iter().map(|u| u.to_string()).collect(),
            grant_types: client.grant_types.iter().map(|g| g.as_str()).collect(),
            response_types: ["code"],
            token_endpoint_auth_method: client.auth_method.as_str(),
            jwks: client.jwks.as_ref().map(ClientKeys::to_json),
            scope: client.scopes.join(" "),
            status: client.status.as_str(),
        }
    }
}

/// A client an end user consented to (`GET …/auth/grants`).
#[derive(Debug, Clone, Serialize)]
pub struct GrantBody {
    pub client_id: String,
    /// `null` when the client is gone since.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub consented_at: String,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthErrorBody {
    pub error: &'static str,
    pub error_description: String,
}

// ---------------------------------------------------------------- examples for the schema check

const AT: &str = "2026-01-01T00:00:00.000Z";
const UUID: &str = "0190f5c2-a9c4-7b3e-8d2a-4f5e6a7b8c9d";

impl Documented for UserBody {
    const SCHEMA: &'static str = "User";
    fn example() -> Self {
        UserBody {
            id: UUID.into(),
            email: "a@example.com".into(),
            tenant_id: "public".into(),
            status: "active",
            plan_tier: PlanTier::free(),
            roles: Vec::new(),
            permissions: Vec::new(),
            rate_limit: Some(600),
            email_verified: true,
            methods: vec!["emailpassword".into(), "thirdparty:google".into()],
            created_at: AT.into(),
        }
    }
}

impl Documented for ManagedUserBody {
    const SCHEMA: &'static str = "ManagedUser";
    fn example() -> Self {
        ManagedUserBody {
            user: UserBody::example(),
            assigned_roles: vec![RoleName::parse("editor").expect("a valid role")],
            rate_limit_override: Some(1200),
        }
    }
}

impl Documented for SessionBody {
    const SCHEMA: &'static str = "Session";
    fn example() -> Self {
        SessionBody {
            session_id: UUID.into(),
            access_token: "eyJ…".into(),
            refresh_token: "tsr_…".into(),
            token_type: "Bearer",
            expires_in: 900,
        }
    }
}

impl Documented for UserAndSession {
    const SCHEMA: &'static str = "UserAndSession";
    fn example() -> Self {
        UserAndSession {
            user: UserBody::example(),
            session: SessionBody::example(),
        }
    }
}

impl Documented for OperatorBody {
    const SCHEMA: &'static str = "Operator";
    fn example() -> Self {
        OperatorBody {
            id: UUID.into(),
            email: "o@example.com".into(),
            is_platform_owner: true,
            email_verified: true,
            created_at: AT.into(),
        }
    }
}

impl Documented for MembershipBody {
    const SCHEMA: &'static str = "Membership";
    fn example() -> Self {
        MembershipBody {
            app_id: "shop".into(),
            tenant_id: Some("acme".into()),
            status: "active",
            roles: vec!["support".into()],
            permissions: vec!["tenants:read", "users:read", "users:suspend"],
            app_not_verified: false,
        }
    }
}

impl Documented for MeBody {
    const SCHEMA: &'static str = "Me";
    fn example() -> Self {
        MeBody {
            operator: OperatorBody::example(),
            memberships: vec![MembershipBody::example()],
        }
    }
}

impl Documented for OperatorTokenBody {
    const SCHEMA: &'static str = "OperatorToken";
    fn example() -> Self {
        OperatorTokenBody {
            access_token: "eyJ…".into(),
            token_type: "Bearer",
            expires_in: 900,
        }
    }
}

impl Documented for AppBody {
    const SCHEMA: &'static str = "App";
    fn example() -> Self {
        AppBody {
            id: "shop".into(),
            settings: AppSettings::default(),
            status: "active",
            created_at: AT.into(),
        }
    }
}

impl Documented for SignedUpBody {
    const SCHEMA: &'static str = "SignedUp";
    fn example() -> Self {
        SignedUpBody {
            operator: OperatorBody::example(),
            app: AppBody::example(),
        }
    }
}

impl Documented for OperatorRoleBody {
    const SCHEMA: &'static str = "OperatorRoleDefinition";
    fn example() -> Self {
        OperatorRoleBody {
            name: "user_reader".into(),
            permissions: vec!["users:read"],
            built_in: false,
        }
    }
}

impl Documented for DeletionBody {
    const SCHEMA: &'static str = "Deletion";
    fn example() -> Self {
        DeletionBody {
            id: UUID.into(),
            kind: "tenant",
            app_id: "shop".into(),
            tenant_id: Some("acme".into()),
            state: "running",
            progress: DeletionProgress {
                phase: Some("sessions"),
                phases_done: 1,
                phases_total: 6,
                rows_deleted: 1500,
            },
            created_at: AT.into(),
            updated_at: AT.into(),
            finished_at: Some(AT.into()),
        }
    }
}

impl Documented for DeletionProgress {
    const SCHEMA: &'static str = "DeletionProgress";
    fn example() -> Self {
        DeletionBody::example().progress
    }
}

impl Documented for AppSettings {
    const SCHEMA: &'static str = "AppSettings";
    fn example() -> Self {
        AppSettings::default()
    }
}

impl Documented for TenantBody {
    const SCHEMA: &'static str = "Tenant";
    fn example() -> Self {
        TenantBody {
            id: "acme".into(),
            app_id: "shop".into(),
            login_methods: vec!["emailpassword"],
            link_base_url: Some("https://app.example/auth".into()),
            redirect_uris: vec!["https://app.example/callback".into()],
            created_at: AT.into(),
            updated_at: AT.into(),
        }
    }
}

impl Documented for TenantEnvelope {
    const SCHEMA: &'static str = "TenantEnvelope";
    fn example() -> Self {
        TenantEnvelope {
            tenant: TenantBody::example(),
        }
    }
}

impl Documented for ApiKeyBody {
    const SCHEMA: &'static str = "ApiKey";
    fn example() -> Self {
        ApiKeyBody {
            id: UUID.into(),
            app_id: "shop".into(),
            tenant_id: "acme".into(),
            name: "ci".into(),
            scopes: vec!["introspect"],
            created_at: AT.into(),
        }
    }
}

impl Documented for ApiKeyWithSecret {
    const SCHEMA: &'static str = "ApiKeyWithSecret";
    fn example() -> Self {
        ApiKeyWithSecret {
            body: ApiKeyBody::example(),
            key: "tsk_…".into(),
        }
    }
}

impl Documented for MemberBody {
    const SCHEMA: &'static str = "Member";
    fn example() -> Self {
        MemberBody {
            id: UUID.into(),
            app_id: "shop".into(),
            email: "m@example.com".into(),
            operator_id: Some(UUID.into()),
            tenant_id: Some("acme".into()),
            membership_type: "member",
            roles: vec!["support".into()],
            status: "active",
            source: "invite",
            invite_expires_at: Some(AT.into()),
            created_at: AT.into(),
            updated_at: AT.into(),
        }
    }
}

impl Documented for AuditBody {
    const SCHEMA: &'static str = "AuditEntry";
    fn example() -> Self {
        AuditBody {
            id: UUID.into(),
            at: AT.into(),
            actor: format!("operator:{UUID}"),
            action: "tenant.create",
            target: "acme".into(),
            tenant_id: Some("acme".into()),
            detail: serde_json::json!({}),
        }
    }
}

impl Documented for RoleBody {
    const SCHEMA: &'static str = "EndUserRole";
    fn example() -> Self {
        RoleBody {
            name: RoleName::parse("editor").expect("a valid role"),
            permissions: vec![UserPermission::parse("docs:write").expect("a valid permission")],
        }
    }
}

impl Documented for Jwks {
    const SCHEMA: &'static str = "Jwks";
    fn example() -> Self {
        Jwks {
            keys: vec![Jwk::ed25519("kid".into(), "x".into())],
        }
    }
}

impl Documented for Discovery {
    const SCHEMA: &'static str = "Discovery";
    fn example() -> Self {
        let settings = OAuthSettings {
            registration: Registration::Open,
            ..OAuthSettings::default()
        };
        Discovery::new(
            "https://t.example/apps/shop/tenants/acme".into(),
            "https://t.example/apps/shop/.well-known/jwks.json".into(),
            &settings,
        )
    }
}

impl Documented for OAuthSettingsEnvelope {
    const SCHEMA: &'static str = "OAuthSettingsEnvelope";
    fn example() -> Self {
        OAuthSettingsEnvelope {
            oauth: OAuthSettings::default(),
        }
    }
}

fn client_example() -> ClientBody {
    ClientBody {
        client_id: "tsc_AAAAAAAAAAAAAAAAAAAAAA".into(),
        name: "Inspector".into(),
        client_type: "public",
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        grant_types: vec!["authorization_code", "refresh_token"],
        scopes: vec!["mcp:tools".into()],
        token_endpoint_auth_method: "none",
        jwks: None,
        status: "active",
        created_at: AT.into(),
        updated_at: AT.into(),
    }
}

impl Documented for ClientBody {
    const SCHEMA: &'static str = "OAuthClient";
    fn example() -> Self {
        client_example()
    }
}

impl Documented for ClientEnvelope {
    const SCHEMA: &'static str = "OAuthClientEnvelope";
    fn example() -> Self {
        ClientEnvelope {
            client: client_example(),
        }
    }
}

impl Documented for ClientCreated {
    const SCHEMA: &'static str = "OAuthClientCreated";
    fn example() -> Self {
        ClientCreated {
            client: client_example(),
            client_secret: Some("tss_…".into()),
        }
    }
}

impl Documented for TokenBody {
    const SCHEMA: &'static str = "OAuthToken";
    fn example() -> Self {
        TokenBody {
            access_token: "eyJ…".into(),
            token_type: "Bearer",
            expires_in: 900,
            refresh_token: Some("tsr_…".into()),
            scope: "mcp:tools".into(),
        }
    }
}

impl Documented for RegisteredClient {
    const SCHEMA: &'static str = "RegisteredClient";
    fn example() -> Self {
        RegisteredClient {
            client_id: "tsc_AAAAAAAAAAAAAAAAAAAAAA".into(),
            client_secret: Some("tss_…".into()),
            client_id_issued_at: 0,
            client_secret_expires_at: Some(0),
            client_name: "Inspector".into(),
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            grant_types: vec!["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "client_secret_basic",
            jwks: None,
            scope: "mcp:tools".into(),
            status: "active",
        }
    }
}

impl Documented for GrantBody {
    const SCHEMA: &'static str = "Grant";
    fn example() -> Self {
        GrantBody {
            client_id: "tsc_AAAAAAAAAAAAAAAAAAAAAA".into(),
            client_name: Some("Inspector".into()),
            scopes: vec!["mcp:tools".into()],
            consented_at: AT.into(),
        }
    }
}

impl Documented for OAuthErrorBody {
    const SCHEMA: &'static str = "OAuthError";
    fn example() -> Self {
        OAuthErrorBody {
            error: "invalid_grant",
            error_description: "the code is invalid, expired or used".into(),
        }
    }
}

impl Documented for ActiveIntrospection<'static> {
    const SCHEMA: &'static str = "Introspection";
    fn example() -> Self {
        ActiveIntrospection {
            active: true,
            token_type: "access_token",
            sub: UUID,
            app_id: "shop",
            tenant_id: "acme",
            sid: UUID,
            iss: "https://t.example/apps/shop/tenants/acme",
            iat: 0,
            exp: 900,
            status: "active",
            plan_tier: PlanTier::free(),
            rate_limit: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            client_id: Some("tsc_AAAAAAAAAAAAAAAAAAAAAA"),
            scope: Some("mcp:tools"),
            aud: Some("https://mcp.example/"),
        }
    }
}

impl Documented for DeliveryEnvelope {
    const SCHEMA: &'static str = "EmailDeliveryEnvelope";
    fn example() -> Self {
        DeliveryEnvelope {
            delivery: DeliveryBody {
                kind: "webhook",
                url: Some("https://mail.example/hook".into()),
            },
            secret: Some("whsec_…".into()),
        }
    }
}

impl Documented for OutboxMessageBody {
    const SCHEMA: &'static str = "OutboxMessage";
    fn example() -> Self {
        OutboxMessageBody {
            id: UUID.into(),
            at: AT.into(),
            kind: "passwordless",
            to: "a@example.com".into(),
            tenant_id: Some("acme".into()),
            code: Some("123456".into()),
            link: Some("https://app.example/auth?type=passwordless&token=tsl_…".into()),
        }
    }
}

impl Documented for DeadLetterBody {
    const SCHEMA: &'static str = "DeadLetter";
    fn example() -> Self {
        DeadLetterBody {
            id: UUID.into(),
            at: AT.into(),
            kind: "password_reset",
            to: "a@example.com".into(),
            tenant_id: Some("acme".into()),
            attempts: 10,
            reason: "the mailer answered 503".into(),
        }
    }
}

impl Documented for PasswordlessStarted {
    const SCHEMA: &'static str = "PasswordlessStarted";
    fn example() -> Self {
        PasswordlessStarted {
            attempt_id: UUID.into(),
            expires_in: 900,
        }
    }
}

impl Documented for PasswordlessSignedIn {
    const SCHEMA: &'static str = "PasswordlessSignedIn";
    fn example() -> Self {
        PasswordlessSignedIn {
            user: UserBody::example(),
            session: SessionBody::example(),
            created: true,
        }
    }
}

impl Documented for ProviderBody {
    const SCHEMA: &'static str = "Provider";
    fn example() -> Self {
        ProviderBody {
            id: "google".into(),
            app_id: "shop".into(),
            tenant_id: "acme".into(),
            kind: "oidc",
            issuer: "https://accounts.google.com".into(),
            client_id: "1234.apps.googleusercontent.com".into(),
            scopes: vec!["openid".into(), "email".into()],
            authorization_endpoint: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_endpoint: "https://oauth2.googleapis.com/token".into(),
            jwks_uri: Some("https://www.googleapis.com/oauth2/v3/certs".into()),
            userinfo_endpoint: Some("https://openidconnect.googleapis.com/v1/userinfo".into()),
            created_at: AT.into(),
            updated_at: AT.into(),
        }
    }
}

impl Documented for ProviderEnvelope {
    const SCHEMA: &'static str = "ProviderEnvelope";
    fn example() -> Self {
        ProviderEnvelope {
            provider: ProviderBody::example(),
        }
    }
}

impl Documented for ThirdPartyStarted {
    const SCHEMA: &'static str = "ThirdPartyStarted";
    fn example() -> Self {
        ThirdPartyStarted {
            authorization_url: "https://accounts.google.com/o/oauth2/v2/auth?response_type=code"
                .into(),
            state: "tsf_…".into(),
        }
    }
}

impl Documented for OwnSessionBody {
    const SCHEMA: &'static str = "OwnSession";
    fn example() -> Self {
        OwnSessionBody {
            session_id: UUID.into(),
            created_at: AT.into(),
            last_used_at: AT.into(),
            current: true,
        }
    }
}
