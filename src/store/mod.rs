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
use crate::domain::deletion::{Deletion, Target as DeletionTarget};
use crate::domain::delivery::{DeadLetter, Delivery, Envelope, Message};
use crate::domain::edge::{EdgeDoc, EdgeKey, EdgeState};
use crate::domain::email::Email;
use crate::domain::ids::{
    ApiKeyId, AppId, ChallengeId, DeletionId, OperatorId, ProviderId, TenantId,
};
use crate::domain::jose::{Jwk, JwsAlgorithm};
use crate::domain::keys::KeyOwner;
use crate::domain::links::WebUrl;
use crate::domain::member::{CustomRole, Member, MemberId, MemberStatus};
use crate::domain::names::{OperatorRoleName, PlanTier, RoleName, UserPermission};
use crate::domain::oauth::{
    AuthorizationCode, Client, ClientId, ClientKey, ClientTokens, Consent, OAuthSettings,
};
use crate::domain::operator::Operator;
use crate::domain::password::{PasswordHash, PasswordParams};
use crate::domain::policy::{AppPolicy, Effective, Plan};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::tenancy::{ApiKey, App, AppSettings, Tenant};
use crate::domain::thirdparty::{Flow, Identity, Provider};
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
}

/// Operator accounts.
pub trait OperatorStore {
    /// Creates the first platform owner with `membership`, its `owner` membership of the app
    /// `public` (source `bootstrap`). `false` (nothing written) when a platform owner exists
    /// already — checked in the same statement as the insert, so two racing bootstraps cannot
    /// both win.
    async fn create_platform_owner(
        &self,
        operator: &Operator,
        membership: &Member,
    ) -> Result<bool, Error>;
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
    /// Counts an operator sign-up from a client address (`signup:<address>` under
    /// `throttle::SIGNUP`, in the operator plane) unless it is blocked; `Some(seconds)` when
    /// it is. Sign-ups hash a password, so they are throttled per address before any hashing.
    async fn count_operator_signup(
        &self,
        client: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, Error>;
    /// Operator sign-up: creates `new_operator` (when the email had none), the app with its
    /// `public` tenant and the operator's `owner` membership, with the audit entry, in one
    /// batch. `false` (nothing written) when an app of that id exists (or is being deleted).
    async fn sign_up_operator(
        &self,
        new_operator: Option<&Operator>,
        app: &App,
        public: &Tenant,
        owner: &Member,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
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
    /// Refresh in one round trip: when `token` is the current token of a session of `app` and
    /// `tenant` that is live at `now` (not revoked, within its absolute and idle lifetimes)
    /// and whose user is active there (in the face the session was made for: not a session of
    /// an earlier face, from before the user left and came back), and which `client` holds
    /// (`None`: a session of the tenant's own app), moves the session to the
    /// next generation and records
    /// `successor` (a compare-and-swap, as `rotate_session`). Returns whether it rotated, and
    /// the presented token's session as it now is (what the other outcomes are decided from).
    async fn rotate_presented(
        &self,
        app: &AppId,
        tenant: &TenantId,
        token: &SecretHash,
        successor: &SecretHash,
        client: Option<&ClientId>,
        now: Timestamp,
    ) -> Result<(bool, Option<PresentedRefresh>), Error>;
    /// The session, if any.
    async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, Error>;
    /// Marks the session revoked (if it was not) and bumps its user's edge document, in one
    /// batch. The session as it now is, and whether this call revoked it; `None` when there is
    /// no such session.
    async fn revoke_session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<(Session, bool)>, Error>;
    /// The user's face in the tenant, with the user, when `session` is a live (unrevoked)
    /// session of that user in that tenant, made for its current face (not before the face
    /// was created) — what `/auth/me` answers, read in one statement.
    async fn find_session_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        session: &SessionId,
    ) -> Result<Option<(User, TenantUser)>, Error>;
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
    /// The edge document of a user in a tenant (its state and its sessions' recent
    /// revocations), if one exists: introspection's one KV read.
    async fn find_user_edge(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<EdgeDoc>, Error>;
    /// Rewrites the edge document of a user in a tenant; `effective` is the user's effective
    /// view when written, kept in the document for its human and test readers.
    async fn put_user_edge(
        &self,
        key: &EdgeKey,
        doc: &EdgeDoc,
        effective: Option<&Effective>,
    ) -> Result<(), Error>;
    /// Withdraws the edge document of a user in a tenant (the tenant is gone).
    async fn delete_user_edge(&self, key: &EdgeKey) -> Result<(), Error>;
    /// The fingerprint of the deployment secret recorded by the first Worker to run
    /// (`keys::secret_fingerprint`), if any.
    async fn find_secret_fingerprint(&self) -> Result<Option<String>, Error>;
    /// Records the fingerprint of the deployment secret.
    async fn put_secret_fingerprint(&self, fingerprint: &str) -> Result<(), Error>;
    /// The API key with this hash.
    async fn find_api_key(&self, hash: &SecretHash) -> Result<Option<ApiKey>, Error>;
    /// Publishes an API key.
    async fn put_api_key(&self, hash: &SecretHash, key: &ApiKey) -> Result<(), Error>;
    /// Withdraws an API key.
    async fn delete_api_key(&self, hash: &SecretHash) -> Result<(), Error>;
    /// The mirrored roles and plans of an app (`None` when never written).
    async fn find_policy(&self, app: &AppId) -> Result<Option<AppPolicy>, Error>;
    /// Rewrites the mirror of an app's roles and plans.
    async fn put_policy(&self, app: &AppId, policy: &AppPolicy) -> Result<(), Error>;
    /// Withdraws the mirror of a deleted app's roles and plans.
    async fn delete_policy(&self, app: &AppId) -> Result<(), Error>;
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
    /// Withdraws the published public keys of a deleted owner.
    async fn delete_public_keys(&self, owner: &KeyOwner) -> Result<(), Error>;
    /// What introspection knows of an OAuth client's `client_credentials` tokens.
    async fn find_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<Option<ClientTokens>, Error>;
    /// Writes it, to expire from KV when it is no longer good.
    async fn put_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &ClientId,
        tokens: &ClientTokens,
        now: Timestamp,
    ) -> Result<(), Error>;
    /// The confidential client whose secret has this hash, if published.
    async fn find_client_key(&self, hash: &SecretHash) -> Result<Option<ClientKey>, Error>;
    /// Publishes an active confidential client under the hash of its secret.
    async fn put_client_key(&self, hash: &SecretHash, key: &ClientKey) -> Result<(), Error>;
    /// Withdraws it (disabled or deleted).
    async fn delete_client_key(&self, hash: &SecretHash) -> Result<(), Error>;
    /// Withdraws it: none of the client's `client_credentials` tokens is active any more.
    async fn delete_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<(), Error>;
}

/// When a writer leases an edge document, and whether its lease dates the lease count anew.
/// A request's writer does (`From<Timestamp>`): while writers keep coming, none of their leases
/// is taken back. The cron's sweep does not (`LeaseAt::sweep`), except from zero: a lease lost
/// with its writer is then taken back `LEASE_TIMEOUT_MS` after the last request's lease, even
/// while the sweep rewrites the document every minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseAt {
    pub at: Timestamp,
    pub renews: bool,
}

