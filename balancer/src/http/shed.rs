//! Load shedding over a concurrency limit: a request that finds every one
//! of `max_in_flight` slots taken fails at once with [`Overloaded`]
//! (a 503 with `Retry-After`), rather than queueing behind the others.
//!
//! Hand-written rather than tower's `LoadShed` over `ConcurrencyLimit`:
//! those keep a `PollSemaphore`, a boxed future, in every clone of the
//! stack, and `TowerToHyperService` clones the stack for each request.
//! With them a near-cache GET cost ~31,600 instructions against ~22,900
//! before the stack (callgrind, BENCHMARKS.md, "Overload"). Here a clone
//! is an `Arc`, and a slot a `try_acquire` on a shared semaphore.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{BoxError, Service};

/// Every slot was taken.
#[derive(Debug, thiserror::Error)]
#[error("every in-flight slot is taken")]
pub(super) struct Overloaded;

pin_project_lite::pin_project! {
    /// A request's answer, holding its slot until it is done. A named
    /// future, not a box: boxing moved the whole request's future to the
    /// heap (~770 instructions a request, callgrind).
    pub(super) struct Held<F> {
        #[pin]
        answer: F,
        slot: Option<OwnedSemaphorePermit>,
    }
}

impl<F, R, E> Future for Held<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        this.slot.take();
        Poll::Ready(answer.map_err(Into::into))
    }
}

/// Lets at most the semaphore's permits of requests through at once.
#[derive(Debug, Clone)]
pub(super) struct Shed<S> {
    pub(super) inner: S,
    pub(super) slots: Arc<Semaphore>,
}

impl<S, Request> Service<Request> for Shed<S>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<Ready<Result<S::Response, BoxError>>, Held<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return Either::Left(ready(Err(Overloaded.into())));
        };
        Either::Right(Held {
            answer: self.inner.call(req),
            slot: Some(slot),
        })
    }
}
