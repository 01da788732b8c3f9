//! What a RESP request asks for, decided from its arguments alone: the
//! commands the RESP port serves, their options checked, and the error
//! Redis would give for a wrong call. Pure: no I/O here.
//!
//! Conditional and read-modify-write forms (`SET NX`/`XX`/`GET`, `INCR`,
//! `APPEND`, `GETSET`, ...) are refused with an error that says why: a
//! check and a write on different round trips are not atomic across
//! balancers and replicas, and last-writer-wins would let a lost race
//! look like a success.

use super::options::{client, expire, hello, integer, set};
use crate::ttl_change::When;

/// A command the RESP port serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `GET key`.
    Get(Vec<u8>),
    /// `SET key value [EX s | PX ms | KEEPTTL]`.
    Set {
        /// The key.
        key: Vec<u8>,
        /// The value, as sent.
        value: Vec<u8>,
        /// What happens to the key's time to live.
        ttl: SetTtl,
    },
    /// `MGET key [key ...]`.
    MGet(Vec<Vec<u8>>),
    /// `MSET key value [key value ...]`.
    MSet(Vec<(Vec<u8>, Vec<u8>)>),
    /// `DEL` or `UNLINK key [key ...]`.
    Del(Vec<Vec<u8>>),
    /// `EXISTS key [key ...]`.
    Exists(Vec<Vec<u8>>),
    /// `TTL key` (`millis` false) or `PTTL key`.
    Ttl {
        /// The key.
        key: Vec<u8>,
        /// Answer in milliseconds.
        millis: bool,
    },
    /// `EXPIRE`, `PEXPIRE`, `EXPIREAT` or `PEXPIREAT key time [NX | XX |
    /// GT | LT]`.
    Expire {
        /// The key.
        key: Vec<u8>,
        /// When it is to expire.
        at: Expiry,
        /// The conditions given.
        when: When,
    },
    /// `PERSIST key`.
    Persist(Vec<u8>),
    /// `PING [message]`.
    Ping(Option<Vec<u8>>),
    /// `ECHO message`.
    Echo(Vec<u8>),
    /// `SELECT 0`: the only database.
    Select,
    /// `INFO [section]`.
    Info,
    /// `QUIT`: answer `OK`, then close.
    Quit,
    /// `CLIENT SETNAME`, `CLIENT SETINFO`: accepted and answered `OK`.
    ClientOk,
    /// `CLIENT GETNAME`: no name is kept.
    ClientGetName,
    /// `COMMAND`, `COMMAND DOCS`, `COMMAND INFO`: an empty list (enough
    /// for `redis-cli`); `COMMAND COUNT`: the number of commands served.
    CommandList,
    /// `COMMAND COUNT`.
    CommandCount,
    /// `HELLO [2 | 3] [SETNAME name]`: switch protocol, describe the server.
    Hello(Option<u8>),
}

/// A `SET`'s time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTtl {
    /// No expiry: the key lives until deleted.
    Persist,
    /// Expires this many milliseconds from now.
    Millis(u64),
    /// Keeps whatever time to live the key has.
    Keep,
}

/// When an `EXPIRE`-family command says a key expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// This many milliseconds from now (`EXPIRE`, `PEXPIRE`).
    In(i64),
    /// At this Unix time in milliseconds (`EXPIREAT`, `PEXPIREAT`).
    At(i64),
}

impl Expiry {
    /// Milliseconds from `now_ms` (Unix time); not positive when past.
    pub fn millis_from(self, now_ms: i64) -> i64 {
        match self {
            Expiry::In(ms) => ms,
            Expiry::At(at) => at.saturating_sub(now_ms),
        }
    }
}

/// How many commands [`decode`] serves, for `COMMAND COUNT`.
pub const SERVED: i64 = 22;

