//! The deployment secret's fingerprint (`keyring::confirm_secret`): the first Worker records
//! it, a Worker with another secret is refused, KV failing postpones the check.

use crate::world::*;
use futures_executor::block_on;
use tessera::domain::Error;
use tessera::service::{keyring, Caches};
use tessera::store::EdgeStore;

const OTHER_SECRET: &str = "another-deployment-secret-of-32-bytes-or-more!";

#[test]
fn the_first_worker_records_the_fingerprint_and_the_same_secret_passes() {
    let w = World::new();
    assert_eq!(block_on(w.edge.find_secret_fingerprint()).unwrap(), None);
    block_on(keyring::confirm_secret(&w.cx())).unwrap();
    let recorded = block_on(w.edge.find_secret_fingerprint()).unwrap().unwrap();
    assert!(!recorded.contains(&w.config.key_encryption_secret));
    // Another isolate with the same secret: compared, not rewritten.
    let other = Caches::default();
    w.kv.faults().clear_calls();
    block_on(keyring::confirm_secret(&w.cx_with(&other))).unwrap();
    assert_eq!(
        w.kv.faults().calls(),
        ["kv get deployment:secret-fingerprint"]
    );
    // Confirmed once per isolate: no KV call after that.
    w.kv.faults().clear_calls();
    block_on(keyring::confirm_secret(&w.cx_with(&other))).unwrap();
    assert!(w.kv.faults().calls().is_empty());
}

#[test]
fn a_worker_with_another_secret_is_refused_every_time() {
    let mut w = World::new();
    block_on(keyring::confirm_secret(&w.cx())).unwrap();
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    w.new_isolate();
    for _ in 0..2 {
        let refused = block_on(keyring::confirm_secret(&w.cx()));
        assert!(
            matches!(&refused, Err(Error::Internal(cause)) if cause.contains("KEY_ENCRYPTION_SECRET")),
            "{refused:?}"
        );
        assert!(!format!("{refused:?}").contains(OTHER_SECRET));
    }
}

#[test]
fn kv_failing_postpones_the_check_without_refusing() {
    let mut w = World::new();
    block_on(keyring::confirm_secret(&w.cx())).unwrap();
    w.config.key_encryption_secret = OTHER_SECRET.to_owned();
    w.new_isolate();
    w.kv.faults()
        .fail_when(|c| c.contains("deployment:secret-fingerprint"));
    block_on(keyring::confirm_secret(&w.cx())).unwrap();
    w.kv.faults().heal();
    // Not remembered as confirmed: the next request checks, and refuses.
    assert!(block_on(keyring::confirm_secret(&w.cx())).is_err());
    // A failed first write is not remembered either.
    let fresh = World::new();
    fresh
        .kv
        .faults()
        .fail_when(|c| c.starts_with("kv put deployment:"));
    block_on(keyring::confirm_secret(&fresh.cx())).unwrap();
    fresh.kv.faults().heal();
    fresh.kv.faults().clear_calls();
    block_on(keyring::confirm_secret(&fresh.cx())).unwrap();
    assert_eq!(
        fresh.kv.faults().calls(),
        [
            "kv get deployment:secret-fingerprint",
            "kv put deployment:secret-fingerprint"
        ]
    );
}
