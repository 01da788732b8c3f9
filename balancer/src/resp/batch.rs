//! Which of a connection's pipelined commands run at the same time. Pure:
//! the connection ([`super::server`]) runs each run and writes its replies
//! in the order sent.
//!
//! Commands on distinct keys run together, as Twemproxy and Redis Cluster
//! send a pipeline's commands to their servers at once: a pipeline of
//! writes then costs about one write's round trips, not one per command.
//! A command naming a key an earlier command of the run names starts the
//! next run, so the commands on one key run in the order sent (a `GET`
//! after a `SET` of its key reads that `SET`). `HELLO` (it changes how
//! every later reply is written), `QUIT` (nothing after it runs) and
//! `MGET` (its reply alone may be [`RUN_REPLY_BYTES`]) run alone. Commands
//! on distinct keys of one pipeline may therefore take effect in any
//! order, as across Twemproxy's or Redis Cluster's servers.
//!
//! A run's replies are held until all of it is answered, so a run is as
//! wide as [`RUN_REPLY_BYTES`] of the largest values allows
//! ([`widest_run`]), and its commands beyond the first borrow slots of the
//! RESP port's shared pool (`server.max_in_flight`): under overload a
//! connection runs its commands one at a time, as it did before runs.

use std::collections::HashSet;

use super::command::Command;

/// Most commands one run holds: what one connection can have in flight.
pub(super) const MAX_RUN: usize = 64;

/// The reply bytes one run may hold, at most: what one `MGET` may answer.
pub(super) const RUN_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// How many commands a run holds at most when a value may be
/// `max_value_bytes` long and `max_in_flight` commands may run on the port.
pub(super) fn widest_run(max_value_bytes: usize, max_in_flight: usize) -> usize {
    (RUN_REPLY_BYTES / max_value_bytes.max(1))
        .min(max_in_flight.saturating_add(1))
        .clamp(1, MAX_RUN)
}

/// A request as decoded: a command, or the error that answers it.
pub(super) type Decoded = Result<Command, String>;

/// How many of `commands`, from the first, run together: at least one
/// (when there is any), at most `widest`.
pub(super) fn run_length(commands: &[Decoded], widest: usize) -> usize {
    let mut named: HashSet<&[u8]> = HashSet::new();
    for (i, decoded) in commands.iter().enumerate().take(widest) {
        let Ok(command) = decoded else { continue };
        let Some(keys) = keys(command) else {
            return i.max(1);
        };
        if keys.iter().any(|key| named.contains(key)) {
            return i;
        }
        named.extend(keys);
    }
    commands.len().min(widest.max(1))
}

/// The keys `command` reads or writes; `None` for a command that runs
/// alone.
fn keys(command: &Command) -> Option<Vec<&[u8]>> {
    Some(match command {
        Command::Get(key)
        | Command::Set { key, .. }
        | Command::Ttl { key, .. }
        | Command::Expire { key, .. }
        | Command::Persist(key) => vec![key.as_slice()],
        Command::Del(keys) | Command::Exists(keys) => keys.iter().map(Vec::as_slice).collect(),
        Command::MSet(pairs) => pairs.iter().map(|(key, _)| key.as_slice()).collect(),
        Command::Hello(_) | Command::Quit | Command::MGet(_) => return None,
        Command::Ping(_)
        | Command::Echo(_)
        | Command::Select
        | Command::Info
        | Command::ClientOk
        | Command::ClientGetName
        | Command::CommandList
        | Command::CommandCount => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::command::decode;

    fn decoded(line: &str) -> Decoded {
        let args: Vec<Vec<u8>> = line.split(' ').map(|a| a.as_bytes().to_vec()).collect();
        decode(&args)
    }

    fn runs(lines: &[&str]) -> Vec<usize> {
        let commands: Vec<Decoded> = lines.iter().map(|l| decoded(l)).collect();
        let mut rest = &commands[..];
        let mut lengths = Vec::new();
        while !rest.is_empty() {
            let n = run_length(rest, MAX_RUN);
            assert!(n > 0, "a run takes at least one command");
            lengths.push(n);
            rest = &rest[n..];
        }
        lengths
    }

    #[test]
    fn commands_on_distinct_keys_run_together() {
        assert_eq!(runs(&["SET a 1", "SET b 2", "GET c", "DEL d e"]), [4]);
    }

    #[test]
    fn a_key_named_again_starts_the_next_run() {
        assert_eq!(runs(&["SET a 1", "GET b", "GET a", "SET a 2"]), [2, 1, 1]);
        assert_eq!(runs(&["MSET a 1 b 2", "DEL c b"]), [1, 1]);
        assert_eq!(runs(&["EXISTS a", "EXPIRE a 5", "TTL a"]), [1, 1, 1]);
    }

    #[test]
    fn one_command_naming_a_key_twice_is_one_run() {
        assert_eq!(runs(&["MSET a 1 a 2"]), [1]);
        assert_eq!(runs(&["MSET a 1 a 2", "GET b"]), [2]);
        assert_eq!(runs(&["DEL a a", "GET a"]), [1, 1]);
    }

    #[test]
    fn hello_quit_and_mget_run_alone() {
        let lines = ["GET a", "HELLO 3", "GET b", "QUIT", "GET c"];
        assert_eq!(runs(&lines), [1, 1, 1, 1, 1]);
        assert_eq!(runs(&["GET a", "MGET b", "MGET c", "GET d"]), [1, 1, 1, 1]);
        assert_eq!(runs(&["HELLO 3", "HELLO 2"]), [1, 1]);
    }

    #[test]
    fn keyless_commands_and_refusals_run_with_anything() {
        let lines = ["PING", "GET a", "ECHO x", "INCR a", "INFO", "SET b 1"];
        assert_eq!(runs(&lines), [6]);
    }

    #[test]
    fn a_run_holds_at_most_max_run_commands() {
        let lines: Vec<String> = (0..MAX_RUN * 2 + 1).map(|i| format!("GET k{i}")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(runs(&lines), [MAX_RUN, MAX_RUN, 1]);
        let commands: Vec<Decoded> = lines.iter().map(|l| decoded(l)).collect();
        assert_eq!(run_length(&commands, 3), 3);
    }

    #[test]
    fn a_run_s_replies_fit_the_reply_bound_and_the_port_s_pool() {
        assert_eq!(widest_run(1024 * 1024, 1024), MAX_RUN);
        assert_eq!(widest_run(16 * 1024 * 1024, 1024), 4);
        assert_eq!(widest_run(512 * 1024 * 1024, 1024), 1);
        assert_eq!(widest_run(100, 7), 8, "the first command needs no slot");
        assert_eq!(widest_run(100, 0), 1);
    }
}
