//! Failing stores: every call of a use case made to fail in turn. Introspection fails closed
//! (never active); a change either happens whole or not at all.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::user::UserStatus;
use tessera::domain::Error;
use tessera::service::{signin as signin_service, users};
use tessera::store::UserStore;

#[test]
fn introspection_is_never_active_when_any_kv_call_fails() {
    let mut w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let key = w.api_key(&owner, &p, &t, &["introspect"]);
    let token = signup(&w, &p, &t, "a@example.com").session.access_token;
    // Record the KV calls of a cold introspection, then fail each of them in turn.
    w.new_isolate();
    w.kv.faults().clear_calls();
    assert!(is_active(&w, &p, &t, &key, &token));
    let calls = w.kv.faults().calls();
    assert!(calls.len() >= 4, "{calls:?}");
    for call in calls {
        w.new_isolate();
        let failing = call.clone();
        w.kv.faults().fail_when(move |c| c == failing);
        let answer = introspect(&w, &p, &t, &key, &token);
        assert!(
            matches!(
                answer,
                Ok(tessera::service::introspection::Introspection::Inactive)
            ),
            "{call}: {answer:?}"
        );
        w.kv.faults().heal();
    }
}

#[test]
fn a_signin_whose_session_cannot_be_written_signs_nobody_in() {
    let w = World::new();
    let (p, t) = (app("public"), tenant("public"));
    let signed = signup(&w, &p, &t, "b@example.com");
    w.db.faults().fail_when(|c| c == "db create_session");
    let failed = signin(&w, &p, &t, "b@example.com", PASSWORD, None);
    assert!(matches!(failed, Err(Error::Unavailable(_))));
    w.db.faults().heal();
    let (_, face) = block_on(w.db.find_tenant_user(&p, &t, &signed.user.face.user_id))
        .unwrap()
        .unwrap();
    assert_eq!(face.status, UserStatus::Active);
}

#[test]
fn every_failing_call_of_a_signup_leaves_no_user_behind() {
    let mut w = World::new();
    let (p, t) = (app("public"), tenant("public"));
    // The calls of a sign-up on a cold isolate (the most it makes), each made to fail in turn
    // on a cold isolate again, so the reads after the write are among them.
    signup(&w, &p, &t, "probe@example.com");
    let calls: Vec<String> =
        w.db.faults()
            .calls()
            .into_iter()
            .chain(w.kv.faults().calls())
            .collect();
    assert!(calls.iter().any(|c| c == "db create_user"), "{calls:?}");
    for (n, call) in calls.iter().enumerate() {
        w.new_isolate();
        let who = format!("c{n}@example.com");
        let failing = call.clone();
        let rule = move |c: &str| c == failing;
        if call.starts_with("db ") {
            w.db.faults().fail_when(rule);
        } else {
            w.kv.faults().fail_when(rule);
        }
        let result = block_on(signin_service::signup(
            &w.cx(),
            &p,
            &t,
            email(&who),
            &password(PASSWORD),
            None,
        ));
        w.db.faults().heal();
        w.kv.faults().heal();
        if result.is_err() {
            let again = signin(&w, &p, &t, &who, PASSWORD, None);
            assert_eq!(
                again.unwrap_err(),
                Error::InvalidCredentials,
                "{call}: a failed sign-up left a user"
            );
        }
    }
}

#[test]
fn a_failing_d1_while_revoking_sessions_is_reported_not_hidden() {
    let w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let signed = signup(&w, &p, &t, "d@example.com");
    w.db.faults().fail_when(|c| c == "db revoke_user_sessions");
    let failed = block_on(users::revoke_sessions(
        &w.cx(),
        &owner,
        &p,
        &t,
        &signed.user.face.user_id,
    ));
    assert!(matches!(failed, Err(Error::Unavailable(_))));
}

#[test]
fn a_signup_whose_answer_cannot_be_read_writes_no_user() {
    let mut w = World::new();
    let (p, t) = (app("public"), tenant("public"));
    w.new_isolate();
    w.kv.faults().fail_when(|c| c == "kv get policy:public");
    w.db.faults().fail_when(|c| c == "db find_policy");
    let failed = block_on(signin_service::signup(
        &w.cx(),
        &p,
        &t,
        email("late@example.com"),
        &password(PASSWORD),
        None,
    ));
    assert!(matches!(failed, Err(Error::Unavailable(_))));
    w.db.faults().heal();
    w.kv.faults().heal();
    let retried = block_on(signin_service::signup(
        &w.cx(),
        &p,
        &t,
        email("late@example.com"),
        &password(PASSWORD),
        None,
    ));
    assert!(
        retried.is_ok(),
        "the retry is not refused as a taken email: {retried:?}"
    );
}

