//! The edge view's rules: ONE KV read per introspection, every D1 change that KV mirrors
//! converges (KV failures, `429`s, racing writers, dead writers), `/auth/me` honours D1, and a
//! re-created tenant starts empty in KV.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::edge::MirroredDoc;
use tessera::domain::names::{RoleName, UserPermission};
use tessera::domain::user::{UserId, UserStatus};
use tessera::domain::Error;
use tessera::service::edge::{self, Outcome};
use tessera::service::introspection::{self, Introspection};
use tessera::service::signin::SignedIn;
use tessera::service::{catalogue, deletion, sessions, tenancy, users, Caches};
use tessera::store::EdgeSyncStore;

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

struct Fixture {
    w: World,
    owner: tessera::domain::authz::Principal,
    key: String,
    token: String,
    user: UserId,
}

fn fixture() -> Fixture {
    let w = World::new();
    let owner = w.owner();
    let key = w.api_key(&owner, &app("public"), &tenant("public"), &["introspect"]);
    let signed = signup(&w, &app("public"), &tenant("public"), "a@example.com");
    Fixture {
        key,
        token: signed.session.access_token.clone(),
        user: signed.user.face.user_id,
        owner,
        w,
    }
}

/// Another session of the fixture's user (signed in now).
fn second_session(f: &Fixture) -> SignedIn {
    signin(
        &f.w,
        &app("public"),
        &tenant("public"),
        "a@example.com",
        PASSWORD,
        None,
    )
    .unwrap()
}

fn active(f: &Fixture, token: &str) -> bool {
    is_active(&f.w, &app("public"), &tenant("public"), &f.key, token)
}

fn suspend(f: &Fixture, status: UserStatus) -> Result<users::EndUser, Error> {
    block_on(users::set_status(
        &f.w.cx(),
        &f.owner,
        &app("public"),
        &tenant("public"),
        &f.user,
        status,
        None,
    ))
}

fn doc(f: &Fixture) -> String {
    format!("flags:public:public:{}", f.user)
}

/// The KV document of the fixture's user, as JSON.
fn kv_doc(f: &Fixture) -> Option<serde_json::Value> {
    f.w.kv
        .raw(&doc(f))
        .map(|(text, _)| serde_json::from_str(&text).unwrap())
}

/// The users' documents pending in D1 (a fresh deployment also has the `public` app's policy
/// pending: migration 0006 queues it).
fn stale(f: &Fixture) -> Vec<String> {
    block_on(f.w.db.find_stale_edges(f.w.now(), 100))
        .unwrap()
        .into_iter()
        .filter(|doc| doc.starts_with("flags:"))
        .collect()
}

fn sweep(f: &Fixture) -> edge::Swept {
    block_on(edge::sweep(&f.w.cx(), 100)).unwrap()
}

#[test]
fn a_warm_introspection_reads_exactly_one_kv_value_and_no_d1() {
    let f = fixture();
    suspend(&f, UserStatus::Suspended).unwrap();
    suspend(&f, UserStatus::Active).unwrap();
    assert!(active(&f, &f.token), "warms the isolate's caches");
    let other = signup(&f.w, &app("public"), &tenant("public"), "b@example.com");
    let pairs = [
        (f.token.clone(), f.user),
        (other.session.access_token.clone(), other.user.face.user_id),
    ];
    for (token, user) in pairs {
        f.w.kv.faults().clear_calls();
        f.w.db.faults().clear_calls();
        assert!(active(&f, &token));
        assert_eq!(
            f.w.kv.faults().calls(),
            [format!("kv get flags:public:public:{user}")],
            "one KV read: the user's edge document"
        );
        assert!(f.w.db.faults().calls().is_empty(), "no D1");
    }
}

#[test]
fn a_kv_failure_while_suspending_keeps_the_change_and_converges_on_the_retry() {
    let f = fixture();
    assert!(active(&f, &f.token));
    f.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put flags:"));
    let answer = suspend(&f, UserStatus::Suspended).expect("the change is made in D1");
    assert_eq!(answer.face.status, UserStatus::Suspended);
    assert_eq!(
        signin(
            &f.w,
            &app("public"),
            &tenant("public"),
            "a@example.com",
            PASSWORD,
            None
        )
        .unwrap_err(),
        Error::UserSuspended,
        "D1 paths honour it at once"
    );
    assert_eq!(stale(&f), [doc(&f)], "pending in D1");
    assert!(
        f.w.caches.edge.has_deferred(),
        "owed a retry by this isolate"
    );
    f.w.kv.faults().heal();
    f.w.advance_ms(edge::KEY_WRITE_GAP_MS);
    assert_eq!(block_on(edge::retry_deferred(&f.w.cx())), 0);
    assert!(stale(&f).is_empty());
    assert!(!active(&f, &f.token), "introspection converged");
    assert_eq!(kv_doc(&f).unwrap()["status"], "suspended");
}

