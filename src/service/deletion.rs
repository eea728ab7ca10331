//! Deleting apps, tenants and end users, erasing an end user from a whole app, and an end
//! user leaving a tenant (`leave`: a deletion of the user from it, begun by the user).
//!
//! Each deletion begins with one atomic step (`DeletionStore::begin_deletion`: the target is
//! gone for every reader at once, the deletion is recorded and audited), then runs its phases
//! (`domain::deletion`) in bounded steps: as many as `Budget::REQUEST` allows before the
//! request answers — `204` when done, `202` with the deletion's progress when not — and the
//! rest when the `DELETE` is repeated (it continues the running deletion of the same target)
//! or when the cron runs (`resume`). Nothing is left that a namesake could pick up: an app or
//! tenant of the same id cannot be created until its deletion is done, and every KV document
//! of the target is withdrawn with its `edge_sync` row (`Phase::Flags`, through
//! `edge::withdraw`), and every `clientkey:` entry of its confidential OAuth clients before
//! their rows (`Phase::ThirdParty`: a failed withdrawal is retried, the hash kept until it
//! succeeds). A user's documents are first rewritten through `edge` (no face: every
//! token refused) and withdrawn only once no access token of it can be alive; until then the
//! deletion waits (`Next::WaitUntil`), running, without spending the budget — settled for the
//! request (`204`: the user is gone), finished by a repeated `DELETE` or the cron.
//!
//! Must not depend on `http`.

use super::cache;
use super::principal::{actor, audit_entry, Change};
use super::tenancy::{existing_app, existing_tenant};
use super::{edge, Ctx, Stores};
use crate::domain::audit::{Actor, AuditAction, AuditEntry};
use crate::domain::authz::{authorize, Permission, Principal, Target as AuthzTarget};
use crate::domain::deletion::{
    Budget, Deletion, Kind, Next, Phase, State, Target, DONE_RETENTION_MS, EDGE_WRITES_PER_STEP,
    ROWS_PER_STEP,
};
use crate::domain::edge::MirroredDoc;
use crate::domain::ids::{AppId, DeletionId, TenantId};
use crate::domain::keys::KeyOwner;
use crate::domain::user::UserId;
use crate::domain::Error;
use crate::store::{DeletionStore, EdgeStore, UserStateStore, UserStore};
use serde_json::json;

/// The most tenants one user's erasure covers in its first step (the faces are read at once).
const MAX_FACES: usize = 1_000;

/// `DELETE /admin/apps/{app}` — the platform owner. Everything under the app, KV included; its
/// audit entry goes to the log of the app `public` (the app's own log goes with it). `public`
/// cannot be deleted (`409 conflict`).
pub async fn delete_app<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
) -> Result<Deletion, Error> {
    authorize(caller, None, &AuthzTarget::App(app_id)).into_result()?;
    if app_id.as_str() == crate::domain::ids::PUBLIC_TENANT {
        return Err(Error::Conflict(
            "the public app cannot be deleted".to_owned(),
        ));
    }
    let target = Target::App(app_id.clone());
    if let Some(running) = cx.db.find_running_deletion(&target).await? {
        return run_now(cx, running).await;
    }
    existing_app(cx, app_id).await?;
    let public = AppId::parse(crate::domain::ids::PUBLIC_TENANT)
        .map_err(|_| Error::Internal("the public app id does not parse".to_owned()))?;
    let (id, audit) = audited(
        cx,
        caller,
        &public,
        AuditAction::AppDelete,
        app_id.to_string(),
        None,
    )?;
    begin(cx, id, &target, Vec::new(), &audit, || Error::AppNotFound).await
}

