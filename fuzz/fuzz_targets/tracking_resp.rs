//! The RESP3 parser of the `CLIENT TRACKING` streams
//! (`balancer::tracking::resp`) and the reader that turns a stream's
//! bytes into invalidations (`balancer::tracking::frames::Reader`).
//!
//! Properties: a frame parsed from the input depends on its own bytes
//! only (parsing just them gives it again) and every cut of them is
//! incomplete, not an error; written back by the encoder below, alone or
//! after an attribute, it parses to itself. The reader, fed the input
//! whole and fed it in pieces as reads would bring it, applies the same
//! events and fails alike. Nothing panics; an endless loop or unbounded
//! allocation is caught by libFuzzer's timeout and memory limits.
#![no_main]

use balancer::tracking::frames::{Event, Reader};
use balancer::tracking::resp::{self, Frame};
use balancer_fuzz::pieces;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = resp::parse(data) {
        assert!(used > 0 && used <= data.len());
        let own = &data[..used];
        assert_eq!(resp::parse(own), Ok(Some((frame.clone(), used))));
        for cut in [0, used / 2, used - 1] {
            assert_eq!(resp::parse(&own[..cut]), Ok(None), "cut at {cut}");
        }
        let wire = encode(&frame);
        assert_eq!(resp::parse(&wire), Ok(Some((frame.clone(), wire.len()))));
        let mut annotated = b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.5\r\n".to_vec();
        annotated.extend(&wire);
        let parsed = resp::parse(&annotated);
        assert_eq!(parsed, Ok(Some((frame, annotated.len()))));
    }
    let whole = read(data, &[data.len()]);
    let in_pieces = read(data, &pieces(data));
    assert_eq!(whole, in_pieces);
});

/// The events a fresh reader applies to `data` arriving in pieces of the
/// given sizes (the unused tail kept, as a stream keeps it), and whether
/// it failed.
fn read(data: &[u8], sizes: &[usize]) -> (Vec<Event>, bool) {
    let mut reader = Reader::default();
    let (mut buf, mut events) = (Vec::new(), Vec::new());
    let mut at = 0;
    for &size in sizes {
        buf.extend_from_slice(&data[at..at + size]);
        at += size;
        match reader.feed(&buf, |e| events.push(e)) {
            Ok(used) => {
                assert!(used <= buf.len());
                buf.drain(..used);
            }
            Err(_) => return (events, true),
        }
    }
    (events, false)
}

/// `frame` in RESP3, one canonical way for each kind.
fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    write(frame, &mut out);
    out
}

fn write(frame: &Frame, out: &mut Vec<u8>) {
    let blob = |kind: u8, bytes: &[u8], out: &mut Vec<u8>| {
        out.push(kind);
        out.extend(format!("{}\r\n", bytes.len()).bytes());
        out.extend(bytes);
        out.extend(b"\r\n");
    };
    let line = |kind: u8, text: &str, out: &mut Vec<u8>| {
        out.push(kind);
        out.extend(text.bytes());
        out.extend(b"\r\n");
    };
    match frame {
        Frame::Simple(text) => line(b'+', text, out),
        // A blob error: the text may hold a CRLF.
        Frame::Error(text) => blob(b'!', text.as_bytes(), out),
        Frame::Bulk(bytes) => blob(b'$', bytes, out),
        Frame::Null => out.extend(b"_\r\n"),
        Frame::Scalar(text) => line(b':', text, out),
        Frame::Array(items) | Frame::Push(items) => {
            let kind = if matches!(frame, Frame::Push(_)) {
                '>'
            } else {
                '*'
            };
            out.extend(format!("{kind}{}\r\n", items.len()).bytes());
            for item in items {
                write(item, out);
            }
        }
    }
}
