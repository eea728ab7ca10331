//! The Cloudflare KV backend of `KvEdge` (wasm32 only): the `FLAGS` binding. A binding that
//! is missing makes every call `Unavailable`, so the request fails closed where it must.

use super::{unavailable, KvBackend};
use crate::domain::Error;
use worker::kv::KvStore;

/// The `FLAGS` namespace, or why it could not be bound.
pub struct WorkerKv {
    kv: Result<KvStore, String>,
}

impl WorkerKv {
    /// Wraps the binding (or the error of looking it up).
    pub fn new(kv: Result<KvStore, String>) -> Self {
        WorkerKv { kv }
    }

    fn store(&self) -> Result<&KvStore, Error> {
        self.kv
            .as_ref()
            .map_err(|e| Error::Unavailable(format!("binding FLAGS: {e}")))
    }
}

impl KvBackend for WorkerKv {
    async fn get_text(&self, key: &str) -> Result<Option<String>, Error> {
        self.store()?
            .get(key)
            .text()
            .await
            .map_err(|e| unavailable("read", e))
    }

    async fn put_text(
        &self,
        key: &str,
        value: String,
        ttl_seconds: Option<u64>,
    ) -> Result<(), Error> {
        let mut put = self
            .store()?
            .put(key, value)
            .map_err(|e| unavailable("write", e))?;
        if let Some(ttl) = ttl_seconds {
            put = put.expiration_ttl(ttl);
        }
        put.execute().await.map_err(|e| unavailable("write", e))
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.store()?
            .delete(key)
            .await
            .map_err(|e| unavailable("delete", e))
    }
}
