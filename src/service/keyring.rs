//! Signing keys held in the isolate: the public keys that verify tokens and the private key
//! that signs them, per key owner (the operator plane, each app), and the rotation job.
//!
//! Public keys are read once per isolate and kept for `KEYRING_TTL_MS` — from the KV copy
//! (`pub:<owner>`), so the verifying hot path never touches D1; D1, the source of truth, is
//! read only when the copy is missing (and the copy is then rewritten) or to decrypt a private
//! key the first time this isolate signs with it. The copy is a mirrored document like a
//! user's: a new key bumps it in its own D1 batch and `edge` writes it, so a KV write that
//! fails is retried and swept until KV lists the key (it must, long before the key signs). A token naming an unknown `kid` triggers at
//! most one reload per `RELOAD_GAP_MS`, so garbage tokens cannot make every request reload.
//!
//! Which keys sign and verify is the pure `domain::keys::live_keys`: a rotated-in key is
//! published for the JWKS cache lifetime before it signs, and a retired key keeps verifying
//! until the last token it signed has expired. An owner's first key is generated, active at
//! once, the first time one is needed.

use super::cache::insert;
use super::{edge, Ctx, Stores};
use crate::domain::audit::AuditEntry;
use crate::domain::edge::MirroredDoc;
use crate::domain::keys::{self, live_keys, KeyOwner, LiveKeys, SigningKey};
use crate::domain::time::Timestamp;
use crate::domain::Error;
use crate::store::{EdgeStore, PublishedKey, SigningKeyStore, StoredSigningKey, TenancyStore};
use ed25519_compact::PublicKey;
use std::rc::Rc;

/// How long an edge isolate trusts a verdict of `confirm_secret` at least, whatever
/// `TENANCY_CACHE_TTL_SECONDS` says: a deployment that caches nothing still reads the
/// fingerprint at most this often. Also how long "nothing recorded yet" or a failed read is
/// kept, so neither costs a KV read per request.
const SECRET_CHECK_MIN_MS: i64 = 10_000;

/// Keeps the Workers of one deployment on one deployment secret (`KEY_ENCRYPTION_SECRET`):
/// two Workers with different secrets would each seal what the other cannot open (signing
/// keys, queued email, flow state). The full Worker's secret is the deployment's: its cron
/// (every minute) writes `keys::secret_fingerprint` of it to KV when KV holds none or another
/// one (a change of secret, logged). Off the request path: the full Worker never refuses, so
/// its requests need not wait on it. Best effort: a KV failure is logged and retried by the
/// next run.
pub async fn record_secret<S: Stores>(cx: &Ctx<'_, S>) {
    let Ok(mine) = keys::secret_fingerprint(&cx.config.key_encryption_secret) else {
        return;
    };
    let recorded = match cx.edge.find_secret_fingerprint().await {
        Ok(recorded) => recorded,
        Err(e) => return (cx.log)(&format!("the secret's fingerprint cannot be read: {e:?}")),
    };
    if recorded.as_deref() == Some(mine.as_str()) {
        return;
    }
    if recorded.is_some() {
        (cx.log)("KEY_ENCRYPTION_SECRET changed: recording the new one's fingerprint (an edge Worker with the old one is refused from now on)");
    }
    if let Err(e) = cx.edge.put_secret_fingerprint(&mine).await {
        (cx.log)(&format!(
            "the secret's fingerprint cannot be written: {e:?}"
        ));
    }
}

