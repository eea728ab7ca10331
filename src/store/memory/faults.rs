//! Failure injection for the memory adapters: a rule that decides, call by call, whether a
//! store call fails as if its binding were down. Native tests use it to prove that every use
//! case fails closed and leaves nothing half-applied, whichever call fails.

use crate::domain::Error;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

type Rule = Box<dyn Fn(&str) -> bool>;

/// Which calls fail. A call is named `db <method>` (relational ports) or `kv <op> <key>`
/// (`get`, `put`, `delete`), e.g. `db create_session`, `kv put flags:shop:acme:…`.
#[derive(Default)]
pub struct Faults {
    rule: RefCell<Option<Rule>>,
    calls: RefCell<Vec<String>>,
    injected: RefCell<Vec<String>>,
    interleave: Cell<bool>,
}

/// A future that is pending once (waking itself at once), then ready: an await point.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Faults {
    /// From now on, every call for which `rule` is true fails with `Unavailable`.
    pub fn fail_when(&self, rule: impl Fn(&str) -> bool + 'static) {
        *self.rule.borrow_mut() = Some(Box::new(rule));
    }

    /// From now on (`true`), the calls that can race — the KV backend's and the edge
    /// bookkeeping's — yield once before they run, so that two use cases joined in one task
    /// (`futures::join!`) take turns call by call, as two isolates can.
    pub fn interleave(&self, on: bool) {
        self.interleave.set(on);
    }

    /// The await point of `interleave` (ready at once when it is off).
    pub async fn pause(&self) {
        if self.interleave.get() {
            YieldOnce(false).await;
        }
    }

    /// From now on, nothing fails.
    pub fn heal(&self) {
        *self.rule.borrow_mut() = None;
    }

    /// Records `call` and fails it when the rule says so.
    pub fn check(&self, call: impl FnOnce() -> String) -> Result<(), Error> {
        let call = call();
        let fail = self.rule.borrow().as_ref().is_some_and(|rule| rule(&call));
        self.calls.borrow_mut().push(call.clone());
        if fail {
            self.injected.borrow_mut().push(call.clone());
            return Err(Error::Unavailable(format!("injected failure: {call}")));
        }
        Ok(())
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// Forgets the calls recorded so far.
    pub fn clear_calls(&self) {
        self.calls.borrow_mut().clear();
        self.injected.borrow_mut().clear();
    }

    /// Every call that was made to fail, in order.
    pub fn injected(&self) -> Vec<String> {
        self.injected.borrow().clone()
    }
}