/// Decodes a request's arguments (name first); `Err` is the error reply's
/// text, without the leading `-`.
pub fn decode(args: &[Vec<u8>]) -> Result<Command, String> {
    let (name, rest) = args.split_first().ok_or("ERR empty command")?;
    let upper = String::from_utf8_lossy(name).to_ascii_uppercase();
    let arity = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "ERR wrong number of arguments for '{}' command",
                upper.to_ascii_lowercase()
            ))
        }
    };
    let one = || rest[0].clone();
    match upper.as_str() {
        "GET" => arity(rest.len() == 1).map(|()| Command::Get(one())),
        "SET" => arity(rest.len() >= 2).and_then(|()| set(rest)),
        "MGET" => arity(!rest.is_empty()).map(|()| Command::MGet(rest.to_vec())),
        "MSET" => arity(!rest.is_empty() && rest.len() % 2 == 0).map(|()| {
            Command::MSet(
                rest.chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect(),
            )
        }),
        "DEL" | "UNLINK" => arity(!rest.is_empty()).map(|()| Command::Del(rest.to_vec())),
        "EXISTS" => arity(!rest.is_empty()).map(|()| Command::Exists(rest.to_vec())),
        "TTL" | "PTTL" => arity(rest.len() == 1).map(|()| Command::Ttl {
            key: one(),
            millis: upper == "PTTL",
        }),
        "PING" => arity(rest.len() <= 1).map(|()| Command::Ping(rest.first().cloned())),
        "ECHO" => arity(rest.len() == 1).map(|()| Command::Echo(one())),
        "SELECT" => arity(rest.len() == 1).and_then(|()| match rest[0].as_slice() {
            b"0" => Ok(Command::Select),
            _ if integer(&rest[0]).is_some() => Err("ERR DB index is out of range".into()),
            _ => Err("ERR value is not an integer or out of range".into()),
        }),
        "INFO" => Ok(Command::Info),
        "QUIT" => Ok(Command::Quit),
        "CLIENT" => arity(!rest.is_empty()).and_then(|()| client(rest)),
        "COMMAND" => match rest.first().map(|s| s.to_ascii_uppercase()) {
            Some(sub) if sub == b"COUNT" => Ok(Command::CommandCount),
            _ => Ok(Command::CommandList),
        },
        "HELLO" => hello(rest),
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
            arity(rest.len() >= 2).and_then(|()| expire(&upper, rest))
        }
        "PERSIST" => arity(rest.len() == 1).map(|()| Command::Persist(one())),
        "SETNX" | "GETSET" | "GETDEL" | "GETEX" | "INCR" | "INCRBY" | "INCRBYFLOAT" | "DECR"
        | "DECRBY" | "APPEND" | "SETRANGE" | "MSETNX" | "SETEX" | "PSETEX" => Err(format!(
            "ERR '{}' is not supported by this balancer: it would read and then write on separate round trips, which is not atomic across balancers and replicas",
            upper.to_ascii_lowercase()
        )),
        _ => Err(unknown(name, rest)),
    }
}

