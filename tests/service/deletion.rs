//! Deleting apps, tenants and users, and erasing a user from an app: what goes (D1 and KV),
//! who may, the namesake rules, and the bounded, resumable steps (`Budget`, the cron).

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::authz::Principal;
use tessera::domain::deletion::{Budget, Deletion, Kind, State};
use tessera::domain::ids::{AppId, SessionId, TenantId};
use tessera::domain::member::OperatorRole;
use tessera::domain::page::PageRequest;
use tessera::domain::secret::{PlainSecret, SecretKind};
use tessera::domain::session::Session;
use tessera::domain::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS;
use tessera::domain::user::UserId;
use tessera::domain::Error;
use tessera::service::email::DeliveryRequest;
use tessera::service::members::{self, Invitation};
use tessera::service::{deletion, edge, oauth};
use tessera::service::{principal, recovery, tenancy, users};
use tessera::store::{Attempt, EdgeSyncStore, SessionStore, UserStateStore};

fn delete_tenant(
    w: &World,
    by: &Principal,
    app_id: &AppId,
    id: &TenantId,
) -> Result<Deletion, Error> {
    block_on(deletion::delete_tenant(&w.cx(), by, app_id, id))
}

fn delete_user(
    w: &World,
    by: &Principal,
    app_id: &AppId,
    tenant_id: &TenantId,
    user: &UserId,
) -> Result<Deletion, Error> {
    block_on(deletion::delete_user(&w.cx(), by, app_id, tenant_id, user))
}

fn erase(w: &World, by: &Principal, app_id: &AppId, user: &UserId) -> Result<Deletion, Error> {
    block_on(deletion::erase_user(&w.cx(), by, app_id, user))
}

/// Moves the clock to when no access token issued before now can be alive: a user's deletion
/// begun before then may withdraw its documents.
fn outlive_tokens(w: &World) {
    w.advance_ms(MAX_ACCESS_TOKEN_TTL_SECONDS * 1000);
}

/// Every KV key and value, and every row of the memory store, as text.
fn everything(w: &World) -> String {
    let kv: Vec<String> =
        w.kv.keys()
            .into_iter()
            .map(|k| format!("{k}={:?}", w.kv.raw(&k)))
            .collect();
    format!("{:?}\n{}", w.db.snapshot(), kv.join("\n"))
}

/// An operator who is a member of `app_id` with `roles`, narrowed to `tenant_id` if given.
fn member_of(
    w: &World,
    owner: &Principal,
    app_id: &AppId,
    who: &str,
    roles: &[OperatorRole],
    tenant_id: Option<TenantId>,
) -> Principal {
    let (_, token) = block_on(members::invite(
        &w.cx(),
        owner,
        app_id,
        Invitation {
            email: email(who),
            membership_type: tessera::domain::member::MembershipType::Member,
            roles: roles.to_vec(),
            tenant_id,
        },
    ))
    .unwrap();
    block_on(members::accept(
        &w.cx(),
        token.expose(),
        &password(PASSWORD),
        None,
    ))
    .unwrap();
    let token = block_on(tessera::service::operators::signin(
        &w.cx(),
        email(who),
        &password(PASSWORD),
        None,
        None,
    ))
    .unwrap()
    .token
    .access_token;
    block_on(principal::principal(&w.cx(), Some(&token))).unwrap()
}

/// Ten bytes that tell `n` apart.
fn ten_bytes(n: u32) -> [u8; 10] {
    // Past the bits a UUIDv7 overwrites (version, variant).
    let mut bytes = [0xAB; 10];
    bytes[5..9].copy_from_slice(&n.to_le_bytes());
    bytes
}

/// `n` more sessions of a user in a tenant, written straight to the store, the last rotated
/// now (so it may have a live access token).
fn many_sessions(w: &World, app_id: &AppId, tenant_id: &TenantId, user: &UserId, n: u32) {
    for i in 0..n {
        let now = w.now();
        let session = Session {
            id: SessionId::generate(now, ten_bytes(i)),
            app_id: app_id.clone(),
            tenant_id: tenant_id.clone(),
            user_id: *user,
            generation: 0,
            rotated_at: now,
            created_at: now,
            last_used_at: now,
            expires_at: now.plus_seconds(86_400),
            idle_timeout_ms: 3_600_000,
            revoked_at: None,
            grant: None,
        };
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&i.to_le_bytes());
        secret[31] = 0xEE;
        let token = PlainSecret::generate(SecretKind::RefreshToken, secret).hash();
        let attempt = Attempt {
            account: "account:x".into(),
            client: None,
            now,
        };
        block_on(w.db.create_session(&session, &token, &attempt)).unwrap();
    }
}

