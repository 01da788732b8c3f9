//! Redis replies (RESP2) read off a data connection's bytes as
//! [`redis::Value`]s, so that redis-rs's conversions (`FromRedisValue`,
//! its pipelines and scripts) work over [`super::wire`] unchanged. Pure:
//! no I/O here.
//!
//! Hand-written because redis-rs's parser, built on `combine`, cost about
//! 4,300 instructions a reply of the write script (three values), the
//! largest single cost of a write after the HTTP server (BENCHMARKS.md,
//! "Writes through the balancer's own connection").

use redis::Value;

/// The bytes do not follow RESP (RESP2 here, RESP3 for the tracking
/// streams' parser, [`crate::tracking::resp`], which shares this module's
/// line readers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol error: {0}")]
pub struct ProtocolError(pub(crate) String);

/// Parses the first reply of `buf`: `Ok(None)` when it is not complete
/// yet, else the reply and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut at = 0;
    Ok(reply(buf, &mut at, 0)?.map(|v| (v, at)))
}

/// Arrays nested deeper are refused: no reply of Redis's nests so far, and
/// the parser recurses once a level.
const MAX_DEPTH: usize = 64;

/// Parses one reply at `*at`, `depth` arrays deep, moving `*at` past it.
fn reply(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Value>, ProtocolError> {
    let start = *at;
    let Some(line) = line(buf, at) else {
        return Ok(None);
    };
    let (&kind, rest) = line
        .split_first()
        .ok_or_else(|| ProtocolError("empty line".into()))?;
    Ok(Some(match kind {
        b'+' if rest == b"OK" => Value::Okay,
        b'+' => Value::SimpleString(String::from_utf8_lossy(rest).into_owned()),
        // redis-rs reads an error's code and kind (`NOSCRIPT`, `OOM`...);
        // errors are rare, so its parser may take them.
        b'-' => redis::parse_redis_value(&buf[start..*at])
            .map_err(|e| ProtocolError(format!("bad error reply: {e}")))?,
        b':' => Value::Int(integer(rest)?),
        b'$' => {
            let Some(len) = length(rest)? else {
                return Ok(Some(Value::Nil));
            };
            let Some(blob) = blob(buf, at, len)? else {
                return Ok(None);
            };
            if &buf[*at - 2..*at] != b"\r\n" {
                return Err(ProtocolError("bulk string not ended by CRLF".into()));
            }
            Value::BulkString(blob.to_vec())
        }
        b'*' => {
            let Some(count) = length(rest)? else {
                return Ok(Some(Value::Nil));
            };
            if depth == MAX_DEPTH {
                return Err(ProtocolError(format!(
                    "arrays nested over {MAX_DEPTH} deep"
                )));
            }
            let mut items = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                match reply(buf, at, depth + 1)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            Value::Array(items)
        }
        other => {
            return Err(ProtocolError(format!(
                "unknown reply type {:?}",
                other as char
            )));
        }
    }))
}

/// The next CRLF-terminated line, without its CRLF (also for
/// [`crate::tracking::resp`]).
pub(crate) fn line<'b>(buf: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let rest = buf.get(*at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *at += end + 2;
    Some(&rest[..end])
}

/// The `len` bytes of a bulk string at `*at`, moving `*at` past them and
/// the two bytes that end them; `Ok(None)` until all have arrived (also
/// for [`crate::tracking::resp`]).
pub(crate) fn blob<'b>(
    buf: &'b [u8],
    at: &mut usize,
    len: usize,
) -> Result<Option<&'b [u8]>, ProtocolError> {
    let end = (*at).checked_add(len).filter(|end| *end < usize::MAX - 1);
    let end = end.ok_or_else(|| ProtocolError(format!("bad length {len}")))?;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    let blob = &buf[*at..end];
    *at = end + 2;
    Ok(Some(blob))
}

/// A length field; `None` for `-1` (null) (also for
/// [`crate::tracking::resp`]).
pub(crate) fn length(digits: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let text = std::str::from_utf8(digits).map_err(|_| ProtocolError("bad length".into()))?;
    if text == "-1" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ProtocolError(format!("bad length {text:?}")))
}

/// An integer reply's digits.
fn integer(digits: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| ProtocolError(format!("bad integer {:?}", String::from_utf8_lossy(digits))))
}

#[cfg(test)]
mod tests {
    use redis::{ErrorKind, ServerErrorKind};

    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_every_reply_type() {
        let cases: [(&[u8], Value); 8] = [
            (b"+OK\r\n", Value::Okay),
            (b"+PONG\r\n", Value::SimpleString("PONG".into())),
            (b":-42\r\n", Value::Int(-42)),
            (b"$3\r\nabc\r\n", bulk("abc")),
            (b"$0\r\n\r\n", bulk("")),
            (b"$-1\r\n", Value::Nil),
            (b"*-1\r\n", Value::Nil),
            (
                b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n$2\r\n\r\n\r\n",
                Value::Array(vec![
                    Value::Int(1),
                    Value::Array(vec![bulk("a"), Value::Nil]),
                    bulk("\r\n"),
                ]),
            ),
        ];
        for (bytes, value) in cases {
            let mut with_more = bytes.to_vec();
            with_more.extend_from_slice(b":7\r\n");
            assert_eq!(
                parse(&with_more).unwrap(),
                Some((value, bytes.len())),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn an_error_keeps_its_code_for_the_caller() {
        let (value, used) = parse(b"-NOSCRIPT No matching script\r\n+OK\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(used, 30);
        let error = value.extract_error().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Server(ServerErrorKind::NoScript));
        let (value, _) = parse(b"-CLOCKAHEAD write stamped 5 ms ahead\r\n")
            .unwrap()
            .unwrap();
        let error = value.extract_error().unwrap_err();
        assert_eq!(error.code(), Some("CLOCKAHEAD"));
        assert_eq!(error.detail(), Some("write stamped 5 ms ahead"));
    }

    #[test]
    fn every_cut_of_a_reply_is_incomplete_not_an_error() {
        let whole = b"*3\r\n:1\r\n:0\r\n$22\r\n0000000000001.000000.a\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(whole).unwrap().is_some());
    }

    #[test]
    fn bytes_that_are_not_resp2_are_errors_not_panics() {
        for bad in [
            &b"?x\r\n"[..],
            b"\r\n",
            b":x\r\n",
            b"$x\r\n",
            b"*-2\r\n",
            b"$3\r\nabcde\r\n",
            b"$18446744073709551615\r\n",
            b"%1\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err(), "nested too deep");
        let mut deepest = b"*1\r\n".repeat(MAX_DEPTH);
        deepest.extend_from_slice(b":1\r\n");
        assert!(parse(&deepest).unwrap().is_some());
    }
}
