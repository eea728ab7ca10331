//! The memory adapter of every relational port (`MemoryStore`), plus the memory KV backend
//! (`MemoryKv`) and failure injection (`Faults`) shared by both.
//!
//! `MemoryStore` behaves like the D1 adapter's SQL over the schema of `migrations/`: the same
//! conditional writes, the same orderings, and the same constraints (primary keys, `UNIQUE`,
//! and the foreign keys D1 enforces) — a write the database would refuse fails here too. The
//! state sits in a `RefCell` and nothing awaits inside a method, so each call is one atomic
//! transaction, as a D1 batch is. Every method first checks every constraint, then writes, so a
//! call that fails (an injected fault or a constraint) changes nothing.
//!
//! Files by aggregate: `tenancy` (apps, tenants, API keys, signing keys), `operators`
//! (operators and memberships), `users` (end users, sign-in counting, sessions), `user_state`
//! (roles, plans, faces, metadata, webhook, audit log), `email` (delivery settings,
//! challenges, send counts, outbox, dead letters, self-service), `thirdparty` (providers,
//! flows, identities), `oauth` (the OAuth server's settings, clients, codes, consents),
//! `deletion` (deleting apps, tenants and users in bounded steps). `queue`
//! is the memory `MailQueue`.

mod deletion;
mod edge_sync;
mod email;
pub mod faults;
pub mod kv;
mod maintenance;
mod oauth;
mod operators;
pub mod queue;
mod tenancy;
mod thirdparty;
mod user_state;
mod users;

pub use faults::Faults;
pub use kv::MemoryKv;
pub use queue::MemoryQueue;

use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::authz::Permission;
use crate::domain::challenge::StoredChallenge;
use crate::domain::deletion::Deletion;
use crate::domain::delivery::{DeadLetter, Delivery, Message};
use crate::domain::email::Email;
use crate::domain::ids::{
    ApiKeyId, AppId, ChallengeId, DeletionId, MessageId, OperatorId, ProviderId, TenantId,
};
use crate::domain::member::{Member, MemberId};
use crate::domain::names::{OperatorRoleName, PlanTier, RoleName, UserPermission};
use crate::domain::oauth::{AuthorizationCode, Client, ClientId, Consent, OAuthSettings};
use crate::domain::operator::Operator;
use crate::domain::policy::Plan;
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::tenancy::{ApiKey, App, AppSettings, LoginMethod, Tenant};
use crate::domain::thirdparty::{Flow, Identity, Provider};
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId};
use crate::domain::Error;
use crate::store::StoredSigningKey;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Every relational port in memory, with failure injection.
pub struct MemoryStore {
    state: RefCell<State>,
    faults: Rc<Faults>,
}

