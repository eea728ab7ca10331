//! The SQL adapter (`SqlStore`) over SQLite, through the ports: the guarantees that live in
//! its SQL — batches that are all or nothing, `changes()` guards, compare-and-swap, the
//! last-admin guard and the throttle upsert. The full port contract runs elsewhere; these are
//! the adapter's own smoke tests, and a check that the SQLite backend is as strict as D1.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/sqlite.rs"]
mod sqlite;

use futures_executor::block_on;
use sqlite::{sqlite_store, SqliteBackend};
use std::cell::Cell;
use tessera::domain::audit::{Actor, AuditAction, AuditEntry};
use tessera::domain::authz::Scope;
use tessera::domain::deletion::{Deletion, Target};
use tessera::domain::email::Email;
use tessera::domain::ids::DeletionId;
use tessera::domain::ids::{ApiKeyId, AppId, AuditId, OperatorId, TenantId};
use tessera::domain::keys::KeyOwner;
use tessera::domain::member::{
    Member, MemberId, MemberStatus, MembershipSource, MembershipType, OperatorRole,
};
use tessera::domain::names::{PlanTier, RoleName, UserPermission};
use tessera::domain::operator::Operator;
use tessera::domain::policy::Plan;
use tessera::domain::secret::{PlainSecret, SecretHash, SecretKind};
use tessera::domain::session::{Session, SessionId};
use tessera::domain::tenancy::{ApiKey, ApiKeyName, App, AppSettings, Tenant};
use tessera::domain::time::Timestamp;
use tessera::domain::user::{TenantUser, User, UserId, UserStatus};
use tessera::domain::Error;
use tessera::store::d1::{SqlBackend, SqlStore, SqlValue, Statement};
use tessera::store::{
    ApiKeyStore, Attempt, AuditStore, DeletionStore, EventOutcome, MemberStore, OperatorStore,
    SessionStore, SigningKeyStore, StoredSigningKey, TenancyStore, UserFilter, UserStateStore,
    UserStore,
};

type Store = SqlStore<SqliteBackend>;

const NOW: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

thread_local! {
    static NEXT: Cell<u8> = const { Cell::new(0) };
}

/// Random bytes that differ on every call, so every generated id is new.
fn fresh<const N: usize>() -> [u8; N] {
    let n = NEXT.with(|c| {
        c.set(c.get().wrapping_add(1));
        c.get()
    });
    [n; N]
}

fn app(id: &str) -> AppId {
    AppId::parse(id).unwrap()
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn entry(app_id: &AppId, action: AuditAction, target: &str) -> AuditEntry {
    AuditEntry {
        id: AuditId::generate(NOW, fresh()),
        app_id: app_id.clone(),
        at: NOW,
        actor: Actor::Operator("op".into()),
        action,
        target: target.into(),
        tenant_id: None,
        detail: serde_json::json!({ "why": "test" }),
    }
}

fn token() -> SecretHash {
    PlainSecret::generate(SecretKind::RefreshToken, fresh()).hash()
}

/// A new user of the public tenant of app `public`, its face and first session.
fn signup(address: &str) -> (User, TenantUser, Session) {
    let public = app("public");
    let user = User {
        app_id: public.clone(),
        id: UserId::generate(NOW, fresh()),
        email: email(address),
        password_hash: None,
        email_verified: false,
        passwordless: false,
        created_at: NOW,
    };
    let face = TenantUser::new(&user, &TenantId::public(), NOW);
    let session = Session {
        id: SessionId::generate(NOW, fresh()),
        app_id: public,
        tenant_id: TenantId::public(),
        user_id: user.id,
        generation: 0,
        rotated_at: NOW,
        created_at: NOW,
        last_used_at: NOW,
        expires_at: NOW.plus_seconds(3600),
        idle_timeout_ms: 600_000,
        revoked_at: None,
        grant: None,
    };
    (user, face, session)
}

fn count(store: &Store, table: &str) -> i64 {
    store.backend().count(table)
}

#[test]
fn creating_an_app_writes_its_public_tenant_and_one_audit_entry() {
    let store = sqlite_store();
    let shop = app("shop");
    let created = App {
        id: shop.clone(),
        settings: AppSettings::default(),
        created_at: NOW,
        pending_verification: false,
    };
    let public = Tenant::public_of(&shop, NOW);
    block_on(async {
        let audit = entry(&shop, AuditAction::AppCreate, "shop");
        assert!(store.create_app(&created, &public, &audit).await.unwrap());
        assert_eq!(store.find_app(&shop).await.unwrap(), Some(created.clone()));
        assert_eq!(
            store.find_tenant(&shop, &TenantId::public()).await.unwrap(),
            Some(public.clone())
        );
        let log = store.list_audit(&shop, None, None, 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].id, audit.id);
        assert_eq!(log[0].action, AuditAction::AppCreate);
        assert_eq!(log[0].actor, "operator:op");
        assert_eq!(log[0].detail, audit.detail);

        let again = entry(&shop, AuditAction::AppCreate, "shop");
        assert!(!store.create_app(&created, &public, &again).await.unwrap());
        assert_eq!(
            store.list_audit(&shop, None, None, 10).await.unwrap().len(),
            1
        );
    });
}

