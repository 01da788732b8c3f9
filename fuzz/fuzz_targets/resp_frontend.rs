//! The RESP front end's request parser (`balancer::resp::parse`), which
//! resumes a request across reads through its `Partial` state.
//!
//! The input is what a client sent. It is parsed whole, request after
//! request, and again arriving in pieces (the unused tail kept and one
//! `Partial` carried along, as the server does), under the default bulk
//! limit (1 MiB, the value limit) and a tiny one (3 bytes).
//!
//! Properties: both ways yield the same requests, the same error and the
//! same unused tail; every request takes at least one byte (so a loop over
//! a buffer ends) and stays within the caps (`max_bulk`, `MAX_ARGS`,
//! `MAX_INLINE`, `MAX_REQUEST`); each request's arguments, written back as
//! a multibulk request and as a quoted inline line, parse to themselves
//! (a multibulk with a bulk over the limit is refused instead). Nothing
//! panics; an endless loop or unbounded allocation is caught by
//! libFuzzer's timeout and memory limits.
#![no_main]

use balancer::resp::parse::{MAX_ARGS, MAX_INLINE, MAX_REQUEST, Partial, ProtocolError, parse};
use balancer_fuzz::pieces;
use libfuzzer_sys::fuzz_target;

/// What a connection made of its bytes: each request's arguments or the
/// error that ended it, and the bytes left unparsed.
type Outcome = (Vec<Result<Vec<Vec<u8>>, ProtocolError>>, usize);

fuzz_target!(|data: &[u8]| {
    for max_bulk in [1024 * 1024, 3] {
        let whole = read(data, &[data.len()], max_bulk);
        let in_pieces = read(data, &pieces(data), max_bulk);
        assert_eq!(whole, in_pieces, "max_bulk {max_bulk}");
        for args in whole.0.iter().flatten() {
            round_trip(args, max_bulk);
        }
    }
});

/// Feeds `data` in pieces of the given sizes to one connection's buffer,
/// parsing every complete request after each piece.
fn read(data: &[u8], sizes: &[usize], max_bulk: usize) -> Outcome {
    let (mut buf, mut requests) = (Vec::new(), Vec::new());
    let mut partial = Partial::default();
    let mut at = 0;
    for &size in sizes {
        buf.extend_from_slice(&data[at..at + size]);
        at += size;
        loop {
            match parse(&buf, max_bulk, &mut partial) {
                Ok(Some(request)) => {
                    let used = request.consumed;
                    assert!(used > 0 && used <= buf.len(), "took {used} bytes");
                    assert!(used <= MAX_REQUEST && request.args.len() <= MAX_ARGS);
                    if buf[0] == b'*' {
                        assert!(request.args.iter().all(|a| a.len() <= max_bulk));
                    } else {
                        assert!(used <= MAX_INLINE + 1, "an inline line of {used} bytes");
                    }
                    requests.push(Ok(request.args));
                    buf.drain(..used);
                }
                Ok(None) => break,
                Err(e) => {
                    requests.push(Err(e));
                    return (requests, data.len() - at + buf.len());
                }
            }
        }
    }
    (requests, buf.len())
}

/// Checks that `args` written back as a request parse to themselves.
fn round_trip(args: &[Vec<u8>], max_bulk: usize) {
    let mut multibulk = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        multibulk.extend(format!("${}\r\n", arg.len()).bytes());
        multibulk.extend(arg);
        multibulk.extend(b"\r\n");
    }
    let parsed = parse(&multibulk, max_bulk, &mut Partial::default());
    if args.iter().all(|a| a.len() <= max_bulk) {
        let request = parsed.expect("well formed").expect("complete");
        assert_eq!(
            (request.args.as_slice(), request.consumed),
            (args, multibulk.len())
        );
    } else {
        assert_eq!(parsed, Err(ProtocolError("invalid bulk length".into())));
    }

    let mut inline = Vec::new();
    for arg in args {
        inline.extend(b" \"");
        for &b in arg {
            let hex = |n: u8| b"0123456789abcdef"[usize::from(n)];
            inline.extend([b'\\', b'x', hex(b >> 4), hex(b & 15)]);
        }
        inline.push(b'"');
    }
    inline.extend(b"\r\n");
    let request = parse(&inline, max_bulk, &mut Partial::default())
        .expect("well formed")
        .expect("complete");
    assert_eq!(
        (request.args.as_slice(), request.consumed),
        (args, inline.len())
    );
}