#[test]
fn a_small_tenant_goes_within_the_request_with_everything_of_it_in_d1_and_kv() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.mail_tenant(&owner, &shop, "acme");
    w.set_delivery(&owner, &shop, DeliveryRequest::Outbox);
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    w.suspend(&owner, &shop, &acme, &ada.user.face.user_id);
    block_on(recovery::send_reset(
        &w.cx(),
        &shop,
        &acme,
        email("ada@example.com"),
        None,
    ))
    .unwrap();
    w.deliver_all(&ScriptedMailer::default());
    let narrowed = member_of(
        &w,
        &owner,
        &shop,
        "ops@example.com",
        &[OperatorRole::Admin],
        Some(acme.clone()),
    );
    let id = ada.user.face.user_id;
    let done = delete_tenant(&w, &owner, &shop, &acme).unwrap();
    assert_eq!(done.state, State::Done);
    assert_eq!(done.kind, Kind::Tenant);
    assert!(done.deleted > 0);
    // Nothing of it in KV (the audit log keeps the tenant's history in D1).
    let key_hash = PlainSecret::from_client(SecretKind::ApiKey, &key)
        .unwrap()
        .hash();
    for left in w.kv.keys() {
        assert!(!left.contains(":acme"), "{left}");
        assert!(!left.contains(&id.to_string()), "{left}");
        assert!(!left.contains(key_hash.as_str()), "{left}");
    }
    assert_eq!(
        block_on(w.db.find_user(&shop, &id)).unwrap(),
        None,
        "its only tenant"
    );
    let counts = w.db.row_counts();
    assert_eq!(
        (
            counts.tenant_users,
            counts.sessions,
            counts.refresh_tokens,
            counts.api_keys
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(
        (
            counts.email_challenges,
            counts.email_outbox,
            counts.signin_failures
        ),
        (0, 0, 0)
    );
    assert!(!everything(&w).contains("ada@example.com"));
    // The memberships narrowed to it ended.
    let Principal::Operator { id, .. } = narrowed else {
        panic!("an operator")
    };
    let left = block_on(tessera::store::MemberStore::find_grants(&w.db, &id)).unwrap();
    assert!(left.is_empty(), "{left:?}");
    // Audited once.
    let deletes =
        w.db.audit_entries()
            .iter()
            .filter(|e| e.action.as_str() == "tenant.delete")
            .count();
    assert_eq!(deletes, 1);
    assert_eq!(
        delete_tenant(&w, &owner, &shop, &acme).unwrap_err(),
        Error::TenantNotFound
    );
}

/// A confidential OAuth client of the tenant (a `client_credentials` one: the default settings
/// define no scope), with its `clientkey:` entry in KV.
fn machine_client(w: &World, owner: &Principal, app_id: &AppId, tenant_id: &TenantId) -> String {
    let spec = tessera::domain::oauth::ClientSpec {
        name: Some("Backend".to_owned()),
        client_type: Some("confidential".to_owned()),
        grant_types: Some(vec!["client_credentials".to_owned()]),
        ..Default::default()
    };
    let (_, secret) = block_on(oauth::create_client(
        &w.cx(),
        owner,
        app_id,
        tenant_id,
        spec,
    ))
    .expect("a confidential client");
    let hash = PlainSecret::from_client(SecretKind::ClientSecret, secret.unwrap().expose())
        .unwrap()
        .hash();
    let key = format!("clientkey:{}", hash.as_str());
    assert!(w.kv.keys().contains(&key));
    key
}

#[test]
fn a_tenant_deletion_withdraws_its_clients_keys_before_their_rows_and_retries_a_failed_withdrawal()
{
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let bravo = w.tenant(&owner, &shop, "bravo");
    let first = machine_client(&w, &owner, &shop, &acme);
    let second = machine_client(&w, &owner, &shop, &acme);
    let kept = machine_client(&w, &owner, &shop, &bravo);
    // The second key cannot be withdrawn: the deletion stops with both clients' rows there.
    let failing = format!("kv delete {second}");
    w.kv.faults().fail_when(move |c| c == failing);
    let failed = delete_tenant(&w, &owner, &shop, &acme);
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    let secrets = block_on(tessera::store::DeletionStore::find_client_secrets(
        &w.db,
        &tessera::domain::deletion::Target::Tenant(shop.clone(), acme.clone()),
        10,
    ))
    .unwrap();
    assert_eq!(secrets.len(), 2, "no hash forgotten before its key went");
    let clients_of = |t: &TenantId| {
        block_on(tessera::store::OAuthStore::list_clients(
            &w.db, &shop, t, None, 10,
        ))
        .unwrap()
        .len()
    };
    assert_eq!((clients_of(&acme), clients_of(&bravo)), (2, 1));
    w.kv.faults().heal();
    let done = delete_tenant(&w, &owner, &shop, &acme).unwrap();
    assert_eq!(done.state, State::Done);
    let keys = w.kv.keys();
    assert!(
        !keys.contains(&first) && !keys.contains(&second),
        "{keys:?}"
    );
    assert!(
        keys.contains(&kept),
        "another tenant's client keeps its key"
    );
    assert_eq!((clients_of(&acme), clients_of(&bravo)), (0, 1));
}

#[test]
fn an_app_deletion_withdraws_every_client_key_of_the_app() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let other = w.app(&owner, "other");
    let keys = [
        machine_client(&w, &owner, &shop, &acme),
        machine_client(&w, &owner, &shop, &TenantId::public()),
    ];
    let kept = machine_client(&w, &owner, &other, &TenantId::public());
    let done = block_on(deletion::delete_app(&w.cx(), &owner, &shop)).unwrap();
    assert_eq!(done.state, State::Done);
    let left = w.kv.keys();
    for key in &keys {
        assert!(!left.contains(key), "{key}");
    }
    assert!(left.contains(&kept));
}

