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
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let op = Op::of(req.method(), req.uri().path());
        let start = Instant::now();
        let answer = self.inner.call(req);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let reply = answer.await?;
            if let Some(op) = op {
                let outcome = Outcome::of(op, reply.status());
                metrics.record_request(op, outcome, start.elapsed().as_secs_f64());
            }
            Ok(reply)
        })
    }
}
