//! The deployment secret's fingerprint: the full Worker's cron records its secret's
//! (`keyring::record_secret`), the edge Worker of a split deployment compares
//! (`keyring::confirm_secret`) and is refused while it differs.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::Error;
use tessera::service::keyring::{confirm_secret, record_secret};
use tessera::store::EdgeStore;

const OTHER_SECRET: &str = "another-deployment-secret-of-32-bytes-or-more!";
const KEY: &str = "deployment:secret-fingerprint";

fn recorded(w: &World) -> Option<String> {
    block_on(w.edge.find_secret_fingerprint()).unwrap()
}

fn refused(answer: &Result<(), Error>) -> bool {
    matches!(answer, Err(Error::Internal(cause)) if cause.contains("KEY_ENCRYPTION_SECRET"))
}

/// The world after the full Worker's cron ran with the world's secret, seen by an edge isolate
/// with `secret`.
fn edge_with(secret: &str) -> World {
    let mut w = World::new();
    block_on(record_secret(&w.cx()));
    w.config.key_encryption_secret = secret.to_owned();
    w.new_isolate();
    w
}

#[test]
fn the_full_worker_records_its_secret_once() {
    let w = World::new();
    assert_eq!(recorded(&w), None);
    block_on(record_secret(&w.cx()));
    let fingerprint = recorded(&w).unwrap();
    assert!(!fingerprint.contains(&w.config.key_encryption_secret));
    w.kv.faults().clear_calls();
    block_on(record_secret(&w.cx()));
    assert_eq!(
        w.kv.faults().calls(),
        [format!("kv get {KEY}")],
        "unchanged: not rewritten"
    );
}

#[test]
fn the_same_secret_passes_at_the_edge_and_is_asked_again_after_the_cache_lifetime() {
    let w = edge_with(&World::new().config.key_encryption_secret);
    w.kv.faults().clear_calls();
    block_on(confirm_secret(&w.cx())).unwrap();
    block_on(confirm_secret(&w.cx())).unwrap();
    assert_eq!(w.kv.faults().calls(), [format!("kv get {KEY}")]);
    w.advance_ms(w.config.cache_ttl_seconds * 1000);
    block_on(confirm_secret(&w.cx())).unwrap();
    assert_eq!(w.kv.faults().calls().len(), 2);
}

#[test]
fn an_edge_with_another_secret_is_refused_without_a_read_per_request() {
    let w = edge_with(OTHER_SECRET);
    let fingerprint = recorded(&w);
    w.kv.faults().clear_calls();
    for _ in 0..3 {
        let answer = block_on(confirm_secret(&w.cx()));
        assert!(refused(&answer), "{answer:?}");
        assert!(!format!("{answer:?}").contains(OTHER_SECRET));
    }
    assert_eq!(w.kv.faults().calls(), [format!("kv get {KEY}")]);
    assert_eq!(recorded(&w), fingerprint, "the edge never writes");
}

#[test]
fn an_edge_that_runs_first_serves_until_the_full_worker_records() {
    let mut w = World::new();
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    block_on(confirm_secret(&w.cx())).unwrap();
    assert_eq!(recorded(&w), None);
    // The full Worker's cron records (the world's own secret).
    let full = World::new();
    block_on(record_secret(&full.cx()));
    block_on(w.edge.put_secret_fingerprint(&recorded(&full).unwrap())).unwrap();
    // "Nothing recorded" is kept for a few seconds (no KV read per request), then asked again.
    block_on(confirm_secret(&w.cx())).unwrap();
    w.advance_ms(10_000);
    assert!(refused(&block_on(confirm_secret(&w.cx()))));
}

#[test]
fn a_changed_secret_is_recorded_and_logged() {
    let mut w = World::new();
    block_on(record_secret(&w.cx()));
    let before = recorded(&w);
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    block_on(record_secret(&w.cx()));
    assert_ne!(recorded(&w), before);
    assert!(logged()
        .iter()
        .any(|line| line.contains("KEY_ENCRYPTION_SECRET changed")));
}

#[test]
fn kv_failing_neither_refuses_nor_reads_per_request() {
    let w = edge_with(OTHER_SECRET);
    w.kv.faults().fail_when(|c| c.contains(KEY));
    block_on(confirm_secret(&w.cx())).unwrap();
    w.kv.faults().heal();
    w.kv.faults().clear_calls();
    block_on(confirm_secret(&w.cx())).unwrap();
    assert!(
        w.kv.faults().calls().is_empty(),
        "the failed read's verdict is kept briefly"
    );
    w.advance_ms(10_000);
    assert!(refused(&block_on(confirm_secret(&w.cx()))));
    // The full Worker's failed write is logged and retried by the next run.
    let fresh = World::new();
    fresh
        .kv
        .faults()
        .fail_when(|c| c.starts_with("kv put deployment:"));
    block_on(record_secret(&fresh.cx()));
    fresh.kv.faults().heal();
    assert_eq!(recorded(&fresh), None);
    assert!(logged()
        .iter()
        .any(|line| line.contains("cannot be written")));
    block_on(record_secret(&fresh.cx()));
    assert!(recorded(&fresh).is_some());
}
