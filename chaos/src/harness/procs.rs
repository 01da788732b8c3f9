//! Child processes the harness starts, kills (SIGKILL), freezes (SIGSTOP)
//! and restarts on the same port: one [`Proc`] per process, its output
//! appended to `<run dir>/<name>.log`, its pid appended to
//! `<run dir>/pids` so `scripts/chaos` can clean up even after the harness
//! itself was killed. Each child runs in the run directory (its working
//! directory) and carries `DLB_CHAOS_RUN_DIR=<run dir>` in its
//! environment, so that clean-up can tell a leftover of this run from an
//! unrelated process that got a recycled pid (redis-server rewrites its
//! environment block for its process title, so the working directory is
//! the test that always holds). Every `Proc` is killed on drop.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// One child process and how to start it again.
#[derive(Debug)]
pub(crate) struct Proc {
    /// Its name: the log file's and the RSS series'.
    pub(crate) name: String,
    program: String,
    args: Vec<String>,
    run_dir: PathBuf,
    child: Option<Child>,
    stopped: bool,
}

impl Proc {
    /// A process not started yet.
    pub(crate) fn new(name: &str, run_dir: &Path, program: &str, args: Vec<String>) -> Proc {
        Proc {
            name: name.to_string(),
            program: program.to_string(),
            args,
            run_dir: run_dir.to_path_buf(),
            child: None,
            stopped: false,
        }
    }

    /// Starts it (again), output appended to its log.
    pub(crate) fn start(&mut self) -> Result<()> {
        let log_path = self.run_dir.join(format!("{}.log", self.name));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .env("DLB_CHAOS_RUN_DIR", &self.run_dir)
            .current_dir(&self.run_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {} ({})", self.name, self.program))?;
        let mut pids = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run_dir.join("pids"))?;
        writeln!(pids, "{}", child.id())?;
        self.child = Some(child);
        self.stopped = false;
        Ok(())
    }

    /// Its pid while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while it runs (a frozen process runs).
    pub(crate) fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL, and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.stopped {
                signal(child.id(), "-CONT");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stopped = false;
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub(crate) async fn terminate(&mut self, grace: Duration) {
        if let Some(pid) = self.pid() {
            if self.stopped {
                signal(pid, "-CONT");
                self.stopped = false;
            }
            signal(pid, "-TERM");
            let deadline = tokio::time::Instant::now() + grace;
            while self.alive() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.kill();
    }

    /// SIGSTOP: it keeps its port and data and answers nothing.
    pub(crate) fn freeze(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, "-STOP");
            self.stopped = true;
        }
    }

    /// SIGCONT.
    pub(crate) fn thaw(&mut self) {
        if let Some(pid) = self.pid()
            && self.stopped
        {
            signal(pid, "-CONT");
        }
        self.stopped = false;
    }

    /// The last lines of its log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let path = self.run_dir.join(format!("{}.log", self.name));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Polls `ready` every 100 ms until it holds; fails when the process
    /// exits first or after `timeout`.
    pub(crate) async fn wait_ready<F, Fut>(&mut self, timeout: Duration, mut ready: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.alive() {
                bail!("{} exited during start-up:\n{}", self.name, self.log_tail());
            }
            if ready().await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} not ready after {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `signal` (e.g. `-STOP`) to `pid` with kill(1).
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// True when a Redis on `port` answers PING.
pub(crate) async fn redis_answers(port: u16) -> bool {
    exchange(port, b"PING\r\n", 7).await.as_deref() == Some(&b"+PONG\r\n"[..])
}

/// True when a ZooKeeper on `port` answers `ruok`.
pub(crate) async fn zk_answers(port: u16) -> bool {
    exchange(port, b"ruok", 4).await.as_deref() == Some(&b"imok"[..])
}

/// Sends `request` to 127.0.0.1:`port` and reads `len` bytes, within 500 ms.
async fn exchange(port: u16, request: &'static [u8], len: usize) -> Option<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        s.write_all(request).ok()?;
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).ok()?;
        Some(buf)
    })
    .await
    .ok()
    .flatten()
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// VmRSS of `pid` in KiB, from /proc/PID/status.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
