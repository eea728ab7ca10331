//! End users, sign-in counting and refresh sessions in memory (`UserStore`, `SessionStore`), as
//! the D1 adapter's SQL writes and reads them — counting included: the `COUNT_ATTEMPT` upsert
//! and the settlement after a success.

use super::{constraint, FailureRow, MemoryStore, State, TokenRow};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, TenantId};
use crate::domain::oauth::ClientId;
use crate::domain::password::{PasswordHash, PasswordParams};
use crate::domain::secret::SecretHash;
use crate::domain::session::{Session, SessionId};
use crate::domain::throttle::{retry_after_seconds, ThrottlePolicy, ACCOUNT, CLIENT, SIGNUP};
use crate::domain::time::Timestamp;
use crate::domain::user::{TenantUser, User, UserId, UserStatus};
use crate::domain::Error;
use crate::store::{Attempt, PresentedRefresh, SessionStore, SignInRecord, UserStore};

impl State {
    /// Counts one attempt against a subject unless it is blocked (the `COUNT_ATTEMPT` upsert):
    /// a new subject starts at 1; a count idle for longer than the decay starts again at 1;
    /// the subject is then blocked for the back-off of its new count, looked up in the policy's
    /// table and capped at the lock-out threshold. `false` when it was blocked (not counted).
    fn count_subject(
        &mut self,
        app: &str,
        tenant: &str,
        subject: &str,
        policy: &ThrottlePolicy,
        now: Timestamp,
    ) -> bool {
        let table = policy.backoff_table();
        let backoff = |n: i64| {
            let index = usize::try_from(n.min(policy.lockout_failures)).unwrap_or(0);
            table.get(index).copied().unwrap_or(0)
        };
        let key = (app.to_owned(), tenant.to_owned(), subject.to_owned());
        match self.failures.get_mut(&key) {
            None => {
                self.failures.insert(
                    key,
                    FailureRow {
                        failures: 1,
                        last_failed_at: now,
                        blocked_until: now.plus_ms(backoff(1)),
                    },
                );
                true
            }
            Some(row) if row.blocked_until <= now => {
                let failures = if now.ms_since(row.last_failed_at) > policy.decay_ms {
                    1
                } else {
                    row.failures + 1
                };
                row.failures = failures;
                row.blocked_until = now.plus_ms(backoff(failures));
                row.last_failed_at = now;
                true
            }
            Some(_) => false,
        }
    }

    /// Counts `attempt` against its account (under `account_policy`) and its client (under
    /// `CLIENT`); each subject is counted unless it is itself blocked. When either was blocked,
    /// the seconds until the later of their `blocked_until` (at least 1).
    pub(super) fn count_attempt(
        &mut self,
        app: &str,
        tenant: &str,
        attempt: &Attempt,
        account_policy: &ThrottlePolicy,
    ) -> Option<i64> {
        // The client first: while it is blocked the account is not counted either.
        let mut subjects = Vec::new();
        if let Some(client) = &attempt.client {
            subjects.push((client.as_str(), &CLIENT));
        }
        subjects.push((attempt.account.as_str(), account_policy));
        self.count_subjects(app, tenant, &subjects, attempt.now)
    }

    /// Counts one attempt against each subject under its policy, in order, a subject only when
    /// every one before it was counted (as the SQL's `COUNT_ATTEMPT_IF_COUNTED`): a blocked
    /// client adds no row for what it tries. When one was blocked, the seconds until the latest
    /// `blocked_until` of them all (at least 1).
    pub(super) fn count_subjects(
        &mut self,
        app: &str,
        tenant: &str,
        subjects: &[(&str, &ThrottlePolicy)],
        now: Timestamp,
    ) -> Option<i64> {
        let mut blocked = false;
        for (subject, policy) in subjects {
            if blocked || !self.count_subject(app, tenant, subject, policy, now) {
                blocked = true;
            }
        }
        if !blocked {
            return None;
        }
        // `subject IN (…)`, after every count.
        let until = subjects
            .iter()
            .filter_map(|(subject, _)| {
                self.failures
                    .get(&(app.to_owned(), tenant.to_owned(), (*subject).to_owned()))
                    .map(|row| row.blocked_until)
            })
            .max()
            .unwrap_or(Timestamp::EPOCH);
        Some(retry_after_seconds(until, now).unwrap_or(1))
    }

    /// After a successful sign-in: the account's count is deleted, and the client's count
    /// gets this (counted) attempt back, unblocking it if that takes it under the free ones.
    /// Counts a sign-up from `client` in a plane: one subject of its own (`signup:<address>`),
    /// under the sign-up policy, as the SQL's `count_signup`.
    pub(super) fn count_signup(
        &mut self,
        app: &str,
        tenant: &str,
        client: &str,
        now: Timestamp,
    ) -> Option<i64> {
        let attempt = Attempt {
            account: format!("signup:{client}"),
            client: None,
            now,
        };
        self.count_attempt(app, tenant, &attempt, &SIGNUP)
    }

