//! Deletion of an app, a tenant or an end user: what goes, in which order, and in steps small
//! enough for D1.
//!
//! A deletion begins with one atomic step that makes its target gone for every reader at once
//! (an app or tenant is marked deleted and a namesake cannot be created until its last row is
//! gone; a user loses its faces, its user record and what email flows kept of it), records the
//! deletion and writes its audit entry. The rest goes in **phases**, one aggregate each, in
//! steps of at most `ROWS_PER_STEP` rows and `EDGE_WRITES_PER_STEP` KV writes; a request runs
//! as many steps as `Budget::REQUEST` allows and the cron continues with `Budget::CRON`, so no
//! call does unbounded work and a deletion that was interrupted resumes where it stood.
//!
//! The KV documents that mirror D1 (`domain::edge::MirroredDoc`) go in `Phase::Flags`, with
//! the `edge_sync` rows that name them. A missing user document means "judge the user from the
//! token", so a user's documents must outlive every access token of it: its deletion first
//! rewrites them (`Phase::Revocations`: no face, every token refused) and its `Flags` phase
//! waits (`Next::WaitUntil`) until `MAX_ACCESS_TOKEN_TTL_SECONDS` after the deletion began —
//! the first step ended its faces, so no token is issued after it. A waiting deletion stays
//! running and spends nothing; a repeated `DELETE` or the cron finishes it. An app's or a
//! tenant's documents go at once: the tenant is gone for every reader from the first step.
//!
//! Pure: no I/O, no clock.

use super::edge::{EdgeKey, MirroredDoc};
use super::ids::{AppId, DeletionId, TenantId, UserId};
use super::keys::KeyOwner;
use super::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS;
use super::time::Timestamp;
use super::Error;

/// Rows one step deletes at most (per table touched), whatever the phase.
pub const ROWS_PER_STEP: usize = 500;
/// KV writes one step makes at most (documents rewritten or withdrawn, API keys withdrawn).
pub const EDGE_WRITES_PER_STEP: usize = 100;
/// How long a finished deletion stays readable (`GET …/deletions/{id}`) before the cron
/// forgets it.
pub const DONE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// What a deletion deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An app with everything under it (`DELETE /admin/apps/{app}`).
    App(AppId),
    /// A tenant with everything under it (`DELETE /admin/apps/{app}/tenants/{tenant}`).
    Tenant(AppId, TenantId),
    /// An end user: from one tenant (`tenant: Some`), or from the whole app — an erasure.
    User {
        app: AppId,
        tenant: Option<TenantId>,
        user: UserId,
    },
}

impl Target {
    /// The app the target is in (or is).
    pub fn app_id(&self) -> &AppId {
        match self {
            Target::App(app) | Target::Tenant(app, _) | Target::User { app, .. } => app,
        }
    }

    /// The kind of the target.
    pub fn kind(&self) -> Kind {
        match self {
            Target::App(_) => Kind::App,
            Target::Tenant(..) => Kind::Tenant,
            Target::User { .. } => Kind::User,
        }
    }

    /// The tenant the target is or is confined to, if any.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        match self {
            Target::App(_) => None,
            Target::Tenant(_, tenant) => Some(tenant),
            Target::User { tenant, .. } => tenant.as_ref(),
        }
    }

    /// The user of a user deletion.
    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            Target::User { user, .. } => Some(user),
            _ => None,
        }
    }

    /// True for the erasure of a user from the whole app.
    pub fn is_erasure(&self) -> bool {
        matches!(self, Target::User { tenant: None, .. })
    }

    /// The phases that follow the first step, in order.
    pub fn phases(&self) -> &'static [Phase] {
        self.kind().phases(self.tenant_id().is_some())
    }

    /// The KV documents mirroring D1 that the deletion withdraws (`Phase::Flags`).
    pub fn edge_docs(&self) -> DocNames {
        let user_doc = |tenant: &TenantId, user: &UserId| {
            MirroredDoc::User(EdgeKey {
                app: self.app_id().clone(),
                tenant: tenant.clone(),
                user: *user,
            })
            .name()
        };
        match self {
            Target::App(app) => DocNames {
                prefix: Some(format!("flags:{app}:")),
                suffix: String::new(),
                exact: vec![
                    MirroredDoc::Policy(app.clone()).name(),
                    MirroredDoc::Keys(KeyOwner::App(app.clone())).name(),
                ],
            },
            Target::Tenant(app, tenant) => DocNames {
                prefix: Some(format!("flags:{app}:{tenant}:")),
                suffix: String::new(),
                exact: Vec::new(),
            },
            Target::User {
                tenant: Some(tenant),
                user,
                ..
            } => DocNames {
                prefix: None,
                suffix: String::new(),
                exact: vec![user_doc(tenant, user)],
            },
            // Every tenant's, those the user left before included: no key may name it.
            Target::User {
                app,
                tenant: None,
                user,
            } => DocNames {
                prefix: Some(format!("flags:{app}:")),
                suffix: format!(":{user}"),
                exact: Vec::new(),
            },
        }
    }
}

