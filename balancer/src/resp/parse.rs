//! Requests on the RESP port, as Redis reads them: a multibulk array of
//! bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what every client
//! library sends), or an inline command (`GET k\r\n`, what a person types
//! into `telnet`). Parsed from a byte buffer as bytes arrive; an
//! incomplete request waits for more. Pure: no I/O here.
//!
//! The bounds are Redis's own defaults where it has one: at most
//! [`MAX_ARGS`] arguments, inline lines of at most [`MAX_INLINE`] bytes.
//! A bulk string may be at most `max_bulk` bytes (the balancer passes its
//! value limit plus room for the key): past it the request is refused
//! before its bytes are buffered. A malformed request is a protocol
//! error; as in Redis, the connection answers it and closes, since what
//! follows cannot be framed.

/// Most arguments in one request (Redis: 1024 * 1024).
pub const MAX_ARGS: usize = 1024 * 1024;

/// Longest inline command line, in bytes (Redis: 64 KiB).
pub const MAX_INLINE: usize = 64 * 1024;

/// Why a request cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

/// One parsed request: its arguments and the bytes it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command name first, then its arguments.
    pub args: Vec<Vec<u8>>,
    /// Bytes of the buffer the request used.
    pub consumed: usize,
}

/// Parses the first request in `buf`: `Ok(None)` when it is not complete
/// yet. An empty inline line is skipped, as Redis does (`consumed` > 0,
/// no arguments).
pub fn parse(buf: &[u8], max_bulk: usize) -> Result<Option<Request>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => multibulk(buf, max_bulk),
        Some(_) => inline(buf),
    }
}

fn multibulk(buf: &[u8], max_bulk: usize) -> Result<Option<Request>, ProtocolError> {
    let Some((count, mut at)) = number_line(buf, 1, "multibulk length")? else {
        return Ok(None);
    };
    if count > MAX_ARGS as i64 {
        return Err(ProtocolError("invalid multibulk length".into()));
    }
    let count = usize::try_from(count).unwrap_or(0);
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        match buf.get(at) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&other) => {
                return Err(ProtocolError(format!(
                    "expected '$', got '{}'",
                    char::from(other).escape_default()
                )));
            }
        }
        let Some((len, start)) = number_line(buf, at + 1, "bulk length")? else {
            return Ok(None);
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= max_bulk)
            .ok_or_else(|| ProtocolError("invalid bulk length".into()))?;
        let end = start + len;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError("bulk string not followed by CRLF".into()));
        }
        args.push(buf[start..end].to_vec());
        at = end + 2;
    }
    Ok(Some(Request { args, consumed: at }))
}

/// Reads `<digits>\r\n` from `buf[from..]`: the number and where the next
/// line starts, `None` while the line is incomplete.
fn number_line(buf: &[u8], from: usize, what: &str) -> Result<Option<(i64, usize)>, ProtocolError> {
    let rest = buf.get(from..).unwrap_or_default();
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        if rest.len() > 20 {
            return Err(ProtocolError(format!("invalid {what}")));
        }
        return Ok(None);
    };
    if rest.len() < cr + 2 {
        return Ok(None);
    }
    let number = std::str::from_utf8(&rest[..cr])
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|_| rest[cr + 1] == b'\n')
        .ok_or_else(|| ProtocolError(format!("invalid {what}")))?;
    Ok(Some((number, from + cr + 2)))
}

fn inline(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError("too big inline request".into()));
        }
        return Ok(None);
    };
    let line = buf[..newline]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..newline]);
    let args = split_inline(line)?;
    Ok(Some(Request {
        args,
        consumed: newline + 1,
    }))
}

