//! The live progress line: elapsed time, requests done, achieved rate,
//! errors and the current p99. Hidden when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::summary::Tally;

/// A progress bar, possibly hidden.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar towards `total` requests (a spinner when unknown); hidden
    /// when `quiet` or stderr is not a terminal.
    pub fn new(total: Option<u64>, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{elapsed_precise} {spinner} {pos} requests {msg}")
                    .expect("valid template"),
            ),
        };
        Progress { bar }
    }

    /// Starts a task that refreshes the bar from `tally` four times a second.
    pub fn follow(&self, tally: Arc<Mutex<Tally>>) -> tokio::task::JoinHandle<()> {
        let bar = self.bar.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(250));
            let started = tokio::time::Instant::now();
            loop {
                ticker.tick().await;
                let (done, errors, p99) = {
                    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    (t.completed(), t.errors(), t.p99_ms())
                };
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_position(done);
                bar.set_message(format!("{rate:.0} req/s, {errors} errors, p99 {p99:.2} ms"));
            }
        })
    }

    /// Leaves the bar's last state on screen.
    pub fn finish(&self) {
        self.bar.finish();
    }
}