/// A set of KV document names: those that start with `prefix` and end with `suffix`, and the
/// `exact` ones. (Ids are slugs or UUIDs: no `:` in them, so a prefix or suffix cut at a `:`
/// names whole ids.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocNames {
    pub prefix: Option<String>,
    pub suffix: String,
    pub exact: Vec<String>,
}

impl DocNames {
    /// True when `name` is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.prefix
            .as_deref()
            .is_some_and(|p| name.starts_with(p) && name.ends_with(self.suffix.as_str()))
            || self.exact.iter().any(|e| e == name)
    }
}

/// The kind of a deletion, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    App,
    Tenant,
    User,
}

impl Kind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Tenant => "tenant",
            Kind::User => "user",
        }
    }

    /// The phases of a deletion of this kind that follow its first step, in order; a user's
    /// deletion from one tenant (`in_tenant`) keeps the audit entries that name it.
    pub fn phases(self, in_tenant: bool) -> &'static [Phase] {
        use Phase::*;
        match (self, in_tenant) {
            (Kind::App, _) => &[
                ApiKeys,
                Sessions,
                ThirdParty,
                Users,
                Email,
                Throttle,
                Members,
                Catalogue,
                Billing,
                Audit,
                SigningKeys,
                Tenants,
                Flags,
                Row,
            ],
            (Kind::Tenant, _) => &[
                ApiKeys, Sessions, ThirdParty, Users, Email, Throttle, Flags, Row,
            ],
            // `Audit` renames the entries naming the user only when it has no face left (the
            // first step deleted the user record), as an erasure does; before the wait too.
            // Old phase numbers still name a phase that is safe to run (2 was `Flags`).
            (Kind::User, true) => &[Revocations, Sessions, Audit, Flags, Audit],
            // The audit log stops naming the user before the wait, so that the erasure is
            // settled (`Deletion::settled`) while it waits. `Audit` stays last as well: an
            // erasure stored at its old phase number 3 (`Audit`, after `Flags`) still runs it.
            (Kind::User, false) => &[Revocations, Sessions, Audit, Flags, Audit],
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "app" => Ok(Kind::App),
            "tenant" => Ok(Kind::Tenant),
            "user" => Ok(Kind::User),
            _ => Err(Error::Internal(format!("unknown deletion kind {raw:?}"))),
        }
    }
}

/// One phase of a deletion: an aggregate's rows (and their copies at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// API keys, withdrawn from the edge with them.
    ApiKeys,
    /// (users) The user's edge document in each tenant it left is rewritten from D1: it has
    /// no face there, so every access token of it is refused.
    Revocations,
    /// Sessions with their refresh tokens.
    Sessions,
    /// Third-party sign-in and the OAuth server: the identities linked to faces, the flows
    /// under way, the identity providers, and the OAuth consents, codes and clients (a user's
    /// identities, codes and consents go in its deletion's first step, with its faces). The
    /// confidential clients' `clientkey:` copies at the edge are withdrawn first, before
    /// their rows go.
    ThirdParty,
    /// End users: faces, then users with no face left and their metadata.
    Users,
    /// The KV documents of the target that mirror D1 (`Target::edge_docs`: users' edge
    /// documents, an app's policy and public keys) with their `edge_sync` rows. For a user,
    /// only once no access token of it can be alive (`Deletion::next` waits until then).
    Flags,
    /// What email flows kept: the delivery setting, challenges, send counts, outbox, dead
    /// letters.
    Email,
    /// Sign-in and sign-up counters.
    Throttle,
    /// Memberships.
    Members,
    /// End-user roles and plans, operator roles, and the policy mirror at the edge.
    Catalogue,
    /// The billing webhook's secret and its events.
    Billing,
    /// The app's audit log; for an erasure, the entries that name the user are made to name
    /// the deletion instead.
    Audit,
    /// Signing keys, and their published halves at the edge.
    SigningKeys,
    /// The app's tenant rows (and their mirrors at the edge).
    Tenants,
    /// The row of the tenant or app itself, last, once nothing is left under it.
    Row,
}