#[test]
fn a_second_signup_with_the_same_email_writes_nothing() {
    let store = sqlite_store();
    block_on(async {
        let (user, face, session) = signup("ada@example.com");
        assert!(store
            .create_user(&user, &face, &session, &token())
            .await
            .unwrap());
        let (twin, twin_face, twin_session) = signup("ada@example.com");
        assert!(!store
            .create_user(&twin, &twin_face, &twin_session, &token())
            .await
            .unwrap());
        for table in ["users", "tenant_users", "sessions", "refresh_tokens"] {
            assert_eq!(count(&store, table), 1, "{table}");
        }
        let public = app("public");
        let found = store
            .find_tenant_user(&public, &TenantId::public(), &user.id)
            .await
            .unwrap();
        assert_eq!(found, Some((user, face)));
        assert_eq!(store.find_session(&twin_session.id).await.unwrap(), None);
    });
}

#[test]
fn a_refresh_rotates_a_session_once_from_a_generation() {
    let store = sqlite_store();
    block_on(async {
        let (user, face, session) = signup("ada@example.com");
        let first = token();
        assert!(store
            .create_user(&user, &face, &session, &first)
            .await
            .unwrap());
        let successor = token();
        let later = NOW.plus_seconds(60);
        assert!(store
            .rotate_session(&session.id, 0, &successor, later)
            .await
            .unwrap());
        assert!(!store
            .rotate_session(&session.id, 0, &successor, later)
            .await
            .unwrap());

        let presented = store
            .find_by_refresh_token(&successor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(presented.generation, 1);
        assert_eq!(presented.session.generation, 1);
        assert_eq!(presented.session.rotated_at, later);
        let old = store.find_by_refresh_token(&first).await.unwrap().unwrap();
        assert_eq!(old.generation, 0);
        assert_eq!(count(&store, "refresh_tokens"), 2);
    });
}

/// The owner membership of the app `public` a bootstrap of `operator` makes.
fn bootstrap_membership(operator: &Operator) -> Member {
    Member {
        id: MemberId::generate(NOW, fresh()),
        app_id: app("public"),
        operator_id: Some(operator.id),
        email: operator.email.clone(),
        tenant_id: None,
        membership_type: MembershipType::Owner,
        roles: vec![OperatorRole::Admin],
        status: MemberStatus::Active,
        source: MembershipSource::Bootstrap,
        invite_expires_at: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

/// Invites `address` as an app-wide admin of `public` and accepts as a new operator.
async fn admin(store: &Store, address: &str) -> Member {
    let public = app("public");
    let invite = PlainSecret::generate(SecretKind::InviteToken, fresh()).hash();
    let member = Member {
        id: MemberId::generate(NOW, fresh()),
        app_id: public.clone(),
        operator_id: None,
        email: email(address),
        tenant_id: None,
        membership_type: MembershipType::Admin,
        roles: vec![OperatorRole::Admin],
        status: MemberStatus::Invited,
        source: MembershipSource::Invite,
        invite_expires_at: Some(NOW.plus_seconds(3600)),
        created_at: NOW,
        updated_at: NOW,
    };
    let audit = entry(&public, AuditAction::MemberInvite, address);
    assert!(store.create_member(&member, &invite, &audit).await.unwrap());
    let operator = Operator {
        id: OperatorId::generate(NOW, fresh()),
        email: email(address),
        password_hash: None,
        is_platform_owner: false,
        created_at: NOW,
        password_reset_at: None,
        email_verified_at: None,
    };
    let audit = entry(&public, AuditAction::MemberAccept, address);
    assert!(store
        .accept_invite(&invite, &operator.id, Some(&operator), NOW, &audit)
        .await
        .unwrap());
    store
        .find_member(&public, &member.id)
        .await
        .unwrap()
        .unwrap()
}

fn demoted(member: &Member) -> Member {
    Member {
        roles: vec![OperatorRole::Support],
        updated_at: NOW.plus_seconds(1),
        ..member.clone()
    }
}

#[test]
fn the_last_active_admin_of_an_app_cannot_be_demoted() {
    let store = sqlite_store();
    let public = app("public");
    block_on(async {
        let ada = admin(&store, "ada@example.com").await;
        assert_eq!(ada.status, MemberStatus::Active);
        let refused = entry(&public, AuditAction::MemberUpdate, "ada");
        assert!(!store
            .update_member(&demoted(&ada), MemberStatus::Active, true, &refused)
            .await
            .unwrap());

        let bob = admin(&store, "bob@example.com").await;
        let allowed = entry(&public, AuditAction::MemberUpdate, "ada");
        assert!(store
            .update_member(&demoted(&ada), MemberStatus::Active, true, &allowed)
            .await
            .unwrap());
        let last = entry(&public, AuditAction::MemberUpdate, "bob");
        assert!(!store
            .update_member(&demoted(&bob), MemberStatus::Active, true, &last)
            .await
            .unwrap());

        let ids: Vec<AuditId> = store
            .list_audit(&public, None, None, 50)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action == AuditAction::MemberUpdate)
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![allowed.id], "only the update that happened");
        let bob = store.find_member(&public, &bob.id).await.unwrap().unwrap();
        assert_eq!(bob.roles, vec![OperatorRole::Admin]);
    });
}

#[test]
fn a_blocked_account_is_refused_without_counting_until_its_back_off_ends() {
    let store = sqlite_store();
    let public = app("public");
    let tenant = TenantId::public();
    let address = email("nobody@example.com");
    let attempt = |now: Timestamp| Attempt {
        account: format!("account:{address}"),
        client: Some("client:203.0.113.7".into()),
        now,
    };
    let failures = |store: &Store, subject: &str| -> i64 {
        store
            .backend()
            .connection()
            .query_row(
                "SELECT failures FROM signin_failures WHERE subject = ?1",
                [subject],
                |row| row.get(0),
            )
            .unwrap()
    };
    block_on(async {
        // Five attempts are free; the fifth failure blocks the account for a second.
        for _ in 0..5 {
            let record = store
                .begin_signin(&public, &tenant, &address, &attempt(NOW))
                .await
                .unwrap();
            assert_eq!((record.user, record.retry_after), (None, None));
        }
        let blocked = store
            .begin_signin(&public, &tenant, &address, &attempt(NOW))
            .await
            .unwrap();
        assert_eq!(blocked.retry_after, Some(1));
        assert_eq!(failures(&store, "account:nobody@example.com"), 5);

        let after = store
            .begin_signin(&public, &tenant, &address, &attempt(NOW.plus_ms(1_000)))
            .await
            .unwrap();
        assert_eq!(after.retry_after, None);
        assert_eq!(failures(&store, "account:nobody@example.com"), 6);
        // The client was not blocked, so the refused attempt still counted against it.
        assert_eq!(failures(&store, "client:203.0.113.7"), 7);

        store
            .settle_signin(&public, &tenant, &attempt(NOW.plus_ms(1_000)))
            .await
            .unwrap();
        assert_eq!(failures(&store, "client:203.0.113.7"), 6);
        assert_eq!(
            count(&store, "signin_failures"),
            1,
            "the account's count is cleared"
        );
    });
}

#[test]
fn the_sqlite_backend_refuses_a_value_the_sql_does_not_use() {
    let store = sqlite_store();
    let unused = Statement::new(
        "SELECT id FROM apps WHERE id = ?1",
        vec![SqlValue::Text("public".into()), SqlValue::Int(1)],
    );
    let result = block_on(store.backend().run(unused));
    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}

#[test]
fn a_batch_that_fails_half_way_leaves_nothing_behind() {
    let store = sqlite_store();
    let insert = Statement::new(
        "INSERT INTO apps (id, created_at) VALUES (?1, ?2)",
        vec![SqlValue::Text("shop".into()), SqlValue::Int(1)],
    );
    let duplicate = insert.clone();
    let result = block_on(store.backend().batch(vec![insert, duplicate]));
    assert!(matches!(result, Err(Error::Unavailable(_))));
    assert_eq!(count(&store, "apps"), 1, "only the migrations' public app");
}

#[test]
fn deleting_a_tenant_in_steps_removes_what_belongs_to_it_and_returns_its_key_hashes() {
    let store = sqlite_store();
    let public = app("public");
    let acme = TenantId::parse("acme").unwrap();
    block_on(async {
        let tenant = Tenant {
            id: acme.clone(),
            ..Tenant::public_of(&public, NOW)
        };
        let audit = entry(&public, AuditAction::TenantCreate, "acme");
        assert!(store.create_tenant(&tenant, &audit).await.unwrap());
        assert!(!store.create_tenant(&tenant, &audit).await.unwrap());
        let key = ApiKey {
            id: ApiKeyId::generate(NOW, fresh()),
            app_id: public.clone(),
            tenant_id: acme.clone(),
            name: ApiKeyName::parse("ci").unwrap(),
            scopes: vec![Scope::Introspect],
            created_at: NOW,
        };
        let hash = PlainSecret::generate(SecretKind::ApiKey, fresh()).hash();
        let audit = entry(&public, AuditAction::ApiKeyCreate, "ci");
        store.create_api_key(&key, &hash, &audit).await.unwrap();
        assert_eq!(
            store.find_api_key_by_hash(&hash).await.unwrap(),
            Some(key.clone())
        );
        let (user, _, session) = signup("ada@example.com");
        let face = TenantUser::new(&user, &acme, NOW);
        let audit = entry(&public, AuditAction::UserCreate, "ada");
        assert!(store.create_user_only(&user, &face, &audit).await.unwrap());
        let session = Session {
            tenant_id: acme.clone(),
            ..session
        };
        let attempt = Attempt {
            account: "account:ada@example.com".into(),
            client: None,
            now: NOW,
        };
        store
            .create_session(&session, &token(), &attempt)
            .await
            .unwrap();

        let audit = entry(&public, AuditAction::TenantDelete, "acme");
        let target = Target::Tenant(public.clone(), acme.clone());
        let deletion = Deletion::begin(DeletionId::generate(NOW, fresh()), &target, vec![], NOW);
        assert!(store.begin_deletion(&deletion, &audit).await.unwrap());
        assert_eq!(store.find_tenant(&public, &acme).await.unwrap(), None);
        assert!(
            !store.create_tenant(&tenant, &audit).await.unwrap(),
            "no namesake yet"
        );
        assert_eq!(store.purge_api_keys(&target, 10).await.unwrap(), vec![hash]);
        // The token, then (in the same batch) the session it no longer holds.
        assert_eq!(store.purge_sessions(&target, 1).await.unwrap(), 2);
        assert_eq!(store.purge_sessions(&target, 1).await.unwrap(), 0);
        let faces = store.find_faces(&target, 10).await.unwrap();
        assert_eq!(faces, vec![(acme.clone(), user.id)]);
        // The face, and the user it was the last of.
        assert_eq!(store.purge_users(&target, &faces, 10).await.unwrap(), 2);
        assert!(store.delete_target_row(&target).await.unwrap());
        for table in [
            "api_keys",
            "tenant_users",
            "sessions",
            "refresh_tokens",
            "users",
        ] {
            assert_eq!(count(&store, table), 0, "{table}");
        }
        let again = entry(&public, AuditAction::TenantDelete, "acme");
        let retry = Deletion::begin(DeletionId::generate(NOW, fresh()), &target, vec![], NOW);
        assert!(!store.begin_deletion(&retry, &again).await.unwrap());
        let actions: Vec<AuditAction> = store
            .list_audit(&public, None, None, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(
            actions,
            vec![
                AuditAction::TenantDelete,
                AuditAction::UserCreate,
                AuditAction::ApiKeyCreate,
                AuditAction::TenantCreate,
            ]
        );
    });
}

#[test]
fn a_billing_event_changes_a_plan_once_and_faces_change_by_compare_and_swap() {
    let store = sqlite_store();
    let public = app("public");
    let tenant = TenantId::public();
    let pro = PlanTier::parse("pro").unwrap();
    let editor = RoleName::parse("editor").unwrap();
    block_on(async {
        let audit = entry(&public, AuditAction::RolePut, "editor");
        let permissions = [UserPermission::parse("docs:write").unwrap()];
        store
            .put_role(&public, &editor, &permissions, NOW, &audit)
            .await
            .unwrap();
        let plan = Plan {
            roles: vec![editor.clone()],
            rate_limit: Some(600),
        };
        let audit = entry(&public, AuditAction::PlanPut, "pro");
        store
            .put_plan(&public, &pro, &plan, NOW, &audit)
            .await
            .unwrap();
        let policy = store.find_policy(&public).await.unwrap();
        assert_eq!(policy.roles.get(&editor).map(Vec::len), Some(1));
        assert_eq!(policy.plans.get(&pro), Some(&plan));

        let (user, face, session) = signup("ada@example.com");
        assert!(store
            .create_user(&user, &face, &session, &token())
            .await
            .unwrap());
        let upgraded = TenantUser {
            plan_tier: pro.clone(),
            ..face.clone()
        };
        let audit = entry(&public, AuditAction::UserPlan, "ada");
        let applied = store
            .apply_plan_event(&public, "evt_1", &upgraded, NOW, &audit)
            .await
            .unwrap();
        assert_eq!(applied, EventOutcome::Applied);
        let replay = entry(&public, AuditAction::UserPlan, "ada");
        let replayed = store
            .apply_plan_event(&public, "evt_1", &upgraded, NOW, &replay)
            .await
            .unwrap();
        assert_eq!(replayed, EventOutcome::Duplicate);
        assert!(store.has_event(&public, "evt_1").await.unwrap());
        let (_, now) = store
            .find_tenant_user(&public, &tenant, &user.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((now.plan_tier.clone(), now.version), (pro.clone(), 1));

        let suspended = TenantUser {
            status: UserStatus::Suspended,
            roles: vec![editor.clone()],
            ..now.clone()
        };
        let audit = entry(&public, AuditAction::UserSuspend, "ada");
        assert!(!store.update_face(&suspended, 0, &audit).await.unwrap());
        assert!(store.update_face(&suspended, 1, &audit).await.unwrap());
        let audit = entry(&public, AuditAction::UserSessionsRevoke, "ada");
        let revoked = store
            .revoke_user_sessions(&public, &tenant, &user.id, NOW, &audit)
            .await
            .unwrap();
        assert_eq!(revoked, vec![session.id]);
        let revoked = store.find_session(&session.id).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(NOW));

        let log = store.list_audit(&public, None, None, 50).await.unwrap();
        let plans = log.iter().filter(|r| r.action == AuditAction::UserPlan);
        assert_eq!(plans.count(), 1, "the replay wrote no entry");
    });
}

#[test]
fn the_user_listing_filters_by_status_plan_and_email_prefix() {
    let store = sqlite_store();
    let public = app("public");
    let tenant = TenantId::public();
    block_on(async {
        let mut faces = Vec::new();
        for address in ["ada@example.com", "adam@example.com", "bob@example.com"] {
            let (user, face, session) = signup(address);
            assert!(store
                .create_user(&user, &face, &session, &token())
                .await
                .unwrap());
            faces.push(face);
        }
        let suspended = TenantUser {
            status: UserStatus::Suspended,
            ..faces[1].clone()
        };
        let audit = entry(&public, AuditAction::UserSuspend, "adam");
        assert!(store.update_face(&suspended, 0, &audit).await.unwrap());

        let emails = |found: Vec<(User, TenantUser)>| -> Vec<String> {
            found
                .into_iter()
                .map(|(_, f)| f.email.to_string())
                .collect()
        };
        let by_prefix = UserFilter {
            email_prefix: Some("ada".into()),
            ..UserFilter::default()
        };
        let page = store
            .list_tenant_users(&public, &tenant, &by_prefix, None, 10)
            .await
            .unwrap();
        assert_eq!(emails(page), ["ada@example.com", "adam@example.com"]);
        let next = store
            .list_tenant_users(&public, &tenant, &by_prefix, Some("ada@example.com"), 10)
            .await
            .unwrap();
        assert_eq!(emails(next), ["adam@example.com"]);
        let active_free = UserFilter {
            status: Some(UserStatus::Active),
            plan_tier: Some(PlanTier::free()),
            email_prefix: None,
        };
        let active = store
            .list_tenant_users(&public, &tenant, &active_free, None, 10)
            .await
            .unwrap();
        let mut active = emails(active);
        active.sort();
        assert_eq!(active, ["ada@example.com", "bob@example.com"]);
    });
}

#[test]
fn operators_keys_and_metadata_round_trip() {
    let store = sqlite_store();
    let public = app("public");
    block_on(async {
        let owner = Operator {
            id: OperatorId::generate(NOW, fresh()),
            email: email("root@example.com"),
            password_hash: None,
            is_platform_owner: true,
            created_at: NOW,
            password_reset_at: None,
            email_verified_at: None,
        };
        assert!(store
            .create_platform_owner(&owner, &bootstrap_membership(&owner))
            .await
            .unwrap());
        let second = Operator {
            id: OperatorId::generate(NOW, fresh()),
            email: email("other@example.com"),
            ..owner.clone()
        };
        assert!(!store
            .create_platform_owner(&second, &bootstrap_membership(&second))
            .await
            .unwrap());
        assert_eq!(
            store.find_operator_by_email(&owner.email).await.unwrap(),
            Some(owner.clone())
        );
        let attempt = Attempt {
            account: "operator:root@example.com".into(),
            client: None,
            now: NOW,
        };
        let record = store
            .begin_operator_signin(&owner.email, &attempt)
            .await
            .unwrap();
        assert_eq!(record.user, Some(owner.clone()));
        store.finish_operator_signin(&attempt).await.unwrap();
        assert_eq!(count(&store, "signin_failures"), 0);
        assert_eq!(
            store
                .count_signup(&public, &TenantId::public(), "203.0.113.7", NOW)
                .await
                .unwrap(),
            None
        );

        let older = StoredSigningKey {
            kid: "k1".into(),
            owner: KeyOwner::App(public.clone()),
            public_key: "pk1".into(),
            sealed_private_key: "v1.a.b".into(),
            created_at: NOW,
            activates_at: NOW,
        };
        let newer = StoredSigningKey {
            kid: "k2".into(),
            activates_at: NOW.plus_seconds(60),
            ..older.clone()
        };
        store.create_signing_key(&older, None).await.unwrap();
        let audit = entry(&public, AuditAction::SigningKeyRotate, "k2");
        store
            .create_signing_key(&newer, Some(&audit))
            .await
            .unwrap();
        let keys = store
            .find_signing_keys(&KeyOwner::App(public.clone()))
            .await
            .unwrap();
        assert_eq!(keys, vec![newer, older]);

        let (user, face, session) = signup("ada@example.com");
        assert!(store
            .create_user(&user, &face, &session, &token())
            .await
            .unwrap());
        assert_eq!(
            store.find_metadata(&public, &user.id).await.unwrap(),
            serde_json::json!({})
        );
        let metadata = serde_json::json!({ "theme": "dark", "n": 3 });
        let audit = entry(&public, AuditAction::UserMetadata, "ada");
        store
            .put_metadata(&public, &user.id, &metadata, NOW, &audit)
            .await
            .unwrap();
        assert_eq!(
            store.find_metadata(&public, &user.id).await.unwrap(),
            metadata
        );
        assert_eq!(
            store.find_user(&public, &user.id).await.unwrap(),
            Some(user)
        );
        let audit = entry(&public, AuditAction::WebhookSecretRotate, "webhook");
        store
            .put_webhook_secret(&public, "v1.sealed", NOW, &audit)
            .await
            .unwrap();
        assert_eq!(
            store.find_webhook_secret(&public).await.unwrap().as_deref(),
            Some("v1.sealed")
        );
    });
}

#[test]
fn a_challenge_row_keeps_hashes_of_its_secrets_and_never_the_secrets() {
    use tessera::domain::challenge::{Challenge, Code, CodeKey, Plane, Purpose};
    use tessera::domain::ids::ChallengeId;
    use tessera::store::EmailStore;
    let store = sqlite_store();
    let token = PlainSecret::generate(SecretKind::LinkToken, fresh());
    let code = Code::generate([7; 8]);
    let id = ChallengeId::generate(NOW, fresh());
    let key = CodeKey::from_secret("0123456789abcdef0123456789abcdef").unwrap();
    let challenge = Challenge::new(
        id,
        Plane::Tenant(app("public"), TenantId::public()),
        Purpose::Passwordless,
        email("ada@example.com"),
        token.hash(),
        Some(key.hash(&id, &code).unwrap()),
        NOW,
    );
    assert_eq!(block_on(store.create_challenge(&challenge)).unwrap(), None);
    let row: Vec<String> = store
        .backend()
        .connection()
        .query_row(
            "SELECT token_hash, code_hash, email FROM email_challenges",
            [],
            |r| Ok(vec![r.get(0)?, r.get(1)?, r.get(2)?]),
        )
        .unwrap();
    let text = row.join(" ");
    assert!(!text.contains(&token.expose()[4..]), "{text}");
    assert!(!text.contains(code.expose()), "{text}");
    assert_eq!(row[0], token.hash().as_str(), "the token's SHA-256");
    assert_eq!(row[1].len(), 64, "the code's HMAC");
    assert_eq!(count(&store, "email_challenges"), 1);
}

#[test]
fn a_consume_and_what_it_proves_are_one_batch_so_a_failure_leaves_the_challenge_open() {
    use tessera::domain::challenge::{Challenge, Plane, Purpose};
    use tessera::domain::ids::ChallengeId;
    use tessera::store::{EmailStore, Settlement};
    let store = sqlite_store();
    let (user, face, session) = signup("ada@example.com");
    assert!(block_on(store.create_user(&user, &face, &session, &token())).unwrap());
    let challenge = Challenge::new(
        ChallengeId::generate(NOW, fresh()),
        Plane::Tenant(app("public"), TenantId::public()),
        Purpose::PasswordReset,
        email("ada@example.com"),
        PlainSecret::generate(SecretKind::LinkToken, fresh()).hash(),
        None,
        NOW,
    );
    block_on(store.create_challenge(&challenge)).unwrap();
    // A settlement that names a subject through a failing statement: the whole batch rolls back.
    store
        .backend()
        .connection()
        .execute_batch(
            "CREATE TRIGGER no_settle BEFORE UPDATE ON signin_failures \
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let setup = tessera::store::Attempt {
        account: "account:ada@example.com".into(),
        client: Some("client:203.0.113.9".into()),
        now: NOW,
    };
    block_on(store.begin_signin(&app("public"), &TenantId::public(), &face.email, &setup)).unwrap();
    let settle = Settlement {
        clear: None,
        give_back: Some("client:203.0.113.9".into()),
    };
    let hash = tessera::domain::password::PasswordPolicy::insecure_for_tests(1).dummy_hash();
    let failed = block_on(store.reset_user_password(
        &challenge.id,
        (&app("public"), &TenantId::public()),
        &user.id,
        &hash,
        NOW,
        &settle,
    ));
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    let open: Option<i64> = store
        .backend()
        .connection()
        .query_row(
            "SELECT consumed_at FROM email_challenges WHERE id = ?1",
            [challenge.id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, None, "the consume was rolled back with the rest");
    assert_eq!(
        block_on(store.find_session(&session.id))
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}
