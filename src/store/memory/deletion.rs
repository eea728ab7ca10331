//! Deletions in memory (`DeletionStore`), as the D1 adapter's SQL does them: the same atomic
//! first step, the same bounds per table (at most `limit` rows of each, in key order), and the
//! cascades of the foreign keys when a tenant or app row finally goes.

use super::{constraint, MemoryStore, State};
use crate::domain::audit::AuditEntry;
use crate::domain::challenge::{Plane, Subject};
use crate::domain::deletion::{Deletion, Kind, State as DeletionState, Target};
use crate::domain::ids::{AppId, DeletionId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::member::MemberStatus;
use crate::domain::secret::SecretHash;
use crate::domain::session::SessionId;
use crate::domain::time::Timestamp;
use crate::domain::user::UserId;
use crate::domain::Error;
use crate::store::DeletionStore;
use std::collections::BTreeMap;

/// True when a row of `(app, tenant, user)` lies in what `target` covers; `user` is `None` for
/// a table without a user column (which then has nothing of a user target).
fn covers(target: &Target, app: &AppId, tenant: Option<&TenantId>, user: Option<&UserId>) -> bool {
    match target {
        Target::App(a) => a == app,
        Target::Tenant(a, t) => a == app && tenant == Some(t),
        Target::User {
            app: a,
            tenant: t,
            user: u,
        } => {
            a == app
                && user == Some(u)
                && match t {
                    Some(t) => tenant == Some(t),
                    None => true,
                }
        }
    }
}

/// As `covers`, for rows keyed by the text of their app and tenant (counters).
fn covers_text(target: &Target, app: &str, tenant: &str) -> bool {
    match target {
        Target::App(a) => a.as_str() == app,
        Target::Tenant(a, t) => a.as_str() == app && t.as_str() == tenant,
        Target::User { .. } => false,
    }
}

/// Removes at most `limit` entries of `map` that `selects` selects, in key order; how many.
fn bounded_remove<K: Ord + Clone, V>(
    map: &mut BTreeMap<K, V>,
    limit: usize,
    selects: impl Fn(&K, &V) -> bool,
) -> usize {
    let doomed: Vec<K> = map
        .iter()
        .filter(|(k, v)| selects(k, v))
        .take(limit)
        .map(|(k, _)| k.clone())
        .collect();
    for key in &doomed {
        map.remove(key);
    }
    doomed.len()
}

impl State {
    /// The record of a deletion, checked first: its primary key.
    fn check_deletion_insert(&self, deletion: &Deletion) -> Result<(), Error> {
        if self.deletions.contains_key(&deletion.id) {
            return Err(constraint("PRIMARY KEY (deletions)"));
        }
        Ok(())
    }

    /// The first step of a user's deletion (the SQL's `begin_user`): `false` when its guard
    /// fails.
    fn begin_user(&mut self, deletion: &Deletion, audit: &AuditEntry) -> Result<bool, Error> {
        let app = &deletion.app_id;
        let Some(user) = deletion.user_id else {
            return Err(Error::Internal("a user deletion without a user".to_owned()));
        };
        let in_scope = deletion
            .tenants
            .iter()
            .filter(|t| {
                self.faces
                    .contains_key(&((*app).clone(), (*t).clone(), user))
            })
            .count();
        let all_faces = self
            .faces
            .keys()
            .filter(|(a, _, u)| a == app && *u == user)
            .count();
        let mut guard = in_scope == deletion.tenants.len();
        if deletion.tenant_id.is_none() {
            guard &= all_faces == deletion.tenants.len()
                && self.users.contains_key(&(app.clone(), user));
        }
        if !guard {
            return Ok(false);
        }
        self.check_deletion_insert(deletion)?;
        self.check_audit(audit)?;
        // Older running deletions of the user that this one covers (its tenant's, or every
        // one of an erasure) are done: this one does what they had left.
        for older in self.deletions.values_mut() {
            let covered = older.kind == Kind::User
                && older.state == DeletionState::Running
                && older.app_id == *app
                && older.user_id == Some(user)
                && (deletion.tenant_id.is_none()
                    || older
                        .tenant_id
                        .as_ref()
                        .is_some_and(|t| deletion.tenants.contains(t)));
            if covered {
                older.supersede(deletion.created_at);
            }
        }
        self.deletions.insert(deletion.id, deletion.clone());
        self.write_audit(audit);
        for tenant in &deletion.tenants {
            let key = (app.clone(), tenant.clone(), user);
            let Some(email) = self.faces.get(&key).map(|f| f.email.clone()) else {
                continue;
            };
            let plane = Plane::Tenant(app.clone(), tenant.clone());
            self.challenges.retain(|_, c| {
                !(c.challenge.plane == plane
                    && (c.subject == Some(Subject::User(user)) || c.challenge.email == email))
            });
            let (a, t) = (app.to_string(), tenant.to_string());
            self.send_counts
                .remove(&(a.clone(), t.clone(), format!("send:{email}")));
            let here = |m_app: &AppId, m_tenant: &Option<TenantId>| {
                m_app == app && m_tenant.as_ref() == Some(tenant)
            };
            self.outbox
                .retain(|_, m| !(here(&m.app_id, &m.tenant_id) && m.to == email));
            self.dead_letters
                .retain(|_, d| !(here(&d.app_id, &d.tenant_id) && d.to == email));
            for subject in [format!("account:{email}"), format!("code:{email}")] {
                self.failures.remove(&(a.clone(), t.clone(), subject));
            }
            self.identities
                .retain(|_, i| !(i.app_id == *app && i.tenant_id == *tenant && i.user_id == user));
            self.forget_face_oauth(app, &user, |t| t == tenant);
            self.faces.remove(&key);
            // The document must now say "no face": pending from this very step, so the sweep
            // rewrites it even when the deletion's next steps fail.
            self.bump_user_edge(app, tenant, &user, deletion.created_at);
        }
        if !self.faces.keys().any(|(a, _, u)| a == app && *u == user) {
            self.metadata.remove(&(app.clone(), user));
            self.users.remove(&(app.clone(), user));
        }
        Ok(true)
    }

    /// What the foreign keys cascade to when a tenant row goes.
    fn cascade_tenant(&mut self, app: &AppId, tenant: &TenantId) {
        let here = |a: &AppId, t: &TenantId| a == app && t == tenant;
        self.api_keys
            .retain(|_, r| !here(&r.key.app_id, &r.key.tenant_id));
        self.faces.retain(|(a, t, _), _| !here(a, t));
        self.identities
            .retain(|_, i| !here(&i.app_id, &i.tenant_id));
        self.flows.retain(|_, f| !here(&f.app_id, &f.tenant_id));
        self.providers.retain(|(a, t, _), _| !here(a, t));
        self.forget_tenant_oauth(here);
        let sessions: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|r| here(&r.session.app_id, &r.session.tenant_id))
            .map(|r| r.session.id)
            .collect();
        self.refresh_tokens
            .retain(|_, t| !sessions.contains(&t.session_id));
        self.sessions.retain(|id, _| !sessions.contains(id));
        self.deleted_tenants.remove(&(app.clone(), tenant.clone()));
    }
}