impl Phase {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::ApiKeys => "api_keys",
            Phase::Revocations => "revocations",
            Phase::Sessions => "sessions",
            Phase::ThirdParty => "third_party",
            Phase::Users => "users",
            Phase::Flags => "flags",
            Phase::Email => "email",
            Phase::Throttle => "throttle",
            Phase::Members => "members",
            Phase::Catalogue => "catalogue",
            Phase::Billing => "billing",
            Phase::Audit => "audit",
            Phase::SigningKeys => "signing_keys",
            Phase::Tenants => "tenants",
            Phase::Row => "row",
        }
    }
}

/// Whether a deletion is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Done,
}

impl State {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Done => "done",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "running" => Ok(State::Running),
            "done" => Ok(State::Done),
            _ => Err(Error::Internal(format!("unknown deletion state {raw:?}"))),
        }
    }
}

/// A deletion as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub id: DeletionId,
    pub kind: Kind,
    pub app_id: AppId,
    /// The tenant of a tenant deletion, or of a user's deletion from one tenant.
    pub tenant_id: Option<TenantId>,
    /// The user of a user deletion, while it runs (forgotten once done).
    pub user_id: Option<UserId>,
    /// The tenants whose faces of the user went in the first step (their flags documents go in
    /// `Phase::Flags`); forgotten once done.
    pub tenants: Vec<TenantId>,
    pub state: State,
    /// How many phases are done.
    pub phase: usize,
    /// Where the current phase stands (a walking phase's last key), if anywhere.
    pub cursor: Option<String>,
    /// Rows deleted so far (and entries rewritten).
    pub deleted: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl Deletion {
    /// A deletion of `target` beginning at `now`; for a user, `tenants` are the tenants whose
    /// faces its first step deletes.
    pub fn begin(id: DeletionId, target: &Target, tenants: Vec<TenantId>, now: Timestamp) -> Self {
        Deletion {
            id,
            kind: target.kind(),
            app_id: target.app_id().clone(),
            tenant_id: target.tenant_id().cloned(),
            user_id: target.user_id().copied(),
            tenants,
            state: State::Running,
            phase: 0,
            cursor: None,
            deleted: 0,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    /// What the deletion deletes; `None` once a user deletion is done (the user is forgotten).
    pub fn target(&self) -> Option<Target> {
        Some(match self.kind {
            Kind::App => Target::App(self.app_id.clone()),
            Kind::Tenant => Target::Tenant(self.app_id.clone(), self.tenant_id.clone()?),
            Kind::User => Target::User {
                app: self.app_id.clone(),
                tenant: self.tenant_id.clone(),
                user: self.user_id?,
            },
        })
    }

    /// The phases of the deletion, in order.
    pub fn phases(&self) -> &'static [Phase] {
        self.kind.phases(self.tenant_id.is_some())
    }

    /// How many phases the deletion has.
    pub fn phases_total(&self) -> usize {
        self.phases().len()
    }

    /// The phase the deletion is in, `None` once every phase is done.
    pub fn current_phase(&self) -> Option<Phase> {
        self.phases().get(self.phase).copied()
    }

    /// Ends a running user deletion that a newer one of the same user covers (its tenant's, or
    /// an erasure): what it deleted is gone, and the newer one does what it had left
    /// (`DeletionStore::begin_deletion` does this in the newer one's first step).
    pub fn supersede(&mut self, now: Timestamp) {
        self.phase = self.phases_total();
        self.cursor = None;
        self.updated_at = now;
        self.state = State::Done;
        self.finished_at = Some(now);
        self.user_id = None;
        self.tenants.clear();
    }

    /// Done for whoever asked at `now`: every phase ran, or all but the one that only waits —
    /// a user's `Flags` phase, which withdraws its edge documents once no access token of it
    /// can be alive (the cron or a repeated `DELETE` runs it then). The `DELETE` answers `204`
    /// from here on; the deletion's progress still shows it running until then.
    pub fn settled(&self, now: Timestamp) -> bool {
        let phases = self.phases();
        let (done, rest) = phases.split_at(self.phase.min(phases.len()));
        // After the waiting phase, only repeats of phases already run (an erasure's second
        // `Audit`, which finds nothing: no entry can name a user that is gone).
        let after = rest.get(1..).unwrap_or_default();
        let only_repeats_after = after.iter().all(|p| done.contains(p));
        self.state == State::Done
            || (only_repeats_after && matches!(self.next(now), Next::WaitUntil(_)))
    }

    /// What to do next at `now`: run the current phase, wait (a user's `Flags` phase, until no
    /// access token issued before the deletion began can be alive), or nothing (done).
    pub fn next(&self, now: Timestamp) -> Next {
        match self.current_phase() {
            None => Next::Done,
            Some(Phase::Flags) if self.kind == Kind::User => {
                let until = self.created_at.plus_seconds(MAX_ACCESS_TOKEN_TTL_SECONDS);
                if now < until {
                    Next::WaitUntil(until)
                } else {
                    Next::Run(Phase::Flags)
                }
            }
            Some(phase) => Next::Run(phase),
        }
    }

    /// Records a step that deleted `rows` and left the phase at `cursor`, or finished it
    /// (`finished`), at `now`. Past the last phase the deletion is done: the user and its
    /// tenants are forgotten.
    pub fn record_step(
        &mut self,
        rows: usize,
        finished: bool,
        cursor: Option<String>,
        now: Timestamp,
    ) {
        self.deleted = self
            .deleted
            .saturating_add(i64::try_from(rows).unwrap_or(i64::MAX));
        self.updated_at = now;
        if finished {
            self.phase += 1;
            self.cursor = None;
        } else {
            self.cursor = cursor;
        }
        if self.phase >= self.phases_total() {
            self.state = State::Done;
            self.finished_at = Some(now);
            self.user_id = None;
            self.tenants.clear();
        }
    }
}

/// What a deletion does next (`Deletion::next`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A step of this phase.
    Run(Phase),
    /// Nothing before this instant: the step that waits. The deletion stays running.
    WaitUntil(Timestamp),
    /// Every phase is done.
    Done,
}