#[test]
fn the_public_tenant_and_the_public_app_cannot_be_deleted() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    assert!(matches!(
        delete_tenant(&w, &owner, &shop, &tenant("public")),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        block_on(deletion::delete_app(&w.cx(), &owner, &app("public"))),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn a_big_tenant_goes_in_bounded_steps_that_retries_and_the_cron_continue() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    // 900 users, each with an edge document: the documents go 100 per step, so the budget
    // of KV writes of a request (400) runs out twice before they all go.
    let mut ids = Vec::new();
    for n in 0..900 {
        let signed = signup(&w, &shop, &acme, &format!("u{n}@example.com"));
        ids.push(signed.user.face.user_id);
        let doc = format!("flags:shop:acme:{}", signed.user.face.user_id);
        block_on(w.db.mark_edge_changed(&doc, w.now())).unwrap();
    }
    block_on(edge::sweep(&w.cx(), 1_000)).unwrap();
    assert!(w.kv.raw(&format!("flags:shop:acme:{}", ids[899])).is_some());
    w.suspend(&owner, &shop, &acme, &ids[0]);
    let first = delete_tenant(&w, &owner, &shop, &acme).unwrap();
    assert_eq!(first.state, State::Running);
    assert!(first.phase > 0, "it got past the API keys and sessions");
    // Gone for every reader at once, and no namesake can be made meanwhile.
    assert_eq!(
        signin(&w, &shop, &acme, "u1@example.com", PASSWORD, None).unwrap_err(),
        Error::TenantNotFound
    );
    let namesake = block_on(tenancy::put_tenant(
        &w.cx(),
        &owner,
        &shop,
        &acme,
        Default::default(),
    ));
    assert!(matches!(namesake, Err(Error::Conflict(_))), "{namesake:?}");
    // Progress is readable...
    let read = block_on(deletion::get(&w.cx(), &owner, &shop, &first.id)).unwrap();
    assert_eq!(read, first);
    // ...a repeated DELETE continues the same deletion...
    let second = delete_tenant(&w, &owner, &shop, &acme).unwrap();
    assert_eq!(second.id, first.id);
    assert!(second.deleted > first.deleted);
    assert_eq!(second.state, State::Running);
    // ...and the cron finishes it.
    let finished = block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    assert_eq!(finished, 1);
    let done = block_on(deletion::get(&w.cx(), &owner, &shop, &first.id)).unwrap();
    assert_eq!(done.state, State::Done);
    assert!(done.finished_at.is_some());
    assert!(
        w.kv.keys()
            .iter()
            .all(|k| !k.starts_with("flags:shop:acme:")),
        "{:?}",
        w.kv.keys()
    );
    assert!(
        ids.iter().all(|id| w
            .db
            .edge_sync_row(&format!("flags:shop:acme:{id}"))
            .is_none()),
        "their edge_sync rows went with them"
    );
    for id in &ids {
        assert_eq!(block_on(w.db.find_user(&shop, id)).unwrap(), None);
    }
    // A namesake now starts empty.
    w.advance_ms(1_000);
    let fresh = w.tenant(&owner, &shop, "acme");
    let page = PageRequest::parse(None, None).unwrap();
    let listed = block_on(users::list(
        &w.cx(),
        &owner,
        &shop,
        &fresh,
        &Default::default(),
        &page,
    ))
    .unwrap();
    assert!(listed.items.is_empty());
    // Done deletions are forgotten after a week.
    w.advance_ms(7 * 24 * 3_600_000 + 1);
    block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    assert!(matches!(
        block_on(deletion::get(&w.cx(), &owner, &shop, &first.id)),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn a_deletion_interrupted_by_a_failing_store_resumes_where_it_stood() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    w.db.faults().fail_when(|c| c == "db purge_users");
    let failed = delete_tenant(&w, &owner, &shop, &acme);
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    // Begun: gone for readers, recorded as running.
    assert_eq!(
        block_on(tenancy::get_tenant(&w.cx(), &owner, &shop, &acme)).unwrap_err(),
        Error::TenantNotFound
    );
    w.db.faults().heal();
    let done = delete_tenant(&w, &owner, &shop, &acme).unwrap();
    assert_eq!(done.state, State::Done);
    assert_eq!(
        block_on(w.db.find_user(&shop, &ada.user.face.user_id)).unwrap(),
        None
    );
    let deletes =
        w.db.audit_entries()
            .iter()
            .filter(|e| e.action.as_str() == "tenant.delete")
            .count();
    assert_eq!(deletes, 1, "one deletion, one entry");
}

#[test]
fn an_app_is_deleted_only_by_the_platform_owner_with_everything_under_it() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.mail_tenant(&owner, &shop, "acme");
    w.set_delivery(&owner, &shop, DeliveryRequest::Outbox);
    w.api_key(&owner, &shop, &acme, &["introspect"]);
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    block_on(users::patch_metadata(
        &w.cx(),
        &owner,
        &shop,
        &ada.user.face.user_id,
        &serde_json::json!({"team": "blue"}),
    ))
    .unwrap();
    block_on(tessera::service::catalogue::put_role(
        &w.cx(),
        &owner,
        &shop,
        &tessera::domain::names::RoleName::parse("editor").unwrap(),
        vec![],
    ))
    .unwrap();
    block_on(members::put_role(&w.cx(), &owner, &shop, "reader", vec![])).unwrap();
    let admin = member_of(
        &w,
        &owner,
        &shop,
        "admin@example.com",
        &[OperatorRole::Admin],
        None,
    );
    let refused = block_on(deletion::delete_app(&w.cx(), &admin, &shop));
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    let before_counts = w.db.row_counts();
    assert!(before_counts.users > 0);
    let done = block_on(deletion::delete_app(&w.cx(), &owner, &shop)).unwrap();
    assert_eq!(done.state, State::Done, "{done:?}");
    // Only the deletion's own record and its entry in the log of `public` name it.
    for left in w.kv.keys() {
        assert!(!left.contains("shop"), "{left}");
    }
    for doc in ["policy:shop", "pub:app:shop"] {
        assert_eq!(w.db.edge_sync_row(doc), None, "{doc}");
    }
    let counts = w.db.row_counts();
    assert_eq!(counts.deletions, 1);
    assert_eq!(
        (counts.apps, counts.tenants, counts.users, counts.members),
        (1, 1, 0, 1)
    );
    assert_eq!(
        counts.audit_log,
        w.db.audit_entries()
            .iter()
            .filter(|e| e.app_id == app("public"))
            .count()
    );
    // Audited in the log of the app `public` (the app's own log went with it).
    let last = w.db.audit_entries().last().cloned().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.app_id.as_str(),
            last.target.as_str()
        ),
        ("app.delete", "public", "shop")
    );
    // The member's grants no longer name it, and the id can be used again.
    let Principal::Operator { id, .. } = admin else {
        panic!("an operator")
    };
    assert!(
        block_on(tessera::store::MemberStore::find_grants(&w.db, &id))
            .unwrap()
            .is_empty()
    );
    w.advance_ms(1_000);
    w.app(&owner, "shop");
    let roles = block_on(members::list_roles(
        &w.cx(),
        &owner,
        &shop,
        &PageRequest::parse(None, None).unwrap(),
    ))
    .unwrap();
    assert!(
        roles.items.iter().all(|r| r.built_in),
        "no role of the old app"
    );
}

