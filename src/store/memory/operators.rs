//! Operators and their memberships in memory (`OperatorStore`, `MemberStore`), as the D1
//! adapter's SQL writes and reads them.

use super::{after_cursor, constraint, dedup, MemberRow, MemoryStore, State};
use crate::domain::audit::AuditEntry;
use crate::domain::authz::Grant;
use crate::domain::email::Email;
use crate::domain::ids::{AppId, OperatorId};
use crate::domain::member::{
    CustomRole, Member, MemberId, MemberStatus, OperatorRole, MAX_CUSTOM_ROLES,
};
use crate::domain::names::OperatorRoleName;
use crate::domain::operator::Operator;
use crate::domain::password::{PasswordHash, PasswordParams};
use crate::domain::secret::SecretHash;
use crate::domain::tenancy::{App, Tenant};
use crate::domain::throttle::ACCOUNT;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{Attempt, MemberStore, OperatorStore, RoleDeletion, SignInRecord};

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

    /// True when every custom role among `roles` is defined by `app` (the SQL's
    /// `roles_defined`).
    fn roles_defined(&self, app: &AppId, roles: &[OperatorRole]) -> bool {
        roles.iter().all(|r| match r {
            OperatorRole::Custom(name) => self
                .operator_roles
                .contains_key(&(app.clone(), name.clone())),
            _ => true,
        })
    }

    /// The definitions of the custom roles among `roles` in `app`.
    fn custom_roles_of(&self, app: &AppId, roles: &[OperatorRole]) -> Vec<CustomRole> {
        roles
            .iter()
            .filter_map(|r| match r {
                OperatorRole::Custom(name) => self
                    .operator_roles
                    .get(&(app.clone(), name.clone()))
                    .map(|(permissions, _)| CustomRole {
                        name: name.clone(),
                        permissions: permissions.clone(),
                    }),
                _ => None,
            })
            .collect()
    }

    /// Inserts a membership as the SQL's `member_insert` writes it.
    fn write_member(&mut self, member: &Member, invite: Option<&SecretHash>) {
        let stored = Member {
            roles: dedup(&member.roles),
            updated_at: member.created_at,
            ..member.clone()
        };
        let rowid = self.rowid();
        self.members.insert(
            member.id,
            MemberRow {
                rowid,
                member: stored,
                invite_hash: invite.cloned(),
            },
        );
    }

    /// Checks a membership insert: its id, its invitation hash and its app.
    fn check_member_insert(
        &self,
        member: &Member,
        invite: Option<&SecretHash>,
    ) -> Result<(), Error> {
        if self.members.contains_key(&member.id) {
            return Err(constraint("PRIMARY KEY (members)"));
        }
        if invite.is_some()
            && self
                .members
                .values()
                .any(|r| r.invite_hash.as_ref() == invite)
        {
            return Err(constraint("UNIQUE (members.invite_hash)"));
        }
        if self.live_membership(&member.app_id, &member.email, None) {
            return Err(constraint("UNIQUE (members_live_by_email)"));
        }
        self.require_app(&member.app_id)
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
    async fn create_platform_owner(
        &self,
        operator: &Operator,
        membership: &Member,
    ) -> Result<bool, Error> {
        self.check("create_platform_owner")?;
        let mut s = self.state.borrow_mut();
        if s.operators.values().any(|o| o.is_platform_owner) {
            return Ok(false);
        }
        s.check_operator_insert(operator)?;
        s.check_member_insert(membership, None)?;
        let owner = Operator {
            is_platform_owner: true,
            password_reset_at: None,
            email_verified_at: None,
            ..operator.clone()
        };
        s.operators.insert(operator.id, owner);
        s.write_member(membership, None);
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

    async fn count_operator_signup(
        &self,
        client: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, Error> {
        self.check("count_operator_signup")?;
        Ok(self
            .state
            .borrow_mut()
            .count_signup(OPERATOR_PLANE, OPERATOR_PLANE, client, now))
    }

    async fn sign_up_operator(
        &self,
        new_operator: Option<&Operator>,
        app: &App,
        public: &Tenant,
        owner: &Member,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("sign_up_operator")?;
        let mut s = self.state.borrow_mut();
        if s.apps.contains_key(&app.id) {
            return Ok(false);
        }
        // Every constraint first, so a refused batch writes nothing.
        s.check_audit(audit)?;
        if let Some(operator) = new_operator {
            s.check_operator_insert(operator)?;
        }
        let operator_exists = |s: &State, id: &OperatorId| {
            s.operators.contains_key(id) || new_operator.is_some_and(|o| o.id == *id)
        };
        if owner
            .operator_id
            .is_some_and(|id| !operator_exists(&s, &id))
        {
            return Err(constraint("FOREIGN KEY (members.operator_id)"));
        }
        if s.members.contains_key(&owner.id) {
            return Err(constraint("PRIMARY KEY (members)"));
        }
        s.create_app_with_public(app, public, audit)?;
        if let Some(operator) = new_operator {
            let stored = Operator {
                is_platform_owner: false,
                password_reset_at: None,
                ..operator.clone()
            };
            s.operators.insert(operator.id, stored);
        }
        s.write_member(owner, None);
        Ok(true)
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
        // Held by a live membership, or naming a role the app does not define: no insert.
        let held = s.members.values().any(|r| {
            r.member.app_id == member.app_id
                && r.member.email == member.email
                && r.member.status != MemberStatus::Left
                && !expired(r)
        }) || !s.roles_defined(&member.app_id, &member.roles);
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
            ..member.clone()
        };
        s.write_member(&stored, Some(invite));
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
        if !s.roles_defined(&member.app_id, &member.roles) {
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
            row.member.membership_type = member.membership_type;
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
                r.member.operator_id == Some(*operator)
                    && r.member.status != MemberStatus::Left
                    && s.app_is_live(&r.member.app_id)
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
                custom_roles: s.custom_roles_of(&r.member.app_id, &r.member.roles),
                app_pending: s
                    .apps
                    .get(&r.member.app_id)
                    .is_some_and(|a| a.pending_verification),
            })
            .collect())
    }

    async fn find_operator_roles(&self, app: &AppId) -> Result<Vec<CustomRole>, Error> {
        self.check("find_operator_roles")?;
        Ok(self
            .state
            .borrow()
            .operator_roles
            .iter()
            .filter(|((a, _), _)| a == app)
            .map(|((_, name), (permissions, _))| CustomRole {
                name: name.clone(),
                permissions: permissions.clone(),
            })
            .collect())
    }

    async fn put_operator_role(
        &self,
        app: &AppId,
        role: &CustomRole,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, Error> {
        self.check("put_operator_role")?;
        let mut s = self.state.borrow_mut();
        let key = (app.clone(), role.name.clone());
        let defined = s.operator_roles.keys().filter(|(a, _)| a == app).count();
        if !s.operator_roles.contains_key(&key) && defined >= MAX_CUSTOM_ROLES {
            return Ok(false);
        }
        s.require_app(app)?;
        s.check_audit(audit)?;
        s.operator_roles
            .insert(key, (role.permissions.clone(), now));
        s.write_audit(audit);
        Ok(true)
    }

    async fn delete_operator_role(
        &self,
        app: &AppId,
        name: &OperatorRoleName,
        audit: &AuditEntry,
    ) -> Result<RoleDeletion, Error> {
        self.check("delete_operator_role")?;
        let mut s = self.state.borrow_mut();
        let key = (app.clone(), name.clone());
        if !s.operator_roles.contains_key(&key) {
            return Ok(RoleDeletion::NotFound);
        }
        let role = OperatorRole::Custom(name.clone());
        let bound = s.members.values().any(|r| {
            r.member.app_id == *app
                && r.member.status != MemberStatus::Left
                && r.member.roles.contains(&role)
        });
        if bound {
            return Ok(RoleDeletion::InUse);
        }
        s.check_audit(audit)?;
        s.operator_roles.remove(&key);
        s.write_audit(audit);
        Ok(RoleDeletion::Deleted)
    }
}