/// How much work one call may do: steps (each at most `ROWS_PER_STEP` rows per table) and KV
/// writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub steps: usize,
    pub edge_writes: usize,
}

impl Budget {
    /// What a `DELETE` request does before it answers (`204` when the deletion is done,
    /// `202` with its progress when it is not).
    pub const REQUEST: Budget = Budget {
        steps: 24,
        edge_writes: 400,
    };
    /// What one run of the cron does, over every running deletion.
    pub const CRON: Budget = Budget {
        steps: 200,
        edge_writes: 800,
    };

    /// True when one more step fits (a step may write up to `EDGE_WRITES_PER_STEP` to KV).
    pub fn has_room(&self) -> bool {
        self.steps > 0 && self.edge_writes >= EDGE_WRITES_PER_STEP
    }

    /// Takes one step that made `edge_writes` KV writes.
    pub fn spend(&mut self, edge_writes: usize) {
        self.steps = self.steps.saturating_sub(1);
        self.edge_writes = self.edge_writes.saturating_sub(edge_writes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppId {
        AppId::parse("shop").unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn the_row_of_an_app_or_tenant_goes_last_and_sessions_before_users() {
        for target in [Target::App(app()), Target::Tenant(app(), tenant())] {
            let phases = target.phases();
            assert_eq!(phases.last(), Some(&Phase::Row));
            let at = |p| phases.iter().position(|q| *q == p).unwrap();
            assert!(at(Phase::ApiKeys) < at(Phase::Sessions));
            assert!(at(Phase::Sessions) < at(Phase::Users));
            // Added after deletions were first deployed: just before the row, so a running
            // deletion's stored phase number still names the phase it was in (or this one).
            assert_eq!(phases[phases.len() - 2], Phase::Flags);
        }
        let user = UserId::generate(Timestamp::EPOCH, [1; 10]);
        let erasure = Target::User {
            app: app(),
            tenant: None,
            user,
        };
        assert!(erasure.is_erasure());
        assert_eq!(
            erasure.phases(),
            [
                Phase::Revocations,
                Phase::Sessions,
                Phase::Audit,
                Phase::Flags,
                Phase::Audit
            ]
        );
    }

    #[test]
    fn a_user_deletion_is_settled_only_when_all_but_its_wait_is_done() {
        let user = UserId::generate(Timestamp::EPOCH, [1; 10]);
        let now = Timestamp::from_unix_ms(5);
        for tenant in [Some(tenant()), None] {
            let target = Target::User {
                app: app(),
                tenant: tenant.clone(),
                user,
            };
            let mut d = Deletion::begin(
                DeletionId::generate(Timestamp::EPOCH, [0; 10]),
                &target,
                vec![tenant_or_public(&tenant)],
                Timestamp::EPOCH,
            );
            while d.current_phase() != Some(Phase::Flags) {
                assert!(!d.settled(now), "{target:?} in {:?}", d.current_phase());
                d.record_step(0, true, None, now);
            }
            assert!(d.settled(now), "{target:?}: only the wait is left");
            let later = Timestamp::EPOCH.plus_seconds(MAX_ACCESS_TOKEN_TTL_SECONDS);
            assert!(!d.settled(later), "once it may run, it runs");
            while d.state == State::Running {
                d.record_step(0, true, None, later);
            }
            assert!(d.settled(later));
        }
        // An app's or tenant's deletion is settled only when done.
        let mut d = Deletion::begin(
            DeletionId::generate(Timestamp::EPOCH, [0; 10]),
            &Target::Tenant(app(), tenant()),
            vec![],
            Timestamp::EPOCH,
        );
        while d.state == State::Running {
            assert!(!d.settled(now));
            d.record_step(0, true, None, now);
        }
        assert!(d.settled(now));
    }

    fn tenant_or_public(t: &Option<TenantId>) -> TenantId {
        t.clone()
            .unwrap_or_else(|| TenantId::parse("public").unwrap())
    }

    #[test]
    fn the_total_of_phases_matches_the_targets_list() {
        let user = UserId::generate(Timestamp::EPOCH, [1; 10]);
        for target in [
            Target::App(app()),
            Target::Tenant(app(), tenant()),
            Target::User {
                app: app(),
                tenant: Some(tenant()),
                user,
            },
            Target::User {
                app: app(),
                tenant: None,
                user,
            },
        ] {
            let d = Deletion::begin(
                DeletionId::generate(Timestamp::EPOCH, [0; 10]),
                &target,
                vec![],
                Timestamp::EPOCH,
            );
            assert_eq!(d.phases_total(), target.phases().len(), "{target:?}");
            assert_eq!(d.target(), Some(target));
        }
    }

    #[test]
    fn a_user_deletion_forgets_its_user_once_done() {
        let user = UserId::generate(Timestamp::EPOCH, [1; 10]);
        let target = Target::User {
            app: app(),
            tenant: Some(tenant()),
            user,
        };
        let mut d = Deletion::begin(
            DeletionId::generate(Timestamp::EPOCH, [0; 10]),
            &target,
            vec![tenant()],
            Timestamp::EPOCH,
        );
        let now = Timestamp::from_unix_ms(5);
        d.record_step(3, false, Some("k".into()), now);
        assert_eq!((d.phase, d.cursor.as_deref(), d.deleted), (0, Some("k"), 3));
        assert_eq!(d.current_phase(), Some(Phase::Revocations));
        d.record_step(0, true, None, now);
        d.record_step(7, true, None, now);
        assert_eq!(d.current_phase(), Some(Phase::Audit));
        d.record_step(0, true, None, now);
        assert_eq!(d.state, State::Running);
        assert_eq!(d.current_phase(), Some(Phase::Flags));
        let alive_until = Timestamp::EPOCH.plus_seconds(MAX_ACCESS_TOKEN_TTL_SECONDS);
        assert_eq!(d.next(now), Next::WaitUntil(alive_until));
        assert_eq!(
            d.next(alive_until.plus_ms(-1)),
            Next::WaitUntil(alive_until),
            "a token issued just before the deletion began may still be alive"
        );
        assert_eq!(d.next(alive_until), Next::Run(Phase::Flags));
        d.record_step(1, true, None, now);
        assert_eq!(d.current_phase(), Some(Phase::Audit));
        d.record_step(0, true, None, now);
        assert_eq!(d.state, State::Done);
        assert_eq!(d.finished_at, Some(now));
        assert_eq!((d.user_id, d.tenants.len(), d.deleted), (None, 0, 11));
        assert_eq!(d.target(), None);
        assert_eq!(d.current_phase(), None);
        assert_eq!(d.next(now), Next::Done);
    }

    #[test]
    fn the_documents_of_an_app_or_tenant_go_at_once_and_name_only_the_target() {
        let user = UserId::generate(Timestamp::EPOCH, [1; 10]);
        let other = UserId::generate(Timestamp::EPOCH, [2; 10]);
        let tenant_deletion = Deletion::begin(
            DeletionId::generate(Timestamp::EPOCH, [0; 10]),
            &Target::Tenant(app(), tenant()),
            vec![],
            Timestamp::EPOCH,
        );
        let mut at_flags = tenant_deletion.clone();
        at_flags.phase = at_flags
            .phases()
            .iter()
            .position(|p| *p == Phase::Flags)
            .unwrap();
        assert_eq!(
            at_flags.next(Timestamp::EPOCH),
            Next::Run(Phase::Flags),
            "no wait: the tenant is gone for every reader"
        );
        let of_tenant = Target::Tenant(app(), tenant()).edge_docs();
        assert!(of_tenant.contains(&format!("flags:shop:acme:{user}")));
        assert!(!of_tenant.contains(&format!("flags:shop:acme-2:{user}")));
        assert!(!of_tenant.contains("policy:shop"));
        let of_app = Target::App(app()).edge_docs();
        for name in [
            "policy:shop",
            "pub:app:shop",
            &format!("flags:shop:b:{user}"),
        ] {
            assert!(of_app.contains(name), "{name}");
        }
        assert!(!of_app.contains("policy:shop-2") && !of_app.contains("pub:operators"));
        let erasure = Target::User {
            app: app(),
            tenant: None,
            user,
        }
        .edge_docs();
        assert!(erasure.contains(&format!("flags:shop:acme:{user}")));
        assert!(erasure.contains(&format!("flags:shop:left-long-ago:{user}")));
        assert!(!erasure.contains(&format!("flags:shop:acme:{other}")));
        assert!(!erasure.contains(&format!("flags:shop-2:acme:{user}")));
        let in_acme = Target::User {
            app: app(),
            tenant: Some(tenant()),
            user,
        }
        .edge_docs();
        assert!(in_acme.contains(&format!("flags:shop:acme:{user}")));
        assert!(!in_acme.contains(&format!("flags:shop:bravo:{user}")));
    }

    #[test]
    fn a_budget_runs_out_of_steps_or_of_edge_writes() {
        let mut b = Budget {
            steps: 2,
            edge_writes: 2 * EDGE_WRITES_PER_STEP,
        };
        assert!(b.has_room());
        b.spend(EDGE_WRITES_PER_STEP);
        assert!(b.has_room());
        b.spend(EDGE_WRITES_PER_STEP);
        assert!(!b.has_room());
        let mut few_writes = Budget {
            steps: 10,
            edge_writes: EDGE_WRITES_PER_STEP,
        };
        few_writes.spend(1);
        assert!(!few_writes.has_room());
    }

    #[test]
    fn kinds_and_states_round_trip() {
        for k in [Kind::App, Kind::Tenant, Kind::User] {
            assert_eq!(Kind::parse(k.as_str()).unwrap(), k);
        }
        for s in [State::Running, State::Done] {
            assert_eq!(State::parse(s.as_str()).unwrap(), s);
        }
        assert!(Kind::parse("planet").is_err());
    }
}