#[test]
fn what_the_isolate_could_not_retry_the_sweep_converges() {
    let mut f = fixture();
    f.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put "));
    suspend(&f, UserStatus::Suspended).unwrap();
    block_on(catalogue::put_role(
        &f.w.cx(),
        &f.owner,
        &app("public"),
        &role("editor"),
        vec![UserPermission::parse("docs:write").unwrap()],
    ))
    .expect("a role change whose KV write fails is made all the same");
    assert_eq!(
        stale(&f),
        [doc(&f)],
        "the user's document (and the policy) pending"
    );
    f.w.new_isolate(); // the isolate that owed the retries is gone
    f.w.kv.faults().heal();
    f.w.advance_ms(edge::LEASE_TIMEOUT_MS);
    assert_eq!(
        sweep(&f),
        edge::Swept {
            converged: 2,
            pending: 0
        }
    );
    assert!(stale(&f).is_empty());
    assert!(!active(&f, &f.token));
    let policy = f.w.kv.raw("policy:public").unwrap().0;
    assert!(policy.contains("docs:write"), "{policy}");
}

#[test]
fn two_changes_within_a_second_are_both_made_and_coalesced_into_one_later_write() {
    let f = fixture();
    suspend(&f, UserStatus::Suspended).unwrap();
    let writes = |f: &Fixture| {
        f.w.kv
            .faults()
            .calls()
            .iter()
            .filter(|c| c.starts_with("kv put flags:"))
            .count()
    };
    // KV refuses further writes of the key within the second (Cloudflare answers 429).
    f.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put flags:"));
    f.w.kv.faults().clear_calls();
    f.w.advance_ms(300);
    let roles = block_on(users::set_roles(
        &f.w.cx(),
        &f.owner,
        &app("public"),
        &tenant("public"),
        &f.user,
        vec![],
    ));
    assert!(
        roles.is_ok(),
        "not refused for KV's per-key limit: {roles:?}"
    );
    f.w.advance_ms(300);
    suspend(&f, UserStatus::Active).expect("nor is the second change");
    assert_eq!(stale(&f), [doc(&f)]);
    assert_eq!(
        block_on(edge::retry_deferred(&f.w.cx())),
        1,
        "no retry within the gap of the last attempt"
    );
    f.w.kv.faults().heal();
    f.w.kv.faults().clear_calls();
    f.w.advance_ms(edge::KEY_WRITE_GAP_MS);
    assert_eq!(block_on(edge::retry_deferred(&f.w.cx())), 0);
    assert_eq!(writes(&f), 1, "one write carries both changes");
    assert_eq!(kv_doc(&f).unwrap()["status"], "active");
    assert!(active(&f, &f.token));
}

#[test]
fn a_kv_429_is_retried_with_the_change_kept() {
    let f = fixture();
    // What Cloudflare answers for a second write of one key within a second, from another
    // isolate: the write fails.
    f.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put flags:"));
    suspend(&f, UserStatus::Suspended).unwrap();
    f.w.advance_ms(1_100);
    assert_eq!(
        block_on(edge::retry_deferred(&f.w.cx())),
        1,
        "still refused: kept for the next try"
    );
    f.w.kv.faults().heal();
    f.w.advance_ms(2_200);
    assert_eq!(block_on(edge::retry_deferred(&f.w.cx())), 0);
    assert!(!active(&f, &f.token));
}

