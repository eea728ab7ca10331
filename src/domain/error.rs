//! The one error type of the crate, in domain terms.
//!
//! Each variant has a stable machine-readable `code` (the codes of `API.md`). The mapping to
//! HTTP status codes lives in exactly one place, `http::error`; nothing here knows about HTTP.
//! Internal details (`Unavailable`, `Internal`) are for logs only and never reach a client.

use thiserror::Error as ThisError;

/// Everything that can go wrong, from bad input to a storage binding that is down.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum Error {
    /// Input that does not parse or does not satisfy a rule; the message is safe to show.
    #[error("{0}")]
    Validation(String),
    /// A request body larger than the limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Unknown email or wrong password: deliberately indistinguishable.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// A bearer token that is missing, malformed, expired, revoked or not for this place.
    #[error("the bearer token is missing or invalid")]
    InvalidToken,
    /// A refresh token of an older generation (or the previous one after the grace window):
    /// the session has been revoked.
    #[error("this refresh token was used before; the session is revoked")]
    TokenReused,
    /// An introspection or revocation client that is not a valid API key of this tenant with
    /// the `introspect` scope.
    #[error("the client credentials are missing or invalid")]
    InvalidClient,
    /// The user is suspended in this tenant.
    #[error("the user is suspended")]
    UserSuspended,
    /// The tenant does not allow this login method.
    #[error("this login method is not enabled for the tenant")]
    LoginMethodDisabled,
    /// A plan tier that is not defined.
    #[error("unknown plan {0:?}")]
    UnknownPlan(String),
    /// A webhook whose signature is missing, wrong or stale.
    #[error("the webhook signature is missing, invalid or stale")]
    InvalidSignature,
    /// No end user with that id (in that tenant).
    #[error("no such user")]
    UserNotFound,
    /// A role name that is not defined.
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    /// Too many attempts (sign-ins, sends, codes); carries the seconds to wait.
    #[error("too many attempts; retry later")]
    RateLimited(i64),
    /// Missing or invalid credentials on a management endpoint.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Valid credentials that do not grant this action.
    #[error("{0}")]
    Forbidden(String),
    #[error("no such app")]
    AppNotFound,
    #[error("no such tenant")]
    TenantNotFound,
    /// No membership with that id in the app.
    #[error("no such member")]
    MemberNotFound,
    /// No OAuth client with that id in the tenant.
    #[error("no such client")]
    ClientNotFound,
    /// Any other missing resource (an API key, an operator…); the message names it.
    #[error("{0}")]
    NotFound(String),
    /// No route matches the path.
    #[error("no route matches this path")]
    RouteNotFound,
    /// The path exists but not with this method; carries the allowed methods.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    #[error("{0}")]
    Conflict(String),
    #[error("an operator already exists")]
    AlreadyBootstrapped,
    #[error("this email is already registered in this tenant")]
    EmailTaken,
    /// A link token (verification, password reset, passwordless) that is malformed, unknown,
    /// expired or used: `400 invalid_code`.
    #[error("the token is invalid, expired or used")]
    InvalidCode,
    /// A wrong passwordless code, or an attempt that is unknown, expired, used or ended by too
    /// many wrong codes: `401 invalid_code`.
    #[error("the code is wrong, or the attempt has ended")]
    WrongCode,
    /// The app was made by operator sign-up and its owner has not verified their email yet:
    /// it offers only its settings (`domain::authz::SETTINGS`) and no end-user flow.
    #[error(
        "the app's owner has not verified their email yet; only the app's settings can be used"
    )]
    AppNotVerified,
    /// The app delivers no email (or the tenant has no `link_base_url`), so a flow that needs
    /// one cannot run.
    #[error("email delivery is not configured for this app or tenant")]
    EmailDeliveryNotConfigured,
    /// A third-party identity provider failed, could not be reached, or answered something that
    /// cannot be accepted (an ID token that does not verify, a missing field): `502
    /// provider_error`. The text is for the log only — nothing of the provider's answer or of
    /// any secret reaches the client.
    #[error("the identity provider failed or its answer was refused")]
    ProviderError(String),
    /// A first third-party sign-in whose provider did not assert the email verified, and no
    /// user of the tenant has that email: nobody is signed up with an address nobody proved
    /// (`403 email_not_verified`).
    #[error("the identity provider did not assert a verified email")]
    EmailNotVerified,
    /// A storage binding (D1, KV) failed; the text is for the log only.
    #[error("a storage backend is unavailable")]
    Unavailable(String),
    /// A bug or an impossible state; the text is for the log only.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// The machine-readable code of the error, as listed in `API.md`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "validation_failed",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::InvalidCredentials => "invalid_credentials",
            Error::InvalidToken => "invalid_token",
            Error::TokenReused => "token_reused",
            Error::InvalidClient => "invalid_client",
            Error::UserSuspended => "user_suspended",
            Error::LoginMethodDisabled => "login_method_disabled",
            Error::RateLimited(_) => "rate_limited",
            Error::UnknownRole(_) => "unknown_role",
            Error::UnknownPlan(_) => "unknown_plan",
            Error::InvalidSignature => "invalid_signature",
            Error::UserNotFound => "user_not_found",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::AppNotFound => "app_not_found",
            Error::TenantNotFound => "tenant_not_found",
            Error::MemberNotFound => "member_not_found",
            Error::ClientNotFound => "client_not_found",
            Error::NotFound(_) | Error::RouteNotFound => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Conflict(_) => "conflict",
            Error::AlreadyBootstrapped => "already_bootstrapped",
            Error::EmailTaken => "email_taken",
            Error::InvalidCode | Error::WrongCode => "invalid_code",
            Error::EmailDeliveryNotConfigured => "email_delivery_not_configured",
            Error::ProviderError(_) => "provider_error",
            Error::EmailNotVerified => "email_not_verified",
            Error::AppNotVerified => "app_not_verified",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal_error",
        }
    }

    /// The text a client may see: internal details are replaced by a generic sentence.
    pub fn public_detail(&self) -> String {
        match self {
            Error::Unavailable(_) => "a storage backend is unavailable; try again".to_owned(),
            Error::Internal(_) => "the server failed to handle the request".to_owned(),
            Error::ProviderError(_) => {
                "the identity provider failed or its answer was refused".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Shorthand for a validation failure.
    pub fn validation(message: impl Into<String>) -> Self {
        Error::Validation(message.into())
    }
}
