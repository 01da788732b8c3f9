//! Puts a CORS [`Decision`] on the wire: a preflight answered at once
//! with its headers, or the routed answer given them when it comes.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::StatusCode;
use hyper::header::HeaderValue;

use super::super::reply::{self, Reply};
use super::Decision;

pin_project_lite::pin_project! {
    /// A request's answer with its CORS headers: the preflight's own, or
    /// the routed answer `F`'s.
    #[project = CorsedProj]
    pub(in super::super) enum Corsed<F> {
        /// A preflight, answered without routing.
        Preflight { reply: Option<Reply> },
        /// The routed answer, then the headers, if any.
        Routed {
            #[pin]
            answer: F,
            decision: Option<Decision>,
        },
    }
}

/// `answer` with what `decision` adds; a preflight decision answers
/// alone, and `answer` is never called.
pub(in super::super) fn corsed<F>(
    decision: Option<Decision>,
    answer: impl FnOnce() -> F,
) -> Corsed<F> {
    match decision {
        Some(d) if d.preflight => Corsed::Preflight {
            reply: Some(with_headers(reply::empty(StatusCode::NO_CONTENT), &d)),
        },
        decision => Corsed::Routed {
            answer: answer(),
            decision,
        },
    }
}

impl<F, E> Future for Corsed<F>
where
    F: Future<Output = Result<Reply, E>>,
{
    type Output = Result<Reply, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsedProj::Preflight { reply } => {
                Poll::Ready(Ok(reply.take().expect("a preflight is polled once")))
            }
            CorsedProj::Routed { answer, decision } => {
                let reply = std::task::ready!(answer.poll(cx))?;
                Poll::Ready(Ok(match decision {
                    Some(d) => with_headers(reply, d),
                    None => reply,
                }))
            }
        }
    }
}

/// `reply` with the decision's headers (each checked sendable when the
/// configuration was).
fn with_headers(mut reply: Reply, decision: &Decision) -> Reply {
    let headers = reply.headers_mut();
    for (name, value) in &decision.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name.clone(), value);
        }
    }
    reply
}