    pub(super) fn settle_attempt(&mut self, app: &str, tenant: &str, attempt: &Attempt) {
        self.settle_subjects(
            app,
            tenant,
            Some(&attempt.account),
            attempt.client.as_deref(),
        );
    }

    /// The settlement of a success: `clear`'s count is deleted, and `give_back` (a client)
    /// gets its counted attempt back, unblocked if that takes it under the free ones.
    pub(super) fn settle_subjects(
        &mut self,
        app: &str,
        tenant: &str,
        clear: Option<&str>,
        give_back: Option<&str>,
    ) {
        if let Some(subject) = clear {
            self.failures
                .remove(&(app.to_owned(), tenant.to_owned(), subject.to_owned()));
        }
        if let Some(client) = give_back {
            let key = (app.to_owned(), tenant.to_owned(), client.to_owned());
            if let Some(row) = self.failures.get_mut(&key).filter(|r| r.failures > 0) {
                if row.failures - 1 < CLIENT.free_failures {
                    row.blocked_until = Timestamp::EPOCH;
                }
                row.failures -= 1;
            }
        }
    }

    /// The session of a refresh token as `find_by_refresh_token` reads it.
    fn presented(&self, token: &SecretHash) -> Option<PresentedRefresh> {
        let row = self.refresh_tokens.get(token.as_str())?;
        let session = self.sessions.get(&row.session_id)?.session.clone();
        // A session whose user no longer has a face in the tenant is as good as suspended.
        let status = self
            .faces
            .get(&(
                session.app_id.clone(),
                session.tenant_id.clone(),
                session.user_id,
            ))
            .map_or(UserStatus::Suspended, |f| f.status);
        Some(PresentedRefresh {
            session,
            generation: row.generation,
            status,
        })
    }

    /// A user and its face in a tenant (the join of `tenant_users` and `users`).
    pub(super) fn tenant_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Option<(User, TenantUser)> {
        let face = self.faces.get(&(app.clone(), tenant.clone(), *user))?;
        let user = self.users.get(&(app.clone(), *user))?;
        Some((user.clone(), face.clone()))
    }
}

impl UserStore for MemoryStore {
    async fn create_user(
        &self,
        user: &User,
        face: &TenantUser,
        session: &Session,
        token: &SecretHash,
    ) -> Result<bool, Error> {
        self.check("create_user")?;
        let mut s = self.state.borrow_mut();
        // All four rows or none: the user only when the tenant lacks the email, each of the
        // others only when the one before went in.
        if !s.check_user_pair(user, face)? {
            return Ok(false);
        }
        s.check_session_insert(session, token)?;
        s.write_user_pair(user, face);
        s.write_session(session, token);
        Ok(true)
    }

    async fn begin_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<(User, TenantUser)>, Error> {
        self.check("begin_signin")?;
        let mut s = self.state.borrow_mut();
        let user = s
            .faces
            .values()
            .find(|f| f.app_id == *app && f.tenant_id == *tenant && f.email == *email)
            .and_then(|f| s.tenant_user(app, tenant, &f.user_id));
        let retry_after = s.count_attempt(app.as_str(), tenant.as_str(), attempt, &ACCOUNT);
        Ok(SignInRecord { user, retry_after })
    }