/// `DELETE /admin/apps/{app}/tenants/{tenant}` — `tenants:write`. Everything under the tenant:
/// API keys, users' faces (and users left with no other), sessions, email state, counters;
/// memberships narrowed to it end. `public` cannot be deleted (`409 conflict`).
pub async fn delete_tenant<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
) -> Result<Deletion, Error> {
    authorize(
        caller,
        Some(Permission::TenantsWrite),
        &AuthzTarget::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    if tenant_id.is_public() {
        return Err(Error::Conflict(
            "the public tenant cannot be deleted".to_owned(),
        ));
    }
    let target = Target::Tenant(app_id.clone(), tenant_id.clone());
    if let Some(running) = cx.db.find_running_deletion(&target).await? {
        return run_now(cx, running).await;
    }
    existing_tenant(cx, app_id, tenant_id).await?;
    let (id, audit) = audited(
        cx,
        caller,
        app_id,
        AuditAction::TenantDelete,
        tenant_id.to_string(),
        Some(tenant_id),
    )?;
    begin(cx, id, &target, Vec::new(), &audit, || {
        Error::TenantNotFound
    })
    .await
}

/// `DELETE /admin/apps/{app}/tenants/{tenant}/users/{user}` — `users:write` on the tenant. The
/// user leaves the tenant: its face, its sessions (revoked at the edge first), what email
/// flows kept of its address there, its flags; and the user with its metadata when it has no
/// other tenant.
pub async fn delete_user<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<Deletion, Error> {
    authorize(
        caller,
        Some(Permission::UsersWrite),
        &AuthzTarget::Tenant(app_id, tenant_id),
    )
    .into_result()?;
    let target = Target::User {
        app: app_id.clone(),
        tenant: Some(tenant_id.clone()),
        user: *user_id,
    };
    if let Some(running) = continuing(cx, &target).await? {
        return run_now(cx, running).await;
    }
    super::users::face_of(cx, app_id, tenant_id, user_id).await?;
    let (id, audit) = audited(
        cx,
        caller,
        app_id,
        AuditAction::UserDelete,
        user_id.to_string(),
        Some(tenant_id),
    )?;
    let tenants = vec![tenant_id.clone()];
    begin(cx, id, &target, tenants, &audit, || Error::UserNotFound).await
}

/// `DELETE /auth/me` — the user's own access token (checked by the caller,
/// `service::account::leave`). The user leaves the tenant as a deletion from it would take it
/// (`delete_user`), audited as `user.leave` by the user itself: its face and what it kept
/// there go at once, its edge document refuses every token of it there, and the document
/// goes once none can be alive (the cron). `401 invalid_token` when it has no face there.
pub async fn leave<S: Stores>(
    cx: &Ctx<'_, S>,
    app_id: &AppId,
    tenant_id: &TenantId,
    user_id: &UserId,
) -> Result<Deletion, Error> {
    let target = Target::User {
        app: app_id.clone(),
        tenant: Some(tenant_id.clone()),
        user: *user_id,
    };
    if let Some(running) = continuing(cx, &target).await? {
        return Ok(left(cx, running).await);
    }
    let id = DeletionId::generate(cx.now, cx.random()?);
    let audit = audit_entry(
        cx,
        Actor::EndUser,
        Change {
            app_id,
            action: AuditAction::UserLeave,
            target: user_id.to_string(),
            tenant_id: Some(tenant_id),
            detail: json!({ "deletion_id": id }),
        },
    )?;
    let deletion = Deletion::begin(id, &target, vec![tenant_id.clone()], cx.now);
    if !cx.db.begin_deletion(&deletion, &audit).await? {
        return match cx.db.find_running_deletion(&target).await? {
            Some(running) => Ok(left(cx, running).await),
            None => Err(Error::InvalidToken),
        };
    }
    Ok(left(cx, deletion).await)
}

/// Runs a leaving user's deletion within the request. The user has left already (the first
/// step: gone for every reader, its document pending "no face"); the leaver cannot repeat the
/// request — its token names no face now — so what a failing store leaves is the cron's, and
/// the answer is the truth: left.
async fn left<S: Stores>(cx: &Ctx<'_, S>, deletion: Deletion) -> Deletion {
    let id = deletion.id;
    match run_now(cx, deletion.clone()).await {
        Ok(ran) => ran,
        Err(e) => {
            cx.warn(&format!(
                "leaving: deletion {id} goes on with the cron: {e:?}"
            ));
            deletion
        }
    }
}

/// `DELETE /admin/apps/{app}/users/{user}` — `users:write` on every tenant the user has a face
/// in (app-wide when it has none). The erasure: the user, its metadata, its faces, sessions,
/// flags and what email flows kept of its addresses in every tenant; the audit entries that
/// named it name the deletion instead (`erased:<deletion id>`), so no row names the user.
pub async fn erase_user<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    user_id: &UserId,
) -> Result<Deletion, Error> {
    let target = Target::User {
        app: app_id.clone(),
        tenant: None,
        user: *user_id,
    };
    let faces = cx.db.find_faces(&target, MAX_FACES).await?;
    let tenants: Vec<TenantId> = faces.into_iter().map(|(tenant, _)| tenant).collect();
    if tenants.is_empty() {
        authorize(
            caller,
            Some(Permission::UsersWrite),
            &AuthzTarget::App(app_id),
        )
        .into_result()?;
    }
    for tenant in &tenants {
        authorize(
            caller,
            Some(Permission::UsersWrite),
            &AuthzTarget::Tenant(app_id, tenant),
        )
        .into_result()?;
    }
    if let Some(running) = cx.db.find_running_deletion(&target).await? {
        return run_now(cx, running).await;
    }
    existing_app(cx, app_id).await?;
    if tenants.is_empty() && cx.db.find_user(app_id, user_id).await?.is_none() {
        return Err(Error::UserNotFound);
    }
    // Named by the user's id until the audit phase makes it name the deletion, like every
    // other entry about the user.
    let (id, audit) = audited(
        cx,
        caller,
        app_id,
        AuditAction::UserErase,
        user_id.to_string(),
        None,
    )?;
    begin(cx, id, &target, tenants, &audit, || {
        Error::Conflict("the user changed meanwhile; try again".to_owned())
    })
    .await
}