/// The edge Worker's side of `record_secret`: answers `Internal` (500, the cause logged)
/// while the fingerprint the full Worker recorded differs from this Worker's secret's, so the
/// edge does not seal what the full Worker cannot open. While nothing is recorded yet (a new
/// deployment whose full Worker's cron has not run) or KV cannot be read, it serves, and asks
/// again after `SECRET_CHECK_MIN_MS`; a pass or a refusal is kept for
/// `TENANCY_CACHE_TTL_SECONDS` (at least `SECRET_CHECK_MIN_MS`). So the hot paths read KV for
/// it once per isolate per period, not per request. A missing or short
/// secret is the configuration error it always was, reported where a key is derived.
pub async fn confirm_secret<S: Stores>(cx: &Ctx<'_, S>) -> Result<(), Error> {
    let refused = || {
        Err(Error::Internal(
            "KEY_ENCRYPTION_SECRET differs from the full Worker's (KV \
             deployment:secret-fingerprint): give the edge Worker the same secret"
                .to_owned(),
        ))
    };
    if let Some((until, passes)) = cx.caches.secret_verdict.get() {
        if cx.now < until {
            return if passes { Ok(()) } else { refused() };
        }
    }
    let Ok(mine) = keys::secret_fingerprint(&cx.config.key_encryption_secret) else {
        return Ok(());
    };
    let (passes, keep_ms) = match cx.edge.find_secret_fingerprint().await {
        Ok(Some(recorded)) => (recorded == mine, cx.cache_ttl_ms()),
        Ok(None) | Err(_) => (true, 0),
    };
    let until = cx.now.plus_ms(keep_ms.max(SECRET_CHECK_MIN_MS));
    cx.caches.secret_verdict.set(Some((until, passes)));
    if passes {
        Ok(())
    } else {
        refused()
    }
}

const KEYRING_TTL_MS: i64 = 5 * 60 * 1000;
/// How long a KV write may take to reach every location, plus how long an edge may cache a KV
/// read (Cloudflare's default `cacheTtl`).
const KV_PROPAGATION_MS: i64 = 2 * 60 * 1000;

/// How long before it signs a new key must be published: every cache between a verifier and
/// the key — the verifier's JWKS cache (`JWKS_MAX_AGE_SECONDS`), the isolate's key ring
/// (`KEYRING_TTL_MS`, which also serves the JWKS) and KV's propagation and read cache — has to
/// have seen it, or a verifier could meet a token whose `kid` it does not know yet.
pub fn publication_lead_ms(config: &super::Config) -> i64 {
    config
        .jwks_max_age_seconds
        .saturating_mul(1000)
        .saturating_add(KEYRING_TTL_MS)
        .saturating_add(KV_PROPAGATION_MS)
}
const RELOAD_GAP_MS: i64 = 10 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// An owner's published keys, decoded, as this isolate last loaded them.
pub struct Keyring {
    keys: Vec<(PublishedKey, PublicKey)>,
    loaded_at: Timestamp,
}

impl Keyring {
    fn from_published(published: Vec<PublishedKey>, now: Timestamp) -> Result<Self, Error> {
        let mut keys = Vec::with_capacity(published.len());
        for key in published {
            let public = keys::decode_public_key(&key.public_key)?;
            keys.push((key, public));
        }
        Ok(Keyring {
            keys,
            loaded_at: now,
        })
    }

    fn live(&self, now: Timestamp, max_token_ttl_ms: i64) -> LiveKeys {
        let activations: Vec<Timestamp> = self.keys.iter().map(|(k, _)| k.activates_at).collect();
        live_keys(&activations, now, max_token_ttl_ms)
    }

    /// The verifying key named `kid`, if it verifies at `now`.
    fn find(&self, kid: &str, now: Timestamp, max_token_ttl_ms: i64) -> Option<PublicKey> {
        self.live(now, max_token_ttl_ms)
            .verifying
            .iter()
            .filter_map(|&i| self.keys.get(i))
            .find(|(k, _)| k.kid == kid)
            .map(|(_, p)| *p)
    }

    fn verifying(&self, now: Timestamp, max_token_ttl_ms: i64) -> Vec<(String, PublicKey)> {
        self.live(now, max_token_ttl_ms)
            .verifying
            .iter()
            .filter_map(|&i| self.keys.get(i))
            .map(|(k, p)| (k.kid.clone(), *p))
            .collect()
    }

    fn signer_kid(&self, now: Timestamp, max_token_ttl_ms: i64) -> Option<&str> {
        self.live(now, max_token_ttl_ms)
            .signer
            .and_then(|i| self.keys.get(i))
            .map(|(k, _)| k.kid.as_str())
    }
}

/// The public halves of `stored`, as the KV copy lists them.
pub(super) fn published(stored: &[StoredSigningKey]) -> Vec<PublishedKey> {
    stored
        .iter()
        .map(|k| PublishedKey {
            kid: k.kid.clone(),
            public_key: k.public_key.clone(),
            activates_at: k.activates_at,
            created_at: k.created_at,
        })
        .collect()
}

