//! The edge document of a user in a tenant: everything introspection needs to judge a token
//! besides its signature, in ONE KV value — the user's state (status, plan, hand roles,
//! rate-limit override) and the recent revocations of the user's sessions in the tenant —
//! stamped with the tenant's incarnation and the D1 version it mirrors.
//!
//! Pure: built from what D1 holds (`EdgeState`, read by the store) and judged against a
//! verified token. A document of a deleted namesake of the tenant (an older incarnation) is
//! as good as none; a user without a face in the tenant is inactive; a session listed as
//! revoked, or a token issued at or before `revoked_before` (the overflow of the list, or
//! before the user's face in the tenant was created: a token of an earlier face), is inactive.

use super::ids::{AppId, TenantId};
use super::keys::KeyOwner;
use super::policy::UserFlags;
use super::session::SessionId;
use super::time::Timestamp;
use super::user::{TenantUser, UserId, UserStatus};

/// Revoked sessions listed one by one in a document; beyond, the older ones are folded into
/// `revoked_before` (every token issued until the newest of them is refused: the user's live
/// sessions then refresh once — a fail-safe bound on the document's size).
pub const MAX_LISTED_REVOCATIONS: usize = 256;

/// What D1 holds for one user's edge document, read in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeState {
    /// The version of the document's last change in D1 (0 when it never changed).
    pub version: i64,
    /// When the tenant was (re)created; `None` when the tenant does not exist.
    pub tenant_created_at: Option<Timestamp>,
    /// The user's face in the tenant; `None` when the user has none.
    pub face: Option<TenantUser>,
    /// Sessions of the user in the tenant revoked since the window began, newest first, at
    /// most `MAX_LISTED_REVOCATIONS + 1` (the extra one says the list overflowed).
    pub revoked: Vec<(SessionId, Timestamp)>,
}

/// The user's edge document (`flags:<app>:<tenant>:<user>` in KV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeDoc {
    /// The incarnation of the tenant it belongs to (the tenant's `created_at`). `None` in
    /// documents written before incarnations were recorded (they are rewritten by the sweep
    /// that migration 0006 queues).
    pub tenant_created_at: Option<Timestamp>,
    /// The D1 version it mirrors.
    pub version: i64,
    /// The user's state; `None` when the user has no face in the tenant (inactive).
    pub state: Option<UserFlags>,
    /// Ids of revoked sessions whose access tokens may still be alive.
    pub revoked_sessions: Vec<String>,
    /// Tokens issued (`iat`, Unix seconds) at or before this are inactive: those older than
    /// the newest revocation the list could not hold, and those older than the user's face.
    pub revoked_before: Option<i64>,
}

/// Where an edge document lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeKey {
    pub app: AppId,
    pub tenant: TenantId,
    pub user: UserId,
}

impl EdgeKey {
    /// The KV key of the document, also its name in D1's `edge_sync`.
    pub fn doc(&self) -> String {
        format!("flags:{}:{}:{}", self.app, self.tenant, self.user)
    }
}

/// A KV document that mirrors D1 and converges on it (see `service::edge`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MirroredDoc {
    /// `flags:<app>:<tenant>:<user>`: a user's edge document.
    User(EdgeKey),
    /// `policy:<app>`: an app's roles and plans.
    Policy(AppId),
    /// `pub:<owner>`: the public signing keys of an owner (`pub:operators`, `pub:app:<id>`).
    Keys(KeyOwner),
}

impl MirroredDoc {
    /// The KV key (and the row of `edge_sync`).
    pub fn name(&self) -> String {
        match self {
            MirroredDoc::User(key) => key.doc(),
            MirroredDoc::Policy(app) => format!("policy:{app}"),
            MirroredDoc::Keys(owner) => format!("pub:{}", owner.as_stored()),
        }
    }

