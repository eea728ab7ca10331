//! Convergence of the KV documents that mirror D1 — a user's edge document
//! (`flags:<app>:<tenant>:<user>`: state and recent session revocations), an app's policy
//! (`policy:<app>`) and an owner's public signing keys (`pub:<owner>`) — and the ONE way to
//! write them.
//!
//! KV has no compare-and-swap and takes at most one write per second per key, so the protocol
//! lives in D1 (`store::EdgeSyncStore`, table `edge_sync`):
//!
//! 1. every change a document mirrors bumps the document's version in the same D1 batch as
//!    the change (the stores do it), so a change is never without its pending rewrite;
//! 2. a writer leases the document and reads what it must say (version included) in one D1
//!    round trip, writes it to KV, and gives the lease back: the document is closed (known to
//!    say what D1 holds) only when the written version is still D1's and no other writer is
//!    in flight; when D1 moved on meanwhile, it is reopened with a new version, because this
//!    write may have buried a newer one (and a writer still in flight must not close it). Two
//!    writers of one document therefore end on D1's state, or leave it pending;
//! 3. a pending document is retried by the isolate that failed, after KV's per-key gap (the
//!    worker schedules `retry_deferred` after its response), and whatever is left — a writer
//!    died, KV was down — by the cron's `sweep`, which also takes back leases of dead writers
//!    (a lease count that no request's writer added to for `LEASE_TIMEOUT_MS`: the sweep's
//!    own leases do not renew it, `store::LeaseAt`).
//!
//! A failed KV write (a `429` included) therefore never fails or undoes the change: D1 has
//! it, sign-in, refresh and `/auth/me` honour it at once, and introspection converges within
//! the retry (about a second) or the next sweep. Retries coalesce per key — an isolate owes at
//! most one retry per document, which reads D1's latest state when it runs — and never come
//! within `KEY_WRITE_GAP_MS` of the isolate's last attempt at that key (KV would refuse it).
//! Must not depend on `http`.

use super::cache::{self, OnKvFailure};
use super::{keyring, Ctx, Stores};
use crate::domain::edge::{EdgeDoc, EdgeKey, MirroredDoc};
use crate::domain::ids::AppId;
use crate::domain::tenancy::MAX_ACCESS_TOKEN_TTL_SECONDS;
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{EdgeStore, EdgeSyncStore, LeaseAt};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};

/// Cloudflare KV accepts one write per second per key.
pub const KEY_WRITE_GAP_MS: i64 = 1_000;
/// A lease older than this belonged to a writer that died (no request runs this long).
pub const LEASE_TIMEOUT_MS: i64 = 60_000;
/// Documents the cron rewrites at most per run.
pub const SWEEP_BATCH: usize = 500;

/// How a rewrite ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// KV now says what D1 holds (as far as any writer can know).
    Converged,
    /// Not yet: deferred in this isolate and pending in D1 for the sweep.
    Pending,
}

/// What an isolate remembers of its KV writes: when it last tried each key (so a retry never
/// comes within `KEY_WRITE_GAP_MS` of it), and the documents it owes a retry (a set: changes
/// of one document coalesce into one retry).
#[derive(Default)]
pub struct EdgeWrites {
    last_write: RefCell<HashMap<String, Timestamp>>,
    deferred: RefCell<BTreeSet<MirroredDoc>>,
    retrying: Cell<bool>,
}

impl EdgeWrites {
    fn recently_written(&self, name: &str, now: Timestamp) -> bool {
        self.last_write
            .borrow()
            .get(name)
            .is_some_and(|at| (0..KEY_WRITE_GAP_MS).contains(&now.ms_since(*at)))
    }

    fn wrote(&self, name: String, now: Timestamp) {
        let mut map = self.last_write.borrow_mut();
        // Entries older than the gap mean nothing: forget them before the map grows.
        if map.len() >= 1_000 {
            map.retain(|_, at| now.ms_since(*at) < KEY_WRITE_GAP_MS);
        }
        map.insert(name, now);
    }

