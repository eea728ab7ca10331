//! Operators' memberships in apps: invite, accept, list, change.
//!
//! `invited → active ⇄ suspended → left` (`domain::member`). An invitation is a one-time
//! `tsi_` token, stored hashed, valid for 7 days; accepting it creates the operator with the
//! given password, or links an existing operator of that email whose password it is. The last
//! active app-wide admin cannot be suspended, removed or demoted — checked by the store in the
//! same statement as the write, so two admins cannot demote each other at once.

use super::credentials::verify_password;
use super::principal::{actor, audit_entry, ensure_can_grant, Change};
use super::tenancy::{existing_app, existing_tenant};
use super::{Ctx, Stores};
use crate::domain::audit::{Actor, AuditAction};
use crate::domain::authz::{authorize, Permission, Principal, Target};
use crate::domain::email::Email;
use crate::domain::ids::{AppId, OperatorId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::member::{
    Member, MemberId, MemberStatus, MembershipType, OperatorRole, INVITE_TTL_MS,
};
use crate::domain::operator::Operator;
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::password::Password;
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::Error;
use crate::store::{Attempt, MemberStore, OperatorStore};
use serde_json::json;

fn role_names(roles: &[OperatorRole]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// Every permission the roles bind.
fn permissions_of(roles: &[OperatorRole]) -> Vec<Permission> {
    let mut permissions: Vec<Permission> = roles
        .iter()
        .flat_map(|r| r.permissions().iter().copied())
        .collect();
    permissions.dedup();
    permissions
}

/// The permissions `after` grants that `before` does not. A membership grants while it is
/// active, and an invitation will once accepted.
fn gained_permissions(before: &Member, after: &Member) -> Vec<Permission> {
    let granted = |m: &Member| {
        if matches!(m.status, MemberStatus::Active | MemberStatus::Invited) {
            permissions_of(&m.roles)
        } else {
            Vec::new()
        }
    };
    let had = granted(before);
    granted(after)
        .into_iter()
        .filter(|p| !had.contains(p))
        .collect()
}

/// What an invitation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub email: Email,
    pub membership_type: MembershipType,
    pub roles: Vec<OperatorRole>,
    /// `None`: the whole app; `Some`: only this tenant.
    pub tenant_id: Option<TenantId>,
}

/// `POST /admin/apps/{app}/members` — `members:write` on the app, or on the tenant the
/// invitation is narrowed to. Returns the member and the one-time invite token.
pub async fn invite<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    invitation: Invitation,
) -> Result<(Member, PlainSecret), Error> {
    let target = match &invitation.tenant_id {
        Some(t) => Target::Tenant(app_id, t),
        None => Target::App(app_id),
    };
    authorize(caller, Some(Permission::MembersWrite), &target).into_result()?;
    // Nobody hands out a permission they do not hold, in the scope they hold it.
    ensure_can_grant(caller, permissions_of(&invitation.roles), &target)?;
    match &invitation.tenant_id {
        Some(t) => drop(existing_tenant(cx, app_id, t).await?),
        None => drop(existing_app(cx, app_id).await?),
    }
    let token = PlainSecret::generate(SecretKind::InviteToken, cx.random()?);
    let member = Member {
        id: MemberId::generate(cx.now, cx.random()?),
        app_id: app_id.clone(),
        operator_id: None,
        email: invitation.email,
        tenant_id: invitation.tenant_id,
        membership_type: invitation.membership_type,
        roles: invitation.roles,
        status: MemberStatus::Invited,
        invite_expires_at: Some(cx.now.plus_ms(INVITE_TTL_MS)),
        created_at: cx.now,
        updated_at: cx.now,
    };
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::MemberInvite,
            target: member.id.to_string(),
            tenant_id: member.tenant_id.as_ref(),
            detail: json!({
                "email": member.email,
                "membership_type": member.membership_type.as_str(),
                "roles": role_names(&member.roles),
            }),
        },
    )?;
    if !cx.db.create_member(&member, &token.hash(), &audit).await? {
        return Err(Error::Conflict(
            "this email already has a membership in the app".to_owned(),
        ));
    }
    Ok((member, token))
}

/// An accepted invitation: the active membership, and the operator when one was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub member: Member,
    pub new_operator: Option<Operator>,
}