#[test]
fn a_kv_copy_that_does_not_parse_is_read_as_kv_failing() {
    let mut w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let key = w.api_key(&owner, &p, &t, &["introspect"]);
    let token = signup(&w, &p, &t, "a@example.com").session.access_token;
    // Signing falls back to D1 (and repairs the copy) when the published keys do not parse.
    w.new_isolate();
    w.kv.plant("pub:app:public", "{not json");
    assert!(signin(&w, &p, &t, "a@example.com", PASSWORD, None).is_ok());
    // Introspection fails closed when a mirror it needs does not parse.
    for key_name in ["tenant:public:public", "app:public"] {
        w.new_isolate();
        let saved = w.kv.raw(key_name).map(|(v, _)| v);
        w.kv.plant(key_name, "{not json");
        let answer = introspect(&w, &p, &t, &key, &token);
        assert!(
            matches!(
                answer,
                Ok(tessera::service::introspection::Introspection::Inactive)
            ),
            "{key_name}: {answer:?}"
        );
        if let Some(saved) = saved {
            w.kv.plant(key_name, &saved);
        }
    }
}

#[test]
fn a_user_change_is_answered_as_made_whenever_d1_made_it() {
    // Each call of a suspension (cold isolate: every read it can make) made to fail in turn:
    // an error answer leaves D1 as it was; when D1 made the change, the answer says so —
    // nothing read after the commit can turn a change that was made into an error.
    let mut w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let probe = signup(&w, &p, &t, "probe@example.com").user.face.user_id;
    w.new_isolate();
    w.db.faults().clear_calls();
    w.kv.faults().clear_calls();
    let suspend = |w: &World, user| {
        block_on(users::set_status(
            &w.cx(),
            &owner,
            &p,
            &t,
            &user,
            UserStatus::Suspended,
            Some("spec"),
        ))
    };
    suspend(&w, probe).unwrap();
    let calls: Vec<String> =
        w.db.faults()
            .calls()
            .into_iter()
            .chain(w.kv.faults().calls())
            .collect();
    let commit = calls.iter().position(|c| c == "db update_face").unwrap();
    assert!(
        commit + 1 < calls.len(),
        "calls after the change: {calls:?}"
    );
    for (n, call) in calls.iter().enumerate() {
        let user = signup(&w, &p, &t, &format!("s{n}@example.com"))
            .user
            .face
            .user_id;
        w.new_isolate();
        let failing = call.clone();
        let rule = move |c: &str| c == failing;
        if call.starts_with("db ") {
            w.db.faults().fail_when(rule);
        } else {
            w.kv.faults().fail_when(rule);
        }
        let answer = suspend(&w, user);
        w.db.faults().heal();
        w.kv.faults().heal();
        let (_, face) = block_on(w.db.find_tenant_user(&p, &t, &user))
            .unwrap()
            .unwrap();
        match answer {
            Ok(answered) => {
                assert_eq!(face.status, UserStatus::Suspended, "{call}");
                assert_eq!(answered.face.status, UserStatus::Suspended, "{call}");
                assert_eq!(answered.face.version, face.version, "{call}");
            }
            Err(e) => {
                assert!(n <= commit, "{call} (after the change) answered {e:?}");
                assert_eq!(face.status, UserStatus::Active, "{call}: {e:?}");
            }
        }
    }
}

#[test]
fn a_user_who_left_has_left_even_when_a_later_step_fails() {
    // The leaver cannot repeat DELETE /auth/me (its token names no face once the first step
    // is made): every failure after that step answers "left", and the sweep and the cron
    // finish what is left.
    let mut w = World::new();
    let owner = w.owner();
    let (p, t) = (app("public"), tenant("public"));
    let key = w.api_key(&owner, &p, &t, &["introspect"]);
    let ada = signup(&w, &p, &t, "ada@example.com");
    let token = ada.session.access_token.clone();
    for failing in [
        "db mark_edge_changed",
        "db update_deletion",
        "db purge_sessions",
    ] {
        let who = signup(
            &w,
            &p,
            &t,
            &format!("{}@example.com", failing.replace(' ', "-")),
        );
        w.db.faults().fail_when(move |c| c == failing);
        let left = block_on(tessera::service::account::leave(
            &w.cx(),
            &p,
            &t,
            Some(&who.session.access_token),
        ));
        let injected = w.db.faults().injected();
        w.db.faults().heal();
        assert!(
            injected.iter().any(|c| c == failing),
            "{failing}: {injected:?}"
        );
        assert_eq!(left, Ok(()), "{failing}");
        w.advance_ms(tessera::service::edge::LEASE_TIMEOUT_MS);
        block_on(tessera::service::edge::sweep(&w.cx(), 100)).unwrap();
        w.new_isolate();
        assert!(
            !is_active(&w, &p, &t, &key, &who.session.access_token),
            "{failing}: its token is refused at the edge after the sweep"
        );
    }
    assert!(is_active(&w, &p, &t, &key, &token), "the others stay");
}
