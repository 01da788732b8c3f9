//! The data stack's own failures as replies: a layer below this one that
//! gives up (load shedding's [`Overloaded`], the request deadline) is
//! answered here, 503 `overloaded` with `Retry-After` or 504 `timeout`,
//! in the body shape of the route the request was for (`routes.rs`,
//! [`routes::rejected`]). The handlers never fail; they answer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Request;
use tower::{BoxError, Service};

use super::rejection::Rejection;
use super::reply::Reply;
use super::routes;
use super::shed::Overloaded;
use super::users::Route;
use crate::failures::FailureLog;

/// Turns the errors of the service it wraps into replies.
#[derive(Debug, Clone)]
pub(super) struct Rescue<S> {
    pub(super) inner: S,
    pub(super) failures: Arc<FailureLog>,
}

impl<S, B> Service<Request<B>> for Rescue<S>
where
    S: Service<Request<B>, Response = Reply, Error = BoxError>,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Rescued<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        Rescued {
            route: Route::of(req.uri().path()),
            failures: self.failures.clone(),
            answer: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, an error made a reply.
    pub(super) struct Rescued<F> {
        route: Option<Route>,
        failures: Arc<FailureLog>,
        #[pin]
        answer: F,
    }
}

impl<F> Future for Rescued<F>
where
    F: Future<Output = Result<Reply, BoxError>>,
{
    type Output = Result<Reply, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        Poll::Ready(Ok(answer.unwrap_or_else(|e| {
            routes::rejected(*this.route, this.failures, &rejection_of(&e))
        })))
    }
}

/// What a layer's error means for the client: [`Overloaded`], or else
/// the deadline's `Elapsed`.
fn rejection_of(e: &BoxError) -> Rejection {
    if e.is::<Overloaded>() {
        Rejection::Overloaded
    } else {
        Rejection::Timeout
    }
}
