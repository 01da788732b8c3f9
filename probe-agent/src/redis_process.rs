//! Which process in the agent's `/proc` a watched Redis is.
//!
//! `INFO` names the server's pid and port in the server's own namespaces.
//! That pid means the same process to the agent only when the two share a
//! pid namespace (the same host or container, or `--pid=host`); from a
//! Redis in another container it names some unrelated process of the
//! agent's. So the pid is believed only when the process holds a socket
//! listening on the Redis's port in its own network namespace: reading
//! another process's cgroup limit as the Redis's would be worse than
//! knowing none. Parsing is pure and unit-tested; [`verify`] reads `/proc`.

use std::path::Path;

/// TCP state `LISTEN` in `/proc/net/tcp`.
const LISTEN: &str = "0A";

/// Checks that process `pid`, as the agent sees `proc` (`/proc`), holds a
/// socket listening on TCP `port`.
///
/// # Errors
/// Why the pid cannot be taken for the Redis, in words.
pub fn verify(proc: &Path, pid: u32, port: u16) -> Result<(), String> {
    if pid == 0 {
        return Err("INFO names no process_id".into());
    }
    if port == 0 {
        return Err("the Redis listens on no TCP port, so its process cannot be checked".into());
    }
    let dir = proc.join(pid.to_string());
    let other_namespace = "the Redis runs in a pid namespace the agent does not share \
                           (another container without --pid=host?)";
    let mut listening = Vec::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(table)) {
            listening.extend(listening_inodes(&text, port));
        }
    }
    if listening.is_empty() && !dir.exists() {
        return Err(format!(
            "no process {pid} in the agent's /proc: {other_namespace}"
        ));
    }
    let fds = std::fs::read_dir(dir.join("fd")).map_err(|e| {
        format!(
            "cannot read /proc/{pid}/fd: {e} (the agent must run as root or as the Redis's user)"
        )
    })?;
    let holds = fds
        .filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| socket_inode(&link.to_string_lossy()))
        .any(|inode| listening.contains(&inode));
    if holds {
        Ok(())
    } else {
        Err(format!(
            "process {pid} in the agent's /proc does not hold the Redis's listening socket \
             on port {port}: {other_namespace}"
        ))
    }
}

/// The inodes of the sockets listening on `port` in a `/proc/net/tcp` or
/// `tcp6` table. A row is `sl local rem st tx:rx tr:when retr uid timeout
/// inode ...`, with `local` as `HEXADDR:HEXPORT`.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (_, local_port) = fields.get(1)?.rsplit_once(':')?;
            let listens = *fields.get(3)? == LISTEN;
            let on_port = u16::from_str_radix(local_port, 16).ok()? == port;
            (listens && on_port).then(|| fields.get(9)?.parse().ok())?
        })
        .collect()
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows captured from a host running Redis on 16999 (listening) with
    /// one client connected to it.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4267 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4183262 1 0000000000000000 100 0 0 10 0
   1: 0100007F:4267 0100007F:D0A6 01 00000000:00000000 00:00000000 00000000     0        0 4183999 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn only_listening_sockets_on_the_port_count() {
        assert_eq!(listening_inodes(TCP, 16999), [4_183_262]);
        assert_eq!(listening_inodes(TCP, 8080), [77]);
        assert!(listening_inodes(TCP, 6379).is_empty());
        assert!(listening_inodes("", 6379).is_empty());
    }

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_inode("socket:[4183262]"), Some(4_183_262));
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("pipe:[12]"), None);
    }

    #[test]
    fn a_pid_and_port_of_zero_are_refused_without_reading_proc() {
        let nowhere = Path::new("/nonexistent");
        assert!(verify(nowhere, 0, 6379).unwrap_err().contains("process_id"));
        assert!(verify(nowhere, 7, 0).unwrap_err().contains("TCP port"));
        assert!(
            verify(nowhere, 7, 6379)
                .unwrap_err()
                .contains("pid namespace")
        );
    }

    #[test]
    fn a_process_holding_the_listener_passes_and_without_it_fails() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id();
        verify(Path::new("/proc"), me, port).unwrap();
        drop(listener);
        let err = verify(Path::new("/proc"), me, port).unwrap_err();
        assert!(err.contains("does not hold"), "{err}");
    }
}
