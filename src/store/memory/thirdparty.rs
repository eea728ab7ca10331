//! Third-party sign-in in memory (`ThirdPartyStore`): providers, flows and identities, with
//! the same conditional writes as the SQL of `d1::thirdparty`. A face's `providers` is kept in
//! step with its identities here (the SQL reads it through a subquery).

use super::{constraint, MemoryStore, State};
use crate::domain::audit::AuditEntry;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ProviderId, TenantId};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::thirdparty::{Flow, Identity, Provider};
use crate::domain::throttle::ThrottlePolicy;
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId};
use crate::domain::Error;
use crate::store::{Counted, LinkedUser, Settlement, ThirdPartyStore};

/// `user_identities`' primary key.
pub(super) type IdentityKey = (AppId, TenantId, ProviderId, String);

impl State {
    /// Rewrites the `providers` of a face from its identities (the SQL's subquery).
    pub(super) fn refresh_providers(&mut self, app: &AppId, tenant: &TenantId, user: &UserId) {
        let mut ids: Vec<ProviderId> = self
            .identities
            .values()
            .filter(|i| i.app_id == *app && i.tenant_id == *tenant && i.user_id == *user)
            .map(|i| i.provider_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        if let Some(face) = self.faces.get_mut(&(app.clone(), tenant.clone(), *user)) {
            face.providers = ids;
        }
    }

    /// Deletes the identities `remove` selects, keeping their faces' `providers` in step.
    pub(super) fn forget_identities(&mut self, remove: impl Fn(&Identity) -> bool) {
        let gone: Vec<Identity> = self
            .identities
            .values()
            .filter(|i| remove(i))
            .cloned()
            .collect();
        self.identities.retain(|_, i| !remove(i));
        for i in gone {
            self.refresh_providers(&i.app_id, &i.tenant_id, &i.user_id);
        }
    }

    fn write_identity(&mut self, identity: &Identity) {
        let key = identity_key(identity);
        self.identities.insert(key, identity.clone());
        self.refresh_providers(&identity.app_id, &identity.tenant_id, &identity.user_id);
    }
}

fn identity_key(i: &Identity) -> IdentityKey {
    (
        i.app_id.clone(),
        i.tenant_id.clone(),
        i.provider_id.clone(),
        i.subject.clone(),
    )
}

impl ThirdPartyStore for MemoryStore {
    async fn find_provider(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
    ) -> Result<Option<Provider>, Error> {
        self.check("find_provider")?;
        let s = self.state.borrow();
        Ok(s.providers
            .get(&(app.clone(), tenant.clone(), id.clone()))
            .cloned())
    }