#[test]
fn a_user_deleted_from_one_tenant_keeps_the_others_and_its_tokens_there_stop_at_once() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let bravo = w.tenant(&owner, &shop, "bravo");
    let key_a = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let key_b = w.api_key(&owner, &shop, &bravo, &["introspect"]);
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    let id = ada.user.face.user_id;
    block_on(users::associate(&w.cx(), &owner, &shop, &bravo, &id)).unwrap();
    let in_bravo = signin(&w, &shop, &bravo, "ada@example.com", PASSWORD, None).unwrap();
    assert!(is_active(
        &w,
        &shop,
        &acme,
        &key_a,
        &ada.session.access_token
    ));
    let waiting = delete_user(&w, &owner, &shop, &acme, &id).unwrap();
    assert_eq!(
        waiting.state,
        State::Running,
        "its document outlives its tokens"
    );
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key_a,
        &ada.session.access_token
    ));
    let name = format!("flags:shop:acme:{id}");
    assert!(
        w.kv.raw(&name)
            .is_some_and(|(doc, _)| doc.contains("\"status\":null")),
        "no face there: every token refused"
    );
    assert_eq!(
        delete_user(&w, &owner, &shop, &acme, &id).unwrap().phase,
        waiting.phase,
        "a repeated DELETE before then waits too"
    );
    assert!(is_active(
        &w,
        &shop,
        &bravo,
        &key_b,
        &in_bravo.session.access_token
    ));
    outlive_tokens(&w);
    let done = delete_user(&w, &owner, &shop, &acme, &id).unwrap();
    assert_eq!((done.id, done.state), (waiting.id, State::Done));
    assert_eq!(done.user_id, None, "a done deletion names no user");
    assert_eq!(w.db.edge_sync_row(&name), None);
    assert!(!w.kv.keys().contains(&format!("flags:shop:acme:{id}")));
    assert!(
        block_on(w.db.find_user(&shop, &id)).unwrap().is_some(),
        "bravo still has it"
    );
    assert_eq!(
        block_on(users::get(&w.cx(), &owner, &shop, &acme, &id)).unwrap_err(),
        Error::UserNotFound
    );
    // From its last tenant, the user record goes too (at once: the first step).
    delete_user(&w, &owner, &shop, &bravo, &id).unwrap();
    assert_eq!(block_on(w.db.find_user(&shop, &id)).unwrap(), None);
    outlive_tokens(&w);
    assert_eq!(
        delete_user(&w, &owner, &shop, &bravo, &id).unwrap().state,
        State::Done
    );
    let deletes: Vec<_> =
        w.db.audit_entries()
            .into_iter()
            .filter(|e| e.action.as_str() == "user.delete")
            .collect();
    assert_eq!(deletes.len(), 2);
    // Gone from its last tenant, the user is gone from the app: as an erasure does, the
    // deletion renamed every entry that named it (each deletion's own by its own id).
    assert!(
        deletes.iter().all(|e| e.target.starts_with("erased:")),
        "{deletes:?}"
    );
    assert!(
        w.db.audit_entries()
            .iter()
            .all(|e| e.target != id.to_string()),
        "no entry names the user"
    );
    assert_eq!(
        delete_user(&w, &owner, &shop, &bravo, &id).unwrap_err(),
        Error::UserNotFound
    );
}

