//! Operators and their memberships in memory (`OperatorStore`, `MemberStore`), as the D1
//! adapter's SQL writes and reads them.

use super::{after_cursor, constraint, dedup, MemberRow, MemoryStore, State};
use crate::domain::audit::AuditEntry;
use crate::domain::authz::Grant;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, OperatorId};
use crate::domain::member::{Member, MemberId, MemberStatus, OperatorRole};
use crate::domain::operator::Operator;
use crate::domain::password::{PasswordHash, PasswordParams};
use crate::domain::secret::SecretHash;
use crate::domain::throttle::ACCOUNT;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{Attempt, MemberStore, OperatorStore, SignInRecord};

/// The app and tenant of the operator plane's sign-in counters (no app has an empty id).
const OPERATOR_PLANE: &str = "";

impl State {
    /// Checks an operator insert: its id and its email are unique.
    fn check_operator_insert(&self, operator: &Operator) -> Result<(), Error> {
        if self.operators.contains_key(&operator.id) {
            return Err(constraint("PRIMARY KEY (operators)"));
        }
        if self.operators.values().any(|o| o.email == operator.email) {
            return Err(constraint("UNIQUE (operators.email)"));
        }
        Ok(())
    }

    /// The membership holding the invitation `invite` while it is pending and unexpired at
    /// `now` (`invite_hash = ? AND status = 'invited' AND invite_expires_at > ?`).
    fn pending_invite(&self, invite: &SecretHash, now: Timestamp) -> Option<MemberId> {
        self.members
            .values()
            .find(|r| {
                r.invite_hash.as_ref() == Some(invite)
                    && r.member.status == MemberStatus::Invited
                    && r.member.invite_expires_at.is_some_and(|at| at > now)
            })
            .map(|r| r.member.id)
    }

    /// True when another active, app-wide admin than `member` exists in `app` (`ANOTHER_ADMIN`).
    fn another_admin(&self, app: &AppId, member: &MemberId) -> bool {
        self.members.values().any(|r| {
            let m = &r.member;
            m.app_id == *app
                && m.id != *member
                && m.status == MemberStatus::Active
                && m.tenant_id.is_none()
                && m.roles.contains(&OperatorRole::Admin)
        })
    }

    /// True when `app` has a membership of `email` that has not been left, other than
    /// `except` (the partial unique index `members_live_by_email`).
    fn live_membership(&self, app: &AppId, email: &Email, except: Option<&MemberId>) -> bool {
        self.members.values().any(|r| {
            r.member.app_id == *app
                && r.member.email == *email
                && r.member.status != MemberStatus::Left
                && Some(&r.member.id) != except
        })
    }
}

impl OperatorStore for MemoryStore {
    async fn create_platform_owner(&self, operator: &Operator) -> Result<bool, Error> {
        self.check("create_platform_owner")?;
        let mut s = self.state.borrow_mut();
        if s.operators.values().any(|o| o.is_platform_owner) {
            return Ok(false);
        }
        s.check_operator_insert(operator)?;
        let owner = Operator {
            is_platform_owner: true,
            password_reset_at: None,
            ..operator.clone()
        };
        s.operators.insert(operator.id, owner);
        Ok(true)
    }

    async fn find_operator(&self, id: &OperatorId) -> Result<Option<Operator>, Error> {
        self.check("find_operator")?;
        Ok(self.state.borrow().operators.get(id).cloned())
    }

    async fn find_operator_by_email(&self, email: &Email) -> Result<Option<Operator>, Error> {
        self.check("find_operator_by_email")?;
        Ok(self
            .state
            .borrow()
            .operators
            .values()
            .find(|o| o.email == *email)
            .cloned())
    }

    async fn begin_operator_signin(
        &self,
        email: &Email,
        attempt: &Attempt,
    ) -> Result<SignInRecord<Operator>, Error> {
        self.check("begin_operator_signin")?;
        let mut s = self.state.borrow_mut();
        let user = s.operators.values().find(|o| o.email == *email).cloned();
        let retry_after = s.count_attempt(OPERATOR_PLANE, OPERATOR_PLANE, attempt, &ACCOUNT);
        Ok(SignInRecord { user, retry_after })
    }

    async fn finish_operator_signin(&self, attempt: &Attempt) -> Result<(), Error> {
        self.check("finish_operator_signin")?;
        self.state
            .borrow_mut()
            .settle_attempt(OPERATOR_PLANE, OPERATOR_PLANE, attempt);
        Ok(())
    }

    async fn update_operator_password(
        &self,
        id: &OperatorId,
        hash: &PasswordHash,
    ) -> Result<(), Error> {
        self.check("update_operator_password")?;
        if let Some(operator) = self.state.borrow_mut().operators.get_mut(id) {
            operator.password_hash = Some(hash.clone());
        }
        Ok(())
    }

    async fn find_operator_password_params(&self) -> Result<Vec<PasswordParams>, Error> {
        self.check("find_operator_password_params")?;
        let s = self.state.borrow();
        let mut params: Vec<PasswordParams> = s
            .operators
            .values()
            .filter_map(|o| o.password_hash.as_ref().map(|h| h.params()))
            .collect();
        params.sort();
        params.dedup();
        Ok(params)
    }

    async fn clear_operator_failures(&self, email: &Email) -> Result<(), Error> {
        self.check("clear_operator_failures")?;
        self.state.borrow_mut().failures.remove(&(
            String::new(),
            String::new(),
            format!("operator:{email}"),
        ));
        Ok(())
    }
}