    /// The document a KV key names, if it is one that mirrors D1.
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(rest) = name.strip_prefix("policy:") {
            return AppId::parse(rest).ok().map(MirroredDoc::Policy);
        }
        if let Some(owner) = name.strip_prefix("pub:") {
            return match owner.strip_prefix("app:") {
                Some(app) => AppId::parse(app).ok().map(KeyOwner::App),
                None => (owner == "operators").then_some(KeyOwner::Operators),
            }
            .map(MirroredDoc::Keys);
        }
        let mut parts = name.strip_prefix("flags:")?.splitn(3, ':');
        let app = AppId::parse(parts.next()?).ok()?;
        let tenant = TenantId::parse(parts.next()?).ok()?;
        let user = UserId::parse(parts.next()?).ok()?;
        Some(MirroredDoc::User(EdgeKey { app, tenant, user }))
    }
}

impl EdgeDoc {
    /// The document that says what `state` holds. `None` when the tenant is gone (the
    /// document is then withdrawn: a namesake would ignore it anyway).
    pub fn from_state(state: &EdgeState) -> Option<Self> {
        let tenant_created_at = state.tenant_created_at?;
        let listed = state.revoked.iter().take(MAX_LISTED_REVOCATIONS);
        let overflowed = state
            .revoked
            .get(MAX_LISTED_REVOCATIONS)
            .map(|(_, at)| at.unix_seconds());
        // A token issued before the face existed was issued to an earlier face of the user in
        // this tenant: the user left (its sessions were deleted with that face, so no list
        // names them) and came back. Refuse them all.
        let before_face = state
            .face
            .as_ref()
            .map(|face| face.created_at.unix_seconds() - 1);
        let revoked_before = overflowed.max(before_face);
        Some(EdgeDoc {
            tenant_created_at: Some(tenant_created_at),
            version: state.version,
            state: state.face.as_ref().map(TenantUser::state),
            revoked_sessions: listed.map(|(id, _)| id.to_string()).collect(),
            revoked_before,
        })
    }

    /// True when this document speaks for the tenant created at `tenant_created_at`: it was
    /// written for that incarnation or a later one (an isolate's view of the tenant may lag),
    /// or before incarnations were recorded.
    pub fn is_of(&self, tenant_created_at: Timestamp) -> bool {
        self.tenant_created_at
            .is_none_or(|at| at >= tenant_created_at)
    }

    /// The state of the user if a token of session `sid` issued at `iat` (Unix seconds) is
    /// still good by this document: the user has a face, and neither the session nor the
    /// token was revoked. Whether the state is active is the caller's to check.
    pub fn admits(&self, sid: &str, iat: i64) -> Option<&UserFlags> {
        if self.revoked_before.is_some_and(|before| iat <= before) {
            return None;
        }
        if self.revoked_sessions.iter().any(|s| s == sid) {
            return None;
        }
        self.state.as_ref()
    }
}

impl EdgeDoc {
    /// `admits`, keeping the state: the caller answers with it.
    pub fn into_admitted(self, sid: &str, iat: i64) -> Option<UserFlags> {
        self.admits(sid, iat)?;
        self.state
    }
}

