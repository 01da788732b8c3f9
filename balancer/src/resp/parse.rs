//! Requests on the RESP port, as Redis reads them: a multibulk array of
//! bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what every client
//! library sends), or an inline command (`GET k\r\n`, what a person types
//! into `telnet`). Parsed from a byte buffer as bytes arrive; an
//! incomplete request waits for more. Pure: no I/O here.
//!
//! Parsing resumes where it stopped ([`Partial`]): a request whose bytes
//! trickle in is read once, not again from its start on every arrival.
//!
//! The bounds are Redis's own defaults where it has one: at most
//! [`MAX_ARGS`] arguments, inline lines of at most [`MAX_INLINE`] bytes.
//! A bulk string may be at most `max_bulk` bytes (the balancer passes its
//! value limit): past it the request is refused before its bytes are
//! buffered. A whole request may be at most [`MAX_REQUEST`] bytes (Redis
//! bounds a client's query buffer at 1 GiB). A malformed request is a
//! protocol error; as in Redis, the connection answers it and closes,
//! since what follows cannot be framed.

/// Most arguments in one request (Redis: 1024 * 1024).
pub const MAX_ARGS: usize = 1024 * 1024;

/// Longest inline command line, in bytes (Redis: 64 KiB).
pub const MAX_INLINE: usize = 64 * 1024;

/// Most bytes one request may take, its framing included.
pub const MAX_REQUEST: usize = 256 * 1024 * 1024;

/// How far the request at the front of the buffer has been read: kept
/// between calls, reset when a request completes or fails.
#[derive(Debug, Default)]
pub struct Partial {
    /// Arguments a multibulk request announced, once its header is read.
    count: Option<usize>,
    /// The arguments read so far.
    args: Vec<Vec<u8>>,
    /// Where the next argument (or, for an inline line, the search for
    /// its end) starts.
    at: usize,
}

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

/// Parses the first request in `buf`, resuming from `partial`, which
/// must have been used only on this buffer's front request: `Ok(None)`
/// when it is not complete yet. An empty inline line is skipped, as Redis
/// does (`consumed` > 0, no arguments).
pub fn parse(
    buf: &[u8],
    max_bulk: usize,
    partial: &mut Partial,
) -> Result<Option<Request>, ProtocolError> {
    let parsed = match buf.first() {
        None => return Ok(None),
        Some(b'*') => multibulk(buf, max_bulk, partial),
        Some(_) => inline(buf, partial),
    };
    if !matches!(parsed, Ok(None)) {
        *partial = Partial::default();
    }
    parsed
}

fn multibulk(
    buf: &[u8],
    max_bulk: usize,
    partial: &mut Partial,
) -> Result<Option<Request>, ProtocolError> {
    let count = match partial.count {
        Some(count) => count,
        None => {
            let Some((count, at)) = number_line(buf, 1, "multibulk length")? else {
                return Ok(None);
            };
            if count > MAX_ARGS as i64 {
                return Err(ProtocolError("invalid multibulk length".into()));
            }
            let count = usize::try_from(count).unwrap_or(0);
            partial.count = Some(count);
            partial.args = Vec::with_capacity(count.min(64));
            partial.at = at;
            count
        }
    };
    while partial.args.len() < count {
        let at = partial.at;
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
        if end + 2 > MAX_REQUEST {
            return Err(ProtocolError("request too large".into()));
        }
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError("bulk string not followed by CRLF".into()));
        }
        partial.args.push(buf[start..end].to_vec());
        partial.at = end + 2;
    }
    Ok(Some(Request {
        args: std::mem::take(&mut partial.args),
        consumed: partial.at,
    }))
}

/// Most bytes of a number line before its CR: `-` and 19 digits.
const MAX_NUMBER: usize = 20;

/// Reads `<digits>\r\n` from `buf[from..]`: the number and where the next
/// line starts, `None` while the line is incomplete. A line longer than
/// [`MAX_NUMBER`] is refused whether or not its CR is in yet.
fn number_line(buf: &[u8], from: usize, what: &str) -> Result<Option<(i64, usize)>, ProtocolError> {
    let rest = buf.get(from..).unwrap_or_default();
    let Some(cr) = rest.iter().take(MAX_NUMBER + 1).position(|&b| b == b'\r') else {
        if rest.len() > MAX_NUMBER {
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

fn inline(buf: &[u8], partial: &mut Partial) -> Result<Option<Request>, ProtocolError> {
    // A line's newline is looked for only as far as a line may run, so
    // one too long is refused whether or not its end is in yet.
    let end = buf.len().min(MAX_INLINE + 1);
    let from = partial.at.min(end);
    let Some(newline) = buf[from..end]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
    else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError("too big inline request".into()));
        }
        partial.at = buf.len();
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
mod tests;
