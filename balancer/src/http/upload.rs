//! Reading a request's body whole, within its deadline and size limit,
//! before the request takes one of the in-flight slots: a client that
//! sends its body slowly holds a connection (bounded by the front door),
//! never a slot that a fast request could use.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::Either;
use hyper::Request;
use hyper::body::{Body, Incoming};
use tower::util::Oneshot;
use tower::{BoxError, Service, ServiceExt};

use super::body;
use super::rejection::Rejection;
use super::reply::Reply;
use super::routes;
use super::users::Route;
use crate::App;

/// Reads the body, then hands the request to the service it wraps.
#[derive(Debug, Clone)]
pub(super) struct Upload<S> {
    pub(super) inner: S,
    pub(super) app: Arc<App>,
}

impl<S> Service<Request<Incoming>> for Upload<S>
where
    S: Service<Request<Bytes>, Response = Reply, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Either<
        Oneshot<S, Request<Bytes>>,
        Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>,
    >;

    /// Always ready: the wrapped service is made ready once the body is in.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let inner = self.inner.clone();
        if req.body().is_end_stream() {
            // No body (a GET, a DELETE): nothing to wait for.
            let (parts, _) = req.into_parts();
            return Either::Left(inner.oneshot(Request::from_parts(parts, Bytes::new())));
        }
        let app = self.app.clone();
        Either::Right(Box::pin(async move {
            let (parts, incoming) = req.into_parts();
            let deadline = app.config.server.body_timeout;
            let read = body::read(incoming, &app.config.limits);
            let rejection = match tokio::time::timeout(deadline, read).await {
                Ok(Ok(bytes)) => return inner.oneshot(Request::from_parts(parts, bytes)).await,
                Ok(Err(rejection)) => rejection,
                Err(_) => Rejection::SlowBody,
            };
            let route = Route::of(parts.uri.path());
            Ok(routes::rejected(route, &app.failures, &rejection))
        }))
    }
}