/// The tables. Keys are typed ids, whose order is the order of their stored text (slugs are
/// text; a UUID's bytes sort as its lower-case hyphenated form), so iterating a map walks the
/// primary key as SQLite does.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    apps: BTreeMap<AppId, App>,
    tenants: BTreeMap<(AppId, TenantId), Tenant>,
    operators: BTreeMap<OperatorId, Operator>,
    api_keys: BTreeMap<ApiKeyId, ApiKeyRow>,
    signing_keys: BTreeMap<String, StoredSigningKey>,
    users: BTreeMap<(AppId, UserId), User>,
    faces: BTreeMap<(AppId, TenantId, UserId), TenantUser>,
    sessions: BTreeMap<SessionId, SessionRow>,
    refresh_tokens: BTreeMap<String, TokenRow>,
    /// `signin_failures` by (app, tenant, subject); the operator plane uses `("", "")`.
    failures: BTreeMap<(String, String, String), FailureRow>,
    members: BTreeMap<MemberId, MemberRow>,
    /// In the order written.
    audit: Vec<AuditEntry>,
    roles: BTreeMap<(AppId, RoleName), RoleRow>,
    plans: BTreeMap<(AppId, PlanTier), PlanRow>,
    metadata: BTreeMap<(AppId, UserId), MetadataRow>,
    webhook_secrets: BTreeMap<AppId, SecretRow>,
    webhook_events: BTreeMap<(AppId, String), Timestamp>,
    /// `edge_sync` by document name.
    edge_sync: BTreeMap<String, edge_sync::EdgeSyncRow>,
    /// `email_delivery` by app (no row: `none`), with its `updated_at`.
    deliveries: BTreeMap<AppId, (Delivery, Timestamp)>,
    /// `email_challenges` by id.
    challenges: BTreeMap<ChallengeId, StoredChallenge>,
    /// `email_send_counts` by (app, tenant, subject): sends and the window's start.
    send_counts: BTreeMap<(String, String, String), (i64, Timestamp)>,
    /// `email_outbox` by message id.
    outbox: BTreeMap<MessageId, Message>,
    /// `email_dead_letters` by message id.
    dead_letters: BTreeMap<MessageId, DeadLetter>,
    /// `thirdparty_providers` by (app, tenant, id).
    providers: BTreeMap<(AppId, TenantId, ProviderId), Provider>,
    /// `thirdparty_flows` by state hash.
    flows: BTreeMap<String, Flow>,
    /// `user_identities` by (app, tenant, provider, subject).
    identities: BTreeMap<thirdparty::IdentityKey, Identity>,
    /// `apps.deleted_at` of the apps whose deletion has begun (their rows stay in `apps`).
    deleted_apps: BTreeMap<AppId, Timestamp>,
    /// `tenants.deleted_at` of the tenants whose deletion has begun.
    deleted_tenants: BTreeMap<(AppId, TenantId), Timestamp>,
    /// `operator_roles` by (app, name): the permissions and `updated_at`.
    operator_roles: BTreeMap<(AppId, OperatorRoleName), (Vec<Permission>, Timestamp)>,
    /// `deletions` by id.
    deletions: BTreeMap<DeletionId, Deletion>,
    /// `tenants.oauth` of the tenants that set it.
    oauth_settings: BTreeMap<(AppId, TenantId), OAuthSettings>,
    /// `oauth_clients` by (app, tenant, id).
    oauth_clients: BTreeMap<oauth::ClientKey, Client>,
    /// `oauth_codes` by code hash.
    oauth_codes: BTreeMap<String, AuthorizationCode>,
    /// `oauth_assertions`: (app, tenant, client, jti hash) → until when it is remembered.
    oauth_assertions: BTreeMap<(AppId, TenantId, ClientId, String), Timestamp>,
    /// `oauth_consents` by (app, tenant, user, client).
    oauth_consents: BTreeMap<oauth::ConsentKey, Consent>,
    /// SQLite's rowid: the order in which rows without an `ORDER BY` come back through an index
    /// on a non-unique column (sessions of a user, memberships of an operator).
    next_rowid: u64,
}

#[derive(Debug, Clone, PartialEq)]
struct ApiKeyRow {
    key: ApiKey,
    hash: SecretHash,
}

#[derive(Debug, Clone, PartialEq)]
struct SessionRow {
    rowid: u64,
    session: Session,
}

#[derive(Debug, Clone, PartialEq)]
struct TokenRow {
    session_id: SessionId,
    generation: i64,
    created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
struct FailureRow {
    failures: i64,
    last_failed_at: Timestamp,
    blocked_until: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
struct MemberRow {
    rowid: u64,
    member: Member,
    invite_hash: Option<SecretHash>,
}

#[derive(Debug, Clone, PartialEq)]
struct RoleRow {
    permissions: Vec<UserPermission>,
    updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
struct PlanRow {
    plan: Plan,
    updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
struct MetadataRow {
    metadata: serde_json::Value,
    updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
struct SecretRow {
    sealed: String,
    created_at: Timestamp,
}

/// The whole state at one moment, for tests that check a call changed nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot(State);

/// How many rows each table holds (test helper).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub apps: usize,
    pub tenants: usize,
    pub operators: usize,
    pub api_keys: usize,
    pub signing_keys: usize,
    pub users: usize,
    pub tenant_users: usize,
    pub sessions: usize,
    pub refresh_tokens: usize,
    pub signin_failures: usize,
    pub members: usize,
    pub audit_log: usize,
    pub end_user_roles: usize,
    pub plans: usize,
    pub user_metadata: usize,
    pub webhook_secrets: usize,
    pub webhook_events: usize,
    pub email_delivery: usize,
    pub email_challenges: usize,
    pub email_send_counts: usize,
    pub email_outbox: usize,
    pub email_dead_letters: usize,
    pub operator_roles: usize,
    pub deletions: usize,
}

/// A write the database refuses (a primary key, `UNIQUE` or foreign key constraint): D1 fails
/// the whole batch, and the adapter reports a failed batch as `Unavailable`.
fn constraint(what: &str) -> Error {
    Error::Unavailable(format!("memory store: {what} constraint failed"))
}

/// A list without repeats, in the order of first appearance: how the D1 adapter reads back
/// login methods, scopes and operator roles (`parse_list`).
fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

impl MemoryStore {
    /// A store in the state the migrations leave D1 in: the app `public` (default settings)
    /// with its tenant `public` (email and password), both created at the epoch.
    pub fn seeded() -> Self {
        Self::seeded_with_faults(Rc::default())
    }

