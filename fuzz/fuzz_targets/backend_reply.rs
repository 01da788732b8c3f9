//! The RESP2 reply parser of the balancer's own connections to the data
//! nodes and the index (`balancer::backend::reply`).
//!
//! Properties: a reply parsed from the input depends on its own bytes
//! only (parsing just them gives it again) and every cut of them is
//! incomplete, not an error; written back by the encoder below it parses
//! to itself. Fed in pieces as reads would bring it, retrying from the
//! start after each piece as the connection does, the input gives the
//! same replies and fails alike. Nothing panics; an endless loop or
//! unbounded allocation is caught by libFuzzer's timeout and memory
//! limits.
#![no_main]

use balancer::backend::reply;
use balancer_fuzz::pieces;
use libfuzzer_sys::fuzz_target;
use redis::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((value, used))) = reply::parse(data) {
        assert!(used > 0 && used <= data.len());
        let own = &data[..used];
        assert_eq!(reply::parse(own), Ok(Some((value.clone(), used))));
        for cut in [0, used / 2, used - 1] {
            assert_eq!(reply::parse(&own[..cut]), Ok(None), "cut at {cut}");
        }
        let wire = encode(&value);
        assert_eq!(reply::parse(&wire), Ok(Some((value, wire.len()))));
    }
    assert_eq!(replies(data, &[data.len()]), replies(data, &pieces(data)));
});

/// The replies read from `data` arriving in pieces of the given sizes,
/// and whether the bytes stopped following RESP2.
fn replies(data: &[u8], sizes: &[usize]) -> (Vec<Value>, bool) {
    let (mut buf, mut values, mut at) = (Vec::new(), Vec::new(), 0);
    for &size in sizes {
        buf.extend_from_slice(&data[at..at + size]);
        at += size;
        loop {
            match reply::parse(&buf) {
                Ok(Some((value, used))) => {
                    values.push(value);
                    buf.drain(..used);
                }
                Ok(None) => break,
                Err(_) => return (values, true),
            }
        }
    }
    (values, false)
}

/// `value` in RESP2, one canonical way for each kind.
fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Okay => out.extend(b"+OK\r\n"),
        Value::SimpleString(text) => out.extend(format!("+{text}\r\n").bytes()),
        Value::Int(n) => out.extend(format!(":{n}\r\n").bytes()),
        Value::Nil => out.extend(b"$-1\r\n"),
        Value::BulkString(bytes) => {
            out.extend(format!("${}\r\n", bytes.len()).bytes());
            out.extend(bytes);
            out.extend(b"\r\n");
        }
        Value::Array(items) => {
            out.extend(format!("*{}\r\n", items.len()).bytes());
            for item in items {
                write(item, out);
            }
        }
        Value::ServerError(e) => {
            let text = match e.details() {
                Some(details) => format!("-{} {details}\r\n", e.code()),
                None => format!("-{}\r\n", e.code()),
            };
            out.extend(text.bytes());
        }
        other => panic!("RESP2 has no {other:?}"),
    }
}
