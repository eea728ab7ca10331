//! Ports (traits in domain terms) and their adapters.
//!
//! `memory` runs everywhere and backs the native tests; `d1` is the real thing: SQL written
//! once over a backend, Cloudflare D1 on wasm32 and SQLite in native tests. SQL lives only in
//! `d1`. The worker is single-threaded, so the traits carry no `Send` bounds.
//! Every method returns `Error::Unavailable` when the backing binding fails: callers fail
//! closed on it. Methods that change something on behalf of an operator, an API key or the
//! webhook take the `AuditEntry` and write it in the same atomic batch as the change — and
//! only when the change happened.
#![expect(
    async_fn_in_trait,
    reason = "the worker is single-threaded: futures need no Send bound"
)]

use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::authz::Grant;
use crate::domain::challenge::{Challenge, Plane, Purpose, StoredChallenge, Subject};
use crate::domain::delivery::{DeadLetter, Delivery, Envelope, Message};
use crate::domain::email::Email;
use crate::domain::ids::{ApiKeyId, AppId, ChallengeId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::links::WebUrl;
use crate::domain::member::{Member, MemberId, MemberStatus};
use crate::domain::names::{PlanTier, RoleName, UserPermission};
use crate::domain::operator::Operator;
use crate::domain::password::{PasswordHash, PasswordParams};
use crate::domain::policy::{AppPolicy, Plan, UserFlags};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::tenancy::{ApiKey, App, AppSettings, Tenant};
use crate::domain::throttle::{self, ThrottlePolicy};
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;

pub mod d1;
pub mod kv;
pub mod memory;
#[cfg(target_arch = "wasm32")]
pub mod queue;

/// Apps and tenants.
pub trait TenancyStore {
    /// The app with this id, if any.
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error>;
    /// Up to `limit` apps ordered by id, after `after`.
    async fn list_apps(&self, after: Option<&str>, limit: usize) -> Result<Vec<App>, Error>;
    /// Creates an app together with its `public` tenant, atomically. `false` if it exists.
    async fn create_app(
        &self,
        app: &App,
        public: &Tenant,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Replaces an app's settings. `false` if the app does not exist.
    async fn update_app_settings(
        &self,
        id: &AppId,
        settings: &AppSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// The tenant with this id in this app, if any.
    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error>;
    /// Up to `limit` tenants of an app ordered by id, after `after`.
    async fn list_tenants(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tenant>, Error>;
    /// Inserts a tenant. `false` if one with that id exists already.
    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error>;
    /// Overwrites a tenant's settings. `false` if it does not exist.
    async fn update_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<bool, Error>;
    /// Deletes a tenant and everything that belongs to it (API keys, user faces, sessions),
    /// atomically. `None` if it did not exist, else the hashes of the API keys it had (so the
    /// edge view can forget them).
    async fn delete_tenant(
        &self,
        app: &AppId,
        id: &TenantId,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<SecretHash>>, Error>;
}

/// Operator accounts.
pub trait OperatorStore {
    /// Creates the first platform owner. `false` when a platform owner exists already — checked
    /// in the same statement as the insert, so two racing bootstraps cannot both win.
    async fn create_platform_owner(&self, operator: &Operator) -> Result<bool, Error>;
    /// The operator with this id, if any.
    async fn find_operator(&self, id: &OperatorId) -> Result<Option<Operator>, Error>;
    /// The operator with this (normalised) email, if any.
    async fn find_operator_by_email(&self, email: &Email) -> Result<Option<Operator>, Error>;
    /// Finds the operator with `email` and counts `attempt` (as `begin_signin` does for end
    /// users, under the operator plane's own counters).
    async fn begin_operator_signin(
        &self,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<Operator>, Error>;
    /// Settles a successful operator sign-in (as `create_session` does for end users).
    async fn finish_operator_signin(&self, attempt: &Attempt) -> Result<(), Error>;
    /// Replaces an operator's password hash (used to upgrade weak hashes at sign-in).
    async fn update_operator_password(
        &self,
        id: &OperatorId,
        hash: &PasswordHash,
    ) -> Result<(), Error>;
    /// Every distinct set of hashing parameters among operators' stored passwords.
    async fn find_operator_password_params(&self) -> Result<Vec<PasswordParams>, Error>;
    /// Forgets the sign-in failures counted against an operator email (`operator:<email>`).
    async fn clear_operator_failures(&self, email: &Email) -> Result<(), Error>;
}

/// Tenant API keys, stored by the hash of their secret.
pub trait ApiKeyStore {
    /// Stores a new key.
    async fn create_api_key(
        &self,
        key: &ApiKey,
        hash: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<(), Error>;
    /// Up to `limit` keys of a tenant ordered by id, after `after`.
    async fn list_api_keys(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ApiKey>, Error>;
    /// Deletes a key of this tenant; returns its hash, or `None` if there was none.
    async fn delete_api_key(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
        audit: Option<&AuditEntry>,
    ) -> Result<Option<SecretHash>, Error>;
    /// The key whose secret hashes to `hash`, if any.
    async fn find_api_key_by_hash(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error>;
    /// The stored hash of a key of this tenant, if the key exists.
    async fn find_api_key_hash(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<Option<SecretHash>, Error>;
}

/// A signing key as stored: public half in the clear, private half sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub owner: KeyOwner,
    /// base64url of the Ed25519 public key.
    pub public_key: String,
    /// The sealed private key (see `domain::keys::KeyEncryptionKey`).
    pub sealed_private_key: String,
    pub created_at: Timestamp,
    /// From when the key signs (it is published before).
    pub activates_at: Timestamp,
}

/// Signing keys of the operator plane and of each app.
pub trait SigningKeyStore {
    /// Every key of `owner`, newest first.
    async fn find_signing_keys(&self, owner: &KeyOwner) -> Result<Vec<StoredSigningKey>, Error>;
    /// Stores a new key (with an audit entry when an operator asked for it).
    async fn create_signing_key(
        &self,
        key: &StoredSigningKey,
        audit: Option<&AuditEntry>,
    ) -> Result<(), Error>;
}

/// A sign-in attempt, counted against its subjects before any password is hashed
/// (see `domain::throttle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `account:<email>` (end users) or `operator:<email>`.
    pub account: String,
    /// `client:<address>`, when the request names one.
    pub client: Option<String>,
    pub now: Timestamp,
}

/// What sign-in needs, read and counted in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRecord<T> {
    /// The account with this email, if any.
    pub user: Option<T>,
    /// `Some(seconds)` when the account or the client is blocked: the attempt was not counted
    /// and must be refused without hashing.
    pub retry_after: Option<i64>,
}

/// End users and their per-tenant faces.
pub trait UserStore {
    /// Creates a user, its face in one tenant and its first session with that session's first
    /// refresh token, atomically. `false` (and nothing written) when the tenant has that email
    /// already.
    async fn create_user(
        &self,
        user: &User,
        face: &TenantUser,
        session: &Session,
        token: &SecretHash,
    ) -> Result<bool, Error>;
    /// Finds the user with `email` in a tenant and counts `attempt` against its subjects
    /// (unless one is blocked), in one atomic batch.
    async fn begin_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<(User, TenantUser)>, Error>;
    /// Counts a sign-up from a client address (`signup:<address>` under `throttle::SIGNUP`)
    /// unless it is blocked; `Some(seconds)` when it is. Sign-ups hash a password, so they are
    /// throttled per address like failed sign-ins.
    async fn count_signup(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, Error>;
    /// Settles a counted attempt whose password was right but that did not sign in (a
    /// suspended user): as `SessionStore::create_session` does, without the session.
    async fn settle_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        attempt: &Attempt,
    ) -> Result<(), Error>;
    /// The user with `email` in a tenant, if any (nothing is counted: not for passwords).
    async fn find_tenant_user_by_email(
        &self,
        app: &AppId,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Option<(User, TenantUser)>, Error>;
    /// A user as one tenant sees it, if the user has a face there.
    async fn find_tenant_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(User, TenantUser)>, Error>;
    /// Replaces a user's password hash (upgrades at sign-in).
    async fn update_user_password(
        &self,
        app: &AppId,
        user: &UserId,
        hash: &PasswordHash,
    ) -> Result<(), Error>;
    /// Every distinct set of hashing parameters among the app's users' stored passwords.
    async fn find_password_params(&self, app: &AppId) -> Result<Vec<PasswordParams>, Error>;
}

/// A session found by one of its refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedRefresh {
    pub session: Session,
    /// The generation of the presented token.
    pub generation: i64,
    /// The user's status in the session's tenant.
    pub status: UserStatus,
}

/// Refresh sessions.
pub trait SessionStore {
    /// Writes a new session with its first refresh token and settles the successful `attempt`
    /// (the account's count cleared, the client's attempt taken back), in one atomic batch.
    async fn create_session(
        &self,
        session: &Session,
        token: &SecretHash,
        attempt: &Attempt,
    ) -> Result<(), Error>;
    /// The session a refresh token belongs to, and the token's generation.
    async fn find_by_refresh_token(
        &self,
        token: &SecretHash,
    ) -> Result<Option<PresentedRefresh>, Error>;
    /// Moves the session from `from_generation` to the next one and records the successor's
    /// hash — a compare-and-swap: `true` only for the call that moved it.
    async fn rotate_session(
        &self,
        id: &SessionId,
        from_generation: i64,
        successor: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, Error>;
    /// The session, if any.
    async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, Error>;
    /// Marks the session revoked. `false` if it was revoked already or does not exist.
    async fn revoke_session(&self, id: &SessionId, now: Timestamp) -> Result<bool, Error>;
}

/// The public half of a signing key, as published in KV for verifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub kid: String,
    /// base64url of the Ed25519 public key.
    pub public_key: String,
    pub activates_at: Timestamp,
    pub created_at: Timestamp,
}

/// The edge view in KV: what the hot paths read without D1. D1 stays the source of truth;
/// every entry here is written after the D1 change it reflects.
pub trait EdgeStore {
    /// True when the session was revoked.
    async fn is_session_revoked(&self, id: &SessionId) -> Result<bool, Error>;
    /// Records a revocation for as long as an access token of the session can live.
    async fn put_session_revoked(&self, id: &SessionId, ttl_seconds: i64) -> Result<(), Error>;
    /// The API key with this hash.
    async fn find_api_key(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error>;
    /// Publishes an API key.
    async fn put_api_key(&self, hash: &SecretHash, key: &ApiKey) -> Result<(), Error>;
    /// Withdraws an API key.
    async fn delete_api_key(&self, hash: &SecretHash) -> Result<(), Error>;
    /// The flags document of a user in a tenant, if one exists.
    async fn find_flags(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<UserFlags>, Error>;
    /// Rewrites the flags document of a user in a tenant.
    async fn put_flags(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        flags: &UserFlags,
    ) -> Result<(), Error>;
    /// The mirrored roles and plans of an app (`None` when never written).
    async fn find_policy(&self, app: &AppId) -> Result<Option<AppPolicy>, Error>;
    /// Rewrites the mirror of an app's roles and plans.
    async fn put_policy(&self, app: &AppId, policy: &AppPolicy) -> Result<(), Error>;
    /// The mirrored app, if a copy exists.
    async fn find_app(&self, id: &AppId) -> Result<Option<App>, Error>;
    /// Mirrors an app (its settings).
    async fn put_app(&self, app: &App) -> Result<(), Error>;
    /// Withdraws an app's mirror.
    async fn delete_app(&self, id: &AppId) -> Result<(), Error>;
    /// The mirrored tenant, if a copy exists.
    async fn find_tenant(&self, app: &AppId, id: &TenantId) -> Result<Option<Tenant>, Error>;
    /// Mirrors a tenant.
    async fn put_tenant(&self, tenant: &Tenant) -> Result<(), Error>;
    /// Withdraws a tenant's mirror.
    async fn delete_tenant(&self, app: &AppId, id: &TenantId) -> Result<(), Error>;
    /// The published public keys of an owner, if a copy exists.
    async fn find_public_keys(&self, owner: &KeyOwner) -> Result<Option<Vec<PublishedKey>>, Error>;
    /// Replaces the published public keys of an owner.
    async fn put_public_keys(&self, owner: &KeyOwner, keys: &[PublishedKey]) -> Result<(), Error>;
}

/// Memberships of operators in apps.
pub trait MemberStore {
    /// Stores an invitation. `false` (nothing written) when the app has a membership for that
    /// email that has not been left.
    async fn create_member(
        &self,
        member: &Member,
        invite: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// The invitation with this token hash, if any (whatever its state).
    async fn find_invite(&self, invite: &SecretHash) -> Result<Option<Member>, Error>;
    /// Accepts an invitation that is still pending and unexpired at `now`: creates
    /// `new_operator` if given, links the membership to `operator`, makes it active and forgets
    /// the token, atomically. `false` when the invitation was no longer acceptable.
    async fn accept_invite(
        &self,
        invite: &SecretHash,
        operator: &OperatorId,
        new_operator: Option<&Operator>,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// A membership of this app.
    async fn find_member(&self, app: &AppId, id: &MemberId) -> Result<Option<Member>, Error>;
    /// Up to `limit` memberships of an app ordered by id, after `after`.
    async fn list_members(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Member>, Error>;
    /// Writes a membership's new status and roles if it is still in `expected` status. When
    /// `keep_an_admin` is set, the write happens only if another active app-wide admin remains —
    /// checked in the same statement, so two admins cannot demote each other at once.
    /// `false` when nothing was written.
    async fn update_member(
        &self,
        member: &Member,
        expected: MemberStatus,
        keep_an_admin: bool,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// What an operator's memberships that are not left grant.
    async fn find_grants(&self, operator: &OperatorId) -> Result<Vec<Grant>, Error>;
}

/// The audit log (entries are written by the change they describe, through the other ports).
pub trait AuditStore {
    /// Up to `limit` entries of an app, newest first, before the entry id `before` (keyset over
    /// the id, a UUIDv7), optionally of one tenant only, written at or after the given time
    /// (the creation of the tenant's current incarnation: a re-created tenant of a deleted
    /// one's id does not show the deleted one's entries).
    async fn list_audit(
        &self,
        app: &AppId,
        tenant: Option<(&TenantId, Timestamp)>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error>;
}

/// Filters of the user listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub status: Option<UserStatus>,
    pub plan_tier: Option<PlanTier>,
    /// A normalised email prefix; when given, the listing is ordered by email.
    pub email_prefix: Option<String>,
}

/// How a billing event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Applied,
    /// The event id was seen before: nothing changed.
    Duplicate,
}

/// End-user state as operators (and the billing webhook) manage it.
pub trait UserStateStore {
    /// The app's end-user roles and plans.
    async fn find_policy(&self, app: &AppId) -> Result<AppPolicy, Error>;
    /// Creates or replaces a role.
    async fn put_role(
        &self,
        app: &AppId,
        name: &RoleName,
        permissions: &[UserPermission],
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error>;
    /// Creates or replaces a plan.
    async fn put_plan(
        &self,
        app: &AppId,
        tier: &PlanTier,
        plan: &Plan,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error>;
    /// Up to `limit` faces of a tenant, each with its user, after the cursor key (a user id,
    /// or an email when filtering by email prefix).
    async fn list_tenant_users(
        &self,
        app: &AppId,
        tenant: &TenantId,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(User, TenantUser)>, Error>;
    /// The app user, whatever its tenants.
    async fn find_user(&self, app: &AppId, id: &UserId) -> Result<Option<User>, Error>;
    /// Writes a face's status, plan, override and hand roles, and increments its version, if
    /// its version is still `expected_version` (a compare-and-swap). `false` otherwise.
    async fn update_face(
        &self,
        face: &TenantUser,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Gives an app user a face in another tenant. `false` when the tenant has that email.
    async fn associate(&self, face: &TenantUser, audit: &AuditEntry) -> Result<bool, Error>;
    /// Creates a user and its face without a session (operator import). `false` when the
    /// tenant has that email.
    async fn create_user_only(
        &self,
        user: &User,
        face: &TenantUser,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Revokes every live session of a user in a tenant; returns their ids.
    async fn revoke_user_sessions(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Vec<SessionId>, Error>;
    /// The user's metadata (an empty object when none was set).
    async fn find_metadata(&self, app: &AppId, user: &UserId) -> Result<serde_json::Value, Error>;
    /// Replaces the user's metadata.
    async fn put_metadata(
        &self,
        app: &AppId,
        user: &UserId,
        metadata: &serde_json::Value,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error>;
    /// The sealed webhook secret of an app.
    async fn find_webhook_secret(&self, app: &AppId) -> Result<Option<String>, Error>;
    /// Replaces the sealed webhook secret of an app.
    async fn put_webhook_secret(
        &self,
        app: &AppId,
        sealed: &str,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error>;
    /// True when the event was applied before.
    async fn has_event(&self, app: &AppId, event_id: &str) -> Result<bool, Error>;
    /// Records the event and sets the plan of the face, atomically and only once per event id.
    async fn apply_plan_event(
        &self,
        app: &AppId,
        event_id: &str,
        face: &TenantUser,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<EventOutcome, Error>;
}

/// Pruning of what is past its use, in bounded batches (D1 limits the work of one query):
/// each call deletes at most `limit` rows and returns how many it deleted, so the caller
/// repeats it until fewer come back.
pub trait MaintenanceStore {
    /// Sign-in counters that neither block (`blocked_until <= now`) nor count any more (no
    /// failure since `idle_before`).
    async fn prune_signin_failures(
        &self,
        idle_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, Error>;
    /// Sessions, with all their refresh tokens, revoked or past their absolute end before
    /// `ended_before`.
    async fn prune_sessions(&self, ended_before: Timestamp, limit: usize) -> Result<usize, Error>;
    /// Billing events received before `received_before` (their signatures expired long ago, so
    /// no replay of them can verify).
    async fn prune_webhook_events(
        &self,
        received_before: Timestamp,
        limit: usize,
    ) -> Result<usize, Error>;
    /// Audit entries written before `written_before` (the retention of the log).
    async fn prune_audit(&self, written_before: Timestamp, limit: usize) -> Result<usize, Error>;
}

/// A send about to be counted (`domain::challenge::SendLimit`): the address's subject and,
/// when the request names one, the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCount {
    /// `send:<email>`.
    pub address: String,
    /// `client:<address>`.
    pub client: Option<String>,
    pub now: Timestamp,
}

/// A consume about to be counted (sign-in's policies, `domain::throttle`): the address's
/// wrong-code subject under `ACCOUNT` (codes only) and the client's under `CLIENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeCount {
    /// `code:<email>`, for a code; `None` for a link token.
    pub address: Option<String>,
    /// `client:<address>`, when the request names one.
    pub client: Option<String>,
    pub now: Timestamp,
}

impl ConsumeCount {
    /// The subjects to count, each with its policy, in counting order: the client under
    /// `throttle::CLIENT` first (while it is blocked nothing else is counted), then the address
    /// under `throttle::ACCOUNT`.
    pub fn subjects(&self) -> Vec<(&str, &'static ThrottlePolicy)> {
        let mut subjects = Vec::new();
        if let Some(client) = &self.client {
            subjects.push((client.as_str(), &throttle::CLIENT));
        }
        if let Some(address) = &self.address {
            subjects.push((address.as_str(), &throttle::ACCOUNT));
        }
        subjects
    }
}

/// What a successful consume settles, in the batch that completes it: the count of `clear`
/// is deleted, and `give_back` (a client) gets its counted attempt back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    pub clear: Option<String>,
    pub give_back: Option<String>,
}

/// A lookup made together with the counting of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted<T> {
    /// What was found (after the attempt was counted on it, for a code).
    pub found: Option<T>,
    /// `Some(seconds)` when a subject was blocked: refuse without any further work.
    pub retry_after: Option<i64>,
}

/// How a passwordless sign-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpOutcome {
    /// The challenge was consumed and the user, its face and its session were written.
    SignedUp,
    /// The challenge was no longer open: nothing was written.
    ChallengeGone,
    /// The tenant got that email meanwhile: the challenge was consumed, nothing else written.
    EmailTaken,
}

impl SignUpOutcome {
    /// The outcome of a batch whose consume did (or did not) happen, and whose user insert,
    /// guarded by it and by the tenant lacking the email, did (or did not).
    pub fn of(consumed: bool, user_written: bool) -> Self {
        match (consumed, user_written) {
            (false, _) => SignUpOutcome::ChallengeGone,
            (true, false) => SignUpOutcome::EmailTaken,
            (true, true) => SignUpOutcome::SignedUp,
        }
    }
}

/// Email delivery, email challenges and the self-service of end users.
pub trait EmailStore {
    /// The app's delivery setting (`Delivery::None` when never set).
    async fn find_email_delivery(&self, app: &AppId) -> Result<Delivery, Error>;
    /// Replaces the app's delivery setting; any other kind than `outbox` deletes the app's
    /// outbox. `false` (nothing written) when the app does not exist.
    async fn put_email_delivery(
        &self,
        app: &AppId,
        delivery: &Delivery,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Keeps a message in the app's outbox (once per message id), and deletes the app's
    /// outbox messages made before `prune_before` in the same batch.
    async fn create_outbox_message(
        &self,
        message: &Message,
        prune_before: Timestamp,
    ) -> Result<(), Error>;
    /// Up to `limit` outbox messages of an app made after `since`, newest first, before the
    /// message id `before`, optionally only those to `to`.
    async fn list_outbox(
        &self,
        app: &AppId,
        to: Option<&Email>,
        since: Timestamp,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, Error>;
    /// Records a message that could not be delivered (once per message id), and deletes the
    /// app's dead letters recorded before `prune_before` in the same batch.
    async fn create_dead_letter(
        &self,
        letter: &DeadLetter,
        prune_before: Timestamp,
    ) -> Result<(), Error>;
    /// Up to `limit` dead letters of an app, newest first, before the message id `before`.
    async fn list_dead_letters(
        &self,
        app: &AppId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, Error>;
    /// Counts a send against its address (`ADDRESS_SENDS`) and client (`CLIENT_SENDS`) in the
    /// plane, each unless its window is full. `Some(seconds)` when one was full: until the
    /// later of the full windows ends.
    async fn count_send(&self, plane: &Plane, count: &SendCount) -> Result<Option<i64>, Error>;
    /// Stores a challenge and returns the account its email belongs to in its plane (a user
    /// of the tenant, or an operator), found by the same statement.
    async fn create_challenge(&self, challenge: &Challenge) -> Result<Option<Subject>, Error>;
    /// The challenge with this id in this plane, if any, whatever its state.
    async fn find_challenge(
        &self,
        plane: &Plane,
        id: &ChallengeId,
    ) -> Result<Option<StoredChallenge>, Error>;
    /// Counts a code try: on the passwordless attempt (one more try, only while it is open)
    /// and against the subjects of `count`, in one batch. `found` is the attempt after its try
    /// was counted, `None` when it was not open.
    async fn begin_code_try(
        &self,
        plane: &Plane,
        id: &ChallengeId,
        count: &ConsumeCount,
    ) -> Result<Counted<StoredChallenge>, Error>;
    /// Finds the open challenge of `purpose` whose link token hashes to `token`, and counts
    /// the consume against the subjects of `count`, in one batch.
    async fn begin_link_try(
        &self,
        plane: &Plane,
        purpose: Purpose,
        token: &SecretHash,
        count: &ConsumeCount,
    ) -> Result<Counted<StoredChallenge>, Error>;
    /// Consumes an open challenge and marks its user's email verified (when it is still the
    /// user's email), settling `settle`, in one batch. `false` when it was no longer open.
    async fn verify_email(
        &self,
        challenge: &ChallengeId,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        now: Timestamp,
        settle: &Settlement,
    ) -> Result<bool, Error>;
    /// Consumes an open challenge, replaces the user's password (and marks its email
    /// verified) and revokes every live session of the user in the tenant, settling `settle`,
    /// in one batch. The revoked sessions, or `None` when the challenge was no longer open.
    async fn reset_user_password(
        &self,
        challenge: &ChallengeId,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        hash: &PasswordHash,
        now: Timestamp,
        settle: &Settlement,
    ) -> Result<Option<Vec<SessionId>>, Error>;
    /// Consumes an open challenge and replaces the operator's password, recording the reset
    /// (older operator tokens stop working), settling `settle`, in one batch. `false` when the
    /// challenge was no longer open.
    async fn reset_operator_password(
        &self,
        challenge: &ChallengeId,
        operator: &OperatorId,
        hash: &PasswordHash,
        now: Timestamp,
        settle: &Settlement,
    ) -> Result<bool, Error>;
    /// Consumes an open passwordless challenge, marks the user's email verified and
    /// passwordless used, and writes the session with its first refresh token, settling
    /// `settle`, in one batch. `false` (nothing written) when the challenge was no longer open.
    async fn passwordless_sign_in(
        &self,
        challenge: &ChallengeId,
        session: &Session,
        token: &SecretHash,
        settle: &Settlement,
    ) -> Result<bool, Error>;
    /// Consumes an open passwordless challenge and writes a new user (email verified,
    /// passwordless used), its face and its first session with its token — the user only when
    /// the tenant lacks the email — settling `settle`, in one batch.
    async fn passwordless_sign_up(
        &self,
        challenge: &ChallengeId,
        user: &User,
        face: &TenantUser,
        session: (&Session, &SecretHash),
        settle: &Settlement,
    ) -> Result<SignUpOutcome, Error>;
    /// Replaces the user's password and revokes the user's live sessions in the tenant but
    /// `keep`, settling `settle`, in one batch. The revoked sessions.
    async fn change_password(
        &self,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        hash: &PasswordHash,
        keep: &SessionId,
        now: Timestamp,
        settle: &Settlement,
    ) -> Result<Vec<SessionId>, Error>;
    /// Up to `limit` live sessions (not revoked, not past their absolute or idle end at `now`)
    /// of a user in a tenant, newest first, before the session id `before`.
    async fn list_live_sessions(
        &self,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        now: Timestamp,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Session>, Error>;
    /// The user leaves the tenant: its face, its sessions (with their refresh tokens) and its
    /// challenges there are deleted, and the user itself (with its metadata) when no face is
    /// left, in one batch. The deleted sessions, or `None` when the user had no face there.
    async fn leave_tenant(
        &self,
        tenant: (&AppId, &TenantId),
        user: &UserId,
    ) -> Result<Option<Vec<SessionId>>, Error>;
    /// Deletes what is kept no longer: expired challenges, ended send windows, outbox
    /// messages made before `outbox_before`, dead letters recorded before `dead_before`.
    async fn prune_email(
        &self,
        now: Timestamp,
        outbox_before: Timestamp,
        dead_before: Timestamp,
    ) -> Result<(), Error>;
}

/// The queue outgoing email travels on (Cloudflare Queues in the worker). Delivery happens
/// later, in the queue's consumer, so no HTTP answer waits on — or tells of — a mailer.
pub trait MailQueue {
    /// Enqueues `envelope`, to be handed to the consumer after `delay_seconds`.
    async fn enqueue(&self, envelope: &Envelope, delay_seconds: u32) -> Result<(), Error>;
}

/// An app's mailer, as the queue's consumer reaches it.
pub trait Mailer {
    /// POSTs the JSON `body` to `url` with the header `Webhook-Signature: signature`: the
    /// answer's HTTP status, or why no answer came (without secrets).
    async fn post(&self, url: &WebUrl, signature: &str, body: &[u8]) -> Result<u16, String>;
}

/// Every relational port at once: what D1 (and the memory store) provide.
pub trait Database:
    TenancyStore
    + OperatorStore
    + ApiKeyStore
    + SigningKeyStore
    + UserStore
    + SessionStore
    + MemberStore
    + AuditStore
    + UserStateStore
    + MaintenanceStore
    + EmailStore
{
}

impl<T> Database for T where
    T: TenancyStore
        + OperatorStore
        + ApiKeyStore
        + SigningKeyStore
        + UserStore
        + SessionStore
        + MemberStore
        + AuditStore
        + UserStateStore
        + MaintenanceStore
        + EmailStore
{
}