#[test]
fn erasing_a_user_needs_users_write_on_every_tenant_it_is_in() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let bravo = w.tenant(&owner, &shop, "bravo");
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    let id = ada.user.face.user_id;
    block_on(users::associate(&w.cx(), &owner, &shop, &bravo, &id)).unwrap();
    let acme_admin = member_of(
        &w,
        &owner,
        &shop,
        "a@example.com",
        &[OperatorRole::Admin],
        Some(acme.clone()),
    );
    let refused = erase(&w, &acme_admin, &shop, &id);
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    let support = member_of(
        &w,
        &owner,
        &shop,
        "s@example.com",
        &[OperatorRole::Support],
        None,
    );
    assert!(matches!(
        erase(&w, &support, &shop, &id),
        Err(Error::Forbidden(_))
    ));
    assert!(
        block_on(w.db.find_user(&shop, &id)).unwrap().is_some(),
        "nothing went"
    );
    let app_admin = member_of(
        &w,
        &owner,
        &shop,
        "aa@example.com",
        &[OperatorRole::Admin],
        None,
    );
    assert_eq!(
        erase(&w, &app_admin, &shop, &id).unwrap().state,
        State::Running
    );
    outlive_tokens(&w);
    assert_eq!(
        erase(&w, &app_admin, &shop, &id).unwrap().state,
        State::Done
    );
    assert_eq!(
        erase(&w, &app_admin, &shop, &id).unwrap_err(),
        Error::UserNotFound
    );
}

