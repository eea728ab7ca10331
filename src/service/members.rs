//! Operators' memberships in apps: invite, accept, list, change — and the operator roles an app
//! defines beside the built-in ones.
//!
//! `invited → active ⇄ suspended → left` (`domain::member`). An invitation is a one-time
//! `tsi_` token, stored hashed, valid for 7 days; accepting it creates the operator with the
//! given password, or links an existing operator of that email whose password it is. The last
//! active app-wide admin cannot be suspended, removed or demoted — checked by the store in the
//! same statement as the write, so two admins cannot demote each other at once.
//!
//! Nobody grants a permission they do not hold, in the scope they hold it: not by an
//! invitation, a new role, a reactivation or a relabelling of a membership, nor by defining an
//! operator role. A membership binds only roles the app defines (checked again by the store in
//! the statement that writes it), and a role a membership binds cannot be deleted.

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
    permissions_of, undefined_roles, CustomRole, Member, MemberId, MemberStatus, MembershipSource,
    MembershipType, OperatorRole, INVITE_TTL_MS,
};
use crate::domain::names::OperatorRoleName;
use crate::domain::operator::Operator;
use crate::domain::page::{finish_page, Page, PageRequest};
use crate::domain::password::Password;
use crate::domain::secret::{PlainSecret, SecretKind};
use crate::domain::Error;
use crate::store::{Attempt, MemberStore, OperatorStore, RoleDeletion};
use serde_json::json;

fn role_names(roles: &[OperatorRole]) -> Vec<&str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// What a membership grants (or, invited, will grant once accepted), given the app's roles.
fn granted(member: &Member, defined: &[CustomRole]) -> Vec<Permission> {
    if matches!(member.status, MemberStatus::Active | MemberStatus::Invited) {
        permissions_of(&member.roles, defined)
    } else {
        Vec::new()
    }
}

/// The permissions `after` grants that `before` does not.
fn gained_permissions(before: &Member, after: &Member, defined: &[CustomRole]) -> Vec<Permission> {
    let had = granted(before, defined);
    granted(after, defined)
        .into_iter()
        .filter(|p| !had.contains(p))
        .collect()
}

/// The app's operator roles, after checking that every custom role among `roles` is one of
/// them (`422 unknown_role`).
async fn defined_roles<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    roles: &[OperatorRole],
) -> Result<Vec<CustomRole>, Error> {
    let defined = cx.db.find_operator_roles(app_id).await?;
    if let Some(missing) = undefined_roles(roles, &defined).first() {
        return Err(Error::UnknownRole((*missing).to_owned()));
    }
    Ok(defined)
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
    match &invitation.tenant_id {
        Some(t) => drop(existing_tenant(cx, app_id, t).await?),
        None => drop(existing_app(cx, app_id).await?),
    }
    let defined = defined_roles(cx, app_id, &invitation.roles).await?;
    // Nobody hands out a permission they do not hold, in the scope they hold it.
    ensure_can_grant(caller, permissions_of(&invitation.roles, &defined), &target)?;
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
        source: MembershipSource::Invite,
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
        // A role deleted meanwhile is the role's fault, else the email is taken.
        defined_roles(cx, app_id, &member.roles).await?;
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
                email_verified_at: None,
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
    pub membership_type: Option<MembershipType>,
}

/// `PATCH /admin/apps/{app}/members/{member}` — `members:write` on the member's tenant if it
/// is narrowed to one, else on the app. Suspends, reactivates, ends (`left` is final),
/// re-roles or relabels (`membership_type`) a membership; the last active admin of an app
/// cannot lose that (`409 conflict`).
///
/// The grant rule: what the membership will grant that it does not grant now (new roles, or
/// its roles again when it is reactivated) must be the caller's to grant; and relabelling it
/// — metadata only, but an owner's label is a claim about who runs the app — takes holding
/// every permission it grants, as granting it would.
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
    if let Some(membership_type) = patch.membership_type {
        updated.membership_type = membership_type;
    }
    let defined = defined_roles(cx, app_id, &updated.roles).await?;
    if !member.status.can_become(updated.status) {
        return Err(Error::Conflict(format!(
            "a membership that is {} cannot become {}",
            member.status.as_str(),
            updated.status.as_str()
        )));
    }
    // What the membership will grant that it does not grant now (new roles, or its roles
    // again when it is reactivated) must be the caller's to grant.
    ensure_can_grant(
        caller,
        gained_permissions(&member, &updated, &defined),
        &target,
    )?;
    if updated.membership_type != member.membership_type {
        ensure_can_grant(caller, granted(&member, &defined), &target)?;
    }
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
                "membership_type": {
                    "from": member.membership_type.as_str(),
                    "to": updated.membership_type.as_str(),
                },
            }),
        },
    )?;
    let written = cx
        .db
        .update_member(&updated, member.status, keep_an_admin, &audit)
        .await?;
    if !written {
        // A role deleted meanwhile is the role's fault.
        defined_roles(cx, app_id, &updated.roles).await?;
        return Err(Error::Conflict(if keep_an_admin {
            "the last active admin of an app cannot be suspended, removed or demoted".to_owned()
        } else {
            "the membership changed concurrently; read it again".to_owned()
        }));
    }
    Ok(updated)
}