/// Splits an inline line on spaces, with Redis's quoting: `"..."` with
/// backslash escapes (`\n`, `\t`, `\"`, `\\`, `\xHH`) and `'...'` with
/// only `\'`.
fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let unbalanced = || ProtocolError("unbalanced quotes in request".into());
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if line[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mut arg = Vec::new();
        match line[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                loop {
                    let &b = line.get(i).ok_or_else(unbalanced)?;
                    i += 1;
                    match b {
                        b'\\' if quote == b'"' => {
                            let (byte, used) = escape(&line[i..]).ok_or_else(unbalanced)?;
                            arg.push(byte);
                            i += used;
                        }
                        b'\\' if line.get(i) == Some(&b'\'') => {
                            arg.push(b'\'');
                            i += 1;
                        }
                        b if b == quote => break,
                        b => arg.push(b),
                    }
                }
                if line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                    return Err(unbalanced());
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
    Ok(args)
}

/// The byte a backslash escape stands for, and the bytes it used after
/// the backslash.
fn escape(rest: &[u8]) -> Option<(u8, usize)> {
    let hex = |b: u8| char::from(b).to_digit(16);
    match *rest.first()? {
        b'x' if rest.len() >= 3 => match (hex(rest[1]), hex(rest[2])) {
            (Some(h), Some(l)) => Some((u8::try_from(h * 16 + l).ok()?, 3)),
            _ => Some((b'x', 1)),
        },
        b'n' => Some((b'\n', 1)),
        b'r' => Some((b'\r', 1)),
        b't' => Some((b'\t', 1)),
        b'b' => Some((8, 1)),
        b'a' => Some((7, 1)),
        other => Some((other, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(request: Option<Request>) -> Vec<String> {
        request
            .expect("complete")
            .args
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    #[test]
    fn reads_a_multibulk_request_and_says_what_it_used() {
        let wire = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n";
        let first = parse(wire, 100).unwrap().unwrap();
        assert_eq!(first.args, vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(first.consumed, 20);
        let second = parse(&wire[first.consumed..], 100).unwrap();
        assert_eq!(args(second), ["PING"]);
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete_not_an_error() {
        let wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhe\r\nl\r\n";
        for end in 0..wire.len() {
            assert_eq!(parse(&wire[..end], 100), Ok(None), "prefix of {end} bytes");
        }
        assert_eq!(args(parse(wire, 100).unwrap()), ["SET", "k", "he\r\nl"]);
    }

    #[test]
    fn a_bulk_past_the_bound_is_refused_before_it_arrives() {
        let err = parse(b"*2\r\n$3\r\nGET\r\n$101\r\n", 100).unwrap_err();
        assert_eq!(err.0, "invalid bulk length");
        assert!(
            parse(b"*2\r\n$3\r\nGET\r\n$100\r\n", 100)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn malformed_requests_are_protocol_errors() {
        for wire in [
            &b"*2\r\n+GET\r\n"[..],
            b"*x\r\n",
            b"*1\r\n$-1\r\n",
            b"*1\r\n$1\r\nab\r\n",
            b"*99999999999\r\n",
            b"*1\r\n$123456789012345678901234\r\n",
        ] {
            assert!(
                parse(wire, 100).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn an_empty_multibulk_takes_its_bytes_and_has_no_arguments() {
        let r = parse(b"*0\r\n", 100).unwrap().unwrap();
        assert!(r.args.is_empty());
        assert_eq!(r.consumed, 4);
    }

    #[test]
    fn inline_commands_split_on_spaces_with_quotes() {
        assert_eq!(args(parse(b"GET k\r\n", 100).unwrap()), ["GET", "k"]);
        assert_eq!(args(parse(b"PING\n", 100).unwrap()), ["PING"]);
        assert_eq!(
            args(parse(b"SET k \"a b\\n\\x41\" 'it\\'s'\r\n", 100).unwrap()),
            ["SET", "k", "a b\nA", "it's"]
        );
        let blank = parse(b"\r\n", 100).unwrap().unwrap();
        assert!(blank.args.is_empty());
        assert_eq!(blank.consumed, 2);
        assert!(parse(b"GET \"k\r\n", 100).is_err());
        assert!(parse(b"GET \"k\"x\r\n", 100).is_err());
        assert_eq!(parse(b"GET k", 100), Ok(None));
    }

    #[test]
    fn an_inline_line_without_end_is_bounded() {
        let long = vec![b'a'; MAX_INLINE + 1];
        assert!(parse(&long, 100).is_err());
    }
}