    async fn list_providers(
        &self,
        app: &AppId,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Provider>, Error> {
        self.check("list_providers")?;
        let s = self.state.borrow();
        Ok(s.providers
            .values()
            .filter(|p| p.app_id == *app && p.tenant_id == *tenant)
            .filter(|p| super::after_cursor(p.id.as_str(), after))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn put_provider(
        &self,
        provider: &Provider,
        audit: &AuditEntry,
    ) -> Result<Option<bool>, Error> {
        self.check("put_provider")?;
        let mut s = self.state.borrow_mut();
        let (app, tenant, id) = (&provider.app_id, &provider.tenant_id, &provider.id);
        let exists = s.tenants.contains_key(&(app.clone(), tenant.clone()));
        if exists {
            s.check_audit(audit)?;
        }
        let issuer = provider.issuer.as_str();
        s.forget_identities(|i| {
            i.app_id == *app && i.tenant_id == *tenant && i.provider_id == *id && i.issuer != issuer
        });
        if !exists {
            return Ok(None);
        }
        let key = (app.clone(), tenant.clone(), id.clone());
        let created_at = s.providers.get(&key).map(|p| p.created_at);
        let stored = Provider {
            created_at: created_at.unwrap_or(provider.updated_at),
            ..provider.clone()
        };
        s.providers.insert(key, stored);
        s.write_audit(audit);
        Ok(Some(created_at.is_none()))
    }

    async fn delete_provider(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("delete_provider")?;
        let mut s = self.state.borrow_mut();
        let key = (app.clone(), tenant.clone(), id.clone());
        let existed = s.providers.contains_key(&key);
        if existed {
            s.check_audit(audit)?;
        }
        s.forget_identities(|i| i.app_id == *app && i.tenant_id == *tenant && i.provider_id == *id);
        s.flows
            .retain(|_, f| !(f.app_id == *app && f.tenant_id == *tenant && f.provider_id == *id));
        if existed {
            s.providers.remove(&key);
            s.write_audit(audit);
        }
        Ok(existed)
    }

    async fn begin_flow_step(
        &self,
        app: &AppId,
        tenant: &TenantId,
        id: &ProviderId,
        client: Option<(&str, &'static ThrottlePolicy)>,
        now: Timestamp,
    ) -> Result<Counted<Provider>, Error> {
        self.check("begin_flow_step")?;
        let mut s = self.state.borrow_mut();
        let found = s
            .providers
            .get(&(app.clone(), tenant.clone(), id.clone()))
            .cloned();
        let subjects: Vec<(&str, &ThrottlePolicy)> = client.into_iter().collect();
        let retry_after = s.count_subjects(app.as_str(), tenant.as_str(), &subjects, now);
        Ok(Counted { found, retry_after })
    }

    async fn create_flow(&self, flow: &Flow) -> Result<(), Error> {
        self.check("create_flow")?;
        let mut s = self.state.borrow_mut();
        let key = flow.state_hash.as_str().to_owned();
        if s.flows.contains_key(&key) {
            return Err(constraint("PRIMARY KEY (thirdparty_flows)"));
        }
        s.require_tenant(&flow.app_id, &flow.tenant_id)?;
        s.flows.insert(key, flow.clone());
        Ok(())
    }

    async fn take_flow(&self, state: &SecretHash) -> Result<Option<Flow>, Error> {
        self.check("take_flow")?;
        Ok(self.state.borrow_mut().flows.remove(state.as_str()))
    }

    async fn find_identity(
        &self,
        app: &AppId,
        tenant: &TenantId,
        provider: &ProviderId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<LinkedUser>, Error> {
        self.check("find_identity")?;
        let s = self.state.borrow();
        let key = (
            app.clone(),
            tenant.clone(),
            provider.clone(),
            subject.to_owned(),
        );
        let Some(identity) = s.identities.get(&key).filter(|i| i.issuer == issuer) else {
            return Ok(None);
        };
        Ok(s.tenant_user(app, tenant, &identity.user_id)
            .map(|(user, face)| LinkedUser {
                identity: identity.clone(),
                user,
                face,
            }))
    }

    async fn thirdparty_sign_in(
        &self,
        session: &Session,
        token: &SecretHash,
        settlement: &Settlement,
    ) -> Result<(), Error> {
        self.check("thirdparty_sign_in")?;
        let mut s = self.state.borrow_mut();
        s.check_session_insert(session, token)?;
        s.write_session(session, token);
        s.settle_subjects(
            session.app_id.as_str(),
            session.tenant_id.as_str(),
            settlement.clear.as_deref(),
            settlement.give_back.as_deref(),
        );
        Ok(())
    }

    async fn thirdparty_sign_up(
        &self,
        user: &User,
        face: &TenantUser,
        identity: &Identity,
        session: (&Session, &SecretHash),
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        self.check("thirdparty_sign_up")?;
        let (session, token) = session;
        let mut s = self.state.borrow_mut();
        let inserts = s.check_user_pair(user, face)?;
        if inserts {
            if s.identities.contains_key(&identity_key(identity)) {
                return Err(constraint("PRIMARY KEY (user_identities)"));
            }
            s.check_session_insert(session, token)?;
            s.write_user_pair(user, face);
            s.write_identity(identity);
            s.write_session(session, token);
        }
        s.settle_subjects(
            face.app_id.as_str(),
            face.tenant_id.as_str(),
            settlement.clear.as_deref(),
            settlement.give_back.as_deref(),
        );
        Ok(inserts)
    }

    async fn link_identity(
        &self,
        identity: &Identity,
        email: &Email,
        takeover: bool,
        session: (&Session, &SecretHash),
        settlement: &Settlement,
    ) -> Result<Option<Vec<SessionId>>, Error> {
        self.check("link_identity")?;
        let (session, token) = session;
        let (app, tenant, user) = (&identity.app_id, &identity.tenant_id, &identity.user_id);
        let mut s = self.state.borrow_mut();
        let has_email = s
            .faces
            .get(&(app.clone(), tenant.clone(), *user))
            .is_some_and(|f| f.email == *email);
        let links = has_email && !s.identities.contains_key(&identity_key(identity));
        if links {
            s.check_session_insert(session, token)?;
        }
        let mut revoked = Vec::new();
        if links {
            s.write_identity(identity);
            s.write_session(session, token);
            let unverified = s
                .users
                .get(&(app.clone(), *user))
                .is_some_and(|u| !u.email_verified);
            if takeover && unverified {
                if let Some(stored) = s.users.get_mut(&(app.clone(), *user)) {
                    stored.password_hash = None;
                    stored.email_verified = true;
                }
                let mut live: Vec<(u64, SessionId)> = s
                    .sessions
                    .values()
                    .filter(|r| {
                        r.session.app_id == *app
                            && r.session.user_id == *user
                            && r.session.revoked_at.is_none()
                            && r.session.id != session.id
                    })
                    .map(|r| (r.rowid, r.session.id))
                    .collect();
                live.sort_unstable_by_key(|(rowid, _)| *rowid);
                for (_, id) in &live {
                    if let Some(row) = s.sessions.get_mut(id) {
                        row.session.revoked_at = Some(session.created_at);
                    }
                }
                revoked = live.into_iter().map(|(_, id)| id).collect();
            }
        }
        s.settle_subjects(
            app.as_str(),
            tenant.as_str(),
            settlement.clear.as_deref(),
            settlement.give_back.as_deref(),
        );
        Ok(links.then_some(revoked))
    }

    async fn prune_flows(&self, now: Timestamp, limit: usize) -> Result<usize, Error> {
        self.check("prune_flows")?;
        let mut s = self.state.borrow_mut();
        let expired: Vec<String> = s
            .flows
            .iter()
            .filter(|(_, f)| f.expires_at <= now)
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for key in &expired {
            s.flows.remove(key);
        }
        Ok(expired.len())
    }
}
