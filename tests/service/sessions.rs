//! Refresh rotation, grace replays, theft detection, lifetimes.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::user::UserStatus;
use tessera::domain::Error;
use tessera::service::{sessions, users};

fn refresh(w: &World, token: &str) -> Result<sessions::IssuedSession, Error> {
    block_on(sessions::refresh(
        &w.cx(),
        &app("public"),
        &tenant("public"),
        token,
    ))
}

#[test]
fn refresh_rotates_to_a_new_token_and_a_new_access_token() {
    let w = World::new();
    let signed = signup(&w, &app("public"), &tenant("public"), "a@example.com");
    let first = signed.session.refresh_token.expose().to_owned();
    w.advance_ms(1_000);
    let next = refresh(&w, &first).unwrap();
    assert_ne!(next.refresh_token.expose(), first);
    assert_ne!(next.access_token, signed.session.access_token);
    assert_eq!(next.session_id, signed.session.session_id);
    let third = refresh(&w, next.refresh_token.expose()).unwrap();
    assert_ne!(third.refresh_token, next.refresh_token);
}

#[test]
fn the_previous_token_within_the_grace_window_gets_the_same_successor_again() {
    let w = World::new();
    let signed = signup(&w, &app("public"), &tenant("public"), "b@example.com");
    let first = signed.session.refresh_token.expose().to_owned();
    let next = refresh(&w, &first).unwrap();
    w.advance_ms(30_000);
    let replay = refresh(&w, &first).unwrap();
    assert_eq!(
        replay.refresh_token, next.refresh_token,
        "a lost answer retried"
    );
    assert!(refresh(&w, next.refresh_token.expose()).is_ok());
}

#[test]
fn twenty_refreshes_with_one_token_converge_on_one_successor() {
    let w = World::new();
    let signed = signup(&w, &app("public"), &tenant("public"), "c@example.com");
    let first = signed.session.refresh_token.expose().to_owned();
    let successors: Vec<_> = block_on(futures_util::future::join_all((0..20).map(|_| {
        let cx = w.cx();
        let first = first.clone();
        async move {
            sessions::refresh(&cx, &app("public"), &tenant("public"), &first)
                .await
                .map(|s| s.refresh_token.expose().to_owned())
        }
    })));
    let distinct: std::collections::BTreeSet<_> =
        successors.into_iter().map(Result::unwrap).collect();
    assert_eq!(distinct.len(), 1, "one successor, whoever won the race");
    let successor = distinct.into_iter().next().unwrap();
    assert!(refresh(&w, &successor).is_ok(), "and it works");
}

#[test]
fn an_older_token_is_theft_and_revokes_the_whole_session() {
    let w = World::new();
    let owner = w.owner();
    let key = w.api_key(&owner, &app("public"), &tenant("public"), &["introspect"]);
    let signed = signup(&w, &app("public"), &tenant("public"), "d@example.com");
    let first = signed.session.refresh_token.expose().to_owned();
    let second = refresh(&w, &first).unwrap();
    let third = refresh(&w, second.refresh_token.expose()).unwrap();
    assert!(is_active(
        &w,
        &app("public"),
        &tenant("public"),
        &key,
        &third.access_token
    ));
    assert_eq!(refresh(&w, &first).unwrap_err(), Error::TokenReused);
    assert_eq!(
        refresh(&w, third.refresh_token.expose()).unwrap_err(),
        Error::InvalidToken,
        "the newest token died with the session"
    );
    assert!(!is_active(
        &w,
        &app("public"),
        &tenant("public"),
        &key,
        &third.access_token
    ));
}

#[test]
fn the_previous_token_after_the_grace_window_is_theft() {
    let w = World::new();
    let signed = signup(&w, &app("public"), &tenant("public"), "e@example.com");
    let first = signed.session.refresh_token.expose().to_owned();
    refresh(&w, &first).unwrap();
    w.advance_ms(30_001);
    assert_eq!(refresh(&w, &first).unwrap_err(), Error::TokenReused);
}

#[test]
fn a_session_ends_after_its_idle_and_absolute_lifetimes() {
    let w = World::new();
    let idle = signup(&w, &app("public"), &tenant("public"), "f@example.com");
    w.advance_ms(7 * 24 * 3600 * 1000);
    assert_eq!(
        refresh(&w, idle.session.refresh_token.expose()).unwrap_err(),
        Error::InvalidToken
    );
    let busy = signup(&w, &app("public"), &tenant("public"), "g@example.com");
    let mut token = busy.session.refresh_token.expose().to_owned();
    for _ in 0..4 {
        w.advance_ms(6 * 24 * 3600 * 1000);
        token = refresh(&w, &token)
            .unwrap()
            .refresh_token
            .expose()
            .to_owned();
    }
    w.advance_ms(6 * 24 * 3600 * 1000);
    assert_eq!(
        refresh(&w, &token).unwrap_err(),
        Error::InvalidToken,
        "30 days are over"
    );
}

#[test]
fn a_refresh_token_works_only_at_its_own_tenant() {
    let w = World::new();
    let owner = w.owner();
    let acme = w.tenant(&owner, &app("public"), "acme");
    let signed = signup(&w, &app("public"), &acme, "h@example.com");
    assert_eq!(
        refresh(&w, signed.session.refresh_token.expose()).unwrap_err(),
        Error::InvalidToken
    );
    assert_eq!(refresh(&w, "garbage").unwrap_err(), Error::InvalidToken);
    assert_eq!(refresh(&w, "tsr_unknown").unwrap_err(), Error::InvalidToken);
}

#[test]
fn a_suspended_user_cannot_refresh() {
    let w = World::new();
    let owner = w.owner();
    let signed = signup(&w, &app("public"), &tenant("public"), "i@example.com");
    block_on(users::set_status(
        &w.cx(),
        &owner,
        &app("public"),
        &tenant("public"),
        &signed.user.face.user_id,
        UserStatus::Suspended,
        None,
    ))
    .unwrap();
    assert_eq!(
        refresh(&w, signed.session.refresh_token.expose()).unwrap_err(),
        Error::UserSuspended
    );
}
