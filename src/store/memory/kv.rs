//! A KV namespace in memory: the backend of `KvEdge` in native tests. Expiry is recorded (in
//! seconds from the write) but not enforced; tests read it back to check what was asked for.

use super::faults::Faults;
use crate::domain::Error;
use crate::store::kv::KvBackend;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Key → (value, expiry in seconds when one was asked for).
type Entries = BTreeMap<String, (String, Option<u64>)>;

/// A namespace shared by its clones, plus failure injection.
#[derive(Default, Clone)]
pub struct MemoryKv {
    entries: Rc<RefCell<Entries>>,
    faults: Rc<Faults>,
}

impl MemoryKv {
    /// An empty namespace whose calls go through `faults` (shared with a `MemoryStore`, say).
    pub fn with_faults(faults: Rc<Faults>) -> Self {
        MemoryKv {
            entries: Rc::default(),
            faults,
        }
    }

    /// The failure rules of this namespace.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every key present, in order.
    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    /// The raw value and requested expiry of `key`.
    pub fn raw(&self, key: &str) -> Option<(String, Option<u64>)> {
        self.entries.borrow().get(key).cloned()
    }

    /// Writes a raw value (tests plant documents with it).
    pub fn plant(&self, key: &str, value: &str) {
        self.entries
            .borrow_mut()
            .insert(key.to_owned(), (value.to_owned(), None));
    }

    /// Removes a key without going through the fault rules.
    pub fn remove(&self, key: &str) {
        self.entries.borrow_mut().remove(key);
    }
}

impl KvBackend for MemoryKv {
    async fn get_text(&self, key: &str) -> Result<Option<String>, Error> {
        self.faults.pause().await;
        self.faults.check(|| format!("kv get {key}"))?;
        Ok(self.entries.borrow().get(key).map(|(v, _)| v.clone()))
    }

    async fn put_text(
        &self,
        key: &str,
        value: String,
        ttl_seconds: Option<u64>,
    ) -> Result<(), Error> {
        self.faults.pause().await;
        self.faults.check(|| format!("kv put {key}"))?;
        self.entries
            .borrow_mut()
            .insert(key.to_owned(), (value, ttl_seconds));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.faults.check(|| format!("kv delete {key}"))?;
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}