/// Two isolates rewrite one document at once, each call of one taking turns with a call of the
/// other (the memory stores yield between calls), while D1 changes under them: whatever the
/// interleaving, KV ends on D1's state, or the document stays pending and the sweep ends it
/// there.
#[test]
fn two_writers_of_one_document_converge_on_d1s_state() {
    for variant in 0..4 {
        let f = fixture();
        suspend(&f, UserStatus::Suspended).unwrap();
        let other_isolate = Caches::default();
        f.w.advance_ms(edge::KEY_WRITE_GAP_MS);
        f.w.db.faults().interleave(true);
        f.w.kv.faults().interleave(true);
        let first = f.w.cx();
        let second = f.w.cx_with(&other_isolate);
        let target = MirroredDoc::parse(&doc(&f)).unwrap();
        block_on(async {
            let slow = async {
                for _ in 0..variant {
                    futures_util_yield().await;
                }
                edge::publish(&first, &target).await.unwrap()
            };
            let change = async {
                users::set_status(
                    &second,
                    &f.owner,
                    &app("public"),
                    &tenant("public"),
                    &f.user,
                    UserStatus::Active,
                    None,
                )
                .await
                .unwrap();
            };
            futures_util::join!(slow, change);
        });
        f.w.db.faults().interleave(false);
        f.w.kv.faults().interleave(false);
        if !stale(&f).is_empty() {
            f.w.advance_ms(edge::LEASE_TIMEOUT_MS);
            sweep(&f);
        }
        assert!(stale(&f).is_empty(), "variant {variant}");
        assert_eq!(
            kv_doc(&f).unwrap()["status"],
            "active",
            "variant {variant}: KV says what D1 says"
        );
        assert!(active(&f, &f.token), "variant {variant}");
    }
}

async fn futures_util_yield() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn me_honours_a_revocation_that_kv_never_heard_of() {
    let f = fixture();
    f.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put "));
    let me = |f: &Fixture| {
        block_on(introspection::me(
            &f.w.cx(),
            &app("public"),
            &tenant("public"),
            Some(&f.token),
        ))
    };
    assert!(me(&f).is_ok());
    block_on(introspection::signout(
        &f.w.cx(),
        &app("public"),
        &tenant("public"),
        Some(&f.token),
    ))
    .expect("the revocation is made in D1 whatever KV does");
    assert_eq!(me(&f).unwrap_err(), Error::InvalidToken);
    assert_eq!(stale(&f), [doc(&f)], "and converges later");
}

#[test]
fn me_reads_d1_once_and_kv_not_at_all() {
    let f = fixture();
    let me = || {
        block_on(introspection::me(
            &f.w.cx(),
            &app("public"),
            &tenant("public"),
            Some(&f.token),
        ))
        .unwrap()
    };
    me();
    f.w.db.faults().clear_calls();
    f.w.kv.faults().clear_calls();
    assert_eq!(me().face.user_id, f.user);
    assert_eq!(f.w.db.faults().calls(), ["db find_session_user"]);
    assert!(f.w.kv.faults().calls().is_empty());
}

#[test]
fn a_retried_revoke_all_publishes_what_the_first_attempt_could_not() {
    let mut f = fixture();
    let second = second_session(&f);
    f.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put "));
    let revoke = |f: &Fixture| {
        block_on(users::revoke_sessions(
            &f.w.cx(),
            &f.owner,
            &app("public"),
            &tenant("public"),
            &f.user,
        ))
    };
    assert_eq!(revoke(&f).unwrap(), 2);
    assert!(active(&f, &f.token), "KV has not heard of it yet");
    f.w.kv.faults().heal();
    f.w.new_isolate(); // the retry comes from elsewhere
    f.w.advance_ms(5_000);
    assert_eq!(revoke(&f).unwrap(), 0, "nothing left to revoke in D1");
    for token in [&f.token, &second.session.access_token] {
        assert!(!active(&f, token), "but both revocations reached KV");
    }
    assert!(stale(&f).is_empty());
}

#[test]
fn a_recreated_tenant_starts_empty_in_kv() {
    let mut f = fixture();
    let (p, owner) = (app("public"), f.owner.clone());
    let acme = f.w.tenant(&owner, &p, "acme");
    block_on(catalogue::put_role(
        &f.w.cx(),
        &owner,
        &p,
        &role("editor"),
        vec![UserPermission::parse("docs:write").unwrap()],
    ))
    .unwrap();
    let associate = |f: &Fixture| {
        block_on(users::associate(&f.w.cx(), &owner, &p, &acme, &f.user)).unwrap();
    };
    // Hand-assigns `editor` in acme (the tenant id outlives its incarnations).
    let set_editor = |f: &Fixture| {
        block_on(users::set_roles(
            &f.w.cx(),
            &owner,
            &p,
            &acme,
            &f.user,
            vec![role("editor")],
        ))
        .unwrap();
    };
    associate(&f);
    set_editor(&f);
    let old =
        f.w.kv
            .raw(&format!("flags:public:acme:{}", f.user))
            .unwrap()
            .0;
    assert!(old.contains("editor"));
    block_on(deletion::delete_tenant(&f.w.cx(), &owner, &p, &acme)).unwrap();
    f.w.advance_ms(1_000);
    f.w.new_isolate();
    let acme = f.w.tenant(&owner, &p, "acme");
    let key = f.w.api_key(&owner, &p, &acme, &["introspect"]);
    // A token of the new tenant, before and after the user is associated again.
    let introspect_roles = |f: &Fixture, token: &str| match introspect(&f.w, &p, &acme, &key, token)
        .unwrap()
    {
        Introspection::Active(found) => found.effective.roles.clone(),
        Introspection::Inactive | Introspection::Client(_) => panic!("not a user's active token"),
    };
    // The old document is still in KV (what the reviewer found), and must not be read.
    f.w.kv.plant(&format!("flags:public:acme:{}", f.user), &old);
    associate(&f);
    f.w.kv.plant(&format!("flags:public:acme:{}", f.user), &old);
    let signed = signin(&f.w, &p, &acme, "a@example.com", PASSWORD, None).unwrap();
    assert_eq!(
        introspect_roles(&f, &signed.session.access_token),
        Vec::<RoleName>::new(),
        "no role of the deleted incarnation"
    );
    f.w.advance_ms(edge::KEY_WRITE_GAP_MS);
    set_editor(&f);
    assert_eq!(
        introspect_roles(&f, &signed.session.access_token),
        [role("editor")],
        "the new incarnation's own document counts"
    );
}

