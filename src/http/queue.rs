//! The worker's own consumer of the email queue (`#[event(queue)]`, `[[queues.consumers]]` in
//! `wrangler.toml`), and the mailer it reaches: a signed `POST` over `fetch`.
//!
//! Each envelope goes to `service::email::deliver`. Whatever it decides — delivered, dropped,
//! retried later by a new envelope, recorded as a dead letter — the envelope is acknowledged;
//! only a storage failure (D1, or the queue itself while re-sending) leaves it to the queue's
//! own retries (`max_retries`). Nothing logged here holds a code, a link or an address.

use super::context::{Bindings, Frame};
use crate::domain::delivery::Envelope;
use crate::domain::links::WebUrl;
use crate::service::email::{self, Outcome};
use crate::store::Mailer;
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{
    console_error, console_warn, event, AbortController, Context, Delay, Env, Fetch, Headers,
    MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder, Request, RequestInit,
    RequestRedirect,
};

/// How long a mailer has to answer.
const MAILER_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before the queue hands back an envelope whose delivery met a storage failure.
const STORAGE_RETRY_SECONDS: u32 = 30;

#[event(queue)]
async fn queue(
    batch: MessageBatch<serde_json::Value>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    let setup = Frame::for_batch(&env).and_then(|frame| Ok((frame, Bindings::of(&env)?)));
    let (frame, bindings) = match setup {
        Ok(setup) => setup,
        Err(e) => {
            console_error!("email queue: bindings unavailable, batch retried: {e:?}");
            batch.retry_all();
            return Ok(());
        }
    };
    let cx = frame.ctx(&bindings);
    let retry_later = QueueRetryOptionsBuilder::new()
        .with_delay_seconds(STORAGE_RETRY_SECONDS)
        .build();
    for message in batch.iter() {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                // Not JSON at all: it will never be read. Unacknowledged messages of a batch
                // that returns normally are acknowledged by the queue.
                console_warn!("email queue: a message body does not parse: {e}");
                continue;
            }
        };
        let envelope: Envelope = match serde_json::from_value(message.body().clone()) {
            Ok(envelope) => envelope,
            Err(_) => {
                console_warn!("email queue: message {} is not an envelope", message.id());
                message.ack();
                continue;
            }
        };
        match email::deliver(&cx, &WorkerMailer, &envelope).await {
            Ok(outcome) => {
                match &outcome {
                    Outcome::Retried { delay_seconds } => console_warn!(
                        "email {} attempt {} failed; retried in {delay_seconds} s",
                        envelope.id,
                        envelope.attempt
                    ),
                    Outcome::DeadLettered { reason } => console_warn!(
                        "email {} not delivered after {} attempts: {reason}",
                        envelope.id,
                        envelope.attempt
                    ),
                    _ => {}
                }
                message.ack();
            }
            Err(e) => {
                console_error!("email {}: storage failed, retried: {e:?}", envelope.id);
                message.retry_with_options(&retry_later);
            }
        }
    }
    Ok(())
}

/// A mailer's webhook over the platform's `fetch`: redirects are not followed (a 3xx is a
/// failure), and an answer must come within 10 s.
pub struct WorkerMailer;

impl Mailer for WorkerMailer {
    async fn post(&self, url: &WebUrl, signature: &str, body: &[u8]) -> Result<u16, String> {
        let built = || -> worker::Result<Request> {
            let headers = Headers::new();
            headers.set("Content-Type", "application/json")?;
            headers.set("Webhook-Signature", signature)?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual)
                .with_body(Some(js_sys::Uint8Array::from(body).into()));
            Request::new_with_init(url.as_str(), &init)
        };
        let request = built().map_err(|_| "the request cannot be built".to_owned())?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let sent = Box::pin(fetch.send_with_signal(&signal));
        let timeout = Box::pin(Delay::from(MAILER_TIMEOUT));
        let answer = match select(sent, timeout).await {
            Either::Left((Ok(response), _)) => Ok(response.status_code()),
            Either::Left((Err(_), _)) => Err("the connection failed".to_owned()),
            Either::Right(_) => {
                controller.abort();
                Err(format!("no answer within {} s", MAILER_TIMEOUT.as_secs()))
            }
        };
        answer
    }
}