fn remember<S: Stores>(cx: &Ctx<'_, S>, owner: &KeyOwner, ring: Keyring) -> Rc<Keyring> {
    let ring = Rc::new(ring);
    insert(&cx.caches.keyrings, owner.clone(), ring.clone());
    ring
}

/// Reads the owner's keys from D1 and caches them in this isolate (the KV copy is `edge`'s
/// to write).
async fn load_from_d1<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
) -> Result<(Rc<Keyring>, Vec<StoredSigningKey>), Error> {
    let stored = cx.db.find_signing_keys(owner).await?;
    let ring = remember(
        cx,
        owner,
        Keyring::from_published(published(&stored), cx.now)?,
    );
    Ok((ring, stored))
}

/// Rewrites the owner's KV copy from D1 (lease, read, write, release: `edge`); a failure is
/// logged and left pending, never returned — the copy only spares verifiers a D1 read.
async fn publish<S: Stores>(cx: &Ctx<'_, S>, owner: &KeyOwner) {
    edge::publish_after_change(cx, &MirroredDoc::Keys(owner.clone())).await;
}

/// Reads the owner's public keys from the KV copy (D1 only when the copy is missing).
async fn load<S: Stores>(cx: &Ctx<'_, S>, owner: &KeyOwner) -> Result<Rc<Keyring>, Error> {
    match cx.edge.find_public_keys(owner).await? {
        Some(public) => {
            // A copy that does not decode is as good as none: KV is failing, not the request.
            let ring = Keyring::from_published(public, cx.now)
                .map_err(|e| Error::Unavailable(format!("KV public keys: {e:?}")))?;
            Ok(remember(cx, owner, ring))
        }
        None => {
            let (ring, stored) = load_from_d1(cx, owner).await?;
            // The copy is missing (never written, or lost): write it for later cold isolates.
            if !stored.is_empty() {
                publish(cx, owner).await;
            }
            Ok(ring)
        }
    }
}

async fn current<S: Stores>(cx: &Ctx<'_, S>, owner: &KeyOwner) -> Result<Rc<Keyring>, Error> {
    let cached = cx
        .caches
        .keyrings
        .borrow()
        .get(owner)
        .filter(|r| (0..KEYRING_TTL_MS).contains(&cx.now.ms_since(r.loaded_at)))
        .cloned();
    match cached {
        Some(ring) => Ok(ring),
        None => load(cx, owner).await,
    }
}

/// Generates a key for `owner` that signs from `activates_at` on, stores it sealed in D1,
/// and republishes the owner's public keys. Returns the new key's kid.
pub async fn create_key<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
    activates_at: Timestamp,
    audit: Option<&AuditEntry>,
) -> Result<String, Error> {
    let kek = cx.encryption_key()?;
    let key = SigningKey::from_seed(cx.random::<32>()?);
    cx.db
        .create_signing_key(
            &StoredSigningKey {
                kid: key.kid().to_owned(),
                owner: owner.clone(),
                public_key: keys::encode_public_key(&key.public_key()),
                sealed_private_key: kek.seal(&key, cx.random::<12>()?)?,
                created_at: cx.now,
                activates_at,
            },
            audit,
        )
        .await?;
    // The store bumped the owner's copy with the key: write it, then refresh this isolate.
    // The key is made: a failed refresh only drops this isolate's ring (read again on next
    // use), it does not fail the change.
    publish(cx, owner).await;
    if let Err(e) = load_from_d1(cx, owner).await {
        cx.caches.keyrings.borrow_mut().remove(owner);
        cx.warn(&format!(
            "key ring not refreshed after a new key (read again on next use): {e:?}"
        ));
    }
    Ok(key.kid().to_owned())
}