impl MemoryStore {
    /// A tenant target whose row is not (or no longer) marked deleted: a deletion left over
    /// from before its app was deleted and made again. It finds nothing — the SQL's `scope`
    /// guard — so it cannot reach a namesake tenant.
    fn stale(&self, target: &Target) -> bool {
        match target {
            Target::Tenant(app, tenant) => !self
                .state
                .borrow()
                .deleted_tenants
                .contains_key(&(app.clone(), tenant.clone())),
            Target::App(_) | Target::User { .. } => false,
        }
    }
}

impl DeletionStore for MemoryStore {
    async fn begin_deletion(&self, deletion: &Deletion, audit: &AuditEntry) -> Result<bool, Error> {
        self.check("begin_deletion")?;
        let mut s = self.state.borrow_mut();
        let app = &deletion.app_id;
        match deletion.kind {
            Kind::App => {
                if app.as_str() == "public" || !s.app_is_live(app) {
                    return Ok(false);
                }
                s.check_deletion_insert(deletion)?;
                s.check_audit(audit)?;
                s.deleted_apps.insert(app.clone(), deletion.created_at);
            }
            Kind::Tenant => {
                let Some(tenant) = deletion.tenant_id.as_ref() else {
                    return Err(Error::Internal("a tenant deletion without a tenant".into()));
                };
                if tenant.is_public() || !s.tenant_is_live(app, tenant) {
                    return Ok(false);
                }
                s.check_deletion_insert(deletion)?;
                s.check_audit(audit)?;
                s.deleted_tenants
                    .insert((app.clone(), tenant.clone()), deletion.created_at);
                // Members narrowed to the tenant leave with it.
                for row in s.members.values_mut() {
                    let m = &mut row.member;
                    if m.app_id == *app
                        && m.tenant_id.as_ref() == Some(tenant)
                        && m.status != MemberStatus::Left
                    {
                        m.status = MemberStatus::Left;
                        m.updated_at = deletion.created_at;
                        row.invite_hash = None;
                    }
                }
            }
            Kind::User => return s.begin_user(deletion, audit),
        }
        s.deletions.insert(deletion.id, deletion.clone());
        s.write_audit(audit);
        Ok(true)
    }

