//! The outgoing-email queue in memory (`MailQueue`): what was enqueued, in order, with its
//! delay. Native tests drain it and hand each envelope to the consumer's use case, as the
//! Cloudflare queue would. Calls are named `queue send` for the fault rules.

use super::faults::Faults;
use crate::domain::delivery::Envelope;
use crate::domain::Error;
use crate::store::MailQueue;
use std::cell::RefCell;
use std::rc::Rc;

/// A queue shared by its clones, plus failure injection.
#[derive(Default, Clone)]
pub struct MemoryQueue {
    sent: Rc<RefCell<Vec<(Envelope, u32)>>>,
    faults: Rc<Faults>,
}

impl MemoryQueue {
    /// An empty queue whose calls go through `faults` (shared with a `MemoryStore`, say).
    pub fn with_faults(faults: Rc<Faults>) -> Self {
        MemoryQueue {
            sent: Rc::default(),
            faults,
        }
    }

    /// Takes every envelope enqueued so far, oldest first, each with its delay in seconds.
    pub fn take(&self) -> Vec<(Envelope, u32)> {
        std::mem::take(&mut *self.sent.borrow_mut())
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.sent.borrow().is_empty()
    }
}

impl MailQueue for MemoryQueue {
    async fn enqueue(&self, envelope: &Envelope, delay_seconds: u32) -> Result<(), Error> {
        self.faults.check(|| "queue send".to_owned())?;
        self.sent
            .borrow_mut()
            .push((envelope.clone(), delay_seconds));
        Ok(())
    }
}