/// True when `state` lets its user's tokens be active.
pub fn is_active(state: &UserFlags) -> bool {
    state.status == UserStatus::Active
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::email::Email;
    use crate::domain::names::PlanTier;

    const T0: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

    fn face() -> TenantUser {
        TenantUser {
            app_id: AppId::parse("shop").unwrap(),
            tenant_id: TenantId::parse("acme").unwrap(),
            user_id: UserId::generate(T0, [1; 10]),
            email: Email::parse("a@example.com").unwrap(),
            status: UserStatus::Active,
            plan_tier: PlanTier::parse("pro").unwrap(),
            rate_limit_override: None,
            roles: Vec::new(),
            version: 3,
            providers: Vec::new(),
            created_at: T0,
        }
    }

    fn session(n: u8) -> SessionId {
        SessionId::generate(T0, [n; 10])
    }

    fn state(revoked: Vec<(SessionId, Timestamp)>) -> EdgeState {
        EdgeState {
            version: 5,
            tenant_created_at: Some(T0),
            face: Some(face()),
            revoked,
        }
    }

    #[test]
    fn a_listed_session_is_refused_and_others_pass() {
        let (gone, live) = (session(1), session(2));
        let doc = EdgeDoc::from_state(&state(vec![(gone, T0.plus_ms(5_000))])).unwrap();
        assert_eq!(doc.version, 5);
        assert!(doc.admits(&gone.to_string(), T0.unix_seconds()).is_none());
        let admitted = doc.admits(&live.to_string(), T0.unix_seconds()).unwrap();
        assert_eq!(admitted.plan_tier.as_str(), "pro");
        assert_eq!(doc.revoked_before, Some(T0.unix_seconds() - 1));
    }

    #[test]
    fn a_token_older_than_the_users_face_is_refused_a_face_that_came_back_starts_clean() {
        // The user left (its face and sessions deleted) and was associated again at T0 + 10 s:
        // no list names the old sessions, the face's age refuses their tokens.
        let mut s = state(Vec::new());
        s.face.as_mut().unwrap().created_at = T0.plus_ms(10_000);
        let doc = EdgeDoc::from_state(&s).unwrap();
        let old = session(1).to_string();
        assert!(doc.admits(&old, T0.unix_seconds()).is_none());
        assert!(doc.admits(&old, T0.unix_seconds() + 9).is_none());
        let new = session(2).to_string();
        assert!(doc.admits(&new, T0.unix_seconds() + 10).is_some());
    }

    #[test]
    fn an_overflowing_list_refuses_every_token_issued_until_the_newest_dropped_revocation() {
        let mut revoked: Vec<(SessionId, Timestamp)> = (0..=MAX_LISTED_REVOCATIONS)
            .map(|i| {
                let at = T0.plus_ms(1_000_000 - (i as i64) * 1_000);
                (SessionId::generate(at, [i as u8; 10]), at)
            })
            .collect();
        let dropped = revoked.last().unwrap().1;
        let doc = EdgeDoc::from_state(&state(revoked.clone())).unwrap();
        assert_eq!(doc.revoked_sessions.len(), MAX_LISTED_REVOCATIONS);
        let unlisted = revoked.pop().unwrap().0.to_string();
        assert!(doc.admits(&unlisted, dropped.unix_seconds()).is_none());
        assert!(doc.admits(&unlisted, dropped.unix_seconds() + 1).is_some());
    }

    #[test]
    fn a_user_without_a_face_is_admitted_nowhere_and_a_gone_tenant_has_no_document() {
        let mut s = state(Vec::new());
        s.face = None;
        let doc = EdgeDoc::from_state(&s).unwrap();
        assert!(doc
            .admits(&session(1).to_string(), T0.unix_seconds())
            .is_none());
        s.tenant_created_at = None;
        assert_eq!(EdgeDoc::from_state(&s), None);
    }

    #[test]
    fn document_names_parse_back() {
        let key = EdgeKey {
            app: AppId::parse("shop").unwrap(),
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::generate(T0, [1; 10]),
        };
        let user = MirroredDoc::User(key);
        assert_eq!(MirroredDoc::parse(&user.name()), Some(user));
        let policy = MirroredDoc::Policy(AppId::parse("shop").unwrap());
        assert_eq!(policy.name(), "policy:shop");
        assert_eq!(MirroredDoc::parse("policy:shop"), Some(policy));
        for owner in [
            KeyOwner::Operators,
            KeyOwner::App(AppId::parse("shop").unwrap()),
        ] {
            let keys = MirroredDoc::Keys(owner);
            assert_eq!(MirroredDoc::parse(&keys.name()), Some(keys));
        }
        assert_eq!(
            MirroredDoc::Keys(KeyOwner::App(AppId::parse("shop").unwrap())).name(),
            "pub:app:shop"
        );
        for bad in [
            "rev:x",
            "flags:shop:acme",
            "flags:Shop:acme:x",
            "policy:",
            "pub:",
            "pub:app:",
            "pub:admins",
        ] {
            assert_eq!(MirroredDoc::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_document_of_an_older_incarnation_does_not_speak_for_the_tenant() {
        let doc = EdgeDoc::from_state(&state(Vec::new())).unwrap();
        assert!(doc.is_of(T0));
        assert!(
            doc.is_of(T0.plus_ms(-1)),
            "the isolate's view of the tenant lags"
        );
        assert!(
            !doc.is_of(T0.plus_ms(1)),
            "the tenant was re-created after it"
        );
        let legacy = EdgeDoc {
            tenant_created_at: None,
            ..doc
        };
        assert!(legacy.is_of(T0.plus_ms(1)));
    }
}