#[test]
fn a_document_of_a_deleted_tenant_is_withdrawn_by_its_pending_rewrite() {
    let f = fixture();
    let (p, owner) = (app("public"), f.owner.clone());
    let acme = f.w.tenant(&owner, &p, "acme");
    block_on(users::associate(&f.w.cx(), &owner, &p, &acme, &f.user)).unwrap();
    let name = format!("flags:public:acme:{}", f.user);
    assert!(f.w.kv.raw(&name).is_some());
    block_on(deletion::delete_tenant(&f.w.cx(), &owner, &p, &acme)).unwrap();
    block_on(f.w.db.mark_edge_changed(&name, f.w.now())).unwrap();
    f.w.advance_ms(edge::KEY_WRITE_GAP_MS);
    let outcome = block_on(edge::publish(
        &f.w.cx(),
        &MirroredDoc::parse(&name).unwrap(),
    ));
    assert_eq!(outcome.unwrap(), Outcome::Converged);
    assert_eq!(f.w.kv.raw(&name), None);
}

#[test]
fn a_session_revoked_alone_is_inactive_and_the_users_other_sessions_are_not() {
    let f = fixture();
    let second = second_session(&f);
    assert!(block_on(sessions::revoke(&f.w.cx(), &second.session.session_id)).unwrap());
    assert!(!active(&f, &second.session.access_token));
    assert!(active(&f, &f.token));
    let listed = kv_doc(&f).unwrap()["revoked_sessions"].clone();
    assert_eq!(
        listed,
        serde_json::json!([second.session.session_id.to_string()])
    );
}

#[test]
fn publishing_a_users_document_never_refuses_a_change_when_d1_fails_after_it() {
    let f = fixture();
    f.w.db
        .faults()
        .fail_when(|call| call == "db lease_user_edge");
    let answer = suspend(&f, UserStatus::Suspended);
    assert!(answer.is_ok(), "{answer:?}");
    f.w.db.faults().heal();
    assert_eq!(stale(&f), [doc(&f)], "the bump came with the change");
}

#[test]
fn a_rotated_key_whose_kv_copy_failed_is_kept_and_listed_in_kv_by_the_sweep() {
    let f = fixture();
    let p = app("public");
    let name = format!("pub:app:{p}");
    f.w.kv
        .faults()
        .fail_when(|call| call.starts_with("kv put pub:"));
    let rotated = block_on(tenancy::rotate_signing_key(&f.w.cx(), &f.owner, &p)).unwrap();
    f.w.kv.faults().heal();
    let listed = |f: &Fixture| {
        f.w.kv
            .raw(&name)
            .is_some_and(|(text, _)| text.contains(&rotated.kid))
    };
    assert!(!listed(&f), "the write failed");
    assert_eq!(
        stale(&f),
        Vec::<String>::new(),
        "users' documents are untouched"
    );
    f.w.advance_ms(edge::LEASE_TIMEOUT_MS);
    let swept = sweep(&f);
    assert!(swept.converged >= 1, "{swept:?}");
    assert!(listed(&f), "the sweep published the new key");
    // And the old token still verifies through the rewritten copy in a fresh isolate.
    let mut f = f;
    f.w.new_isolate();
    assert!(active(&f, &f.token.clone()));
}
