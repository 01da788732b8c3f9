//! Just enough of the RESP3 wire format to follow a `CLIENT TRACKING`
//! connection: frames are parsed from a byte buffer as they arrive, and
//! an incomplete frame waits for more bytes. Pure: no I/O here.
//!
//! The tracking connection needs its own parser (rather than a redis-rs
//! connection) because the near cache must read whatever invalidations
//! have reached the socket *at the moment a hit is served*; a client
//! library delivers push messages from its own task, later.

/// One RESP3 frame, reduced to what the tracker looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
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

/// The bytes do not follow RESP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol error: {0}")]
pub(crate) struct ProtocolError(String);

/// Parses the first frame of `buf`: `Ok(None)` when it is not complete yet,
/// else the frame and how many bytes it took.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
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
            if buf.len() < *at + len + 2 {
                return Ok(None);
            }
            let blob = buf[*at..*at + len].to_vec();
            *at += len + 2;
            if kind == b'!' {
                Frame::Error(String::from_utf8_lossy(&blob).into_owned())
            } else {
                Frame::Bulk(blob)
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some(count) = length(rest)? else {
                return Ok(Some(Frame::Null));
            };
            let count = if matches!(kind, b'%' | b'|') {
                count * 2
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

/// The next CRLF-terminated line, without its CRLF.
fn line<'b>(buf: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let rest = buf.get(*at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *at += end + 2;
    Some(&rest[..end])
}

/// A length field; `None` for `-1` (null).
fn length(digits: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let text = std::str::from_utf8(digits).map_err(|_| ProtocolError("bad length".into()))?;
    if text == "-1" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ProtocolError(format!("bad length {text:?}")))
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
        assert!(parse(b"$x\r\n").is_err());
    }
}
