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
//! Pure: no I/O, no clock.

use super::ids::{AppId, DeletionId, TenantId, UserId};
use super::time::Timestamp;
use super::Error;

/// Rows one step deletes at most (per table touched), whatever the phase.
pub const ROWS_PER_STEP: usize = 500;
/// KV writes one step makes at most (flags documents withdrawn, revocations published).
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
                Row,
            ],
            (Kind::Tenant, _) => &[ApiKeys, Sessions, ThirdParty, Users, Email, Throttle, Row],
            (Kind::User, true) => &[Revocations, Sessions, Flags],
            (Kind::User, false) => &[Revocations, Sessions, Flags, Audit],
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
    /// (users) A revocation at the edge for every session of the user that may still have a
    /// live access token, so that no token of it introspects active once its flags go.
    Revocations,
    /// Sessions with their refresh tokens.
    Sessions,
    /// Third-party sign-in: the identities linked to faces, the flows under way and the
    /// identity providers (a user's identities go in its deletion's first step, with its
    /// faces).
    ThirdParty,
    /// End users: faces (their flags documents withdrawn first), then users with no face left
    /// and their metadata.
    Users,
    /// (users) The flags documents of the tenants the user had.
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
                Phase::Flags,
                Phase::Audit
            ]
        );
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
        assert_eq!(d.state, State::Running);
        assert_eq!(d.current_phase(), Some(Phase::Flags));
        d.record_step(1, true, None, now);
        assert_eq!(d.state, State::Done);
        assert_eq!(d.finished_at, Some(now));
        assert_eq!((d.user_id, d.tenants.len(), d.deleted), (None, 0, 11));
        assert_eq!(d.target(), None);
        assert_eq!(d.current_phase(), None);
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