#[test]
fn after_an_erasure_no_row_and_no_kv_key_or_value_names_the_user_or_its_email() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    w.set_delivery(&owner, &shop, DeliveryRequest::Outbox);
    let tenants: Vec<TenantId> = ["acme", "bravo", "charlie"]
        .iter()
        .map(|t| w.mail_tenant(&owner, &shop, t))
        .collect();
    let ada = signup(&w, &shop, &tenants[0], "ada@example.com");
    let id = ada.user.face.user_id;
    for t in &tenants[1..] {
        block_on(users::associate(&w.cx(), &owner, &shop, t, &id)).unwrap();
        signin(&w, &shop, t, "ada@example.com", PASSWORD, None).unwrap();
        signin(&w, &shop, t, "ada@example.com", "a wrong password", None).unwrap_err();
    }
    block_on(users::patch_metadata(
        &w.cx(),
        &owner,
        &shop,
        &id,
        &serde_json::json!({"likes": "tea"}),
    ))
    .unwrap();
    w.suspend(&owner, &shop, &tenants[1], &id);
    for t in &tenants {
        block_on(recovery::send_reset(
            &w.cx(),
            &shop,
            t,
            email("ada@example.com"),
            None,
        ))
        .unwrap();
    }
    w.deliver_all(&ScriptedMailer::default());
    // Someone else stays.
    let bob = signup(&w, &shop, &tenants[0], "bob@example.com");
    assert!(everything(&w).contains(&id.to_string()));
    let waiting = erase(&w, &owner, &shop, &id).unwrap();
    assert_eq!(waiting.state, State::Running);
    assert!(
        everything(&w).contains(&format!("flags:shop:acme:{id}")),
        "its documents outlive its tokens"
    );
    outlive_tokens(&w);
    let done = erase(&w, &owner, &shop, &id).unwrap();
    assert_eq!(done.state, State::Done);
    let text = everything(&w);
    assert!(!text.contains(&id.to_string()), "{text}");
    assert!(!text.contains("ada@example.com"), "{text}");
    assert!(text.contains(&bob.user.face.user_id.to_string()));
    // Its audit entries stay, naming the deletion.
    let pseudonym = format!("erased:{}", done.id);
    let renamed: Vec<&str> =
        w.db.audit_entries()
            .iter()
            .filter(|e| e.target == pseudonym)
            .map(|e| e.action.as_str())
            .collect();
    assert!(
        renamed.contains(&"user.erase") && renamed.contains(&"user.suspend"),
        "{renamed:?}"
    );
}

#[test]
fn an_erasure_of_a_user_with_many_sessions_keeps_its_tokens_inactive_until_the_cron_finishes_it() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    let id = ada.user.face.user_id;
    many_sessions(&w, &shop, &acme, &id, 1_200);
    let ada_active = || is_active(&w, &shop, &acme, &key, &ada.session.access_token);
    let first = erase(&w, &owner, &shop, &id).unwrap();
    assert_eq!(first.state, State::Running, "{first:?}");
    assert_eq!(first.user_id, Some(id));
    assert!(!ada_active());
    block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    assert!(!ada_active());
    outlive_tokens(&w);
    let finished = block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    let state = |w: &World| {
        block_on(deletion::get(&w.cx(), &owner, &shop, &first.id))
            .unwrap()
            .state
    };
    if finished == 0 {
        block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    }
    assert_eq!(state(&w), State::Done);
    assert!(!ada_active());
    assert!(!everything(&w).contains(&id.to_string()));
}

#[test]
fn a_deletions_progress_is_read_with_what_starting_it_took() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let done = delete_tenant(&w, &owner, &shop, &acme).unwrap();
    let support = member_of(
        &w,
        &owner,
        &shop,
        "s@example.com",
        &[OperatorRole::Support],
        None,
    );
    assert!(matches!(
        block_on(deletion::get(&w.cx(), &support, &shop, &done.id)),
        Err(Error::Forbidden(_))
    ));
    let other = w.app(&owner, "other");
    assert!(matches!(
        block_on(deletion::get(&w.cx(), &owner, &other, &done.id)),
        Err(Error::NotFound(_))
    ));
    let read = block_on(deletion::get(&w.cx(), &owner, &shop, &done.id)).unwrap();
    assert_eq!(read.state, State::Done);
    assert_eq!(read.phase, read.phases_total());
}

