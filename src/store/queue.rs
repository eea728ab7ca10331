//! The Cloudflare Queues producer of outgoing email (wasm32 only): the `EMAIL_QUEUE` binding.
//! Envelopes go on the queue as JSON (their letter sealed, `domain::delivery`); the worker's
//! own queue handler (`http::queue`) consumes them. A missing binding makes every send
//! `Unavailable`, so a flow that must send fails closed (`503`). Must not depend on `service`
//! or `http`.

use crate::domain::delivery::Envelope;
use crate::domain::Error;
use crate::store::MailQueue;
use worker::{MessageBuilder, Queue};

/// The `EMAIL_QUEUE` producer, or why it could not be bound.
pub struct WorkerQueue {
    queue: Result<Queue, String>,
}

impl WorkerQueue {
    /// Wraps the binding (or the error of looking it up).
    pub fn new(queue: Result<Queue, String>) -> Self {
        WorkerQueue { queue }
    }
}

impl MailQueue for WorkerQueue {
    async fn enqueue(&self, envelope: &Envelope, delay_seconds: u32) -> Result<(), Error> {
        let queue = self
            .queue
            .as_ref()
            .map_err(|e| Error::Unavailable(format!("binding EMAIL_QUEUE: {e}")))?;
        let message = MessageBuilder::new(envelope)
            .delay_seconds(delay_seconds)
            .build();
        queue
            .send(message)
            .await
            .map_err(|e| Error::Unavailable(format!("queue send: {e}")))
    }
}