impl LeaseAt {
    /// A lease of the cron's sweep.
    pub fn sweep(at: Timestamp) -> Self {
        LeaseAt { at, renews: false }
    }
}

impl From<Timestamp> for LeaseAt {
    fn from(at: Timestamp) -> Self {
        LeaseAt { at, renews: true }
    }
}

/// Bookkeeping of the KV documents that mirror D1 (`edge_sync`): each change bumps its
/// document's version in the same batch (the stores do it), writers lease a document while
/// they copy it, and a document is closed only by the writer of the current version when no
/// other writer is in flight. See `service::edge` for the protocol.
pub trait EdgeSyncStore {
    /// Leases the user's edge document and reads what it must say — version, tenant
    /// incarnation, face and the sessions revoked since `revoked_since` (newest first, at most
    /// `MAX_LISTED_REVOCATIONS + 1`) — in one round trip.
    async fn lease_user_edge(
        &self,
        key: &EdgeKey,
        revoked_since: Timestamp,
        now: impl Into<LeaseAt>,
    ) -> Result<EdgeState, Error>;
    /// Leases the app's policy document and reads its version and the policy, at once.
    async fn lease_policy_edge(
        &self,
        app: &AppId,
        now: impl Into<LeaseAt>,
    ) -> Result<(i64, AppPolicy), Error>;
    /// Leases an owner's public-keys document and reads its version and the owner's keys
    /// (`find_signing_keys`'s order), at once.
    async fn lease_keys_edge(
        &self,
        owner: &KeyOwner,
        now: impl Into<LeaseAt>,
    ) -> Result<(i64, Vec<StoredSigningKey>), Error>;
    /// Gives back a lease on `doc` after writing `version` to KV (`written`) or failing to.
    /// Closes the document when the write was of the current version and no other writer
    /// holds a lease; reopens it when D1 moved on meanwhile (the write may have buried a newer
    /// copy) by bumping its version, so that no writer in flight can close it after that.
    /// `true` when the document is now known to say what D1 holds.
    async fn release_edge(&self, doc: &str, version: i64, written: bool) -> Result<bool, Error>;
    /// Takes back leases held since before `expired_before` (their writers died; a lease taken
    /// while others are held does not renew them), then returns up
    /// to `limit` documents that may not say what D1 holds, oldest change first.
    async fn find_stale_edges(
        &self,
        expired_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, Error>;
    /// Bumps the version of `doc` (a change D1 made elsewhere, e.g. in another store's batch,
    /// that the document must now reflect).
    async fn mark_edge_changed(&self, doc: &str, now: Timestamp) -> Result<(), Error>;
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
    /// Writes a membership's new status, roles and type if it is still in `expected` status and
    /// every custom role it names is defined by the app (checked in the same statement). When
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
    /// What an operator's memberships that are not left grant, in apps that are not being
    /// deleted — with the definitions of the custom roles they bind and whether each app waits
    /// for its owner's email — in one read.
    async fn find_grants(&self, operator: &OperatorId) -> Result<Vec<Grant>, Error>;
    /// The operator roles the app defines, by name.
    async fn find_operator_roles(&self, app: &AppId) -> Result<Vec<CustomRole>, Error>;
    /// Creates or replaces an operator role of the app, unless the app defines
    /// `MAX_CUSTOM_ROLES` others already. `false` (nothing written) when it would be one too
    /// many.
    async fn put_operator_role(
        &self,
        app: &AppId,
        role: &CustomRole,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Deletes an operator role unless a membership that is not left binds it — checked in the
    /// same statement, so a role cannot be bound and deleted at once.
    async fn delete_operator_role(
        &self,
        app: &AppId,
        name: &OperatorRoleName,
        audit: &AuditEntry,
    ) -> Result<RoleDeletion, Error>;
}

/// How deleting an operator role ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleDeletion {
    Deleted,
    /// The app defines no such role.
    NotFound,
    /// A membership binds it: nothing was deleted.
    InUse,
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
    /// verified) and revokes every live session of the user in the tenant (bumping the user's
    /// edge document when any was), settling `settle`, in one batch. The revoked sessions, or
    /// `None` when the challenge was no longer open.
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
    /// Consumes an open challenge, marks the operator's email verified and makes the apps it
    /// signed up for (its `signup` memberships) usable beyond their settings, settling
    /// `settle`, in one batch. The apps that became usable, or `None` when the challenge was
    /// no longer open.
    async fn verify_operator_email(
        &self,
        challenge: &ChallengeId,
        operator: &OperatorId,
        now: Timestamp,
        settle: &Settlement,
    ) -> Result<Option<Vec<AppId>>, Error>;
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
    /// `keep` (bumping the user's edge document when any was), settling `settle`, in one
    /// batch. The revoked sessions.
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

/// An identity found by its provider and subject, with its user as the tenant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedUser {
    pub identity: Identity,
    pub user: User,
    pub face: TenantUser,
}

/// Third-party sign-in: a tenant's providers, the flows under way, and the identities that
/// link a provider's subjects to users. Every row is keyed by app and tenant first.
pub trait ThirdPartyStore {
    /// The provider with this id in the tenant, if any.
    async fn find_provider(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
    ) -> Result<Option<Provider>, Error>;
    /// Up to `limit` providers of a tenant ordered by id, after `after`.
    async fn list_providers(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Provider>, Error>;
    /// Creates the provider, or replaces the one of its id (keeping its `created_at`), with
    /// `audit`, in one batch; replacing it with another issuer deletes the identities of the
    /// old one. `None` (nothing written) when the tenant does not exist, else whether it was
    /// created.
    async fn put_provider(
        &self,
        provider: &Provider,
        audit: &AuditEntry,
    ) -> Result<Option<bool>, Error>;
    /// Deletes a provider with its identities and flows, and writes `audit`, in one batch.
    /// `false` when there was none.
    async fn delete_provider(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Counts a step of a flow (a start or a callback) against `client` under `policy`, unless
    /// it is blocked, and finds the provider, in one batch (`Counted::retry_after` when the
    /// client is blocked).
    async fn begin_flow_step(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
        client: Option<(&str, &'static ThrottlePolicy)>,
        now: Timestamp,
    ) -> Result<Counted<Provider>, Error>;
    /// Stores a started flow.
    async fn create_flow(&self, flow: &Flow) -> Result<(), Error>;
    /// Takes the flow of a state: deletes it and returns it, so a state works once, whoever
    /// races for it (expired or not: the caller checks).
    async fn take_flow(&self, state: &SecretHash) -> Result<Option<Flow>, Error>;
    /// The identity of `subject` at the tenant's provider `provider` of issuer `issuer`, with
    /// its user.
    async fn find_identity(
        &self,
        app: &AppId,
        tenant: &TenantId,
        provider: &ProviderId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<LinkedUser>, Error>;
    /// Writes the session of a third-party sign-in with its first refresh token, settling
    /// `settle`, in one batch.
    async fn thirdparty_sign_in(
        &self,
        session: &Session,
        token: &SecretHash,
        settle: &Settlement,
    ) -> Result<(), Error>;
    /// Writes a new user (email verified), its face, its identity and its first session, only
    /// when the tenant lacks the email, settling `settle`, in one batch. `false` (nothing
    /// written) when the tenant has the email.
    async fn thirdparty_sign_up(
        &self,
        user: &User,
        face: &TenantUser,
        identity: &Identity,
        session: (&Session, &SecretHash),
        settle: &Settlement,
    ) -> Result<bool, Error>;
    /// Links `identity` to its user — only while the user's face in the tenant still has the
    /// email `email` — and writes the session, settling `settle`, in one batch. With
    /// `takeover`, and only while the user's email is still unverified, the link also removes
    /// the user's password, marks its email verified and revokes its other live sessions in
    /// every tenant, bumping the user's edge document in each of its tenants when any was
    /// revoked. The revoked sessions, or `None` (nothing written) when the link was not made.
    async fn link_identity(
        &self,
        identity: &Identity,
        email: &Email,
        takeover: bool,
        session: (&Session, &SecretHash),
        settle: &Settlement,
    ) -> Result<Option<Vec<SessionId>>, Error>;
    /// Deletes at most `limit` flows that expired before `now`; how many it deleted.
    async fn prune_flows(&self, now: Timestamp, limit: usize) -> Result<usize, Error>;
}

/// A request to an identity provider: `GET`, or `POST` of a form. Its `Debug` names the
/// method and URL only (headers and form carry codes and secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: OutboundMethod,
    /// One of the provider's configured URLs.
    pub url: WebUrl,
    /// Header names and values (`Authorization`, `Accept`, …).
    pub headers: Vec<(&'static str, String)>,
    /// An `application/x-www-form-urlencoded` body (`POST` only).
    pub form: Option<String>,
    /// How long the answer may take and how large it may be.
    pub limits: OutboundLimits,
}

/// The bounds of one outbound request: a slower or larger answer is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    pub timeout_seconds: u64,
    pub max_body_bytes: usize,
}

impl OutboundLimits {
    /// Identity providers: `OUTBOUND_TIMEOUT_SECONDS`, `MAX_OUTBOUND_BODY_BYTES`.
    pub const PROVIDER: OutboundLimits = OutboundLimits {
        timeout_seconds: OUTBOUND_TIMEOUT_SECONDS,
        max_body_bytes: MAX_OUTBOUND_BODY_BYTES,
    };
}

impl std::fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The methods used towards providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundMethod {
    Get,
    Post,
}

/// A provider's answer (redirects are answers, never followed). Its `Debug` shows the status
/// and the size only: bodies carry tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for OutboundResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OutboundResponse({}, {} bytes)",
            self.status,
            self.body.len()
        )
    }
}

/// Largest provider answer read, in bytes; a larger one is a failure.
pub const MAX_OUTBOUND_BODY_BYTES: usize = 256 * 1024;
/// How long a provider has to answer one request, in seconds.
pub const OUTBOUND_TIMEOUT_SECONDS: u64 = 10;

/// The network towards identity providers and OAuth clients' metadata documents (`fetch` in
/// the worker, an in-process server in tests): one request, no redirect followed, answered
/// within the request's `limits` (time and body size) — or why not (without secrets, for the
/// log).
pub trait ProviderHttp {
    async fn send(&self, request: &OutboundRequest) -> Result<OutboundResponse, String>;
}

/// Verifies JWS signatures with a provider's public key (WebCrypto in the worker).
pub trait SignatureVerifier {
    /// True when `signature` is `alg`'s signature of `message` under `key` (a key that fits the
    /// algorithm: `Jwk::fits`). An algorithm or key the verifier cannot use is `false`.
    async fn verify(
        &self,
        alg: JwsAlgorithm,
        key: &Jwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Error>;
}

/// What third-party sign-in reaches outside the worker: the providers' URLs and a signature
/// verifier.
pub trait Federation: ProviderHttp + SignatureVerifier {}

impl<T: ProviderHttp + SignatureVerifier> Federation for T {}

/// Deletions of apps, tenants and users (`domain::deletion`): the record of each, its atomic
/// first step, and one bounded purge per aggregate. Every purge deletes at most `limit` rows
/// (per table it touches) of what the target covers and says how many went, so the caller
/// repeats it until fewer than `limit` come back; a purge finds nothing of a target it does
/// not concern. A new aggregate (say, third-party identities) adds its purge here and a phase
/// in `domain::deletion`.
pub trait DeletionStore {
    /// The first step, atomic with the record and the audit entry: an app or tenant is marked
    /// deleted (gone for every reader; memberships narrowed to the tenant end); a user's faces
    /// in `deletion.tenants` — which for an erasure must be all of its faces — go with what
    /// email flows kept of their addresses there (challenges, send counts, outbox, dead
    /// letters, sign-in counters), and the user with its metadata when no face is left.
    /// `false` (nothing written) when the target does not exist (or no longer matches).
    async fn begin_deletion(&self, deletion: &Deletion, audit: &AuditEntry) -> Result<bool, Error>;
    /// A deletion of this app (any kind), if any.
    async fn find_deletion(&self, app: &AppId, id: &DeletionId) -> Result<Option<Deletion>, Error>;
    /// The running deletion of exactly this target, if any.
    async fn find_running_deletion(
        &self,
        target: &DeletionTarget,
    ) -> Result<Option<Deletion>, Error>;
    /// Up to `limit` running deletions that have work to do at `now`, oldest first: not those
    /// that only wait (`Deletion::next` is `WaitUntil`), so that any number of waiting user
    /// deletions never holds back the others.
    async fn list_due_deletions(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Deletion>, Error>;
    /// Writes a deletion's progress (phase, cursor, rows, state; once done its user and
    /// tenants are forgotten) while it is running; `false` when it is not (done meanwhile, or
    /// superseded by a newer deletion of its user: the caller stops).
    async fn update_deletion(&self, deletion: &Deletion) -> Result<bool, Error>;
    /// Done deletions finished before `finished_before`, at most `limit`.
    async fn prune_deletions(
        &self,
        finished_before: Timestamp,
        limit: usize,
    ) -> Result<usize, Error>;
    /// API keys of the target; their hashes (so the edge can forget them).
    async fn purge_api_keys(
        &self,
        target: &DeletionTarget,
        limit: usize,
    ) -> Result<Vec<SecretHash>, Error>;
    /// Refresh tokens of the target's sessions, then the sessions that have none left.
    async fn purge_sessions(&self, target: &DeletionTarget, limit: usize) -> Result<usize, Error>;
    /// The secret hashes of the target's confidential OAuth clients (an app's or tenant's; at
    /// most `limit`), whose `clientkey:` copies at the edge must go before their rows do.
    async fn find_client_secrets(
        &self,
        target: &DeletionTarget,
        limit: usize,
    ) -> Result<Vec<SecretHash>, Error>;
    /// Forgets those of `hashes` the target's clients hold (their edge copies are withdrawn),
    /// bumping each client's version; how many clients changed.
    async fn forget_client_secrets(
        &self,
        target: &DeletionTarget,
        hashes: &[SecretHash],
    ) -> Result<usize, Error>;
    /// Third-party sign-in state of an app or tenant: identities, flows, identity providers.
    async fn purge_thirdparty(&self, target: &DeletionTarget, limit: usize)
        -> Result<usize, Error>;
    /// The first `limit` faces (tenant, user) of the target, in key order.
    async fn find_faces(
        &self,
        target: &DeletionTarget,
        limit: usize,
    ) -> Result<Vec<(TenantId, UserId)>, Error>;
    /// Deletes `faces` of the target, and of their users those left with no face (with their
    /// metadata); with no `faces`, up to `limit` users of the target that have no face (an
    /// app's). The rows deleted.
    async fn purge_users(
        &self,
        target: &DeletionTarget,
        faces: &[(TenantId, UserId)],
        limit: usize,
    ) -> Result<usize, Error>;
    /// What email flows kept of the target: challenges, send counts, outbox, dead letters, and
    /// an app's delivery setting.
    async fn purge_email(&self, target: &DeletionTarget, limit: usize) -> Result<usize, Error>;
    /// Sign-in and sign-up counters of the target.
    async fn purge_signin_failures(
        &self,
        target: &DeletionTarget,
        limit: usize,
    ) -> Result<usize, Error>;
    /// Memberships of an app.
    async fn purge_members(&self, target: &DeletionTarget, limit: usize) -> Result<usize, Error>;
    /// End-user roles, plans and operator roles of an app.
    async fn purge_catalogue(&self, target: &DeletionTarget, limit: usize) -> Result<usize, Error>;
    /// The billing webhook's secret and events of an app.
    async fn purge_billing(&self, target: &DeletionTarget, limit: usize) -> Result<usize, Error>;
    /// An app's audit entries; for an erasure, the entries of the app that name the user get
    /// `pseudonym` as their target instead (the entries themselves stay).
    async fn purge_audit(
        &self,
        target: &DeletionTarget,
        pseudonym: &str,
        limit: usize,
    ) -> Result<usize, Error>;
    /// Signing keys of an app.
    async fn purge_signing_keys(
        &self,
        target: &DeletionTarget,
        limit: usize,
    ) -> Result<usize, Error>;
    /// Tenant rows of an app (each with nothing left under it); their ids.
    async fn purge_tenants(
        &self,
        target: &DeletionTarget,
        limit: usize,
    ) -> Result<Vec<TenantId>, Error>;
    /// Up to `limit` names of the KV documents of the target (`DeletionTarget::edge_docs`)
    /// that `edge_sync` has rows of, in name order.
    async fn find_edge_docs(
        &self,
        target: &DeletionTarget,
        limit: usize,
    ) -> Result<Vec<String>, Error>;
    /// Deletes the `edge_sync` rows of `docs` (their KV copies are withdrawn); how many went.
    async fn forget_edge_docs(&self, docs: &[String]) -> Result<usize, Error>;
    /// The row of the deleted tenant or app, once nothing is left under it. `true` when it
    /// went (or was gone already).
    async fn delete_target_row(&self, target: &DeletionTarget) -> Result<bool, Error>;
}

/// A tenant's OAuth 2.1 authorization server: its settings, clients, authorization codes and
/// remembered consents. The grants themselves are sessions (`SessionStore`) that carry their
/// client (`Session::grant`).
pub trait OAuthStore {
    /// The tenant's OAuth settings (the defaults when none were set); `None` when the tenant
    /// does not exist (or is being deleted).
    async fn find_oauth_settings(
        &self,
        app: &AppId,
        tenant: &TenantId,
    ) -> Result<Option<OAuthSettings>, Error>;
    /// Replaces the tenant's settings, with the audit entry; `false` (nothing written) when
    /// the tenant does not exist.
    async fn put_oauth_settings(
        &self,
        app: &AppId,
        tenant: &TenantId,
        settings: &OAuthSettings,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Writes a new client, with the audit entry; `false` when its tenant does not exist.
    async fn create_client(&self, client: &Client, audit: &AuditEntry) -> Result<bool, Error>;
    /// The client, if the tenant has it.
    async fn find_client(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Client>, Error>;
    /// A page of the tenant's clients in id order, after the id `after`.
    async fn list_clients(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Client>, Error>;
    /// Writes a client's changed name, redirect URIs, grant types, scopes and status, with
    /// the audit entry, only over the stored version it was made from (`client.version`; the
    /// stored one is then one more): a concurrent change is never overwritten. With
    /// `end_grants`, every live session the client holds is revoked
    /// (and its user's edge document bumped), its codes not yet exchanged are deleted and its
    /// `client_credentials` tokens issued before `now` revoked (`tokens_revoked_before`), in
    /// the same batch. `None` (nothing written) when there is no such client or it changed
    /// since `client.version`; else the users whose grants were revoked.
    async fn update_client(
        &self,
        client: &Client,
        end_grants: bool,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<UserId>>, Error>;
    /// Replaces a confidential client's secret hash with `client.secret_hash` (and its
    /// `updated_at`), with the audit entry, only over the stored version it was made from
    /// (`client.version`; the stored one is then one more). `false` (nothing written) when
    /// there is no such client, it has no secret, or it changed since.
    async fn rotate_client_secret(
        &self,
        client: &Client,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Deletes a client with its codes and consents, revoking every live session it holds
    /// (bumping their users' edge documents), with the audit entry, in one batch. `None` when
    /// there is no such client; else the users whose grants were revoked.
    async fn delete_client(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Option<Vec<UserId>>, Error>;
    /// Revokes the client's `client_credentials` tokens issued before `at`; the client as it
    /// now is, `None` when there is no such client.
    async fn revoke_client_tokens(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ClientId,
        at: Timestamp,
    ) -> Result<Option<Client>, Error>;
    /// Writes a new authorization code (its user must have a face in the tenant).
    async fn create_code(&self, code: &AuthorizationCode) -> Result<(), Error>;
    /// `put_consent` and `create_code` in one write: the code an approval gives and the
    /// consent it remembers, with the consent's audit entry, all or nothing.
    async fn create_code_with_consent(
        &self,
        code: &AuthorizationCode,
        consent: &Consent,
        audit: &AuditEntry,
    ) -> Result<(), Error>;
    /// The code with this hash, used or not.
    async fn find_code(&self, hash: &SecretHash) -> Result<Option<AuthorizationCode>, Error>;
    /// The one exchange of a code: when the code is unused, unexpired at `now`, its user
    /// still active in the tenant and its client still active (a registered one; a metadata
    /// document's has no row), marks it used by `session` and writes `session` with its first
    /// refresh token `refresh`, atomically. `false` (nothing written) otherwise.
    async fn redeem_code(
        &self,
        code: &SecretHash,
        session: &Session,
        refresh: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, Error>;
    /// The consent `user` gave `client`, if remembered.
    async fn find_consent(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, Error>;
    /// Remembers (or replaces) a consent, with the audit entry; nothing when the user has no
    /// face in the tenant.
    async fn put_consent(&self, consent: &Consent, audit: &AuditEntry) -> Result<(), Error>;
    /// The consents `user` gave in the tenant, by client id.
    async fn list_consents(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<Consent>, Error>;
    /// Ends what `user` granted `client` in the tenant: the consent is forgotten, the codes not
    /// yet exchanged deleted and every live session the client holds for the user revoked (the
    /// user's edge document bumped), with the audit entry, in one batch. `false` (nothing
    /// written) when there was neither consent nor live session.
    async fn revoke_grant(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        client: &ClientId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error>;
    /// Deletes up to `limit` codes, and up to `limit` remembered client assertions, that
    /// expired before `before`; how many went.
    async fn prune_codes(&self, before: Timestamp, limit: usize) -> Result<usize, Error>;
    /// The one use of a `private_key_jwt` client's assertion: remembers the hash of its `jti`
    /// for the client until `remember_until`, and forgets some of the client's expired ones.
    /// `false` (nothing written) when the client used that jti before, remembers `max_live`
    /// unexpired ones already, or has no row.
    async fn use_assertion(
        &self,
        client: (&AppId, &TenantId, &ClientId),
        used: &AssertionUse,
    ) -> Result<bool, Error>;
}

/// A `private_key_jwt` assertion to remember (`OAuthStore::use_assertion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionUse {
    /// The SHA-256 (hex) of its `jti`.
    pub jti_hash: String,
    /// Until when a replay must be refused.
    pub remember_until: Timestamp,
    pub now: Timestamp,
    /// Most unexpired assertions one client may have in memory (what bounds the table).
    pub max_live: usize,
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
    + EdgeSyncStore
    + MaintenanceStore
    + EmailStore
    + ThirdPartyStore
    + OAuthStore
    + DeletionStore
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
        + EdgeSyncStore
        + MaintenanceStore
        + EmailStore
        + ThirdPartyStore
        + OAuthStore
        + DeletionStore
{
}