#[test]
fn leaving_a_tenant_by_oneself_leaves_a_document_that_refuses_every_token_there() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    let id = ada.user.face.user_id;
    w.suspend(&owner, &shop, &acme, &id);
    block_on(users::set_status(
        &w.cx(),
        &owner,
        &shop,
        &acme,
        &id,
        tessera::domain::user::UserStatus::Active,
        None,
    ))
    .unwrap();
    assert!(w.kv.keys().contains(&format!("flags:shop:acme:{id}")));
    block_on(tessera::service::account::leave(
        &w.cx(),
        &shop,
        &acme,
        Some(&ada.session.access_token),
    ))
    .unwrap();
    // Withdrawn, it would let the token be judged by itself (active) while it lives.
    let name = format!("flags:shop:acme:{id}");
    assert!(w
        .kv
        .raw(&name)
        .is_some_and(|(doc, _)| doc.contains("\"status\":null")));
    assert!(!is_active(
        &w,
        &shop,
        &acme,
        &key,
        &ada.session.access_token
    ));
    // A deletion of the user from the tenant, audited as its own: the document goes once no
    // token of it can be alive (the cron), with its edge_sync row — leaving leaves nothing.
    let left: Vec<_> =
        w.db.audit_entries()
            .into_iter()
            .filter(|e| e.action.as_str() == "user.leave")
            .collect();
    assert_eq!(left.len(), 1);
    // Its last tenant: the user is gone from the app, and no entry names it any more (the
    // deletion's audit phase renamed them, this one included).
    assert_eq!(left[0].actor.as_stored(), "end_user:self");
    assert!(left[0].target.starts_with("erased:"), "{:?}", left[0]);
    assert!(w
        .db
        .audit_entries()
        .iter()
        .all(|e| e.target != id.to_string()));
    outlive_tokens(&w);
    assert_eq!(
        block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap(),
        1
    );
    assert!(w.kv.raw(&name).is_none());
    assert_eq!(w.db.edge_sync_row(&name), None);
}

#[test]
fn a_user_deletion_that_waits_for_its_tokens_to_expire_spends_nothing_of_the_budget() {
    let w = World::new();
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let ada = signup(&w, &shop, &acme, "ada@example.com");
    let waiting = delete_user(&w, &owner, &shop, &acme, &ada.user.face.user_id).unwrap();
    assert_eq!(waiting.state, State::Running);
    let mut budget = Budget::REQUEST;
    let again = block_on(deletion::run(&w.cx(), waiting.clone(), &mut budget)).unwrap();
    assert_eq!((again.phase, again.state), (waiting.phase, State::Running));
    assert_eq!(budget, Budget::REQUEST);
    // One millisecond short of the longest token lifetime it still waits; then it finishes.
    w.advance_ms(MAX_ACCESS_TOKEN_TTL_SECONDS * 1000 - 1);
    let still = block_on(deletion::run(&w.cx(), waiting.clone(), &mut budget)).unwrap();
    assert_eq!(still.state, State::Running);
    w.advance_ms(1);
    let done = block_on(deletion::run(&w.cx(), waiting, &mut budget)).unwrap();
    assert_eq!(done.state, State::Done);
}

/// App `shop` with tenants `acme` and `bravo`, an introspection key of acme's, and ada signed
/// up in acme and associated with bravo: (owner, shop, acme, key, ada's id).
fn ada_in_acme_and_bravo(w: &World) -> (Principal, AppId, TenantId, String, UserId) {
    let owner = w.owner();
    let shop = w.app(&owner, "shop");
    let acme = w.tenant(&owner, &shop, "acme");
    let bravo = w.tenant(&owner, &shop, "bravo");
    let key = w.api_key(&owner, &shop, &acme, &["introspect"]);
    let id = signup(w, &shop, &acme, "ada@example.com").user.face.user_id;
    block_on(users::associate(&w.cx(), &owner, &shop, &bravo, &id)).unwrap();
    (owner, shop, acme, key, id)
}

