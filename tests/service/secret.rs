//! The deployment secret's fingerprint (`keyring::confirm_secret`): the full Worker records
//! its secret's, the edge Worker of a split deployment compares and is refused when it differs.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::Error;
use tessera::service::keyring::{confirm_secret, SecretRole};
use tessera::service::Caches;
use tessera::store::EdgeStore;

const OTHER_SECRET: &str = "another-deployment-secret-of-32-bytes-or-more!";
const KEY: &str = "deployment:secret-fingerprint";

fn recorded(w: &World) -> Option<String> {
    block_on(w.edge.find_secret_fingerprint()).unwrap()
}

fn refused(answer: &Result<(), Error>) -> bool {
    matches!(answer, Err(Error::Internal(cause)) if cause.contains("KEY_ENCRYPTION_SECRET"))
}

#[test]
fn the_full_worker_records_its_secret_and_the_same_one_passes_at_the_edge() {
    let w = World::new();
    assert_eq!(recorded(&w), None);
    block_on(confirm_secret(&w.cx(), SecretRole::Records)).unwrap();
    let fingerprint = recorded(&w).unwrap();
    assert!(!fingerprint.contains(&w.config.key_encryption_secret));
    // An edge isolate with the same secret: compared, not rewritten, then trusted for the
    // cache lifetime without another KV call.
    let edge = Caches::default();
    w.kv.faults().clear_calls();
    block_on(confirm_secret(&w.cx_with(&edge), SecretRole::Compares)).unwrap();
    block_on(confirm_secret(&w.cx_with(&edge), SecretRole::Compares)).unwrap();
    assert_eq!(w.kv.faults().calls(), [format!("kv get {KEY}")]);
    w.advance_ms(w.config.cache_ttl_seconds * 1000);
    block_on(confirm_secret(&w.cx_with(&edge), SecretRole::Compares)).unwrap();
    assert_eq!(
        w.kv.faults().calls().len(),
        2,
        "asked again after the cache lifetime"
    );
    assert_eq!(recorded(&w), Some(fingerprint));
}

#[test]
fn an_edge_worker_with_another_secret_is_refused_every_time() {
    let mut w = World::new();
    block_on(confirm_secret(&w.cx(), SecretRole::Records)).unwrap();
    let fingerprint = recorded(&w);
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    w.new_isolate();
    for _ in 0..2 {
        let answer = block_on(confirm_secret(&w.cx(), SecretRole::Compares));
        assert!(refused(&answer), "{answer:?}");
        assert!(!format!("{answer:?}").contains(OTHER_SECRET));
    }
    assert_eq!(recorded(&w), fingerprint, "the edge never writes");
}

#[test]
fn an_edge_worker_that_runs_first_serves_until_the_full_worker_records() {
    let mut w = World::new();
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    // Nothing recorded yet: the edge serves, records nothing and asks again next time.
    block_on(confirm_secret(&w.cx(), SecretRole::Compares)).unwrap();
    assert_eq!(recorded(&w), None);
    // The full Worker (the world's own secret) records; the edge is then refused.
    let full = World::new();
    block_on(confirm_secret(&full.cx(), SecretRole::Records)).unwrap();
    block_on(w.edge.put_secret_fingerprint(&recorded(&full).unwrap())).unwrap();
    assert!(refused(&block_on(confirm_secret(
        &w.cx(),
        SecretRole::Compares
    ))));
}

#[test]
fn the_full_worker_records_a_changed_secret_and_never_refuses() {
    let mut w = World::new();
    block_on(confirm_secret(&w.cx(), SecretRole::Records)).unwrap();
    let before = recorded(&w);
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    w.new_isolate();
    block_on(confirm_secret(&w.cx(), SecretRole::Records)).unwrap();
    assert_ne!(recorded(&w), before);
    assert!(logged()
        .iter()
        .any(|line| line.contains("KEY_ENCRYPTION_SECRET changed")));
}

#[test]
fn kv_failing_postpones_the_check_without_refusing() {
    let mut w = World::new();
    block_on(confirm_secret(&w.cx(), SecretRole::Records)).unwrap();
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    w.new_isolate();
    w.kv.faults().fail_when(|c| c.contains(KEY));
    block_on(confirm_secret(&w.cx(), SecretRole::Compares)).unwrap();
    w.kv.faults().heal();
    // Not remembered: the next request checks, and is refused.
    assert!(refused(&block_on(confirm_secret(
        &w.cx(),
        SecretRole::Compares
    ))));
    // A failed first write is not remembered either.
    let fresh = World::new();
    fresh
        .kv
        .faults()
        .fail_when(|c| c.starts_with("kv put deployment:"));
    block_on(confirm_secret(&fresh.cx(), SecretRole::Records)).unwrap();
    fresh.kv.faults().heal();
    fresh.kv.faults().clear_calls();
    block_on(confirm_secret(&fresh.cx(), SecretRole::Records)).unwrap();
    assert_eq!(
        fresh.kv.faults().calls(),
        [format!("kv get {KEY}"), format!("kv put {KEY}")]
    );
}