/// The running deletion of `target` that a `DELETE` (or leaving) continues — unless the user
/// has a face in the tenant again (associated anew while the deletion waited): then the caller
/// begins a new one, whose first step supersedes the old one in the same batch (done: what it
/// deleted is gone) and whose own wait covers every token of both faces. Left running, the old
/// one's last phase would withdraw the document before the new face's tokens expired. (An
/// erasure supersedes every running deletion of its user the same way.)
async fn continuing<S: Stores>(
    cx: &Ctx<'_, S>,
    target: &Target,
) -> Result<Option<Deletion>, Error> {
    let Some(running) = cx.db.find_running_deletion(target).await? else {
        return Ok(None);
    };
    if let Target::User {
        app,
        tenant: Some(tenant),
        user,
    } = target
    {
        if cx.db.find_tenant_user(app, tenant, user).await?.is_some() {
            // The new deletion's first step supersedes it, in the same batch.
            return Ok(None);
        }
    }
    Ok(Some(running))
}

/// A new deletion's id and the audit entry of its beginning, which names the id (so the log
/// leads to the deletion's progress) — in `app_id`'s log, about `target` (`tenant_id` its
/// tenant, if any).
fn audited<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    action: AuditAction,
    target: String,
    tenant_id: Option<&TenantId>,
) -> Result<(DeletionId, AuditEntry), Error> {
    let id = DeletionId::generate(cx.now, cx.random()?);
    let audit = audit_entry(
        cx,
        actor(caller),
        Change {
            app_id,
            action,
            target,
            tenant_id,
            detail: json!({ "deletion_id": id }),
        },
    )?;
    Ok((id, audit))
}

/// Begins the deletion `id` of `target` (its audit entry names the id, so the log leads to
/// the deletion's progress) and runs it within the request's budget. When the first
/// step finds nothing to delete, a deletion of the same target that began meanwhile is
/// continued instead, or the answer is `gone()`.
async fn begin<S: Stores>(
    cx: &Ctx<'_, S>,
    id: DeletionId,
    target: &Target,
    tenants: Vec<TenantId>,
    audit: &AuditEntry,
    gone: impl FnOnce() -> Error,
) -> Result<Deletion, Error> {
    let deletion = Deletion::begin(id, target, tenants, cx.now);
    if !cx.db.begin_deletion(&deletion, audit).await? {
        return match cx.db.find_running_deletion(target).await? {
            Some(running) => run_now(cx, running).await,
            None => Err(gone()),
        };
    }
    run_now(cx, deletion).await
}