    async fn count_signup(
        &self,
        app: &AppId,
        tenant: &TenantId,
        client: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, Error> {
        self.check("count_signup")?;
        Ok(self
            .state
            .borrow_mut()
            .count_signup(app.as_str(), tenant.as_str(), client, now))
    }

    async fn settle_signin(
        &self,
        app: &AppId,
        tenant: &TenantId,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        self.check("settle_signin")?;
        self.state
            .borrow_mut()
            .settle_attempt(app.as_str(), tenant.as_str(), attempt);
        Ok(())
    }

    async fn find_tenant_user_by_email(
        &self,
        app: &AppId,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Option<(User, TenantUser)>, Error> {
        self.check("find_tenant_user_by_email")?;
        let s = self.state.borrow();
        Ok(s.faces
            .values()
            .find(|f| f.app_id == *app && f.tenant_id == *tenant && f.email == *email)
            .and_then(|f| s.tenant_user(app, tenant, &f.user_id)))
    }

    async fn find_tenant_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(User, TenantUser)>, Error> {
        self.check("find_tenant_user")?;
        Ok(self.state.borrow().tenant_user(app, tenant, user))
    }

    async fn update_user_password(
        &self,
        app: &AppId,
        user: &UserId,
        hash: &PasswordHash,
    ) -> Result<(), Error> {
        self.check("update_user_password")?;
        if let Some(stored) = self.state.borrow_mut().users.get_mut(&(app.clone(), *user)) {
            stored.password_hash = Some(hash.clone());
        }
        Ok(())
    }

    async fn find_password_params(&self, app: &AppId) -> Result<Vec<PasswordParams>, Error> {
        self.check("find_password_params")?;
        let s = self.state.borrow();
        let mut params: Vec<PasswordParams> = s
            .users
            .iter()
            .filter(|((a, _), _)| a == app)
            .filter_map(|(_, u)| u.password_hash.as_ref().map(|h| h.params()))
            .collect();
        params.sort();
        params.dedup();
        Ok(params)
    }
}

impl SessionStore for MemoryStore {
    async fn create_session(
        &self,
        session: &Session,
        token: &SecretHash,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        self.check("create_session")?;
        let mut s = self.state.borrow_mut();
        s.check_session_insert(session, token)?;
        s.write_session(session, token);
        s.settle_attempt(session.app_id.as_str(), session.tenant_id.as_str(), attempt);
        Ok(())
    }

    async fn find_by_refresh_token(
        &self,
        token: &SecretHash,
    ) -> Result<Option<PresentedRefresh>, Error> {
        self.check("find_by_refresh_token")?;
        Ok(self.state.borrow().presented(token))
    }

    async fn rotate_presented(
        &self,
        app: &AppId,
        tenant: &TenantId,
        token: &SecretHash,
        successor: &SecretHash,
        client: Option<&ClientId>,
        now: Timestamp,
    ) -> Result<(bool, Option<PresentedRefresh>), Error> {
        self.check("rotate_presented")?;
        let mut s = self.state.borrow_mut();
        let presented = s
            .refresh_tokens
            .get(token.as_str())
            .map(|t| (t.session_id, t.generation));
        let mut rotated = false;
        if let Some((id, generation)) = presented {
            let active = |s: &State, x: &Session| {
                // A session of an earlier face (the user left and came back) is not this one's.
                s.faces
                    .get(&(x.app_id.clone(), x.tenant_id.clone(), x.user_id))
                    .is_some_and(|f| f.status == UserStatus::Active && f.created_at <= x.created_at)
            };
            let movable = s.sessions.get(&id).is_some_and(|r| {
                let x = &r.session;
                x.generation == generation
                    && x.app_id == *app
                    && x.tenant_id == *tenant
                    && x.revoked_at.is_none()
                    && !x.is_expired(now)
                    && x.grant.as_ref().map(|g| &g.client_id) == client
                    && active(&s, x)
            });
            if movable {
                if let Some(row) = s.sessions.get_mut(&id) {
                    row.session.generation = generation + 1;
                    row.session.rotated_at = now;
                    row.session.last_used_at = now;
                }
                s.refresh_tokens
                    .entry(successor.as_str().to_owned())
                    .or_insert(TokenRow {
                        session_id: id,
                        generation: generation + 1,
                        created_at: now,
                    });
                rotated = true;
            }
        }
        Ok((rotated, s.presented(token)))
    }

    async fn rotate_session(
        &self,
        id: &SessionId,
        from_generation: i64,
        successor: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, Error> {
        self.check("rotate_session")?;
        let mut s = self.state.borrow_mut();
        // The successor's insert runs whatever the compare-and-swap did; OR IGNORE makes a
        // racing rotation's identical row harmless, but the session must exist (foreign key).
        let inserts = !s.refresh_tokens.contains_key(successor.as_str());
        if inserts && !s.sessions.contains_key(id) {
            return Err(constraint("FOREIGN KEY (refresh_tokens.session_id)"));
        }
        let moved = match s.sessions.get_mut(id) {
            Some(row)
                if row.session.generation == from_generation
                    && row.session.revoked_at.is_none() =>
            {
                row.session.generation = from_generation + 1;
                row.session.rotated_at = now;
                row.session.last_used_at = now;
                true
            }
            _ => false,
        };
        if inserts {
            s.refresh_tokens.insert(
                successor.as_str().to_owned(),
                TokenRow {
                    session_id: *id,
                    generation: from_generation + 1,
                    created_at: now,
                },
            );
        }
        Ok(moved)
    }

    async fn find_session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        self.check("find_session")?;
        Ok(self
            .state
            .borrow()
            .sessions
            .get(id)
            .map(|r| r.session.clone()))
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<(Session, bool)>, Error> {
        self.check("revoke_session")?;
        let mut s = self.state.borrow_mut();
        let Some(row) = s.sessions.get_mut(id) else {
            return Ok(None);
        };
        let newly = row.session.revoked_at.is_none();
        if newly {
            row.session.revoked_at = Some(now);
        }
        let session = row.session.clone();
        s.bump_user_edge(&session.app_id, &session.tenant_id, &session.user_id, now);
        Ok(Some((session, newly)))
    }

    async fn find_session_user(
        &self,
        app: &AppId,
        tenant: &TenantId,
        user: &UserId,
        session: &SessionId,
    ) -> Result<Option<(User, TenantUser)>, Error> {
        self.check("find_session_user")?;
        let s = self.state.borrow();
        let live = s.sessions.get(session).is_some_and(|r| {
            let x = &r.session;
            x.app_id == *app
                && x.tenant_id == *tenant
                && x.user_id == *user
                && x.revoked_at.is_none()
        });
        // A session of an earlier face (the user left and came back) is not this one's.
        let started = s.sessions.get(session).map(|r| r.session.created_at);
        Ok(if live {
            s.tenant_user(app, tenant, user)
                .filter(|(_, face)| started.is_some_and(|at| face.created_at <= at))
        } else {
            None
        })
    }
}
