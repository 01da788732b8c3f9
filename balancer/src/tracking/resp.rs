//! Just enough of the RESP3 wire format to follow a `CLIENT TRACKING`
//! connection: frames are parsed from a byte buffer as they arrive, and
//! an incomplete frame waits for more bytes. The start of an invalidation
//! push is read on its own, so that its keys, which can run to megabytes,
//! are taken one by one ([`crate::tracking::frames`]). Pure: no I/O here.
//!
//! The tracking connection needs its own parser (rather than a redis-rs
//! connection) because the near cache must read whatever invalidations
//! have reached the socket *at the moment a hit is served*; a client
//! library delivers push messages from its own task, later.

pub use crate::backend::reply::ProtocolError;
use crate::backend::reply::{blob, length, line};

/// One RESP3 frame, reduced to what the tracker looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+text`: `OK`, `PONG`.
    Simple(String),
    /// `-text` or a blob error.
    Error(String),
    /// A bulk or verbatim string.
    Bulk(Vec<u8>),
    /// `_`, or a null bulk string or array.
    Null,
    /// An array, set or map (a map flattened to key, value, ...).
    Array(Vec<Frame>),
    /// `>`: an out-of-band push, such as `invalidate`.
    Push(Vec<Frame>),
    /// A number, boolean or double, kept as its text.
    Scalar(String),
}

/// What a frame that starts like an invalidation push turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// An invalidation of this many keys, which follow as bulk strings.
    Keys(usize),
    /// An invalidation of everything (a flush).
    Flush,
    /// Any other frame, to be parsed whole.
    Other,
}

/// Reads the start of the frame at the beginning of `buf` if it is an
/// invalidation push: `>2`, the bulk string `invalidate`, then the header
/// of its array of keys, or a null. `Ok(None)` when more bytes are needed
/// to tell; else what it is and the bytes its start took (none for
/// [`Start::Other`]).
pub fn invalidation_start(buf: &[u8]) -> Result<Option<(Start, usize)>, ProtocolError> {
    const OTHER: Option<(Start, usize)> = Some((Start::Other, 0));
    match buf.first() {
        None => return Ok(None),
        Some(b'>') => {}
        Some(_) => return Ok(OTHER),
    }
    let mut at = 0;
    let Some(header) = line(buf, &mut at) else {
        return Ok(None);
    };
    if header != b">2" {
        return Ok(OTHER);
    }
    match frame(buf, &mut at)? {
        None => return Ok(None),
        Some(Frame::Bulk(kind)) if kind == b"invalidate" => {}
        Some(_) => return Ok(OTHER),
    }
    let Some(keys) = line(buf, &mut at) else {
        return Ok(None);
    };
    let start = match keys.split_first() {
        Some((b'*', digits)) => length(digits)?.map_or(Start::Flush, Start::Keys),
        Some((b'_', [])) => Start::Flush,
        Some((b'$', b"-1")) => Start::Flush,
        _ => return Ok(OTHER),
    };
    Ok(Some((start, at)))
}

/// Parses the first frame of `buf`: `Ok(None)` when it is not complete yet,
/// else the frame and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut at = 0;
    Ok(frame(buf, &mut at)?.map(|f| (f, at)))
}