impl MemberStore for MemoryStore {
    async fn create_member(
        &self,
        member: &Member,
        invite: &SecretHash,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("create_member")?;
        let mut s = self.state.borrow_mut();
        let now = member.created_at;
        // An invitation that expired unaccepted no longer holds the email.
        let expired = |r: &MemberRow| {
            r.member.app_id == member.app_id
                && r.member.email == member.email
                && r.member.status == MemberStatus::Invited
                && r.member.invite_expires_at.is_some_and(|at| at <= now)
        };
        let held = s.members.values().any(|r| {
            r.member.app_id == member.app_id
                && r.member.email == member.email
                && r.member.status != MemberStatus::Left
                && !expired(r)
        });
        if !held {
            if s.members.contains_key(&member.id) {
                return Err(constraint("PRIMARY KEY (members)"));
            }
            if s.members
                .values()
                .any(|r| r.invite_hash.as_ref() == Some(invite) && !expired(r))
            {
                return Err(constraint("UNIQUE (members.invite_hash)"));
            }
            s.require_app(&member.app_id)?;
            s.check_audit(audit)?;
        }
        for row in s.members.values_mut() {
            if expired(row) {
                row.member.status = MemberStatus::Left;
                row.member.updated_at = now;
                row.invite_hash = None;
            }
        }
        if held {
            return Ok(false);
        }
        // The insert takes no operator and stamps `updated_at` with the creation time.
        let stored = Member {
            operator_id: None,
            roles: dedup(&member.roles),
            updated_at: now,
            ..member.clone()
        };
        let rowid = s.rowid();
        s.members.insert(
            member.id,
            MemberRow {
                rowid,
                member: stored,
                invite_hash: Some(invite.clone()),
            },
        );
        s.write_audit(audit);
        Ok(true)
    }

    async fn find_invite(&self, invite: &SecretHash) -> Result<Option<Member>, Error> {
        self.check("find_invite")?;
        Ok(self
            .state
            .borrow()
            .members
            .values()
            .find(|r| r.invite_hash.as_ref() == Some(invite))
            .map(|r| r.member.clone()))
    }

    async fn accept_invite(
        &self,
        invite: &SecretHash,
        operator: &OperatorId,
        new_operator: Option<&Operator>,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("accept_invite")?;
        let mut s = self.state.borrow_mut();
        let Some(id) = s.pending_invite(invite, now) else {
            return Ok(false);
        };
        if let Some(new) = new_operator {
            s.check_operator_insert(new)?;
        }
        let creates_it = new_operator.is_some_and(|new| new.id == *operator);
        if !creates_it && !s.operators.contains_key(operator) {
            return Err(constraint("FOREIGN KEY (members.operator_id)"));
        }
        s.check_audit(audit)?;
        if let Some(new) = new_operator {
            // The insert takes the acceptance time and never makes a platform owner.
            let stored = Operator {
                is_platform_owner: false,
                created_at: now,
                password_reset_at: None,
                ..new.clone()
            };
            s.operators.insert(new.id, stored);
        }
        if let Some(row) = s.members.get_mut(&id) {
            row.member.status = MemberStatus::Active;
            row.member.operator_id = Some(*operator);
            row.member.invite_expires_at = None;
            row.member.updated_at = now;
            row.invite_hash = None;
        }
        s.write_audit(audit);
        Ok(true)
    }

    async fn find_member(&self, app: &AppId, id: &MemberId) -> Result<Option<Member>, Error> {
        self.check("find_member")?;
        Ok(self
            .state
            .borrow()
            .members
            .get(id)
            .filter(|r| r.member.app_id == *app)
            .map(|r| r.member.clone()))
    }

    async fn list_members(
        &self,
        app: &AppId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Member>, Error> {
        self.check("list_members")?;
        Ok(self
            .state
            .borrow()
            .members
            .values()
            .filter(|r| r.member.app_id == *app)
            .filter(|r| after_cursor(&r.member.id.to_string(), after))
            .take(limit)
            .map(|r| r.member.clone())
            .collect())
    }

    async fn update_member(
        &self,
        member: &Member,
        expected: MemberStatus,
        keep_an_admin: bool,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("update_member")?;
        let mut s = self.state.borrow_mut();
        let Some(current) = s
            .members
            .get(&member.id)
            .map(|r| r.member.clone())
            .filter(|m| m.app_id == member.app_id && m.status == expected)
        else {
            return Ok(false);
        };
        if keep_an_admin && !s.another_admin(&member.app_id, &member.id) {
            return Ok(false);
        }
        if current.status == MemberStatus::Left
            && member.status != MemberStatus::Left
            && s.live_membership(&current.app_id, &current.email, Some(&current.id))
        {
            return Err(constraint("UNIQUE (members_live_by_email)"));
        }
        s.check_audit(audit)?;
        if let Some(row) = s.members.get_mut(&member.id) {
            row.member.status = member.status;
            row.member.roles = dedup(&member.roles);
            row.member.updated_at = member.updated_at;
            if member.status == MemberStatus::Left {
                row.invite_hash = None;
            }
        }
        s.write_audit(audit);
        Ok(true)
    }

    async fn find_grants(&self, operator: &OperatorId) -> Result<Vec<Grant>, Error> {
        self.check("find_grants")?;
        let s = self.state.borrow();
        let mut rows: Vec<&MemberRow> = s
            .members
            .values()
            .filter(|r| {
                r.member.operator_id == Some(*operator) && r.member.status != MemberStatus::Left
            })
            .collect();
        // Through the index on operator_id: in rowid order.
        rows.sort_by_key(|r| r.rowid);
        Ok(rows
            .into_iter()
            .map(|r| Grant {
                app_id: r.member.app_id.clone(),
                tenant_id: r.member.tenant_id.clone(),
                status: r.member.status,
                roles: r.member.roles.clone(),
            })
            .collect())
    }
}
