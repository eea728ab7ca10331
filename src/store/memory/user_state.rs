//! End-user state as operators and the billing webhook manage it, and the audit log, in memory
//! (`UserStateStore`, `AuditStore`), as the D1 adapter's SQL writes and reads them.

use super::{constraint, record_of, MemoryStore, MetadataRow, PlanRow, RoleRow, SecretRow};
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::ids::{AppId, TenantId};
use crate::domain::names::{PlanTier, RoleName, UserPermission};
use crate::domain::policy::{AppPolicy, Plan};
use crate::domain::session::SessionId;
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId};
use crate::domain::Error;
use crate::store::{AuditStore, EventOutcome, UserFilter, UserStateStore};
use serde_json::Value;

/// The upper bound of an email-prefix range: `prefix || char(1114111)` (U+10FFFF).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl UserStateStore for MemoryStore {
    async fn find_policy(&self, app: &AppId) -> Result<AppPolicy, Error> {
        self.check("find_policy")?;
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
        Ok(policy)
    }

    async fn put_role(
        &self,
        app: &AppId,
        name: &RoleName,
        permissions: &[UserPermission],
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.check("put_role")?;
        let mut s = self.state.borrow_mut();
        s.require_app(app)?;
        s.check_audit(audit)?;
        let row = RoleRow {
            permissions: permissions.to_vec(),
            updated_at: now,
        };
        s.roles.insert((app.clone(), name.clone()), row);
        s.write_audit(audit);
        Ok(())
    }

    async fn put_plan(
        &self,
        app: &AppId,
        tier: &PlanTier,
        plan: &Plan,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.check("put_plan")?;
        let mut s = self.state.borrow_mut();
        s.require_app(app)?;
        s.check_audit(audit)?;
        let row = PlanRow {
            plan: plan.clone(),
            updated_at: now,
        };
        s.plans.insert((app.clone(), tier.clone()), row);
        s.write_audit(audit);
        Ok(())
    }

    async fn list_tenant_users(
        &self,
        app: &AppId,
        tenant: &TenantId,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(User, TenantUser)>, Error> {
        self.check("list_tenant_users")?;
        let s = self.state.borrow();
        let after = after.unwrap_or("");
        let mut faces: Vec<(String, &TenantUser)> = s
            .faces
            .values()
            .filter(|f| f.app_id == *app && f.tenant_id == *tenant)
            .filter(|f| s.users.contains_key(&(f.app_id.clone(), f.user_id)))
            .filter(|f| filter.status.is_none_or(|status| f.status == status))
            .filter(|f| {
                filter
                    .plan_tier
                    .as_ref()
                    .is_none_or(|tier| f.plan_tier == *tier)
            })
            .filter_map(|f| {
                // The keyset key: the email within the prefix's range, else the user id.
                let key = match &filter.email_prefix {
                    Some(prefix) => {
                        let email = f.email.as_str();
                        (email >= prefix.as_str() && email < prefix_end(prefix).as_str())
                            .then(|| email.to_owned())?
                    }
                    None => f.user_id.to_string(),
                };
                (key.as_str() > after).then_some((key, f))
            })
            .collect();
        faces.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(faces
            .into_iter()
            .take(limit)
            .filter_map(|(_, f)| {
                let user = s.users.get(&(f.app_id.clone(), f.user_id))?;
                Some((user.clone(), f.clone()))
            })
            .collect())
    }

    async fn find_user(&self, app: &AppId, id: &UserId) -> Result<Option<User>, Error> {
        self.check("find_user")?;
        Ok(self.state.borrow().users.get(&(app.clone(), *id)).cloned())
    }

    async fn update_face(
        &self,
        face: &TenantUser,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("update_face")?;
        let mut s = self.state.borrow_mut();
        let key = (face.app_id.clone(), face.tenant_id.clone(), face.user_id);
        if s.faces
            .get(&key)
            .is_none_or(|f| f.version != expected_version)
        {
            return Ok(false);
        }
        s.check_audit(audit)?;
        if let Some(stored) = s.faces.get_mut(&key) {
            stored.status = face.status;
            stored.plan_tier = face.plan_tier.clone();
            stored.rate_limit_override = face.rate_limit_override;
            stored.roles = face.roles.clone();
            stored.version += 1;
        }
        s.write_audit(audit);
        Ok(true)
    }

    async fn associate(&self, face: &TenantUser, audit: &AuditEntry) -> Result<bool, Error> {
        self.check("associate")?;
        let mut s = self.state.borrow_mut();
        // OR IGNORE: a face of that user or that email in the tenant makes it a no-op, but the
        // foreign keys (tenant, user) still fail the batch.
        let key = (face.app_id.clone(), face.tenant_id.clone(), face.user_id);
        if s.faces.contains_key(&key) || s.email_taken(&face.app_id, &face.tenant_id, &face.email) {
            return Ok(false);
        }
        s.check_face_parents(face, None)?;
        s.check_audit(audit)?;
        s.write_face(face);
        s.write_audit(audit);
        Ok(true)
    }

    async fn create_user_only(
        &self,
        user: &User,
        face: &TenantUser,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("create_user_only")?;
        let mut s = self.state.borrow_mut();
        if !s.check_user_pair(user, face)? {
            return Ok(false);
        }
        s.check_audit(audit)?;
        s.write_user_pair(user, face);
        s.write_audit(audit);
        Ok(true)
    }

    async fn revoke_user_sessions(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<Vec<SessionId>, Error> {
        self.check("revoke_user_sessions")?;
        let mut s = self.state.borrow_mut();
        // The entry is written whether or not a session was live.
        s.check_audit(audit)?;
        let mut revoked: Vec<(u64, SessionId)> = Vec::new();
        for row in s.sessions.values_mut() {
            let session = &mut row.session;
            if session.app_id == *app
                && session.tenant_id == *tenant
                && session.user_id == *user
                && session.revoked_at.is_none()
            {
                session.revoked_at = Some(now);
                revoked.push((row.rowid, session.id));
            }
        }
        s.write_audit(audit);
        // RETURNING through the index on (app, tenant, user): in rowid order.
        revoked.sort_unstable_by_key(|(rowid, _)| *rowid);
        Ok(revoked.into_iter().map(|(_, id)| id).collect())
    }

    async fn find_metadata(&self, app: &AppId, user: &UserId) -> Result<Value, Error> {
        self.check("find_metadata")?;
        Ok(self
            .state
            .borrow()
            .metadata
            .get(&(app.clone(), *user))
            .map_or_else(|| serde_json::json!({}), |row| row.metadata.clone()))
    }

    async fn put_metadata(
        &self,
        app: &AppId,
        user: &UserId,
        metadata: &Value,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.check("put_metadata")?;
        let mut s = self.state.borrow_mut();
        if !s.users.contains_key(&(app.clone(), *user)) {
            return Err(constraint("FOREIGN KEY (user_metadata.user)"));
        }
        s.check_audit(audit)?;
        // Stored as JSON text and parsed when read.
        let stored = serde_json::from_str(&metadata.to_string()).unwrap_or_default();
        s.metadata.insert(
            (app.clone(), *user),
            MetadataRow {
                metadata: stored,
                updated_at: now,
            },
        );
        s.write_audit(audit);
        Ok(())
    }

    async fn find_webhook_secret(&self, app: &AppId) -> Result<Option<String>, Error> {
        self.check("find_webhook_secret")?;
        Ok(self
            .state
            .borrow()
            .webhook_secrets
            .get(app)
            .map(|row| row.sealed.clone()))
    }

    async fn put_webhook_secret(
        &self,
        app: &AppId,
        sealed: &str,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), Error> {
        self.check("put_webhook_secret")?;
        let mut s = self.state.borrow_mut();
        s.require_app(app)?;
        s.check_audit(audit)?;
        let row = SecretRow {
            sealed: sealed.to_owned(),
            created_at: now,
        };
        s.webhook_secrets.insert(app.clone(), row);
        s.write_audit(audit);
        Ok(())
    }

    async fn has_event(&self, app: &AppId, event_id: &str) -> Result<bool, Error> {
        self.check("has_event")?;
        Ok(self
            .state
            .borrow()
            .webhook_events
            .contains_key(&(app.clone(), event_id.to_owned())))
    }

    async fn apply_plan_event(
        &self,
        app: &AppId,
        event_id: &str,
        face: &TenantUser,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<EventOutcome, Error> {
        self.check("apply_plan_event")?;
        let mut s = self.state.borrow_mut();
        let event = (app.clone(), event_id.to_owned());
        if s.webhook_events.contains_key(&event) {
            return Ok(EventOutcome::Duplicate);
        }
        // The event is recorded; the plan changes (and the entry is written) only if the face
        // exists.
        let key = (face.app_id.clone(), face.tenant_id.clone(), face.user_id);
        let changes_face = s.faces.contains_key(&key);
        if changes_face {
            s.check_audit(audit)?;
        }
        s.webhook_events.insert(event, now);
        if let Some(stored) = s.faces.get_mut(&key) {
            stored.plan_tier = face.plan_tier.clone();
            stored.version += 1;
        }
        if changes_face {
            s.write_audit(audit);
        }
        Ok(EventOutcome::Applied)
    }
}

impl AuditStore for MemoryStore {
    async fn list_audit(
        &self,
        app: &AppId,
        tenant: Option<(&TenantId, Timestamp)>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        self.check("list_audit")?;
        let s = self.state.borrow();
        // `id < ?` over text; no cursor is `'~'`, after every UUID.
        let before = before.unwrap_or("~");
        let mut entries: Vec<(String, &AuditEntry)> = s
            .audit
            .iter()
            .filter(|e| e.app_id == *app)
            .filter(|e| {
                tenant.is_none_or(|(t, since)| e.tenant_id.as_ref() == Some(t) && e.at >= since)
            })
            .map(|e| (e.id.to_string(), e))
            .filter(|(id, _)| id.as_str() < before)
            .collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(entries
            .into_iter()
            .take(limit)
            .map(|(_, e)| record_of(e))
            .collect())
    }
}