/// An operator role as shown: a built-in one of `API.md` or one the app defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    pub name: String,
    pub permissions: Vec<Permission>,
    pub built_in: bool,
}

impl RoleView {
    fn built_in(role: &OperatorRole) -> Self {
        RoleView {
            name: role.as_str().to_owned(),
            permissions: permissions_of(std::slice::from_ref(role), &[]),
            built_in: true,
        }
    }

    fn custom(role: CustomRole) -> Self {
        RoleView {
            name: role.name.to_string(),
            permissions: role.permissions,
            built_in: false,
        }
    }
}

/// `GET /admin/apps/{app}/operator-roles` — `members:read` on the app. The built-in roles and
/// the app's own, by name (at most `MAX_CUSTOM_ROLES` + 5, so one keyset page over names).
pub async fn list_roles<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    page: &PageRequest,
) -> Result<Page<RoleView>, Error> {
    authorize(caller, Some(Permission::MembersRead), &Target::App(app_id)).into_result()?;
    existing_app(cx, app_id).await?;
    let mut roles: Vec<RoleView> = OperatorRole::BUILT_IN
        .iter()
        .map(RoleView::built_in)
        .chain(
            cx.db
                .find_operator_roles(app_id)
                .await?
                .into_iter()
                .map(RoleView::custom),
        )
        .filter(|r| {
            page.after
                .as_deref()
                .is_none_or(|after| r.name.as_str() > after)
        })
        .collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    roles.truncate(page.limit + 1);
    Ok(finish_page(roles, page.limit, |r| r.name.clone()))
}

/// `PUT /admin/apps/{app}/operator-roles/{role}` — `members:write` on the app, and every
/// permission the role binds (nobody defines a role with a permission they lack). A built-in
/// role cannot be redefined (`409 conflict`), nor more than `MAX_CUSTOM_ROLES` defined.
/// Redefining a role changes what every membership binding it grants, at its next request.
pub async fn put_role<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    name: &str,
    permissions: Vec<Permission>,
) -> Result<RoleView, Error> {
    let target = Target::App(app_id);
    authorize(caller, Some(Permission::MembersWrite), &target).into_result()?;
    if OperatorRole::built_in(name).is_some() {
        return Err(Error::Conflict(format!(
            "{name} is a built-in role and cannot be redefined"
        )));
    }
    let name = OperatorRoleName::parse(name)?;
    ensure_can_grant(caller, permissions.iter().copied(), &target)?;
    existing_app(cx, app_id).await?;
    let role = CustomRole {
        name,
        permissions: Permission::ALL
            .iter()
            .copied()
            .filter(|p| permissions.contains(p))
            .collect(),
    };
    let names: Vec<&str> = role.permissions.iter().map(|p| p.as_str()).collect();
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::OperatorRolePut,
            target: role.name.to_string(),
            tenant_id: None,
            detail: json!({ "permissions": names }),
        },
    )?;
    if !cx
        .db
        .put_operator_role(app_id, &role, cx.now, &audit)
        .await?
    {
        return Err(Error::Conflict(format!(
            "an app defines at most {} operator roles",
            crate::domain::member::MAX_CUSTOM_ROLES
        )));
    }
    Ok(RoleView::custom(role))
}

/// `DELETE /admin/apps/{app}/operator-roles/{role}` — `members:write` on the app. A built-in
/// role, or a role a membership that is not left binds, cannot be deleted (`409 conflict`: take
/// it off those memberships first); an unknown one is `404`.
pub async fn delete_role<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    name: &str,
) -> Result<(), Error> {
    authorize(caller, Some(Permission::MembersWrite), &Target::App(app_id)).into_result()?;
    if OperatorRole::built_in(name).is_some() {
        return Err(Error::Conflict(format!(
            "{name} is a built-in role and cannot be deleted"
        )));
    }
    let not_found = || Error::NotFound("no such operator role".to_owned());
    let name = OperatorRoleName::parse(name).map_err(|_| not_found())?;
    existing_app(cx, app_id).await?;
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action: AuditAction::OperatorRoleDelete,
            target: name.to_string(),
            tenant_id: None,
            detail: json!({}),
        },
    )?;
    match cx.db.delete_operator_role(app_id, &name, &audit).await? {
        RoleDeletion::Deleted => Ok(()),
        RoleDeletion::NotFound => Err(not_found()),
        RoleDeletion::InUse => Err(Error::Conflict(format!(
            "memberships bind the role {name}: remove it from them first"
        ))),
    }
}
