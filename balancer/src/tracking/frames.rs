//! A tracking connection's bytes turned into events as they arrive, across
//! reads, each byte parsed once. Pure: no I/O here.
//!
//! One invalidation push can name tens of thousands of keys (a large
//! `MSET`, an eviction burst) and take many reads to arrive. Re-parsing it
//! from its start on every read would grow quadratically with its size,
//! and holding its keys back until the whole push is in would leave the
//! cache serving values that the keys already read say have changed. So
//! the [`Reader`] applies each key the moment its own bytes are in and
//! keeps its place inside the push for the next read. Every other frame
//! on this connection (`PONG`, the handshake's replies) is small and is
//! parsed whole.

use super::resp::{self, Frame, ProtocolError, Start};

/// What the connection said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This key changed.
    Invalidate(Vec<u8>),
    /// Everything may have changed (a flush).
    Flush,
    /// A frame other than an invalidation: a reply, or another push.
    Reply(Frame),
}

/// Where the reader stands in the byte stream.
#[derive(Debug, Default)]
pub struct Reader {
    /// Keys still to come of the invalidation push being read.
    keys_left: usize,
}

impl Reader {
    /// Hands `apply` every event complete in `buf`, in order, and returns
    /// the bytes they took. The caller drops those bytes and offers the
    /// rest again, with whatever arrives after them.
    pub fn feed(
        &mut self,
        buf: &[u8],
        mut apply: impl FnMut(Event),
    ) -> Result<usize, ProtocolError> {
        let mut used = 0;
        loop {
            let rest = &buf[used..];
            if self.keys_left > 0 {
                let Some((key, n)) = resp::parse(rest)? else {
                    return Ok(used);
                };
                self.keys_left -= 1;
                used += n;
                if let Frame::Bulk(key) = key {
                    apply(Event::Invalidate(key));
                }
                continue;
            }
            match resp::invalidation_start(rest)? {
                None => return Ok(used),
                Some((Start::Keys(count), n)) => {
                    self.keys_left = count;
                    used += n;
                }
                Some((Start::Flush, n)) => {
                    used += n;
                    apply(Event::Flush);
                }
                Some((Start::Other, _)) => {
                    let Some((frame, n)) = resp::parse(rest)? else {
                        return Ok(used);
                    };
                    used += n;
                    apply(Event::Reply(frame));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An invalidation push of `keys`, in RESP3.
    fn push(keys: &[String]) -> Vec<u8> {
        let mut wire = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", keys.len()).into_bytes();
        for key in keys {
            wire.extend(format!("${}\r\n{key}\r\n", key.len()).bytes());
        }
        wire
    }

    /// Feeds `wire` to one reader in pieces of the given sizes, as reads
    /// would bring it, keeping the unused tail as a stream does; returns
    /// the events, and how many had been applied after each piece.
    fn read_in_pieces(wire: &[u8], pieces: &[usize]) -> (Vec<Event>, Vec<usize>) {
        let mut reader = Reader::default();
        let (mut buf, mut events, mut after_each) = (Vec::new(), Vec::new(), Vec::new());
        let mut at = 0;
        for &size in pieces {
            buf.extend_from_slice(&wire[at..at + size]);
            at += size;
            let used = reader.feed(&buf, |e| events.push(e)).unwrap();
            buf.drain(..used);
            after_each.push(events.len());
        }
        assert!(buf.is_empty(), "every byte used");
        (events, after_each)
    }

    fn wire_and_events(keys: usize) -> (Vec<u8>, Vec<Event>) {
        let keys: Vec<String> = (0..keys).map(|i| format!("key:{i}")).collect();
        let mut wire = b"+PONG\r\n".to_vec();
        wire.extend(push(&keys));
        wire.extend(b">2\r\n$10\r\ninvalidate\r\n_\r\n+PONG\r\n");
        let mut events = vec![Event::Reply(Frame::Simple("PONG".into()))];
        events.extend(
            keys.iter()
                .map(|k| Event::Invalidate(k.clone().into_bytes())),
        );
        events.push(Event::Flush);
        events.push(Event::Reply(Frame::Simple("PONG".into())));
        (wire, events)
    }

    /// Piece sizes of `size` bytes covering `len`.
    fn pieces(len: usize, size: usize) -> Vec<usize> {
        let mut sizes = vec![size; len / size];
        sizes.push(len % size);
        sizes
    }

    #[test]
    fn a_stream_split_at_any_byte_reads_the_same() {
        let (wire, expected) = wire_and_events(200);
        for cut in 0..=wire.len() {
            let (events, _) = read_in_pieces(&wire, &[cut, wire.len() - cut]);
            assert_eq!(events, expected, "cut at {cut}");
        }
        let (events, _) = read_in_pieces(&wire, &pieces(wire.len(), 1));
        assert_eq!(events, expected, "one byte at a time");
    }

    #[test]
    fn each_key_of_a_long_push_is_applied_as_soon_as_it_is_in() {
        let (wire, expected) = wire_and_events(5000);
        let (events, after_each) = read_in_pieces(&wire, &pieces(wire.len(), 1));
        assert_eq!(events, expected);
        // The first key's last byte completes it: the rest of the push
        // is not waited for.
        let first_key_end = 7 + wire.windows(7).position(|w| w == b"key:0\r\n").unwrap();
        assert_eq!(after_each[first_key_end - 2], 1, "key:0 needs its CRLF");
        assert_eq!(after_each[first_key_end - 1], 2, "key:0 is in");
        let (events, _) = read_in_pieces(&wire, &pieces(wire.len(), 4096));
        assert_eq!(events, expected, "in 4 KiB reads");
    }

    #[test]
    fn a_malformed_key_array_is_an_error() {
        let mut reader = Reader::default();
        let wire = b">2\r\n$10\r\ninvalidate\r\n*1\r\n?x\r\n";
        assert!(reader.feed(wire, |_| {}).is_err());
    }
}