    fn defer(&self, doc: &MirroredDoc) {
        self.deferred.borrow_mut().insert(doc.clone());
    }

    fn settle(&self, doc: &MirroredDoc) {
        self.deferred.borrow_mut().remove(doc);
    }

    /// True when this isolate owes KV a retry (the worker then schedules `retry_deferred`).
    pub fn has_deferred(&self) -> bool {
        !self.deferred.borrow().is_empty()
    }

    /// Claims the isolate's one retry task; `false` when one is running already.
    pub fn claim_retry(&self) -> bool {
        !self.retrying.replace(true)
    }

    /// Ends the retry task claimed by `claim_retry`.
    pub fn release_retry(&self) {
        self.retrying.set(false);
    }
}

/// The edge document of a user in a tenant, as a mirrored document.
pub fn user_doc(
    app: &AppId,
    tenant: &crate::domain::ids::TenantId,
    user: &crate::domain::user::UserId,
) -> MirroredDoc {
    MirroredDoc::User(EdgeKey {
        app: app.clone(),
        tenant: tenant.clone(),
        user: *user,
    })
}

/// Rewrites `doc` from D1 (lease, read, write, release: see the module header). `Err` only
/// when D1 cannot be reached; a KV failure is `Pending`.
pub async fn publish<S: Stores>(cx: &Ctx<'_, S>, doc: &MirroredDoc) -> Result<Outcome, Error> {
    publish_leased(cx, doc, LeaseAt::from(cx.now)).await
}

/// `publish` with the lease taken `at` (the sweep's do not renew a held lease count).
async fn publish_leased<S: Stores>(
    cx: &Ctx<'_, S>,
    doc: &MirroredDoc,
    at: LeaseAt,
) -> Result<Outcome, Error> {
    let name = doc.name();
    let (version, written) = match doc {
        MirroredDoc::User(key) => {
            let revoked_since = cx.now.plus_seconds(-MAX_ACCESS_TOKEN_TTL_SECONDS);
            let state = cx.db.lease_user_edge(key, revoked_since, at).await?;
            let written = match EdgeDoc::from_state(&state) {
                Some(edge) => {
                    // The effective view is a courtesy for readers of the document; without
                    // the policy at hand it is left out rather than failing the write.
                    let effective = match (&state.face, &edge.state) {
                        (Some(face), Some(flags)) => {
                            cache::policy(cx, &face.app_id, OnKvFailure::ReadD1)
                                .await
                                .ok()
                                .map(|policy| policy.effective(flags))
                        }
                        _ => None,
                    };
                    cx.edge.put_user_edge(key, &edge, effective.as_ref()).await
                }
                None => cx.edge.delete_user_edge(key).await,
            };
            (state.version, written)
        }
        MirroredDoc::Policy(app) => {
            let (version, policy) = cx.db.lease_policy_edge(app, at).await?;
            cx.caches.forget_policy(app);
            (version, cx.edge.put_policy(app, &policy).await)
        }
        MirroredDoc::Keys(owner) => {
            let (version, stored) = cx.db.lease_keys_edge(owner, at).await?;
            let public = keyring::published(&stored);
            // An empty set is not written: the first key will be, and an empty copy would hide
            // it from verifiers that trust the copy.
            let written = if public.is_empty() {
                Ok(())
            } else {
                cx.edge.put_public_keys(owner, &public).await
            };
            (version, written)
        }
    };
    if let Err(e) = &written {
        cx.warn(&format!(
            "KV copy {name} not written (retried later): {e:?}"
        ));
    }
    cx.caches.edge.wrote(name.clone(), cx.now);
    if cx.db.release_edge(&name, version, written.is_ok()).await? {
        cx.caches.edge.settle(doc);
        Ok(Outcome::Converged)
    } else {
        cx.caches.edge.defer(doc);
        Ok(Outcome::Pending)
    }
}