#[test]
fn a_user_associated_again_while_its_deletion_waits_keeps_its_new_faces_document() {
    // Deleted from acme (it stays in bravo), then associated with acme again and suspended
    // there while the deletion waited: when the deletion's last phase runs, the new face's
    // document must stay — without it, the suspended user's tokens would judge themselves.
    let mut w = World::new();
    let (owner, shop, acme, key, id) = ada_in_acme_and_bravo(&w);
    let waiting = delete_user(&w, &owner, &shop, &acme, &id).unwrap();
    assert_eq!(waiting.state, State::Running);
    block_on(users::associate(&w.cx(), &owner, &shop, &acme, &id)).unwrap();
    outlive_tokens(&w);
    let token = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None)
        .unwrap()
        .session
        .access_token;
    assert!(is_active(&w, &shop, &acme, &key, &token));
    block_on(users::set_status(
        &w.cx(),
        &owner,
        &shop,
        &acme,
        &id,
        tessera::domain::user::UserStatus::Suspended,
        None,
    ))
    .unwrap();
    assert_eq!(
        block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap(),
        1,
        "the waiting deletion finished"
    );
    let name = format!("flags:shop:acme:{id}");
    assert!(
        w.kv.raw(&name)
            .is_some_and(|(doc, _)| doc.contains("\"status\":\"suspended\"")),
        "the new face's document is kept"
    );
    w.new_isolate();
    assert!(!is_active(&w, &shop, &acme, &key, &token));
}

#[test]
fn deleting_a_face_made_again_while_the_first_deletion_waits_begins_a_new_one() {
    // The first deletion waits; the user is associated again and gets a token; deleting it
    // again must not just continue the first deletion (which would answer 204 with the new
    // face still there, and withdraw the document before the new token expires).
    let w = World::new();
    let (owner, shop, acme, key, id) = ada_in_acme_and_bravo(&w);
    let first = delete_user(&w, &owner, &shop, &acme, &id).unwrap();
    w.advance_ms(3_600_000);
    block_on(users::associate(&w.cx(), &owner, &shop, &acme, &id)).unwrap();
    let token = signin(&w, &shop, &acme, "ada@example.com", PASSWORD, None)
        .unwrap()
        .session
        .access_token;
    let second = delete_user(&w, &owner, &shop, &acme, &id).unwrap();
    assert_ne!(second.id, first.id, "a new deletion");
    assert_eq!(
        block_on(users::get(&w.cx(), &owner, &shop, &acme, &id)).unwrap_err(),
        Error::UserNotFound,
        "the new face is gone"
    );
    assert!(!is_active(&w, &shop, &acme, &key, &token));
    // The first one is done (superseded by the second's first step); when its wait would
    // have ended, nothing is withdrawn: the document stays until the second's wait is over.
    assert_eq!(
        block_on(deletion::get(&w.cx(), &owner, &shop, &first.id))
            .unwrap()
            .state,
        State::Done
    );
    w.advance_ms(MAX_ACCESS_TOKEN_TTL_SECONDS * 1000 - 3_600_000);
    block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    let name = format!("flags:shop:acme:{id}");
    assert!(
        w.kv.raw(&name)
            .is_some_and(|(doc, _)| doc.contains("\"status\":null")),
        "the document still says 'no face' for the new face's tokens"
    );
    w.advance_ms(3_600_000);
    block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    assert!(
        !w.kv.keys().contains(&name),
        "withdrawn after the second wait"
    );
}

#[test]
fn an_erasure_supersedes_a_waiting_deletion_of_its_user_from_one_tenant() {
    // Deleted from acme (waiting), associated with acme again, then erased: the older
    // deletion must not withdraw acme's document when its own wait ends — the erasure's wait,
    // later, covers the new face's tokens.
    let w = World::new();
    let (owner, shop, acme, _, id) = ada_in_acme_and_bravo(&w);
    let first = delete_user(&w, &owner, &shop, &acme, &id).unwrap();
    w.advance_ms(3_600_000);
    block_on(users::associate(&w.cx(), &owner, &shop, &acme, &id)).unwrap();
    erase(&w, &owner, &shop, &id).unwrap();
    assert_eq!(
        block_on(deletion::get(&w.cx(), &owner, &shop, &first.id))
            .unwrap()
            .state,
        State::Done,
        "superseded by the erasure's first step"
    );
    w.advance_ms(MAX_ACCESS_TOKEN_TTL_SECONDS * 1000 - 3_600_000);
    block_on(deletion::resume(&w.cx(), Budget::CRON)).unwrap();
    let name = format!("flags:shop:acme:{id}");
    assert!(
        w.kv.raw(&name)
            .is_some_and(|(doc, _)| doc.contains("\"status\":null")),
        "still refusing the new face's tokens until the erasure's own wait is over"
    );
}