/// `POST /admin/invites/accept` — the invite token. Creates the operator with this password,
/// or links the existing operator of that email when the password is theirs. Linking checks
/// that password exactly as operator sign-in does — counted per operator email and per client
/// before any hashing — so an invitation is no way around sign-in's throttle.
pub async fn accept<S: Stores>(
    cx: &Ctx<'_, S>,
    invite_token: &str,
    password: &Password,
    client: Option<String>,
) -> Result<Accepted, Error> {
    let token = PlainSecret::from_client(SecretKind::InviteToken, invite_token)
        .ok_or(Error::InvalidToken)?;
    let mut member = cx
        .db
        .find_invite(&token.hash())
        .await?
        .filter(|m| {
            m.status == MemberStatus::Invited && m.invite_expires_at.is_some_and(|at| at > cx.now)
        })
        .ok_or(Error::InvalidToken)?;
    let policy = cx.operator_password_policy();
    let attempt = Attempt {
        account: format!("operator:{}", member.email),
        client,
        now: cx.now,
    };
    // Counted like a sign-in whatever happens next, and before any hashing.
    let record = cx.db.begin_operator_signin(&member.email, &attempt).await?;
    if let Some(seconds) = record.retry_after {
        return Err(Error::RateLimited(seconds));
    }
    let (operator_id, new_operator) = match record.user {
        Some(operator) => {
            let stored = operator.password_hash.as_ref();
            if !verify_password(cx, &KeyOwner::Operators, &policy, stored, password).await? {
                return Err(Error::InvalidCredentials);
            }
            cx.db.finish_operator_signin(&attempt).await?;
            (operator.id, None)
        }
        None => {
            let operator = Operator {
                id: OperatorId::generate(cx.now, cx.random()?),
                email: member.email.clone(),
                password_hash: Some(policy.hash(password, cx.random()?)),
                is_platform_owner: false,
                created_at: cx.now,
                password_reset_at: None,
            };
            // A new operator is not a failed attempt: give the client its attempt back.
            cx.db.finish_operator_signin(&attempt).await?;
            (operator.id, Some(operator))
        }
    };
    let audit = audit_entry(
        cx,
        Actor::Operator(operator_id.to_string()),
        Change {
            app_id: &member.app_id,
            action: AuditAction::MemberAccept,
            target: member.id.to_string(),
            tenant_id: member.tenant_id.as_ref(),
            detail: json!({}),
        },
    )?;
    let accepted = cx
        .db
        .accept_invite(
            &token.hash(),
            &operator_id,
            new_operator.as_ref(),
            cx.now,
            &audit,
        )
        .await?;
    if !accepted {
        return Err(Error::InvalidToken);
    }
    member.status = MemberStatus::Active;
    member.operator_id = Some(operator_id);
    member.invite_expires_at = None;
    member.updated_at = cx.now;
    Ok(Accepted {
        member,
        new_operator,
    })
}

/// `GET /admin/apps/{app}/members` — `members:read` on the app.
pub async fn list<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    page: &PageRequest,
) -> Result<Page<Member>, Error> {
    authorize(caller, Some(Permission::MembersRead), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    let members = cx
        .db
        .list_members(app_id, page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(finish_page(members, page.limit, |m| m.id.to_string()))
}

/// What `PATCH /admin/apps/{app}/members/{member}` changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPatch {
    pub status: Option<MemberStatus>,
    pub roles: Option<Vec<OperatorRole>>,
}

/// `PATCH /admin/apps/{app}/members/{member}` — `members:write` on the member's tenant if it
/// is narrowed to one, else on the app. Suspends, reactivates, ends (`left` is final) or
/// re-roles a membership; the last active admin of an app cannot lose that (`409 conflict`).
pub async fn update<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    member_id: &MemberId,
    patch: MemberPatch,
) -> Result<Member, Error> {
    let Some(member) = cx.db.find_member(app_id, member_id).await? else {
        // Say "not found" only to someone who could have changed it.
        authorize(caller, Some(Permission::MembersWrite), &Target::App(app_id)).into_result()?;
        return Err(Error::MemberNotFound);
    };
    let target = match &member.tenant_id {
        Some(t) => Target::Tenant(app_id, t),
        None => Target::App(app_id),
    };
    authorize(caller, Some(Permission::MembersWrite), &target).into_result()?;
    let mut updated = member.clone();
    if let Some(status) = patch.status {
        updated.status = status;
    }
    if let Some(roles) = patch.roles {
        updated.roles = roles;
    }
    if !member.status.can_become(updated.status) {
        return Err(Error::Conflict(format!(
            "a membership that is {} cannot become {}",
            member.status.as_str(),
            updated.status.as_str()
        )));
    }
    // What the membership will grant that it does not grant now (new roles, or its roles
    // again when it is reactivated) must be the caller's to grant.
    ensure_can_grant(caller, gained_permissions(&member, &updated), &target)?;
    updated.updated_at = cx.now;
    let keep_an_admin = member.is_active_app_admin() && !updated.is_active_app_admin();
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::MemberUpdate,
            target: member.id.to_string(),
            tenant_id: member.tenant_id.as_ref(),
            detail: json!({
                "status": { "from": member.status.as_str(), "to": updated.status.as_str() },
                "roles": { "from": role_names(&member.roles), "to": role_names(&updated.roles) },
            }),
        },
    )?;
    let written = cx
        .db
        .update_member(&updated, member.status, keep_an_admin, &audit)
        .await?;
    if !written {
        return Err(Error::Conflict(if keep_an_admin {
            "the last active admin of an app cannot be suspended, removed or demoted".to_owned()
        } else {
            "the membership changed concurrently; read it again".to_owned()
        }));
    }
    Ok(updated)
}
