//! A write's fan-out driven in the request's own task, handed to the
//! runtime only if the request stops waiting before the fan-out ends.
//!
//! The fan-out must outlive the request: a slow replica under `quorum`
//! takes the write after the client has its answer, and a client that
//! hangs up (or a request deadline) drops the request's future midway.
//! Spawning every fan-out as a task of its own did that, at the price of a
//! task, its scheduling and a wake-up across threads per write (BENCHMARKS,
//! "Writes through a cached location"). Most fan-outs end in the same poll
//! that brings their last acknowledgement (R = 1, or R = 2 with `quorum`),
//! so they are driven here beside the acknowledgements, and only one still
//! running when the caller lets go of it is spawned.

use std::future::Future;
use std::pin::Pin;

/// A future driven beside others, spawned on drop if unfinished.
pub(super) struct Inline<F: Future + Send + 'static>
where
    F::Output: Send,
{
    running: Option<Pin<Box<F>>>,
    output: Option<F::Output>,
}

impl<F: Future + Send + 'static> Inline<F>
where
    F::Output: Send,
{
    /// Holds `future`, not yet polled.
    pub(super) fn new(future: F) -> Inline<F> {
        Inline {
            running: Some(Box::pin(future)),
            output: None,
        }
    }

    /// Awaits `other`, polling the held future too while `other` waits.
    pub(super) async fn beside<T>(&mut self, other: impl Future<Output = T>) -> T {
        let mut other = std::pin::pin!(other);
        loop {
            let Some(running) = self.running.as_mut() else {
                return other.await;
            };
            tokio::select! {
                biased;
                value = &mut other => return value,
                output = running => {
                    self.running = None;
                    self.output = Some(output);
                }
            }
        }
    }

    /// Awaits the held future's end, here. Polled in place: if the caller
    /// is dropped meanwhile, the future is still held, and spawned.
    pub(super) async fn finish(mut self) -> F::Output {
        if let Some(output) = self.output.take() {
            return output;
        }
        let running = self.running.as_mut().expect("either running or ended");
        let output = running.await;
        self.running = None;
        output
    }
}

impl<F: Future + Send + 'static> Drop for Inline<F>
where
    F::Output: Send,
{
    fn drop(&mut self) {
        // Not while unwinding: a future that panicked cannot be polled
        // again (a panic is a bug; the request's task ends with it).
        if let Some(running) = self.running.take()
            && !std::thread::panicking()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(running);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn a_future_that_ends_beside_the_wait_is_not_spawned() {
        let (tx, rx) = oneshot::channel();
        let mut inline = Inline::new(async move {
            tx.send(1).unwrap();
            2
        });
        assert_eq!(inline.beside(rx).await.unwrap(), 1);
        assert!(inline.running.is_none(), "it ended in the same poll");
        assert_eq!(inline.finish().await, 2);
    }

    #[tokio::test]
    async fn a_future_let_go_of_midway_still_runs_to_its_end() {
        let (first_tx, first_rx) = oneshot::channel();
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel();
        let mut inline = Inline::new(async move {
            first_tx.send(()).unwrap();
            gate_rx.await.unwrap();
            done_tx.send("ended").unwrap();
        });
        inline.beside(first_rx).await.unwrap();
        drop(inline);
        gate_tx.send(()).unwrap();
        let done = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
        assert_eq!(done.unwrap().unwrap(), "ended");
    }

    #[tokio::test]
    async fn a_future_let_go_of_while_finishing_still_runs_to_its_end() {
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel();
        let inline = Inline::new(async move {
            gate_rx.await.unwrap();
            done_tx.send("ended").unwrap();
        });
        let finishing = tokio::time::timeout(Duration::from_millis(10), inline.finish()).await;
        assert!(finishing.is_err(), "the caller gave up first");
        gate_tx.send(()).unwrap();
        let done = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
        assert_eq!(done.unwrap().unwrap(), "ended");
    }

    #[tokio::test]
    async fn finish_awaits_the_rest_here() {
        let (gate_tx, gate_rx) = oneshot::channel::<()>();
        let inline = Inline::new(async move {
            gate_rx.await.unwrap();
            7
        });
        gate_tx.send(()).unwrap();
        assert_eq!(inline.finish().await, 7);
    }
}
