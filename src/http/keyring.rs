//! Signing keys held in the isolate: the public keys that verify tokens and the private key
//! that signs them, per key owner (the operator plane, each app).
//!
//! Public keys are read once per isolate and kept for `KEYRING_TTL_MS` — from the KV copy
//! (`pub:<owner>`), so the verifying hot path never touches D1; D1, the source of truth, is read
//! only when the copy is missing (and the copy is then rewritten) or to decrypt a private key
//! the first time this isolate signs with it. A token naming an unknown `kid` triggers at most
//! one reload per `RELOAD_GAP_MS`, so garbage tokens cannot make every request reload.
//!
//! Which keys sign and verify is the pure `domain::keys::live_keys`: a rotated-in key is
//! published for the JWKS cache lifetime before it signs, and a retired key keeps verifying
//! until the last token it signed has expired. An owner's first key is generated, active at
//! once, the first time one is needed.

use super::context::{random, Ctx};
use crate::domain::audit::AuditEntry;
use crate::domain::keys::{self, live_keys, KeyEncryptionKey, KeyOwner, LiveKeys, SigningKey};
use crate::domain::Error;
use crate::store::{EdgeStore, PublishedKey, SigningKeyStore, StoredSigningKey};
use ed25519_compact::PublicKey;
use std::cell::RefCell;
use std::collections::HashMap;
use worker::console_error;

const KEYRING_TTL_MS: i64 = 5 * 60 * 1000;
const RELOAD_GAP_MS: i64 = 10 * 1000;

#[derive(Clone)]
struct Keyring {
    keys: Vec<(PublishedKey, PublicKey)>,
    loaded_at_ms: i64,
}

impl Keyring {
    fn from_published(published: Vec<PublishedKey>, now_ms: i64) -> Result<Self, Error> {
        let mut keys = Vec::with_capacity(published.len());
        for key in published {
            let public = keys::decode_public_key(&key.public_key)?;
            keys.push((key, public));
        }
        Ok(Keyring {
            keys,
            loaded_at_ms: now_ms,
        })
    }

    fn live(&self, now_ms: i64, max_token_ttl_ms: i64) -> LiveKeys {
        let activations: Vec<i64> = self.keys.iter().map(|(k, _)| k.activates_at_ms).collect();
        live_keys(&activations, now_ms, max_token_ttl_ms)
    }

    fn verifying(&self, now_ms: i64, max_token_ttl_ms: i64) -> Vec<(String, PublicKey)> {
        self.live(now_ms, max_token_ttl_ms)
            .verifying
            .iter()
            .filter_map(|&i| self.keys.get(i))
            .map(|(k, p)| (k.kid.clone(), *p))
            .collect()
    }
}

thread_local! {
    static KEYRINGS: RefCell<HashMap<KeyOwner, Keyring>> = RefCell::new(HashMap::new());
    /// Decrypted private keys by kid: decryption happens once per isolate and key.
    static SIGNERS: RefCell<HashMap<String, SigningKey>> = RefCell::new(HashMap::new());
}

fn published(stored: &[StoredSigningKey]) -> Vec<PublishedKey> {
    stored
        .iter()
        .map(|k| PublishedKey {
            kid: k.kid.clone(),
            public_key: k.public_key.clone(),
            activates_at_ms: k.activates_at_ms,
            created_at_ms: k.created_at_ms,
        })
        .collect()
}

/// Reads the owner's keys from D1, rewrites the KV copy from them, and caches them.
async fn load_from_d1(
    ctx: &Ctx,
    owner: &KeyOwner,
) -> Result<(Keyring, Vec<StoredSigningKey>), Error> {
    let stored = ctx.store.find_signing_keys(owner).await?;
    let public = published(&stored);
    // The copy only spares later cold isolates a D1 read; failing to write it costs nothing
    // else, so it is logged rather than failing the request. An empty set is not copied: the
    // first key will be, and an empty copy would hide it from verifiers.
    if !public.is_empty() {
        if let Err(e) = async { ctx.edge()?.put_public_keys(owner, &public).await }.await {
            console_error!("KV copy of public keys not written: {e:?}");
        }
    }
    let ring = Keyring::from_published(public, ctx.now_ms)?;
    KEYRINGS.with(|k| k.borrow_mut().insert(owner.clone(), ring.clone()));
    Ok((ring, stored))
}

/// Reads the owner's public keys from the KV copy (D1 only when the copy is missing).
async fn load(ctx: &Ctx, owner: &KeyOwner) -> Result<Keyring, Error> {
    match ctx.edge()?.find_public_keys(owner).await? {
        Some(public) => {
            let ring = Keyring::from_published(public, ctx.now_ms)?;
            KEYRINGS.with(|k| k.borrow_mut().insert(owner.clone(), ring.clone()));
            Ok(ring)
        }
        None => Ok(load_from_d1(ctx, owner).await?.0),
    }
}

