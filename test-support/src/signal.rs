//! Signals to the server processes the tests started, for the freezes
//! (`SIGSTOP`, `SIGCONT`) that stand for a hung server.

use std::process::{Child, Command};

/// Sends `signal` (`-STOP`, `-CONT`) to `child`; panics if it is not
/// running or the signal cannot be sent.
pub(crate) fn send(child: Option<&Child>, signal: &str) {
    let pid = child.expect("server running").id();
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}