    /// `seeded()` with the failure rules `faults`, which a `MemoryKv` may share
    /// (`MemoryKv::with_faults`): one rule then decides over both, and `calls()` lists the
    /// calls to both in the order they were made.
    pub fn seeded_with_faults(faults: Rc<Faults>) -> Self {
        let public = AppId::parse("public").unwrap_or_else(|_| unreachable!("a valid slug"));
        let mut state = State::default();
        state.apps.insert(
            public.clone(),
            App {
                id: public.clone(),
                settings: AppSettings::default(),
                created_at: Timestamp::EPOCH,
                pending_verification: false,
            },
        );
        let tenant = Tenant {
            app_id: public.clone(),
            id: TenantId::public(),
            login_methods: vec![LoginMethod::EmailPassword],
            link_base_url: None,
            redirect_uris: Vec::new(),
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        };
        state
            .tenants
            .insert((public.clone(), TenantId::public()), tenant);
        // Migration 0006 queues a rewrite of every app's policy document.
        state.edge_sync.insert(
            format!("policy:{public}"),
            edge_sync::EdgeSyncRow {
                version: 1,
                ..edge_sync::EdgeSyncRow::default()
            },
        );
        MemoryStore {
            state: RefCell::new(state),
            faults,
        }
    }

    /// The failure rules: calls are named `db <method>`, e.g. `db create_session`.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The failure rules, to share with a `MemoryKv`.
    pub fn shared_faults(&self) -> Rc<Faults> {
        Rc::clone(&self.faults)
    }

    /// Fails the call `db <method>` when the fault rules say so. Every method calls it first.
    fn check(&self, method: &str) -> Result<(), Error> {
        self.faults.check(|| format!("db {method}"))
    }

    /// Test helper: every audit entry written, oldest first.
    pub fn audit_entries(&self) -> Vec<AuditEntry> {
        self.state.borrow().audit.clone()
    }

    /// Test helper: the whole state, to compare before and after a call.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.state.borrow().clone())
    }

    /// Test helper: how many rows each table holds.
    pub fn row_counts(&self) -> RowCounts {
        let s = self.state.borrow();
        RowCounts {
            apps: s.apps.len(),
            tenants: s.tenants.len(),
            operators: s.operators.len(),
            api_keys: s.api_keys.len(),
            signing_keys: s.signing_keys.len(),
            users: s.users.len(),
            tenant_users: s.faces.len(),
            sessions: s.sessions.len(),
            refresh_tokens: s.refresh_tokens.len(),
            signin_failures: s.failures.len(),
            members: s.members.len(),
            audit_log: s.audit.len(),
            end_user_roles: s.roles.len(),
            plans: s.plans.len(),
            user_metadata: s.metadata.len(),
            webhook_secrets: s.webhook_secrets.len(),
            webhook_events: s.webhook_events.len(),
            email_delivery: s.deliveries.len(),
            email_challenges: s.challenges.len(),
            email_send_counts: s.send_counts.len(),
            email_outbox: s.outbox.len(),
            email_dead_letters: s.dead_letters.len(),
            operator_roles: s.operator_roles.len(),
            deletions: s.deletions.len(),
        }
    }

