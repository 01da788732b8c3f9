//! The balancer's HTTP service, as a tower stack.
//!
//! First, for every route, CORS (`cors/`, when `[cors]` allows some
//! origin): a preflight is answered here and goes no further; any other
//! answer gets the headers its origin is due.
//!
//! A data request (the cache and user routes) then passes, outermost
//! first:
//! 1. [`Measure`]: the request's metrics, whatever answered it;
//! 2. [`Rescue`]: the errors of the layers below become replies, in the
//!    route's body shape: 503 `overloaded` with `Retry-After`, 504
//!    `timeout`;
//! 3. [`Upload`]: the body, read whole within `server.body_timeout_ms`;
//! 4. [`Shed`]: load shedding over a concurrency limit
//!    (`server.max_in_flight`): a request that finds every slot taken is
//!    answered at once, not queued behind the others;
//! 5. the request deadline (`timeouts.request_ms`);
//! 6. [`routes::cache`], the handlers.
//!
//! The operator routes (`/nodes`, `/metrics`, `/healthz`, `/health`,
//! `/readyz`, `/stats`, `/dashboard`, `/openapi.json`, and the admin API's
//! `/admin/...`) skip the bounds, so an overloaded balancer can still be
//! watched and steered.
//! Connections are bounded before any of this, by the `frontdoor` crate.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::Either;
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use tokio::sync::Semaphore;
use tower::layer::layer_fn;
use tower::util::Oneshot;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

use super::cors::{self, Corsed};
use super::measure::Measure;
use super::paths::{self, Serve};
use super::reply::{self, Reply};
use super::rescue::Rescue;
use super::routes;
use super::shed::Shed;
use super::upload::Upload;
use crate::App;

/// An operator request's answer.
type AdminAnswer = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

/// A data request's answer, from its handler.
type Answer = Pin<Box<dyn Future<Output = Result<Reply, Infallible>> + Send>>;

/// Every request's first stop: a CORS preflight answered at once; then
/// the routing table (`paths.rs`) sends data routes to the bounded stack
/// `S`, operator routes straight to their handlers, and answers 404 and
/// 405 itself; each answer with the CORS headers its origin gets.
#[derive(Clone)]
pub(super) struct Front<S> {
    app: Arc<App>,
    cache: S,
}

/// The service of `app`, with the bounds its configuration sets.
pub(super) fn front(
    app: Arc<App>,
) -> Front<
    impl Service<Request<Incoming>, Response = Reply, Error = BoxError, Future: Send>
    + Clone
    + Send
    + 'static,
> {
    // Boxed here, innermost: each layer above moves its inner future into
    // its own when it is called, and the handler's (the whole write or
    // read) is kilobytes; as a box every layer moves a pointer. Unboxed,
    // those moves were about 4,500 instructions of `memcpy` a POST
    // (callgrind under `wrk -c50`; BENCHMARKS.md, "Writes through the
    // balancer's own connection").
    let handler = {
        let app = app.clone();
        tower::service_fn(move |req: Request<Bytes>| -> Answer {
            let app = app.clone();
            Box::pin(async move { Ok(routes::cache(&app, req).await) })
        })
    };
    let slots = Arc::new(Semaphore::new(app.config.server.max_in_flight));
    let (metrics, failures, upload_app) = (app.metrics.clone(), app.failures.clone(), app.clone());
    let cache = ServiceBuilder::new()
        .layer(layer_fn(move |inner| Measure {
            inner,
            metrics: metrics.clone(),
        }))
        .layer(layer_fn(move |inner| Rescue {
            inner,
            failures: failures.clone(),
        }))
        .layer(layer_fn(move |inner| Upload {
            inner,
            app: upload_app.clone(),
        }))
        .layer(layer_fn(move |inner| Shed {
            inner,
            slots: slots.clone(),
        }))
        .timeout(app.config.timeouts.request)
        .service(handler);
    Front { app, cache }
}

impl<S> Service<Request<Incoming>> for Front<S>
where
    S: Service<Request<Incoming>, Response = Reply, Error = BoxError> + Clone,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Corsed<Either<Oneshot<S, Request<Incoming>>, AdminAnswer>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let decision = self.app.config.cors.is_on().then(|| {
            let headers = req.headers();
            cors::decide(
                &self.app.config.cors,
                req.method(),
                headers.get(ORIGIN).and_then(|o| o.to_str().ok()),
                headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD),
            )
        });
        cors::corsed(decision.flatten(), || {
            let app = self.app.clone();
            let admin = app.config.admin_token.is_some();
            let answer: AdminAnswer = match paths::find(req.uri().path(), req.method(), admin) {
                Ok(Serve::Data(handler)) => {
                    req.extensions_mut().insert(handler);
                    return Either::Left(self.cache.clone().oneshot(req));
                }
                Ok(Serve::Operator(handler)) => {
                    Box::pin(async move { Ok(routes::admin(&app, handler, req).await) })
                }
                Err(rejection) => {
                    Box::pin(async move { Ok(reply::rejected(&app.failures, &rejection)) })
                }
            };
            Either::Right(answer)
        })
    }
}