/// The key that signs new tokens for `owner` now; the first key is generated on first need.
pub async fn signing_key<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
    max_token_ttl_ms: i64,
) -> Result<Rc<SigningKey>, Error> {
    // Signing happens on D1 paths anyway: when the KV copy cannot be read, use D1.
    let mut ring = match current(cx, owner).await {
        Err(Error::Unavailable(_)) => load_from_d1(cx, owner).await?.0,
        other => other?,
    };
    if ring.signer_kid(cx.now, max_token_ttl_ms).is_none() {
        // The cached view may be stale: ask D1 before making a key.
        ring = load_from_d1(cx, owner).await?.0;
        if ring.signer_kid(cx.now, max_token_ttl_ms).is_none() {
            // None has activated yet (none at all, or only a pending one): make one that signs
            // now. A racing isolate may do the same; both keys are stored and both verify.
            // D1, not the cache: a copy read meanwhile may not hold the new key yet.
            create_key(cx, owner, cx.now, None).await?;
            ring = load_from_d1(cx, owner).await?.0;
        }
    }
    let kid = ring
        .signer_kid(cx.now, max_token_ttl_ms)
        .ok_or_else(|| Error::Internal("no signing key after creating one".to_owned()))?
        .to_owned();
    if let Some(signer) = cx.caches.signers.borrow().get(&kid).cloned() {
        return Ok(signer);
    }
    let (_, stored) = load_from_d1(cx, owner).await?;
    let sealed = stored
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| Error::Internal(format!("signing key {kid} is not in D1")))?;
    let signer = Rc::new(
        cx.encryption_key()?
            .open(&kid, &sealed.sealed_private_key)?,
    );
    insert(&cx.caches.signers, kid, signer.clone());
    Ok(signer)
}

/// The verifying key `kid` of `owner`, reloading the set once if the kid is unknown and the
/// set was not reloaded in the last few seconds.
pub async fn public_key<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
    kid: &str,
    max_token_ttl_ms: i64,
) -> Result<Option<PublicKey>, Error> {
    let ring = current(cx, owner).await?;
    if let Some(key) = ring.find(kid, cx.now, max_token_ttl_ms) {
        return Ok(Some(key));
    }
    if (0..RELOAD_GAP_MS).contains(&cx.now.ms_since(ring.loaded_at)) {
        return Ok(None);
    }
    Ok(load(cx, owner).await?.find(kid, cx.now, max_token_ttl_ms))
}

/// Every published key of `owner` with its kid: pending, signing and still-verifying ones.
/// The first key is generated here if the owner has none yet, so what clients cache of a
/// JWKS stays valid.
pub async fn published_keys<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
    max_token_ttl_ms: i64,
) -> Result<Vec<(String, PublicKey)>, Error> {
    let keys = current(cx, owner)
        .await?
        .verifying(cx.now, max_token_ttl_ms);
    if !keys.is_empty() {
        return Ok(keys);
    }
    signing_key(cx, owner, max_token_ttl_ms).await?;
    Ok(current(cx, owner)
        .await?
        .verifying(cx.now, max_token_ttl_ms))
}

/// Adds a key to `owner` when its newest is at least `max_age_days` old: published now,
/// signing after the JWKS cache lifetime. An owner without keys gets its first on first need.
async fn rotate_if_due<S: Stores>(
    cx: &Ctx<'_, S>,
    owner: &KeyOwner,
    max_age_days: i64,
) -> Result<(), Error> {
    let (ring, _) = load_from_d1(cx, owner).await?;
    let Some(newest) = ring.keys.iter().map(|(k, _)| k.created_at).max() else {
        return Ok(());
    };
    if cx.now.ms_since(newest) >= max_age_days.saturating_mul(DAY_MS) {
        let activates_at = cx.now.plus_ms(publication_lead_ms(cx.config));
        create_key(cx, owner, activates_at, None).await?;
    } else {
        // Daily, every owner's copy is rewritten from D1 too: a copy lost from KV comes back.
        publish(cx, owner).await;
    }
    Ok(())
}

/// The cron job: rotates every key set that is due (`OPERATOR_KEY_ROTATION_DAYS` for
/// operators; each app's `signing_key_rotation_days`).
pub async fn rotate_due_keys<S: Stores>(cx: &Ctx<'_, S>) -> Result<(), Error> {
    rotate_if_due(
        cx,
        &KeyOwner::Operators,
        cx.config.operator_key_rotation_days,
    )
    .await?;
    const BATCH: usize = 100;
    let mut after: Option<String> = None;
    loop {
        let apps = cx.db.list_apps(after.as_deref(), BATCH).await?;
        for app in &apps {
            let owner = KeyOwner::App(app.id.clone());
            rotate_if_due(cx, &owner, app.settings.signing_key_rotation_days).await?;
        }
        match apps.last() {
            Some(last) if apps.len() == BATCH => after = Some(last.id.to_string()),
            _ => return Ok(()),
        }
    }
}
