//! Email delivery, challenges, send counts, the outbox, dead letters and end users'
//! self-service in memory (`EmailStore`), as the D1 adapter's SQL (`store::d1::email`) writes
//! and reads them: the same compare-and-swap consume, the same `changes()` chains, the same
//! window counting and the same orderings.

use super::{constraint, MemoryStore, State};
use crate::domain::audit::AuditEntry;
use crate::domain::challenge::{
    Challenge, Plane, Purpose, SendLimit, StoredChallenge, Subject, ADDRESS_SENDS, CLIENT_SENDS,
    MAX_WRONG_CODES,
};
use crate::domain::delivery::{DeadLetter, Delivery, DeliveryKind, Message};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, ChallengeId, OperatorId, TenantId};
use crate::domain::member::{MemberStatus, MembershipSource};
use crate::domain::password::PasswordHash;
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId};
use crate::domain::Error;
use crate::store::{ConsumeCount, Counted, EmailStore, SendCount, Settlement, SignUpOutcome};

/// The `(app_id, tenant_id)` columns of a plane: `('', '')` for operators.
fn plane_keys(plane: &Plane) -> (&str, &str) {
    match plane {
        Plane::Tenant(app, tenant) => (app.as_str(), tenant.as_str()),
        Plane::Operators => ("", ""),
    }
}

/// True when `key` sorts before the keyset bound of a newest-first page (no bound: all).
fn before_cursor(key: &str, before: Option<&str>) -> bool {
    before.is_none_or(|b| key < b)
}

impl State {
    /// True when the challenge can be consumed at `now` (the consume's `WHERE`).
    fn can_consume(&self, id: &ChallengeId, now: Timestamp) -> bool {
        self.challenges.get(id).is_some_and(|c| {
            c.consumed_at.is_none() && c.challenge.expires_at > now && c.tries <= MAX_WRONG_CODES
        })
    }

    /// Consumes the challenge if it can be (the compare-and-swap).
    fn consume(&mut self, id: &ChallengeId, now: Timestamp) -> bool {
        if !self.can_consume(id, now) {
            return false;
        }
        if let Some(c) = self.challenges.get_mut(id) {
            c.consumed_at = Some(now);
        }
        true
    }

    fn settle(&mut self, plane: (&str, &str), settlement: &Settlement) {
        self.settle_subjects(
            plane.0,
            plane.1,
            settlement.clear.as_deref(),
            settlement.give_back.as_deref(),
        );
    }

    /// Revokes the live sessions of a user in a tenant but `keep`; their ids in rowid order
    /// (`UPDATE … RETURNING` through the index on (app, tenant, user)).
    fn revoke_sessions_of(
        &mut self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        keep: Option<&SessionId>,
        now: Timestamp,
    ) -> Vec<SessionId> {
        let mut revoked: Vec<(u64, SessionId)> = Vec::new();
        for row in self.sessions.values_mut() {
            let s = &mut row.session;
            if s.app_id == *app
                && s.tenant_id == *tenant
                && s.user_id == *user
                && s.revoked_at.is_none()
                && Some(&s.id) != keep
            {
                s.revoked_at = Some(now);
                revoked.push((row.rowid, s.id));
            }
        }
        revoked.sort_unstable_by_key(|(rowid, _)| *rowid);
        revoked.into_iter().map(|(_, id)| id).collect()
    }

    /// Counts a send against `subject` unless its window is full (`COUNT_SEND`).
    fn count_send_subject(
        &mut self,
        app: &str,
        tenant: &str,
        subject: &str,
        limit: &SendLimit,
        now: Timestamp,
    ) -> bool {
        let key = (app.to_owned(), tenant.to_owned(), subject.to_owned());
        match self.send_counts.get_mut(&key) {
            None => {
                self.send_counts.insert(key, (1, now));
                true
            }
            Some((sends, started)) => {
                if now.ms_since(*started) >= limit.window_ms {
                    *sends = 1;
                    *started = now;
                    true
                } else if *sends < limit.sends {
                    *sends += 1;
                    true
                } else {
                    false
                }
            }
        }
    }
}

impl EmailStore for MemoryStore {
    async fn find_email_delivery(&self, app: &AppId) -> Result<Delivery, Error> {
        self.check("find_email_delivery")?;
        Ok(self
            .state
            .borrow()
            .deliveries
            .get(app)
            .map_or(Delivery::None, |(d, _)| d.clone()))
    }

