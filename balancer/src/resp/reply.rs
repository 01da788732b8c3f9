//! Replies on the RESP port, written as RESP2 or, after `HELLO 3`, RESP3.
//! The two differ here only in how a null and a map are written. Pure: the
//! connection appends the bytes to its output buffer.

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Simple(&'static str),
    /// `-ERR ...`: the text after the `-`.
    Error(String),
    /// `:n`.
    Integer(i64),
    /// `$n` and the bytes.
    Bulk(Vec<u8>),
    /// A null bulk string (RESP2) or `_` (RESP3).
    Null,
    /// `*n` and the items.
    Array(Vec<Reply>),
    /// A map (RESP3 `%n`), written as a flat array in RESP2.
    Map(Vec<(&'static str, Reply)>),
}

impl Reply {
    /// A bulk string from text.
    pub fn text(s: impl Into<String>) -> Reply {
        Reply::Bulk(s.into().into_bytes())
    }

    /// Appends the reply to `out` in protocol version `protocol` (2 or 3).
    pub fn write(&self, protocol: u8, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => {
                let clean: Vec<u8> = s
                    .bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                    .collect();
                line(out, b'-', &clean);
            }
            Reply::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(bytes) => {
                line(out, b'$', bytes.len().to_string().as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Null if protocol >= 3 => out.extend_from_slice(b"_\r\n"),
            Reply::Null => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.write(protocol, out);
                }
            }
            Reply::Map(pairs) => {
                if protocol >= 3 {
                    line(out, b'%', pairs.len().to_string().as_bytes());
                } else {
                    line(out, b'*', (pairs.len() * 2).to_string().as_bytes());
                }
                for (key, value) in pairs {
                    Reply::text(*key).write(protocol, out);
                    value.write(protocol, out);
                }
            }
        }
    }
}

fn line(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply, protocol: u8) -> String {
        let mut out = Vec::new();
        reply.write(protocol, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_each_kind() {
        assert_eq!(wire(&Reply::Simple("OK"), 2), "+OK\r\n");
        assert_eq!(
            wire(&Reply::Error("ERR no\r\nsuch".into()), 2),
            "-ERR no  such\r\n"
        );
        assert_eq!(wire(&Reply::Integer(-2), 2), ":-2\r\n");
        assert_eq!(wire(&Reply::text("hé"), 2), "$3\r\nhé\r\n");
        assert_eq!(
            wire(&Reply::Array(vec![Reply::text("a"), Reply::Null]), 2),
            "*2\r\n$1\r\na\r\n$-1\r\n"
        );
    }

    #[test]
    fn nulls_and_maps_follow_the_protocol_version() {
        assert_eq!(wire(&Reply::Null, 3), "_\r\n");
        let map = Reply::Map(vec![("proto", Reply::Integer(3))]);
        assert_eq!(wire(&map, 3), "%1\r\n$5\r\nproto\r\n:3\r\n");
        assert_eq!(wire(&map, 2), "*2\r\n$5\r\nproto\r\n:3\r\n");
    }
}