/// After a D1 change that bumped `doc` (committed: it is the answer's truth), rewrites the
/// KV copy; any failure leaves it pending (deferred here, swept by the cron) and is logged,
/// never returned: the change must not be refused or undone because KV is slow.
pub async fn publish_after_change<S: Stores>(cx: &Ctx<'_, S>, doc: &MirroredDoc) -> Outcome {
    match publish(cx, doc).await {
        Ok(outcome) => outcome,
        Err(e) => {
            cx.caches.edge.defer(doc);
            cx.warn(&format!(
                "KV copy {} not written (pending in D1): {e:?}",
                doc.name()
            ));
            Outcome::Pending
        }
    }
}

/// After a D1 change that did not bump `doc` itself (made through another store's batch):
/// bumps it, then rewrites it. `Err` when D1 cannot record the bump.
pub async fn publish_changed<S: Stores>(
    cx: &Ctx<'_, S>,
    doc: &MirroredDoc,
) -> Result<Outcome, Error> {
    cx.db.mark_edge_changed(&doc.name(), cx.now).await?;
    Ok(publish_after_change(cx, doc).await)
}

/// Withdraws `doc` from KV, and this isolate's copies and pending retry of it, for a deletion
/// whose `edge_sync` row goes next (`service::deletion`). A user's document only once no
/// access token of it can be alive: without it, introspection judges the user from the token.
/// `Err` when KV fails: the row stays, and the deletion runs the step again.
pub async fn withdraw<S: Stores>(cx: &Ctx<'_, S>, doc: &MirroredDoc) -> Result<(), Error> {
    cx.caches.edge.settle(doc);
    match doc {
        MirroredDoc::User(key) => cx.edge.delete_user_edge(key).await,
        MirroredDoc::Policy(app) => {
            cx.caches.forget_policy(app);
            cx.edge.delete_policy(app).await
        }
        MirroredDoc::Keys(owner) => {
            cx.caches.keyrings.borrow_mut().remove(owner);
            cx.edge.delete_public_keys(owner).await
        }
    }
}

/// Retries the documents this isolate deferred (the worker calls it after KV's per-key gap,
/// once its response is sent). Returns how many are still pending here.
pub async fn retry_deferred<S: Stores>(cx: &Ctx<'_, S>) -> usize {
    let docs: Vec<MirroredDoc> = cx.caches.edge.deferred.borrow().iter().cloned().collect();
    for doc in &docs {
        // Not within KV's per-key gap of this isolate's last attempt: it would be refused.
        if !cx.caches.edge.recently_written(&doc.name(), cx.now) {
            publish_after_change(cx, doc).await;
        }
    }
    cx.caches.edge.deferred.borrow().len()
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub converged: usize,
    pub pending: usize,
}

/// The cron's sweep: rewrites every document that may not say what D1 holds (up to
/// `limit`), after taking back the leases of writers that died.
pub async fn sweep<S: Stores>(cx: &Ctx<'_, S>, limit: usize) -> Result<Swept, Error> {
    let expired = cx.now.plus_ms(-LEASE_TIMEOUT_MS);
    let mut swept = Swept::default();
    for name in cx.db.find_stale_edges(expired, limit).await? {
        let Some(doc) = MirroredDoc::parse(&name) else {
            cx.warn(&format!(
                "edge_sync names {name}, which is no mirrored document"
            ));
            continue;
        };
        // One document whose D1 read fails does not hold back the others behind it.
        match publish_leased(cx, &doc, LeaseAt::sweep(cx.now)).await {
            Ok(Outcome::Converged) => swept.converged += 1,
            Ok(Outcome::Pending) => swept.pending += 1,
            Err(e) => {
                cx.warn(&format!("KV sweep: {name} not rewritten: {e:?}"));
                swept.pending += 1;
            }
        }
    }
    Ok(swept)
}