/// Runs `deletion` within what a request may do (`Budget::REQUEST`).
async fn run_now<S: Stores>(cx: &Ctx<'_, S>, deletion: Deletion) -> Result<Deletion, Error> {
    let mut budget = Budget::REQUEST;
    run(cx, deletion, &mut budget).await
}

/// `GET /admin/apps/{app}/deletions/{id}` — what starting the deletion took (the platform
/// owner's for an app, `tenants:write` on the tenant, `users:write` on the user's tenant, or
/// app-wide for an erasure). An unknown id is `404 not_found`.
pub async fn get<S: Stores>(
    cx: &Ctx<'_, S>,
    caller: &Principal,
    app_id: &AppId,
    id: &DeletionId,
) -> Result<Deletion, Error> {
    let Some(deletion) = cx.db.find_deletion(app_id, id).await? else {
        if !caller.can_see_app(app_id) {
            authorize(caller, None, &AuthzTarget::App(app_id)).into_result()?;
        }
        return Err(Error::NotFound("no such deletion".to_owned()));
    };
    let (permission, target) = match (deletion.kind, &deletion.tenant_id) {
        (Kind::App, _) => (None, AuthzTarget::App(app_id)),
        (Kind::Tenant, Some(t)) => (
            Some(Permission::TenantsWrite),
            AuthzTarget::Tenant(app_id, t),
        ),
        (Kind::User, Some(t)) => (Some(Permission::UsersWrite), AuthzTarget::Tenant(app_id, t)),
        (Kind::Tenant | Kind::User, None) => {
            (Some(Permission::UsersWrite), AuthzTarget::App(app_id))
        }
    };
    authorize(caller, permission, &target).into_result()?;
    Ok(deletion)
}

/// The cron: continues the running deletions that have work to do (not those that only
/// wait), oldest first, within `budget` all together. A
/// deletion that fails is reported and left for the next run. Also forgets the deletions
/// finished more than `DONE_RETENTION_MS` ago. Returns how many deletions it finished.
pub async fn resume<S: Stores>(cx: &Ctx<'_, S>, mut budget: Budget) -> Result<usize, Error> {
    let mut finished = 0;
    for deletion in cx.db.list_due_deletions(cx.now, 16).await? {
        if !budget.has_room() {
            break;
        }
        let id = deletion.id;
        match run(cx, deletion, &mut budget).await {
            Ok(d) if d.state == State::Done => finished += 1,
            Ok(_) => {}
            Err(e) => cx.warn(&format!("deletion {id} did not advance: {e:?}")),
        }
    }
    let before = cx.now.plus_ms(-DONE_RETENTION_MS);
    while cx.db.prune_deletions(before, ROWS_PER_STEP).await? == ROWS_PER_STEP {}
    Ok(finished)
}

/// Runs `deletion`'s phases until it is done, waits, or `budget` is spent, recording each
/// step.
pub async fn run<S: Stores>(
    cx: &Ctx<'_, S>,
    mut deletion: Deletion,
    budget: &mut Budget,
) -> Result<Deletion, Error> {
    let Some(target) = deletion.target() else {
        return Ok(deletion);
    };
    if deletion.state == State::Done {
        return Ok(deletion);
    }
    // The mirrors of a deleted app or tenant go first, again on every run: whatever a failed
    // KV write left, no lookup finds the target at the edge.
    match &target {
        Target::App(app) => cache::app_deleted(cx, app).await?,
        Target::Tenant(app, tenant) => cache::tenant_changed(cx, app, tenant, None).await?,
        Target::User { .. } => {}
    }
    while deletion.state == State::Running && budget.has_room() {
        let phase = match deletion.next(cx.now) {
            Next::Run(phase) => phase,
            // The step that waits: nothing to do (nor to spend) before then.
            Next::WaitUntil(_) | Next::Done => break,
        };
        let step = step(cx, &deletion, &target, phase).await?;
        budget.spend(step.edge_writes);
        deletion.record_step(step.rows, step.finished, step.cursor, cx.now);
        if !cx.db.update_deletion(&deletion).await? {
            // Superseded by a newer deletion of its user, or finished by another run.
            break;
        }
    }
    Ok(deletion)
}

