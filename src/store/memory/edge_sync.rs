//! The bookkeeping of KV documents that mirror D1 (`EdgeSyncStore`) in memory, as the D1
//! adapter's SQL does it: version bumps written with the changes, leases, the closing rule.
//! Its calls yield once when the faults ask for it (`Faults::interleave`), so tests can run two
//! writers of one document step by step against each other.

use super::{MemoryStore, State};
use crate::domain::edge::{EdgeKey, EdgeState, MirroredDoc, MAX_LISTED_REVOCATIONS};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::policy::AppPolicy;
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, UserId};
use crate::domain::Error;
use crate::store::{EdgeSyncStore, LeaseAt, StoredSigningKey};

/// A row of `edge_sync`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct EdgeSyncRow {
    pub version: i64,
    pub synced_version: i64,
    pub leases: i64,
    pub leased_at: Timestamp,
    pub changed_at: Timestamp,
}

impl State {
    /// `edge_bump`: the document's version goes up (the row is made at version 1).
    pub(super) fn bump_edge(&mut self, doc: &MirroredDoc, now: Timestamp) {
        let row = self.edge_sync.entry(doc.name()).or_default();
        row.version += 1;
        row.changed_at = now;
    }

    /// `edge_bump` of a face's document.
    pub(super) fn bump_face_edge(&mut self, face: &TenantUser, now: Timestamp) {
        self.bump_user_edge(&face.app_id, &face.tenant_id, &face.user_id, now);
    }

    /// `edge_bump` of a user's document in a tenant.
    pub(super) fn bump_user_edge(
        &mut self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) {
        self.bump_edge(
            &MirroredDoc::User(EdgeKey {
                app: app.clone(),
                tenant: tenant.clone(),
                user: *user,
            }),
            now,
        );
    }

    fn lease(&mut self, doc: &str, now: LeaseAt) -> i64 {
        let row = self
            .edge_sync
            .entry(doc.to_owned())
            .or_insert_with(|| EdgeSyncRow {
                changed_at: now.at,
                ..EdgeSyncRow::default()
            });
        if row.leases == 0 || now.renews {
            row.leased_at = now.at;
        }
        row.leases += 1;
        row.version
    }
}

impl MemoryStore {
    /// Test helper: (version, synced_version, leases) of a document's row, if it has one.
    pub fn edge_sync_row(&self, doc: &str) -> Option<(i64, i64, i64)> {
        self.state
            .borrow()
            .edge_sync
            .get(doc)
            .map(|r| (r.version, r.synced_version, r.leases))
    }
}

impl EdgeSyncStore for MemoryStore {
    async fn lease_user_edge(
        &self,
        key: &EdgeKey,
        revoked_since: Timestamp,
        now: impl Into<LeaseAt>,
    ) -> Result<EdgeState, Error> {
        self.faults.pause().await;
        self.check("lease_user_edge")?;
        let mut s = self.state.borrow_mut();
        let version = s.lease(&key.doc(), now.into());
        // A tenant being deleted is gone for the document too (it is withdrawn).
        let tenant_created_at = s
            .tenants
            .get(&(key.app.clone(), key.tenant.clone()))
            .filter(|_| s.tenant_is_live(&key.app, &key.tenant))
            .map(|t| t.created_at);
        let face = s
            .tenant_user(&key.app, &key.tenant, &key.user)
            .map(|(_, face)| face);
        // ORDER BY revoked_at DESC, id (the index on (app, tenant, user, revoked_at)).
        let mut revoked: Vec<_> = s
            .sessions
            .values()
            .map(|r| &r.session)
            .filter(|x| x.app_id == key.app && x.tenant_id == key.tenant && x.user_id == key.user)
            .filter_map(|x| {
                x.revoked_at
                    .filter(|at| *at > revoked_since)
                    .map(|at| (x.id, at))
            })
            .collect();
        revoked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        revoked.truncate(MAX_LISTED_REVOCATIONS + 1);
        Ok(EdgeState {
            version,
            tenant_created_at,
            face,
            revoked,
        })
    }

    async fn lease_policy_edge(
        &self,
        app: &AppId,
        now: impl Into<LeaseAt>,
    ) -> Result<(i64, AppPolicy), Error> {
        self.faults.pause().await;
        self.check("lease_policy_edge")?;
        let version = self
            .state
            .borrow_mut()
            .lease(&MirroredDoc::Policy(app.clone()).name(), now.into());
        Ok((version, self.policy_of(app)))
    }

    async fn lease_keys_edge(
        &self,
        owner: &KeyOwner,
        now: impl Into<LeaseAt>,
    ) -> Result<(i64, Vec<StoredSigningKey>), Error> {
        self.faults.pause().await;
        self.check("lease_keys_edge")?;
        let mut s = self.state.borrow_mut();
        let version = s.lease(&MirroredDoc::Keys(owner.clone()).name(), now.into());
        Ok((version, s.keys_of(owner)))
    }

    async fn release_edge(&self, doc: &str, version: i64, written: bool) -> Result<bool, Error> {
        self.faults.pause().await;
        self.check("release_edge")?;
        let mut s = self.state.borrow_mut();
        let Some(row) = s.edge_sync.get_mut(doc) else {
            return Ok(false);
        };
        let leases = row.leases;
        row.leases = (leases - 1).max(0);
        if row.version != version {
            row.version += 1;
            row.synced_version = 0;
        } else if written && leases <= 1 {
            row.synced_version = version;
        }
        Ok(row.synced_version == row.version)
    }

    async fn find_stale_edges(
        &self,
        expired_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        self.faults.pause().await;
        self.check("find_stale_edges")?;
        let mut s = self.state.borrow_mut();
        for row in s.edge_sync.values_mut() {
            if row.leases > 0 && row.leased_at < expired_before {
                row.leases = 0;
            }
        }
        let mut stale: Vec<(Timestamp, &String)> = s
            .edge_sync
            .iter()
            .filter(|(_, r)| r.version > r.synced_version)
            .map(|(doc, r)| (r.changed_at, doc))
            .collect();
        stale.sort();
        Ok(stale
            .into_iter()
            .take(limit)
            .map(|(_, doc)| doc.clone())
            .collect())
    }

    async fn mark_edge_changed(&self, doc: &str, now: Timestamp) -> Result<(), Error> {
        self.check("mark_edge_changed")?;
        let parsed = MirroredDoc::parse(doc)
            .ok_or_else(|| Error::Internal(format!("{doc} is not a mirrored document")))?;
        self.state.borrow_mut().bump_edge(&parsed, now);
        Ok(())
    }
}

impl MemoryStore {
    /// The app's roles and plans as `find_policy` reads them.
    pub(super) fn policy_of(&self, app: &AppId) -> AppPolicy {
        let s = self.state.borrow();
        let mut policy = AppPolicy::default();
        for ((a, name), row) in &s.roles {
            if a == app {
                policy.roles.insert(name.clone(), row.permissions.clone());
            }
        }
        for ((a, tier), row) in &s.plans {
            if a == app {
                policy.plans.insert(tier.clone(), row.plan.clone());
            }
        }
        policy
    }
}