    /// Test helper: the consecutive-failure count of a sign-in subject (`account:…`,
    /// `client:…`, `signup:…`) in a tenant, if it has one. The operator plane's subjects
    /// (`operator:…`) are under app and tenant `""`.
    pub fn failure_count(&self, app: &str, tenant: &str, subject: &str) -> Option<i64> {
        self.state
            .borrow()
            .failures
            .get(&(app.to_owned(), tenant.to_owned(), subject.to_owned()))
            .map(|row| row.failures)
    }

    /// Test helper: what each stored challenge keeps of its secrets — the token's hash and
    /// the code's hash, as stored text — so a test can check that no secret itself is kept.
    pub fn challenge_rows(&self) -> Vec<(String, Option<String>)> {
        self.state
            .borrow()
            .challenges
            .values()
            .map(|c| {
                let stored = &c.challenge;
                (
                    stored.token_hash.as_str().to_owned(),
                    stored.code_hash.as_ref().map(|h| h.as_str().to_owned()),
                )
            })
            .collect()
    }

    /// Test helper: the generations of every refresh token recorded for a session, ascending.
    pub fn refresh_token_generations(&self, session: &SessionId) -> Vec<i64> {
        let mut generations: Vec<i64> = self
            .state
            .borrow()
            .refresh_tokens
            .values()
            .filter(|t| t.session_id == *session)
            .map(|t| t.generation)
            .collect();
        generations.sort_unstable();
        generations
    }
}

impl State {
    fn rowid(&mut self) -> u64 {
        self.next_rowid += 1;
        self.next_rowid
    }

    /// True for an app that exists and is not being deleted (`deleted_at IS NULL`).
    fn app_is_live(&self, app: &AppId) -> bool {
        self.apps.contains_key(app) && !self.deleted_apps.contains_key(app)
    }

    /// True for a tenant that exists and is not being deleted, in such an app (`LIVE_TENANT`).
    fn tenant_is_live(&self, app: &AppId, tenant: &TenantId) -> bool {
        let key = (app.clone(), tenant.clone());
        self.tenants.contains_key(&key)
            && !self.deleted_tenants.contains_key(&key)
            && !self.deleted_apps.contains_key(app)
    }

    /// The foreign key of every row that names an app.
    fn require_app(&self, app: &AppId) -> Result<(), Error> {
        if self.apps.contains_key(app) {
            Ok(())
        } else {
            Err(constraint("FOREIGN KEY (app)"))
        }
    }

    /// The foreign key of every row that names a tenant.
    fn require_tenant(&self, app: &AppId, tenant: &TenantId) -> Result<(), Error> {
        if self.tenants.contains_key(&(app.clone(), tenant.clone())) {
            Ok(())
        } else {
            Err(constraint("FOREIGN KEY (app, tenant)"))
        }
    }

    /// True when a face of the tenant has this email (`UNIQUE (app_id, tenant_id, email)`).
    fn email_taken(&self, app: &AppId, tenant: &TenantId, email: &Email) -> bool {
        self.faces
            .values()
            .any(|f| f.app_id == *app && f.tenant_id == *tenant && f.email == *email)
    }

    /// The audit log's primary key.
    fn check_audit(&self, entry: &AuditEntry) -> Result<(), Error> {
        if self.audit.iter().any(|e| e.id == entry.id) {
            Err(constraint("PRIMARY KEY (audit_log)"))
        } else {
            Ok(())
        }
    }

    /// Writes an audit entry as the SQL does: `detail` goes through its JSON text.
    fn write_audit(&mut self, entry: &AuditEntry) {
        let mut entry = entry.clone();
        entry.detail = serde_json::from_str(&entry.detail.to_string()).unwrap_or_default();
        self.audit.push(entry);
    }

    /// Checks an insert of a user and its face that happens only when the tenant lacks the
    /// email (the D1 adapter's `user_inserts`). `Ok(false)`: nothing would be written.
    fn check_user_pair(&self, user: &User, face: &TenantUser) -> Result<bool, Error> {
        if self.email_taken(&user.app_id, &face.tenant_id, &face.email) {
            return Ok(false);
        }
        self.require_app(&user.app_id)?;
        if self.users.contains_key(&(user.app_id.clone(), user.id)) {
            return Err(constraint("PRIMARY KEY (users)"));
        }
        self.check_face_insert(face, Some(user))?;
        Ok(true)
    }