/// Parses one frame at `*at`, moving `*at` past it.
fn frame(buf: &[u8], at: &mut usize) -> Result<Option<Frame>, ProtocolError> {
    let Some(line) = line(buf, at) else {
        return Ok(None);
    };
    let (&kind, rest) = line
        .split_first()
        .ok_or_else(|| ProtocolError("empty line".into()))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    Ok(Some(match kind {
        b'+' => Frame::Simple(text()),
        b'-' => Frame::Error(text()),
        b':' | b'#' | b',' | b'(' => Frame::Scalar(text()),
        b'_' => Frame::Null,
        b'$' | b'=' | b'!' => {
            let Some(len) = length(rest)? else {
                return Ok(Some(Frame::Null));
            };
            let Some(blob) = blob(buf, at, len)? else {
                return Ok(None);
            };
            if kind == b'!' {
                Frame::Error(String::from_utf8_lossy(blob).into_owned())
            } else {
                Frame::Bulk(blob.to_vec())
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some(count) = length(rest)? else {
                return Ok(Some(Frame::Null));
            };
            let count = if matches!(kind, b'%' | b'|') {
                count
                    .checked_mul(2)
                    .ok_or_else(|| ProtocolError(format!("bad length {count}")))?
            } else {
                count
            };
            let mut items = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                match frame(buf, at)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            if kind == b'>' {
                Frame::Push(items)
            } else if kind == b'|' {
                // An attribute annotates the frame that follows it.
                return frame(buf, at);
            } else {
                Frame::Array(items)
            }
        }
        other => {
            return Err(ProtocolError(format!(
                "unknown frame type {:?}",
                other as char
            )));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_an_invalidation_push() {
        let wire = b">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n$3\r\nb:c\r\n+PONG\r\n";
        let (first, used) = parse(wire).unwrap().unwrap();
        assert_eq!(
            first,
            Frame::Push(vec![
                bulk("invalidate"),
                Frame::Array(vec![bulk("a"), bulk("b:c")])
            ])
        );
        let (second, rest) = parse(&wire[used..]).unwrap().unwrap();
        assert_eq!(second, Frame::Simple("PONG".into()));
        assert_eq!(used + rest, wire.len());
    }

    #[test]
    fn a_flush_is_an_invalidation_of_null() {
        let (frame, _) = parse(b">2\r\n$10\r\ninvalidate\r\n_\r\n").unwrap().unwrap();
        assert_eq!(frame, Frame::Push(vec![bulk("invalidate"), Frame::Null]));
    }

    #[test]
    fn every_cut_of_a_frame_is_incomplete_not_an_error() {
        let wire = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nhello\r\n";
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(wire).unwrap().is_some());
    }

    #[test]
    fn parses_a_hello_map_and_other_types() {
        let wire = b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n";
        let (frame, used) = parse(wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(
            frame,
            Frame::Array(vec![
                bulk("server"),
                bulk("redis"),
                bulk("proto"),
                Frame::Scalar("3".into())
            ])
        );
        assert_eq!(
            parse(b"-ERR nope\r\n").unwrap().unwrap().0,
            Frame::Error("ERR nope".into())
        );
        assert_eq!(parse(b"$-1\r\n").unwrap().unwrap().0, Frame::Null);
        assert_eq!(
            parse(b"|1\r\n+a\r\n+b\r\n+OK\r\n").unwrap().unwrap().0,
            Frame::Simple("OK".into())
        );
        assert!(parse(b"?what\r\n").is_err());
        assert!(invalidation_start(b">2\r\n$10\r\ninvalidate\r\n*x\r\n").is_err());
        assert!(parse(b"$x\r\n").is_err());
    }

    #[test]
    fn lengths_past_the_address_space_are_errors_not_panics() {
        // Found by fuzz/ (tracking_resp): `at + len + 2` and `count * 2`
        // overflowed, a panic with overflow checks and a slice index
        // panic without.
        for wire in [
            &b"$18446744073709551615\r\n"[..],
            b"*1\r\n$18446744073709551614\r\nab\r\n",
            b"%9223372036854775808\r\n",
        ] {
            assert!(parse(wire).is_err(), "{}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn the_start_of_an_invalidation_is_read_alone() {
        let wire = b">2\r\n$10\r\ninvalidate\r\n*40000\r\n$1\r\na\r\n";
        let header = wire.len() - b"$1\r\na\r\n".len();
        for cut in 0..header {
            assert_eq!(invalidation_start(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        let keys = Some((Start::Keys(40_000), header));
        assert_eq!(invalidation_start(&wire[..header]), Ok(keys));
        assert_eq!(invalidation_start(wire), Ok(keys));
        let flush = b">2\r\n$10\r\ninvalidate\r\n_\r\n";
        assert_eq!(
            invalidation_start(flush),
            Ok(Some((Start::Flush, flush.len())))
        );
        let other = Some((Start::Other, 0));
        assert_eq!(invalidation_start(b"+PONG\r\n"), Ok(other));
        assert_eq!(invalidation_start(b">3\r\n$7\r\nmessage\r\n"), Ok(other));
        assert_eq!(invalidation_start(b">2\r\n$7\r\nmessage\r\n"), Ok(other));
    }
}
