//! The options and arguments of the commands that take some (`SET`,
//! `CLIENT`, `HELLO`), checked as Redis checks them. Pure; used
//! by [`super::command::decode`].

use super::command::{Command, Expiry, SetTtl};
use crate::ttl_change::When;

pub(super) fn set(rest: &[Vec<u8>]) -> Result<Command, String> {
    let syntax = || "ERR syntax error".to_string();
    let mut ttl = SetTtl::Persist;
    let mut given = false;
    let mut options = rest[2..].iter();
    while let Some(option) = options.next() {
        let upper = option.to_ascii_uppercase();
        let next = match upper.as_slice() {
            b"EX" | b"PX" => {
                let n = options.next().ok_or_else(syntax)?;
                let n = integer(n).ok_or("ERR value is not an integer or out of range")?;
                let ms = if upper == b"EX" {
                    n.checked_mul(1000)
                } else {
                    Some(n)
                };
                match ms
                    .and_then(|ms| u64::try_from(ms).ok())
                    .filter(|&ms| ms > 0)
                {
                    Some(ms) => SetTtl::Millis(ms),
                    None => return Err("ERR invalid expire time in 'set' command".into()),
                }
            }
            b"KEEPTTL" => SetTtl::Keep,
            b"NX" | b"XX" | b"GET" | b"EXAT" | b"PXAT" => {
                return Err(format!(
                    "ERR SET {} is not supported by this balancer: a check and a write on separate round trips are not atomic across balancers and replicas",
                    String::from_utf8_lossy(&upper)
                ));
            }
            _ => return Err(syntax()),
        };
        if given {
            return Err(syntax());
        }
        given = true;
        ttl = next;
    }
    Ok(Command::Set {
        key: rest[0].clone(),
        value: rest[1].clone(),
        ttl,
    })
}

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` (`name`, upper case):
/// the key, the time in the command's unit, then `NX`, `XX`, `GT`, `LT`.
pub(super) fn expire(name: &str, rest: &[Vec<u8>]) -> Result<Command, String> {
    let n = integer(&rest[1]).ok_or("ERR value is not an integer or out of range")?;
    let ms = if name.starts_with('P') {
        Some(n)
    } else {
        n.checked_mul(1000)
    }
    .ok_or_else(|| {
        format!(
            "ERR invalid expire time in '{}' command",
            name.to_ascii_lowercase()
        )
    })?;
    let mut when = When::default();
    for option in &rest[2..] {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" => when.nx = true,
            b"XX" => when.xx = true,
            b"GT" => when.gt = true,
            b"LT" => when.lt = true,
            _ => {
                return Err(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(option)
                ));
            }
        }
    }
    if when.nx && (when.xx || when.gt || when.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if when.gt && when.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(Command::Expire {
        key: rest[0].clone(),
        at: if name.ends_with("AT") {
            Expiry::At(ms)
        } else {
            Expiry::In(ms)
        },
        when,
    })
}

pub(super) fn client(rest: &[Vec<u8>]) -> Result<Command, String> {
    match rest[0].to_ascii_uppercase().as_slice() {
        b"SETNAME" | b"SETINFO" => Ok(Command::ClientOk),
        b"GETNAME" => Ok(Command::ClientGetName),
        _ => Err(format!(
            "ERR unknown subcommand '{}' of 'client': this balancer serves CLIENT SETNAME, SETINFO and GETNAME",
            String::from_utf8_lossy(&rest[0])
        )),
    }
}

pub(super) fn hello(rest: &[Vec<u8>]) -> Result<Command, String> {
    let Some(version) = rest.first() else {
        return Ok(Command::Hello(None));
    };
    let version = match integer(version) {
        Some(v @ (2 | 3)) => u8::try_from(v).expect("2 or 3"),
        Some(_) => return Err("NOPROTO unsupported protocol version".into()),
        None => return Err("ERR Protocol version is not an integer or out of range".into()),
    };
    let mut options = rest[1..].iter();
    while let Some(option) = options.next() {
        match option.to_ascii_uppercase().as_slice() {
            b"SETNAME" if options.next().is_some() => {}
            b"AUTH" => {
                return Err("ERR AUTH is not supported: this balancer has no users".into());
            }
            _ => {
                return Err(format!(
                    "ERR syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(option)
                ));
            }
        }
    }
    Ok(Command::Hello(Some(version)))
}

/// A decimal integer argument, as Redis reads one.
pub(super) fn integer(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::command::tests::cmd;
    use super::*;

    #[test]
    fn set_takes_one_expiry_option() {
        let set = |words: &str| match cmd(words) {
            Ok(Command::Set { ttl, .. }) => Ok(ttl),
            other => Err(other),
        };
        assert_eq!(set("SET k v"), Ok(SetTtl::Persist));
        assert_eq!(set("SET k v ex 2"), Ok(SetTtl::Millis(2000)));
        assert_eq!(set("SET k v PX 1500"), Ok(SetTtl::Millis(1500)));
        assert_eq!(set("SET k v KEEPTTL"), Ok(SetTtl::Keep));
        assert_eq!(
            cmd("SET k v EX 0").unwrap_err(),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            cmd("SET k v EX -5").unwrap_err(),
            "ERR invalid expire time in 'set' command"
        );
        assert!(cmd("SET k v EX x").unwrap_err().contains("not an integer"));
        assert_eq!(cmd("SET k v EX 1 PX 1").unwrap_err(), "ERR syntax error");
        assert_eq!(cmd("SET k v EX").unwrap_err(), "ERR syntax error");
        assert_eq!(cmd("SET k v FOO").unwrap_err(), "ERR syntax error");
        assert!(cmd("SET k v EX 9223372036854775807").is_err());
    }
}
