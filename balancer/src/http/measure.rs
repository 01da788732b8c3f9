//! Request metrics as a layer: each cache request's operation (by method
//! and path), its outcome (by the status it got, fast 503s and timeouts
//! included) and its latency, recorded in one place for every route.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Request;
use tokio::time::Instant;
use tower::Service;

use super::reply::Reply;
use crate::metrics::{Metrics, Op, Outcome};

/// Records what the service it wraps answered.
#[derive(Debug, Clone)]
pub(super) struct Measure<S> {
    pub(super) inner: S,
    pub(super) metrics: Arc<Metrics>,
}

impl<S, B> Service<Request<B>> for Measure<S>
where
    S: Service<Request<B>, Response = Reply>,
{
    type Response = Reply;
    type Error = S::Error;
    type Future = Measured<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        Measured {
            op: Op::of(req.method(), req.uri().path()),
            start: Instant::now(),
            metrics: self.metrics.clone(),
            answer: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, recorded when it comes.
    pub(super) struct Measured<F> {
        op: Option<Op>,
        start: Instant,
        metrics: Arc<Metrics>,
        #[pin]
        answer: F,
    }
}

impl<F, E> Future for Measured<F>
where
    F: Future<Output = Result<Reply, E>>,
{
    type Output = Result<Reply, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let reply = std::task::ready!(this.answer.poll(cx))?;
        if let Some(op) = *this.op {
            let outcome = Outcome::of(op, reply.status());
            let seconds = this.start.elapsed().as_secs_f64();
            this.metrics.record_request(op, outcome, seconds);
        }
        Poll::Ready(Ok(reply))
    }
}