/// What one step did.
struct Step {
    rows: usize,
    edge_writes: usize,
    /// The phase is done.
    finished: bool,
    /// Where a walking phase stands.
    cursor: Option<String>,
}

impl Step {
    /// A step of a phase that deletes in batches of `limit`: done when fewer came back.
    fn batch(rows: usize, limit: usize, edge_writes: usize) -> Self {
        Step {
            rows,
            edge_writes,
            finished: rows < limit,
            cursor: None,
        }
    }
}

/// One bounded step of `phase`.
async fn step<S: Stores>(
    cx: &Ctx<'_, S>,
    deletion: &Deletion,
    target: &Target,
    phase: Phase,
) -> Result<Step, Error> {
    let app = target.app_id();
    let rows = ROWS_PER_STEP;
    Ok(match phase {
        Phase::ApiKeys => {
            let hashes = cx.db.purge_api_keys(target, EDGE_WRITES_PER_STEP).await?;
            // The keys are gone from D1; a KV copy left behind names a tenant that no longer
            // is (or is younger than the key), which every use refuses — so a failure here is
            // reported, not fatal.
            for hash in &hashes {
                cx.caches.forget_api_key(hash);
                if let Err(e) = cx.edge.delete_api_key(hash).await {
                    cx.warn(&format!(
                        "KV copy of a deleted API key not withdrawn: {e:?}"
                    ));
                }
            }
            Step::batch(hashes.len(), EDGE_WRITES_PER_STEP, hashes.len())
        }
        Phase::Revocations => {
            // The user's document in each tenant it left now says "no face": every token of
            // it is refused (the first step's batch ended the faces; the deletion is what
            // keeps the rewrite due until it is done). Walked by the tenants' position.
            let user = deletion
                .user_id
                .ok_or_else(|| Error::Internal("a user deletion without a user".into()))?;
            let from = match deletion.cursor.as_deref() {
                None => 0,
                Some(at) => at
                    .parse::<usize>()
                    .map_err(|_| Error::Internal("a deletion's cursor does not parse".into()))?,
            };
            let rest = deletion.tenants.get(from..).unwrap_or_default();
            let tenants = &rest[..rest.len().min(EDGE_WRITES_PER_STEP)];
            for tenant in tenants {
                edge::publish_changed(cx, &edge::user_doc(app, tenant, &user)).await?;
            }
            let reached = from + tenants.len();
            Step {
                rows: 0,
                edge_writes: tenants.len(),
                finished: reached >= deletion.tenants.len(),
                cursor: Some(reached.to_string()),
            }
        }
        Phase::Sessions => Step::batch(cx.db.purge_sessions(target, rows).await?, rows, 0),
        Phase::ThirdParty => {
            // The confidential clients' `clientkey:` copies first (they have no TTL), then
            // D1 forgets their hashes, then — once none is left — the rows: a failed
            // withdrawal fails the step with the hash still in D1, and the step is run again;
            // nothing that could authenticate at `/oauth/introspect` outlives its row.
            let hashes = cx
                .db
                .find_client_secrets(target, EDGE_WRITES_PER_STEP)
                .await?;
            if hashes.is_empty() {
                Step::batch(cx.db.purge_thirdparty(target, rows).await?, rows, 0)
            } else {
                for hash in &hashes {
                    cx.edge.delete_client_key(hash).await?;
                }
                let forgotten = cx.db.forget_client_secrets(target, &hashes).await?;
                Step {
                    rows: forgotten,
                    edge_writes: hashes.len(),
                    finished: false,
                    cursor: None,
                }
            }
        }
        Phase::Users => {
            let faces = cx.db.find_faces(target, EDGE_WRITES_PER_STEP).await?;
            if faces.is_empty() {
                // Then the users no face holds (an app's).
                Step::batch(cx.db.purge_users(target, &[], rows).await?, rows, 0)
            } else {
                // Their documents go in `Flags`, found by name.
                let deleted = cx.db.purge_users(target, &faces, faces.len()).await?;
                Step {
                    rows: deleted,
                    edge_writes: 0,
                    finished: false,
                    cursor: None,
                }
            }
        }
        Phase::Flags => {
            // KV first, then the rows: a failed withdrawal leaves its row, and this step is
            // run again (`Deletion::next` kept a user's until no token of it can be alive).
            let docs = cx.db.find_edge_docs(target, EDGE_WRITES_PER_STEP).await?;
            // (An app's or tenant's faces are gone for good by now: no check for them.)
            let user_target = matches!(target, Target::User { .. });
            let mut withdrawn = Vec::with_capacity(docs.len());
            for name in &docs {
                match MirroredDoc::parse(name) {
                    // A user deleted from one tenant may have been associated with it again
                    // while the deletion waited: that face's document stays (a missing one
                    // would let its tokens judge themselves, a suspension included).
                    Some(doc) if user_target && has_face(cx, &doc).await? => {}
                    Some(doc) => {
                        edge::withdraw(cx, &doc).await?;
                        withdrawn.push(doc);
                    }
                    None => cx.warn(&format!(
                        "edge_sync names {name}, which is no mirrored document"
                    )),
                }
            }
            let names: Vec<String> = withdrawn.iter().map(MirroredDoc::name).collect();
            let forgotten = cx.db.forget_edge_docs(&names).await?;
            // A face made again between the check and the withdrawal: its document is written
            // back from D1 (bumped, so the sweep finishes it if KV fails now).
            if user_target {
                for doc in &withdrawn {
                    if has_face(cx, doc).await? {
                        edge::publish_changed(cx, doc).await?;
                    }
                }
            }
            Step {
                rows: forgotten,
                edge_writes: docs.len(),
                finished: docs.len() < EDGE_WRITES_PER_STEP,
                cursor: None,
            }
        }
        Phase::Email => Step::batch(cx.db.purge_email(target, rows).await?, rows, 0),
        Phase::Throttle => Step::batch(cx.db.purge_signin_failures(target, rows).await?, rows, 0),
        Phase::Members => Step::batch(cx.db.purge_members(target, rows).await?, rows, 0),
        Phase::Catalogue => {
            let step = Step::batch(cx.db.purge_catalogue(target, rows).await?, rows, 0);
            if step.finished {
                cache::policy_deleted(cx, app).await?;
            }
            Step {
                edge_writes: usize::from(step.finished),
                ..step
            }
        }
        Phase::Billing => Step::batch(cx.db.purge_billing(target, rows).await?, rows, 0),
        Phase::Audit => {
            let pseudonym = format!("erased:{}", deletion.id);
            Step::batch(cx.db.purge_audit(target, &pseudonym, rows).await?, rows, 0)
        }
        Phase::SigningKeys => {
            let step = Step::batch(cx.db.purge_signing_keys(target, rows).await?, rows, 0);
            if step.finished {
                let owner = KeyOwner::App(app.clone());
                cx.caches.keyrings.borrow_mut().remove(&owner);
                cx.edge.delete_public_keys(&owner).await?;
            }
            Step {
                edge_writes: usize::from(step.finished),
                ..step
            }
        }
        Phase::Tenants => {
            let tenants = cx.db.purge_tenants(target, EDGE_WRITES_PER_STEP).await?;
            for tenant in &tenants {
                cache::tenant_changed(cx, app, tenant, None).await?;
            }
            Step::batch(tenants.len(), EDGE_WRITES_PER_STEP, tenants.len())
        }
        Phase::Row => {
            cx.db.delete_target_row(target).await?;
            match target {
                Target::App(app) => cache::app_deleted(cx, app).await?,
                Target::Tenant(app, tenant) => cache::tenant_changed(cx, app, tenant, None).await?,
                Target::User { .. } => {}
            }
            Step {
                rows: 1,
                edge_writes: 1,
                finished: true,
                cursor: None,
            }
        }
    })
}

/// Whether `doc` is a user's edge document whose user has a face in its tenant now.
async fn has_face<S: Stores>(cx: &Ctx<'_, S>, doc: &MirroredDoc) -> Result<bool, Error> {
    match doc {
        MirroredDoc::User(key) => Ok(cx
            .db
            .find_tenant_user(&key.app, &key.tenant, &key.user)
            .await?
            .is_some()),
        _ => Ok(false),
    }
}