/// Redis's answer to a command it does not know.
fn unknown(name: &[u8], rest: &[Vec<u8>]) -> String {
    let quoted: Vec<String> = rest
        .iter()
        .take(8)
        .map(|a| format!("'{}'", String::from_utf8_lossy(&a[..a.len().min(64)])))
        .collect();
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        quoted.join(" ")
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Decodes a command written as space-separated words.
    pub(in crate::resp) fn cmd(words: &str) -> Result<Command, String> {
        let args: Vec<Vec<u8>> = words.split(' ').map(|w| w.as_bytes().to_vec()).collect();
        decode(&args)
    }

    #[test]
    fn names_are_case_insensitive_and_arity_is_checked() {
        assert_eq!(cmd("get k"), Ok(Command::Get(b"k".to_vec())));
        assert_eq!(
            cmd("GET a b").unwrap_err(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert!(cmd("MSET a").is_err());
        assert!(cmd("DEL").is_err());
        assert_eq!(
            cmd("unlink a b"),
            Ok(Command::Del(vec![b"a".to_vec(), b"b".to_vec()]))
        );
    }

    #[test]
    fn conditional_and_read_modify_write_forms_are_refused_with_a_reason() {
        for words in [
            "SET k v NX",
            "SET k v xx",
            "SET k v GET",
            "INCR k",
            "APPEND k v",
            "GETSET k v",
        ] {
            let err = cmd(words).unwrap_err();
            assert!(
                err.contains("not supported") && err.contains("atomic"),
                "{words}: {err}"
            );
        }
    }

    #[test]
    fn expire_commands_take_a_time_and_conditions_as_redis_does() {
        let at = |words: &str| match cmd(words) {
            Ok(Command::Expire { at, when, .. }) => (at, when),
            other => panic!("{words}: {other:?}"),
        };
        assert_eq!(at("EXPIRE k 5").0, Expiry::In(5_000));
        assert_eq!(at("pexpire k 5").0, Expiry::In(5));
        assert_eq!(at("EXPIREAT k 7").0, Expiry::At(7_000));
        assert_eq!(at("PEXPIREAT k -7").0, Expiry::At(-7));
        assert_eq!(at("EXPIRE k -1").0, Expiry::In(-1_000));
        let when = at("EXPIRE k 5 xx GT").1;
        assert!(when.xx && when.gt && !when.nx && !when.lt);
        assert_eq!(Expiry::At(7_000).millis_from(5_000), 2_000);
        assert_eq!(Expiry::In(9).millis_from(5_000), 9);
        assert_eq!(cmd("PERSIST k"), Ok(Command::Persist(b"k".to_vec())));
        for (words, error) in [
            (
                "EXPIRE k",
                "ERR wrong number of arguments for 'expire' command",
            ),
            ("EXPIRE k x", "ERR value is not an integer or out of range"),
            (
                "EXPIRE k 9223372036854775807",
                "ERR invalid expire time in 'expire' command",
            ),
            (
                "EXPIRE k 5 NX XX",
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (
                "EXPIRE k 5 GT LT",
                "ERR GT and LT options at the same time are not compatible",
            ),
            ("EXPIRE k 5 FOO", "ERR Unsupported option FOO"),
            (
                "PERSIST a b",
                "ERR wrong number of arguments for 'persist' command",
            ),
        ] {
            assert_eq!(cmd(words).unwrap_err(), error, "{words}");
        }
    }

    #[test]
    fn unknown_commands_get_redis_s_answer() {
        assert_eq!(
            cmd("FLUSHALL now").unwrap_err(),
            "ERR unknown command 'FLUSHALL', with args beginning with: 'now'"
        );
    }

    #[test]
    fn connection_commands() {
        assert_eq!(cmd("PING"), Ok(Command::Ping(None)));
        assert_eq!(cmd("ping hi"), Ok(Command::Ping(Some(b"hi".to_vec()))));
        assert_eq!(cmd("SELECT 0"), Ok(Command::Select));
        assert_eq!(cmd("SELECT 1").unwrap_err(), "ERR DB index is out of range");
        assert_eq!(cmd("CLIENT SETNAME app"), Ok(Command::ClientOk));
        assert_eq!(
            cmd("CLIENT SETINFO LIB-NAME redis-py"),
            Ok(Command::ClientOk)
        );
        assert!(cmd("CLIENT KILL x").is_err());
        assert_eq!(cmd("COMMAND DOCS"), Ok(Command::CommandList));
        assert_eq!(cmd("command count"), Ok(Command::CommandCount));
        assert_eq!(cmd("HELLO 3"), Ok(Command::Hello(Some(3))));
        assert_eq!(cmd("HELLO 3 SETNAME x"), Ok(Command::Hello(Some(3))));
        assert_eq!(
            cmd("HELLO 4").unwrap_err(),
            "NOPROTO unsupported protocol version"
        );
        assert!(cmd("HELLO 3 AUTH u p").is_err());
    }
}