    /// Checks a face insert that is not `OR IGNORE`; `new_user` is the user written just before.
    fn check_face_insert(&self, face: &TenantUser, new_user: Option<&User>) -> Result<(), Error> {
        let key = (face.app_id.clone(), face.tenant_id.clone(), face.user_id);
        if self.faces.contains_key(&key) {
            return Err(constraint("PRIMARY KEY (tenant_users)"));
        }
        if self.email_taken(&face.app_id, &face.tenant_id, &face.email) {
            return Err(constraint("UNIQUE (tenant_users.email)"));
        }
        self.check_face_parents(face, new_user)
    }

    /// The foreign keys of a face: its tenant and its user.
    fn check_face_parents(&self, face: &TenantUser, new_user: Option<&User>) -> Result<(), Error> {
        self.require_tenant(&face.app_id, &face.tenant_id)?;
        let user_is_new = new_user.is_some_and(|u| u.app_id == face.app_id && u.id == face.user_id);
        if !user_is_new
            && !self
                .users
                .contains_key(&(face.app_id.clone(), face.user_id))
        {
            return Err(constraint("FOREIGN KEY (tenant_users.user)"));
        }
        Ok(())
    }

    /// Writes a user and its face as the SQL does: the user's stored email is the face's, and
    /// the face starts with the column defaults (no override, no roles, version 0).
    fn write_user_pair(&mut self, user: &User, face: &TenantUser) {
        let mut stored = user.clone();
        stored.email = face.email.clone();
        self.users.insert((user.app_id.clone(), user.id), stored);
        self.write_face(face);
    }

    /// Inserts a face with the columns the SQL sets; the others take their defaults.
    fn write_face(&mut self, face: &TenantUser) {
        let stored = TenantUser {
            rate_limit_override: None,
            roles: Vec::new(),
            version: 0,
            providers: Vec::new(),
            ..face.clone()
        };
        self.faces.insert(
            (face.app_id.clone(), face.tenant_id.clone(), face.user_id),
            stored,
        );
    }

    /// Checks an insert of a session with its first refresh token.
    fn check_session_insert(&self, session: &Session, token: &SecretHash) -> Result<(), Error> {
        if self.sessions.contains_key(&session.id) {
            return Err(constraint("PRIMARY KEY (sessions)"));
        }
        self.require_tenant(&session.app_id, &session.tenant_id)?;
        if self.refresh_tokens.contains_key(token.as_str()) {
            return Err(constraint("PRIMARY KEY (refresh_tokens)"));
        }
        Ok(())
    }

    /// Writes a session (never revoked: the insert leaves `revoked_at` NULL) and its token of
    /// the session's generation.
    fn write_session(&mut self, session: &Session, token: &SecretHash) {
        let rowid = self.rowid();
        let stored = Session {
            revoked_at: None,
            ..session.clone()
        };
        self.sessions.insert(
            session.id,
            SessionRow {
                rowid,
                session: stored,
            },
        );
        self.refresh_tokens.insert(
            token.as_str().to_owned(),
            TokenRow {
                session_id: session.id,
                generation: session.generation,
                created_at: session.created_at,
            },
        );
    }
}

/// An audit entry as read back.
fn record_of(entry: &AuditEntry) -> AuditRecord {
    AuditRecord {
        id: entry.id,
        at: entry.at,
        actor: entry.actor.as_stored(),
        action: entry.action,
        target: entry.target.clone(),
        tenant_id: entry.tenant_id.clone(),
        detail: entry.detail.clone(),
    }
}

/// True when `key` sorts after the keyset cursor (`id > ?` over text; no cursor is `''`).
fn after_cursor(key: &str, after: Option<&str>) -> bool {
    key > after.unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::AuditId;

    #[test]
    fn uuid_ids_sort_as_their_text() {
        let ids: Vec<AuditId> = [0x00_u8, 0x0f, 0xa0, 0xff]
            .iter()
            .flat_map(|b| {
                [1_i64, 0x1_0000_0000, 1_700_000_000_000]
                    .map(|ms| AuditId::generate(Timestamp::from_unix_ms(ms), [*b; 10]))
            })
            .collect();
        let mut by_value = ids.clone();
        by_value.sort();
        let mut by_text = ids;
        by_text.sort_by_key(|id| id.to_string());
        assert_eq!(by_value, by_text);
    }
}