    async fn put_email_delivery(
        &self,
        app: &AppId,
        delivery: &Delivery,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("put_email_delivery")?;
        let mut s = self.state.borrow_mut();
        let exists = s.apps.contains_key(app);
        if exists {
            s.check_audit(audit)?;
            s.deliveries.insert(app.clone(), (delivery.clone(), now));
            s.write_audit(audit);
        }
        if delivery.kind() != DeliveryKind::Outbox {
            s.outbox.retain(|_, m| m.app_id != *app);
        }
        Ok(exists)
    }

    async fn create_outbox_message(
        &self,
        message: &Message,
        prune_before: Timestamp,
    ) -> Result<(), Error> {
        self.check("create_outbox_message")?;
        let mut s = self.state.borrow_mut();
        s.outbox
            .entry(message.id)
            .or_insert_with(|| message.clone());
        s.outbox
            .retain(|_, m| !(m.app_id == message.app_id && m.created_at < prune_before));
        Ok(())
    }

    async fn list_outbox(
        &self,
        app: &AppId,
        to: Option<&Email>,
        since: Timestamp,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, Error> {
        self.check("list_outbox")?;
        Ok(self
            .state
            .borrow()
            .outbox
            .values()
            .rev()
            .filter(|m| m.app_id == *app && to.is_none_or(|to| m.to == *to))
            .filter(|m| m.created_at >= since && before_cursor(&m.id.to_string(), before))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn create_dead_letter(
        &self,
        letter: &DeadLetter,
        prune_before: Timestamp,
    ) -> Result<(), Error> {
        self.check("create_dead_letter")?;
        let mut s = self.state.borrow_mut();
        s.dead_letters
            .entry(letter.id)
            .or_insert_with(|| letter.clone());
        s.dead_letters
            .retain(|_, d| !(d.app_id == letter.app_id && d.at < prune_before));
        Ok(())
    }

    async fn list_dead_letters(
        &self,
        app: &AppId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, Error> {
        self.check("list_dead_letters")?;
        Ok(self
            .state
            .borrow()
            .dead_letters
            .values()
            .rev()
            .filter(|d| d.app_id == *app && before_cursor(&d.id.to_string(), before))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn count_send(&self, plane: &Plane, count: &SendCount) -> Result<Option<i64>, Error> {
        self.check("count_send")?;
        let (app, tenant) = plane_keys(plane);
        let mut subjects = vec![(count.address.as_str(), ADDRESS_SENDS)];
        if let Some(client) = &count.client {
            subjects.push((client.as_str(), CLIENT_SENDS));
        }
        let mut s = self.state.borrow_mut();
        let counted: Vec<bool> = subjects
            .iter()
            .map(|(subject, limit)| s.count_send_subject(app, tenant, subject, limit, count.now))
            .collect();
        let mut wait: Option<i64> = None;
        for ((subject, limit), counted) in subjects.iter().zip(counted) {
            if counted {
                continue;
            }
            let key = (app.to_owned(), tenant.to_owned(), (*subject).to_owned());
            let started = s.send_counts.get(&key).map_or(count.now, |(_, at)| *at);
            let ends = started.plus_ms(limit.window_ms);
            let seconds = (ends.ms_since(count.now) + 999).div_euclid(1000).max(1);
            wait = Some(wait.map_or(seconds, |w| w.max(seconds)));
        }
        Ok(wait)
    }

    async fn create_challenge(&self, challenge: &Challenge) -> Result<Option<Subject>, Error> {
        self.check("create_challenge")?;
        let mut s = self.state.borrow_mut();
        if s.challenges.contains_key(&challenge.id) {
            return Err(constraint("PRIMARY KEY (email_challenges)"));
        }
        if s.challenges
            .values()
            .any(|c| c.challenge.token_hash == challenge.token_hash)
        {
            return Err(constraint("UNIQUE (email_challenges.token_hash)"));
        }
        let subject = match &challenge.plane {
            Plane::Tenant(app, tenant) => s
                .faces
                .values()
                .find(|f| f.app_id == *app && f.tenant_id == *tenant && f.email == challenge.email)
                .map(|f| Subject::User(f.user_id)),
            Plane::Operators => s
                .operators
                .values()
                .find(|o| o.email == challenge.email)
                .map(|o| Subject::Operator(o.id)),
        };
        s.challenges.insert(
            challenge.id,
            StoredChallenge {
                challenge: challenge.clone(),
                subject,
                tries: 0,
                consumed_at: None,
            },
        );
        Ok(subject)
    }

    async fn find_challenge(
        &self,
        plane: &Plane,
        id: &ChallengeId,
    ) -> Result<Option<StoredChallenge>, Error> {
        self.check("find_challenge")?;
        Ok(self
            .state
            .borrow()
            .challenges
            .get(id)
            .filter(|c| c.challenge.plane == *plane)
            .cloned())
    }

    async fn begin_code_try(
        &self,
        plane: &Plane,
        id: &ChallengeId,
        count: &ConsumeCount,
    ) -> Result<Counted<StoredChallenge>, Error> {
        self.check("begin_code_try")?;
        let mut s = self.state.borrow_mut();
        let found = match s.challenges.get_mut(id) {
            Some(c)
                if c.challenge.plane == *plane
                    && c.challenge.code_hash.is_some()
                    && c.is_open(count.now) =>
            {
                c.tries += 1;
                Some(c.clone())
            }
            _ => None,
        };
        let (app, tenant) = plane_keys(plane);
        let retry_after = s.count_subjects(app, tenant, &count.subjects(), count.now);
        Ok(Counted { found, retry_after })
    }

    async fn begin_link_try(
        &self,
        plane: &Plane,
        purpose: Purpose,
        token: &SecretHash,
        count: &ConsumeCount,
    ) -> Result<Counted<StoredChallenge>, Error> {
        self.check("begin_link_try")?;
        let mut s = self.state.borrow_mut();
        let found = s
            .challenges
            .values()
            .find(|c| {
                c.challenge.token_hash == *token
                    && c.challenge.plane == *plane
                    && c.challenge.purpose == purpose
                    && c.is_open(count.now)
            })
            .cloned();
        let (app, tenant) = plane_keys(plane);
        let retry_after = s.count_subjects(app, tenant, &count.subjects(), count.now);
        Ok(Counted { found, retry_after })
    }

    async fn verify_email(
        &self,
        challenge: &ChallengeId,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        self.check("verify_email")?;
        let (app, tenant) = tenant;
        let mut s = self.state.borrow_mut();
        let consumed = s.consume(challenge, now);
        let email = s
            .challenges
            .get(challenge)
            .map(|c| c.challenge.email.clone());
        if consumed {
            if let Some(stored) = s.users.get_mut(&(app.clone(), *user)) {
                if Some(&stored.email) == email.as_ref() {
                    stored.email_verified = true;
                }
            }
        }
        s.settle((app.as_str(), tenant.as_str()), settlement);
        Ok(consumed)
    }

    async fn reset_user_password(
        &self,
        challenge: &ChallengeId,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        hash: &PasswordHash,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<Option<Vec<SessionId>>, Error> {
        self.check("reset_user_password")?;
        let (app, tenant) = tenant;
        let mut s = self.state.borrow_mut();
        let consumed = s.consume(challenge, now);
        let mut revoked = Vec::new();
        let updated = match s.users.get_mut(&(app.clone(), *user)) {
            Some(stored) if consumed => {
                stored.password_hash = Some(hash.clone());
                stored.email_verified = true;
                true
            }
            _ => false,
        };
        if updated {
            revoked = s.revoke_sessions_of(app, tenant, user, None, now);
            if !revoked.is_empty() {
                s.bump_user_edge(app, tenant, user, now);
            }
        }
        s.settle((app.as_str(), tenant.as_str()), settlement);
        Ok(consumed.then_some(revoked))
    }

    async fn reset_operator_password(
        &self,
        challenge: &ChallengeId,
        operator: &OperatorId,
        hash: &PasswordHash,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        self.check("reset_operator_password")?;
        let mut s = self.state.borrow_mut();
        let consumed = s.consume(challenge, now);
        if consumed {
            if let Some(stored) = s.operators.get_mut(operator) {
                stored.password_hash = Some(hash.clone());
                stored.password_reset_at = Some(now);
            }
        }
        s.settle(("", ""), settlement);
        Ok(consumed)
    }

    async fn verify_operator_email(
        &self,
        challenge: &ChallengeId,
        operator: &OperatorId,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<Option<Vec<AppId>>, Error> {
        self.check("verify_operator_email")?;
        let mut s = self.state.borrow_mut();
        let email = s
            .challenges
            .get(challenge)
            .map(|c| c.challenge.email.clone());
        let consumed = s.consume(challenge, now);
        let mut apps = Vec::new();
        if consumed {
            if let Some(stored) = s
                .operators
                .get_mut(operator)
                .filter(|o| Some(&o.email) == email.as_ref())
            {
                stored.email_verified_at.get_or_insert(now);
            }
            let verified = s
                .operators
                .get(operator)
                .is_some_and(|o| o.email_verified_at.is_some());
            if verified {
                let signed_up: Vec<AppId> = s
                    .members
                    .values()
                    .filter(|r| {
                        r.member.operator_id == Some(*operator)
                            && r.member.source == MembershipSource::Signup
                            && r.member.status != MemberStatus::Left
                    })
                    .map(|r| r.member.app_id.clone())
                    .collect();
                for app in s.apps.values_mut() {
                    if app.pending_verification && signed_up.contains(&app.id) {
                        app.pending_verification = false;
                        apps.push(app.id.clone());
                    }
                }
            }
        }
        s.settle(("", ""), settlement);
        Ok(consumed.then_some(apps))
    }

    async fn passwordless_sign_in(
        &self,
        challenge: &ChallengeId,
        session: &Session,
        token: &SecretHash,
        settlement: &Settlement,
    ) -> Result<bool, Error> {
        self.check("passwordless_sign_in")?;
        let now = session.created_at;
        let mut s = self.state.borrow_mut();
        let consumable = s.can_consume(challenge, now);
        let user_key = (session.app_id.clone(), session.user_id);
        // The session goes in only after the user's update changed a row.
        let inserts = consumable && s.users.contains_key(&user_key);
        if inserts {
            s.check_session_insert(session, token)?;
        }
        s.consume(challenge, now);
        if let Some(stored) = s.users.get_mut(&user_key).filter(|_| consumable) {
            stored.email_verified = true;
            stored.passwordless = true;
        }
        if inserts {
            s.write_session(session, token);
        }
        s.settle(
            (session.app_id.as_str(), session.tenant_id.as_str()),
            settlement,
        );
        Ok(consumable)
    }

    async fn passwordless_sign_up(
        &self,
        challenge: &ChallengeId,
        user: &User,
        face: &TenantUser,
        session: (&Session, &SecretHash),
        settlement: &Settlement,
    ) -> Result<SignUpOutcome, Error> {
        self.check("passwordless_sign_up")?;
        let (session, token) = session;
        let mut s = self.state.borrow_mut();
        let consumable = s.can_consume(challenge, session.created_at);
        let inserts = consumable && s.check_user_pair(user, face)?;
        if inserts {
            s.check_session_insert(session, token)?;
        }
        s.consume(challenge, session.created_at);
        if inserts {
            s.write_user_pair(user, face);
            s.write_session(session, token);
        }
        s.settle((face.app_id.as_str(), face.tenant_id.as_str()), settlement);
        Ok(SignUpOutcome::of(consumable, inserts))
    }

    async fn change_password(
        &self,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        hash: &PasswordHash,
        keep: &SessionId,
        now: Timestamp,
        settlement: &Settlement,
    ) -> Result<Vec<SessionId>, Error> {
        self.check("change_password")?;
        let (app, tenant) = tenant;
        let mut s = self.state.borrow_mut();
        if let Some(stored) = s.users.get_mut(&(app.clone(), *user)) {
            stored.password_hash = Some(hash.clone());
        }
        let revoked = s.revoke_sessions_of(app, tenant, user, Some(keep), now);
        if !revoked.is_empty() {
            s.bump_user_edge(app, tenant, user, now);
        }
        s.settle((app.as_str(), tenant.as_str()), settlement);
        Ok(revoked)
    }

    async fn list_live_sessions(
        &self,
        tenant: (&AppId, &TenantId),
        user: &UserId,
        now: Timestamp,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Session>, Error> {
        self.check("list_live_sessions")?;
        let (app, tenant) = tenant;
        Ok(self
            .state
            .borrow()
            .sessions
            .values()
            .rev()
            .map(|row| &row.session)
            .filter(|s| s.app_id == *app && s.tenant_id == *tenant && s.user_id == *user)
            .filter(|s| s.revoked_at.is_none() && !s.is_expired(now))
            .filter(|s| before_cursor(&s.id.to_string(), before))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn prune_email(
        &self,
        now: Timestamp,
        outbox_before: Timestamp,
        dead_before: Timestamp,
    ) -> Result<(), Error> {
        self.check("prune_email")?;
        let window = ADDRESS_SENDS.window_ms.max(CLIENT_SENDS.window_ms);
        let mut s = self.state.borrow_mut();
        s.challenges.retain(|_, c| c.challenge.expires_at > now);
        s.send_counts
            .retain(|_, (_, started)| *started > now.plus_ms(-window));
        s.outbox.retain(|_, m| m.created_at >= outbox_before);
        s.dead_letters.retain(|_, d| d.at >= dead_before);
        Ok(())
    }
}
