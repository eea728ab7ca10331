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
use tessera::domain::email::Email;
use tessera::domain::ids::{AppId, AuditId, OperatorId, TenantId};
use tessera::domain::member::{Member, MemberId, MemberStatus, MembershipType, OperatorRole};
use tessera::domain::operator::Operator;
use tessera::domain::secret::{PlainSecret, SecretHash, SecretKind};
use tessera::domain::session::{Session, SessionId};
use tessera::domain::tenancy::{App, AppSettings, Tenant};
use tessera::domain::time::Timestamp;
use tessera::domain::user::{TenantUser, User, UserId};
use tessera::domain::Error;
use tessera::store::d1::{SqlBackend, SqlStore, SqlValue, Statement};
use tessera::store::{Attempt, AuditStore, MemberStore, SessionStore, TenancyStore, UserStore};

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