async fn current(ctx: &Ctx, owner: &KeyOwner) -> Result<Keyring, Error> {
    let cached = KEYRINGS.with(|k| {
        k.borrow()
            .get(owner)
            .filter(|r| (0..KEYRING_TTL_MS).contains(&(ctx.now_ms - r.loaded_at_ms)))
            .cloned()
    });
    match cached {
        Some(ring) => Ok(ring),
        None => load(ctx, owner).await,
    }
}

fn encryption_key(ctx: &Ctx) -> Result<KeyEncryptionKey, Error> {
    KeyEncryptionKey::from_secret(&ctx.secret("KEY_ENCRYPTION_SECRET").unwrap_or_default())
}

/// Generates a key for `owner` that signs from `activates_at_ms` on, stores it sealed in D1,
/// and republishes the owner's public keys. Returns the new key's kid.
pub async fn create_key(
    ctx: &Ctx,
    owner: &KeyOwner,
    activates_at_ms: i64,
    audit: Option<&AuditEntry>,
) -> Result<String, Error> {
    let kek = encryption_key(ctx)?;
    let key = SigningKey::from_seed(random::<32>()?);
    ctx.store
        .create_signing_key(
            &StoredSigningKey {
                kid: key.kid().to_owned(),
                owner: owner.clone(),
                public_key: keys::encode_public_key(&key.public_key()),
                sealed_private_key: kek.seal(&key, random::<12>()?)?,
                created_at_ms: ctx.now_ms,
                activates_at_ms,
            },
            audit,
        )
        .await?;
    load_from_d1(ctx, owner).await?;
    Ok(key.kid().to_owned())
}

/// The key that signs new tokens for `owner` now; the first key is generated on first need.
pub async fn signing_key(
    ctx: &Ctx,
    owner: &KeyOwner,
    max_token_ttl_ms: i64,
) -> Result<SigningKey, Error> {
    // Signing happens on D1 paths anyway: when the KV copy cannot be read, use D1.
    let mut ring = match current(ctx, owner).await {
        Err(Error::Unavailable(_)) => load_from_d1(ctx, owner).await?.0,
        other => other?,
    };
    if ring.live(ctx.now_ms, max_token_ttl_ms).signer.is_none() {
        // The cached view may be stale: ask D1 before making a key.
        ring = load_from_d1(ctx, owner).await?.0;
        if ring.live(ctx.now_ms, max_token_ttl_ms).signer.is_none() {
            // None has activated yet (none at all, or only a pending one): make one that signs
            // now. A racing isolate may do the same; both keys are stored and both verify.
            create_key(ctx, owner, ctx.now_ms, None).await?;
            ring = current(ctx, owner).await?;
        }
    }
    let kid = ring
        .live(ctx.now_ms, max_token_ttl_ms)
        .signer
        .and_then(|i| ring.keys.get(i))
        .map(|(k, _)| k.kid.clone())
        .ok_or_else(|| Error::Internal("no signing key after creating one".to_owned()))?;
    if let Some(signer) = SIGNERS.with(|s| s.borrow().get(&kid).cloned()) {
        return Ok(signer);
    }
    let (_, stored) = load_from_d1(ctx, owner).await?;
    let sealed = stored
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| Error::Internal(format!("signing key {kid} is not in D1")))?;
    let signer = encryption_key(ctx)?.open(&kid, &sealed.sealed_private_key)?;
    SIGNERS.with(|s| s.borrow_mut().insert(kid, signer.clone()));
    Ok(signer)
}

/// The verifying key `kid` of `owner`, reloading the set once if the kid is unknown and the
/// set was not reloaded in the last few seconds.
pub async fn public_key(
    ctx: &Ctx,
    owner: &KeyOwner,
    kid: &str,
    max_token_ttl_ms: i64,
) -> Result<Option<PublicKey>, Error> {
    let find = |ring: &Keyring| {
        ring.verifying(ctx.now_ms, max_token_ttl_ms)
            .into_iter()
            .find(|(k, _)| k == kid)
            .map(|(_, p)| p)
    };
    let ring = current(ctx, owner).await?;
    if let Some(key) = find(&ring) {
        return Ok(Some(key));
    }
    if (0..RELOAD_GAP_MS).contains(&(ctx.now_ms - ring.loaded_at_ms)) {
        return Ok(None);
    }
    Ok(find(&load(ctx, owner).await?))
}

/// Every published key of `owner` with its kid: pending, signing and still-verifying ones.
pub async fn public_keys(
    ctx: &Ctx,
    owner: &KeyOwner,
    max_token_ttl_ms: i64,
) -> Result<Vec<(String, PublicKey)>, Error> {
    Ok(current(ctx, owner)
        .await?
        .verifying(ctx.now_ms, max_token_ttl_ms))
}

/// When the newest key of `owner` was created (`None` if it has none), for the rotation job.
pub async fn newest_key_created_at(ctx: &Ctx, owner: &KeyOwner) -> Result<Option<i64>, Error> {
    let (ring, _) = load_from_d1(ctx, owner).await?;
    Ok(ring.keys.iter().map(|(k, _)| k.created_at_ms).max())
}