    async fn find_deletion(&self, app: &AppId, id: &DeletionId) -> Result<Option<Deletion>, Error> {
        self.check("find_deletion")?;
        Ok(self
            .state
            .borrow()
            .deletions
            .get(id)
            .filter(|d| d.app_id == *app)
            .cloned())
    }

    async fn find_running_deletion(&self, target: &Target) -> Result<Option<Deletion>, Error> {
        self.check("find_running_deletion")?;
        Ok(self
            .state
            .borrow()
            .deletions
            .values()
            .find(|d| {
                d.state == DeletionState::Running
                    && d.kind == target.kind()
                    && d.app_id == *target.app_id()
                    && d.tenant_id.as_ref() == target.tenant_id()
                    && d.user_id.as_ref() == target.user_id()
            })
            .cloned())
    }

    async fn list_due_deletions(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Deletion>, Error> {
        self.check("list_due_deletions")?;
        Ok(self
            .state
            .borrow()
            .deletions
            .values()
            .filter(|d| {
                d.state == DeletionState::Running
                    && !matches!(d.next(now), crate::domain::deletion::Next::WaitUntil(_))
            })
            .take(limit)
            .cloned()
            .collect())
    }

    async fn update_deletion(&self, deletion: &Deletion) -> Result<bool, Error> {
        self.check("update_deletion")?;
        let mut s = self.state.borrow_mut();
        match s.deletions.get_mut(&deletion.id) {
            Some(stored) if stored.state == DeletionState::Running => {
                // Every column but the target and the creation time.
                *stored = Deletion {
                    id: stored.id,
                    kind: stored.kind,
                    app_id: stored.app_id.clone(),
                    tenant_id: stored.tenant_id.clone(),
                    created_at: stored.created_at,
                    ..deletion.clone()
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn prune_deletions(
        &self,
        finished_before: Timestamp,
        limit: usize,
    ) -> Result<usize, Error> {
        self.check("prune_deletions")?;
        Ok(bounded_remove(
            &mut self.state.borrow_mut().deletions,
            limit,
            |_, d| {
                d.state == DeletionState::Done
                    && d.finished_at.is_some_and(|at| at < finished_before)
            },
        ))
    }

    async fn purge_api_keys(
        &self,
        target: &Target,
        limit: usize,
    ) -> Result<Vec<SecretHash>, Error> {
        self.check("purge_api_keys")?;
        if self.stale(target) {
            return Ok(Default::default());
        }
        let mut s = self.state.borrow_mut();
        if matches!(target, Target::User { .. }) {
            return Ok(Vec::new());
        }
        let doomed: Vec<_> = s
            .api_keys
            .iter()
            .filter(|(_, r)| covers(target, &r.key.app_id, Some(&r.key.tenant_id), None))
            .take(limit)
            .map(|(id, r)| (*id, r.hash.clone()))
            .collect();
        for (id, _) in &doomed {
            s.api_keys.remove(id);
        }
        Ok(doomed.into_iter().map(|(_, hash)| hash).collect())
    }

    async fn purge_sessions(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_sessions")?;
        if self.stale(target) {
            return Ok(Default::default());
        }
        let mut s = self.state.borrow_mut();
        let sessions: Vec<SessionId> = s
            .sessions
            .values()
            .map(|r| &r.session)
            .filter(|x| covers(target, &x.app_id, Some(&x.tenant_id), Some(&x.user_id)))
            .map(|x| x.id)
            .collect();
        let tokens = bounded_remove(&mut s.refresh_tokens, limit, |_, t| {
            sessions.contains(&t.session_id)
        });
        let holding: Vec<SessionId> = s.refresh_tokens.values().map(|t| t.session_id).collect();
        let gone = bounded_remove(&mut s.sessions, limit, |id, _| {
            sessions.contains(id) && !holding.contains(id)
        });
        Ok(tokens + gone)
    }

    async fn find_faces(
        &self,
        target: &Target,
        limit: usize,
    ) -> Result<Vec<(TenantId, UserId)>, Error> {
        self.check("find_faces")?;
        if self.stale(target) {
            return Ok(Default::default());
        }
        Ok(self
            .state
            .borrow()
            .faces
            .keys()
            .filter(|(a, t, u)| covers(target, a, Some(t), Some(u)))
            .take(limit)
            .map(|(_, t, u)| (t.clone(), *u))
            .collect())
    }

    async fn purge_users(
        &self,
        target: &Target,
        faces: &[(TenantId, UserId)],
        limit: usize,
    ) -> Result<usize, Error> {
        self.check("purge_users")?;
        if self.stale(target) {
            return Ok(Default::default());
        }
        let mut s = self.state.borrow_mut();
        let app = target.app_id().clone();
        if faces.is_empty() {
            let Target::App(app) = target else {
                return Ok(0);
            };
            let doomed: Vec<UserId> = s
                .users
                .keys()
                .filter(|(a, _)| a == app)
                .take(limit)
                .map(|(_, u)| *u)
                .collect();
            for user in &doomed {
                // The foreign keys cascade to the user's metadata and faces.
                s.users.remove(&(app.clone(), *user));
                s.metadata.remove(&(app.clone(), *user));
                s.faces.retain(|(a, _, u), _| !(a == app && u == user));
                s.identities
                    .retain(|_, i| !(i.app_id == *app && i.user_id == *user));
                s.forget_face_oauth(app, user, |_| true);
            }
            return Ok(doomed.len());
        }
        let mut rows = 0;
        for (tenant, user) in faces.iter().take(limit) {
            if s.faces
                .remove(&(app.clone(), tenant.clone(), *user))
                .is_some()
            {
                rows += 1;
                // The foreign keys cascade to the face's identities, codes and consents.
                s.identities.retain(|_, i| {
                    !(i.app_id == app && i.tenant_id == *tenant && i.user_id == *user)
                });
                s.forget_face_oauth(&app, user, |t| t == tenant);
            }
        }
        for (_, user) in faces.iter().take(limit) {
            if s.faces.keys().any(|(a, _, u)| *a == app && u == user) {
                continue;
            }
            rows += usize::from(s.metadata.remove(&(app.clone(), *user)).is_some());
            rows += usize::from(s.users.remove(&(app.clone(), *user)).is_some());
        }
        Ok(rows)
    }

    async fn find_client_secrets(
        &self,
        target: &Target,
        limit: usize,
    ) -> Result<Vec<SecretHash>, Error> {
        self.check("find_client_secrets")?;
        if self.stale(target) || matches!(target, Target::User { .. }) {
            return Ok(Vec::new());
        }
        let s = self.state.borrow();
        Ok(s.oauth_clients
            .iter()
            .filter(|((a, t, _), _)| covers(target, a, Some(t), None))
            .filter_map(|(_, c)| c.secret_hash.clone())
            .take(limit)
            .collect())
    }

    async fn forget_client_secrets(
        &self,
        target: &Target,
        hashes: &[SecretHash],
    ) -> Result<usize, Error> {
        self.check("forget_client_secrets")?;
        if self.stale(target) || matches!(target, Target::User { .. }) {
            return Ok(0);
        }
        let mut s = self.state.borrow_mut();
        let mut changed = 0;
        for ((a, t, _), c) in s.oauth_clients.iter_mut() {
            let doomed = covers(target, a, Some(t), None)
                && c.secret_hash.as_ref().is_some_and(|h| hashes.contains(h));
            if doomed {
                c.secret_hash = None;
                c.version += 1;
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn purge_thirdparty(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_thirdparty")?;
        if self.stale(target) {
            return Ok(Default::default());
        }
        if matches!(target, Target::User { .. }) {
            return Ok(0);
        }
        let mut s = self.state.borrow_mut();
        let mut rows = bounded_remove(&mut s.identities, limit, |_, i| {
            covers(target, &i.app_id, Some(&i.tenant_id), None)
        });
        rows += bounded_remove(&mut s.flows, limit, |_, f| {
            covers(target, &f.app_id, Some(&f.tenant_id), None)
        });
        rows += bounded_remove(&mut s.providers, limit, |(a, t, _), _| {
            covers(target, a, Some(t), None)
        });
        rows += bounded_remove(&mut s.oauth_consents, limit, |(a, t, _, _), _| {
            covers(target, a, Some(t), None)
        });
        rows += bounded_remove(&mut s.oauth_codes, limit, |_, c| {
            covers(target, &c.app_id, Some(&c.tenant_id), None)
        });
        rows += bounded_remove(&mut s.oauth_assertions, limit, |(a, t, _, _), _| {
            covers(target, a, Some(t), None)
        });
        rows += bounded_remove(&mut s.oauth_clients, limit, |(a, t, _), _| {
            covers(target, a, Some(t), None)
        });
        Ok(rows)
    }

    async fn purge_email(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_email")?;
        if self.stale(target) {
            return Ok(Default::default());
        }
        let mut s = self.state.borrow_mut();
        if matches!(target, Target::User { .. }) {
            return Ok(0);
        }
        let mut rows = bounded_remove(&mut s.challenges, limit, |_, c| match &c.challenge.plane {
            Plane::Tenant(a, t) => covers(target, a, Some(t), None),
            Plane::Operators => false,
        });
        rows += bounded_remove(&mut s.send_counts, limit, |(a, t, _), _| {
            covers_text(target, a, t)
        });
        rows += bounded_remove(&mut s.outbox, limit, |_, m| {
            covers(target, &m.app_id, m.tenant_id.as_ref(), None)
        });
        rows += bounded_remove(&mut s.dead_letters, limit, |_, d| {
            covers(target, &d.app_id, d.tenant_id.as_ref(), None)
        });
        if let Target::App(app) = target {
            rows += bounded_remove(&mut s.deliveries, limit, |a, _| a == app);
        }
        Ok(rows)
    }

    async fn purge_signin_failures(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_signin_failures")?;
        if self.stale(target) {
            return Ok(Default::default());
        }
        Ok(bounded_remove(
            &mut self.state.borrow_mut().failures,
            limit,
            |(a, t, _), _| covers_text(target, a, t),
        ))
    }

    async fn purge_members(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_members")?;
        let Target::App(app) = target else {
            return Ok(0);
        };
        Ok(bounded_remove(
            &mut self.state.borrow_mut().members,
            limit,
            |_, r| r.member.app_id == *app,
        ))
    }

    async fn purge_catalogue(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_catalogue")?;
        let Target::App(app) = target else {
            return Ok(0);
        };
        let mut s = self.state.borrow_mut();
        Ok(bounded_remove(&mut s.roles, limit, |(a, _), _| a == app)
            + bounded_remove(&mut s.plans, limit, |(a, _), _| a == app)
            + bounded_remove(&mut s.operator_roles, limit, |(a, _), _| a == app))
    }

    async fn purge_billing(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_billing")?;
        let Target::App(app) = target else {
            return Ok(0);
        };
        let mut s = self.state.borrow_mut();
        Ok(
            bounded_remove(&mut s.webhook_secrets, limit, |a, _| a == app)
                + bounded_remove(&mut s.webhook_events, limit, |(a, _), _| a == app),
        )
    }

    async fn purge_audit(
        &self,
        target: &Target,
        pseudonym: &str,
        limit: usize,
    ) -> Result<usize, Error> {
        self.check("purge_audit")?;
        let mut s = self.state.borrow_mut();
        match target {
            Target::App(app) => {
                let mut removed = 0;
                s.audit.retain(|e| {
                    let goes = removed < limit && e.app_id == *app;
                    removed += usize::from(goes);
                    !goes
                });
                Ok(removed)
            }
            // A user's deletion from one tenant renames them only once the user is gone from
            // the app (its last face went with the first step, and the user record with it).
            Target::User { app, user, .. } => {
                if s.users.contains_key(&(app.clone(), *user)) {
                    return Ok(0);
                }
                let named = user.to_string();
                let mut rewritten = 0;
                for entry in s.audit.iter_mut() {
                    if rewritten < limit && entry.app_id == *app && entry.target == named {
                        entry.target = pseudonym.to_owned();
                        rewritten += 1;
                    }
                }
                Ok(rewritten)
            }
            _ => Ok(0),
        }
    }

    async fn purge_signing_keys(&self, target: &Target, limit: usize) -> Result<usize, Error> {
        self.check("purge_signing_keys")?;
        let Target::App(app) = target else {
            return Ok(0);
        };
        let owner = KeyOwner::App(app.clone());
        Ok(bounded_remove(
            &mut self.state.borrow_mut().signing_keys,
            limit,
            |_, k| k.owner == owner,
        ))
    }

    async fn purge_tenants(&self, target: &Target, limit: usize) -> Result<Vec<TenantId>, Error> {
        self.check("purge_tenants")?;
        let Target::App(app) = target else {
            return Ok(Vec::new());
        };
        let mut s = self.state.borrow_mut();
        let doomed: Vec<TenantId> = s
            .tenants
            .keys()
            .filter(|(a, _)| a == app)
            .take(limit)
            .map(|(_, t)| t.clone())
            .collect();
        for tenant in &doomed {
            s.tenants.remove(&(app.clone(), tenant.clone()));
            s.cascade_tenant(app, tenant);
        }
        Ok(doomed)
    }

    async fn find_edge_docs(&self, target: &Target, limit: usize) -> Result<Vec<String>, Error> {
        self.check("find_edge_docs")?;
        if self.stale(target) {
            return Ok(Vec::new());
        }
        let names = target.edge_docs();
        // ORDER BY doc: the map is ordered by name.
        Ok(self
            .state
            .borrow()
            .edge_sync
            .keys()
            .filter(|doc| names.contains(doc))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn forget_edge_docs(&self, docs: &[String]) -> Result<usize, Error> {
        self.check("forget_edge_docs")?;
        let mut s = self.state.borrow_mut();
        Ok(docs
            .iter()
            .filter(|doc| s.edge_sync.remove(doc.as_str()).is_some())
            .count())
    }

    async fn delete_target_row(&self, target: &Target) -> Result<bool, Error> {
        self.check("delete_target_row")?;
        let mut s = self.state.borrow_mut();
        match target {
            Target::Tenant(app, tenant) => {
                let key = (app.clone(), tenant.clone());
                if s.deleted_tenants.contains_key(&key) && s.tenants.remove(&key).is_some() {
                    s.cascade_tenant(app, tenant);
                }
            }
            Target::App(app) => {
                if s.deleted_apps.contains_key(app) {
                    let tenants: Vec<TenantId> = s
                        .tenants
                        .keys()
                        .filter(|(a, _)| a == app)
                        .map(|(_, t)| t.clone())
                        .collect();
                    for tenant in &tenants {
                        s.tenants.remove(&(app.clone(), tenant.clone()));
                        s.cascade_tenant(app, tenant);
                    }
                    s.apps.remove(app);
                    s.users.retain(|(a, _), _| a != app);
                    s.metadata.retain(|(a, _), _| a != app);
                    s.roles.retain(|(a, _), _| a != app);
                    s.plans.retain(|(a, _), _| a != app);
                    s.operator_roles.retain(|(a, _), _| a != app);
                    s.webhook_secrets.remove(app);
                    s.deliveries.remove(app);
                    s.members.retain(|_, r| r.member.app_id != *app);
                    s.deleted_apps.remove(app);
                }
            }
            Target::User { .. } => {}
        }
        Ok(true)
    }
}
