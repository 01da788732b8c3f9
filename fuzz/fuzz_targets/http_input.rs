//! The HTTP API's input parsers, fed one input each: the `POST /cache`
//! body (`parse_put`), a key in a path (`key_from_path`) and an `ack`
//! level (`WriteAck`'s parse, which `?ack=` and `X-Write-Ack` use), each
//! under the default limits and under small ones the fuzzer can reach.
//!
//! Properties: an accepted body's key and value obey the limits, its value
//! is JSON and its ttl is in range, and the request written back as a body
//! parses to itself; what small limits accept, the defaults accept alike;
//! a refused body is a 400 or 413, never a server error. An accepted path
//! key obeys the limits and round-trips through percent-encoding. An ack
//! level is accepted exactly when it names one, in any ASCII case.
#![no_main]

use balancer::config::{Limits, WriteAck};
use balancer::http::body::{PutRequest, key_from_path, parse_put};
use balancer::http::rejection::Rejection;
use balancer::input::MAX_TTL_MS;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

/// Limits small enough for the fuzzer's inputs to cross.
const SMALL: Limits = Limits {
    max_key_bytes: 8,
    max_value_bytes: 16,
};

fuzz_target!(|data: &[u8]| {
    let small = put_body(data, &SMALL);
    let default = put_body(data, &Limits::default());
    if let Some(small) = small {
        let default = default.expect("what small limits accept, the defaults accept");
        assert_eq!(summary(&small), summary(&default));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        path_key(text, &SMALL);
        path_key(text, &Limits::default());
        ack(text);
    }
});

fn summary(r: &PutRequest) -> (&str, &str, Option<u64>) {
    (&r.key, &r.json, r.ttl)
}

/// Checks what `parse_put` makes of `body`, returning it when accepted.
fn put_body(body: &[u8], limits: &Limits) -> Option<PutRequest> {
    let req = match parse_put(body, limits) {
        Ok(req) => req,
        Err(rejection) => {
            let status = rejection.status_and_code().0.as_u16();
            assert!(
                matches!(
                    rejection,
                    Rejection::BadRequest { .. } | Rejection::TooLarge(_)
                ),
                "{status} {rejection:?}"
            );
            return None;
        }
    };
    assert!(!req.key.is_empty() && req.key.len() <= limits.max_key_bytes);
    assert!(req.json.len() <= limits.max_value_bytes);
    serde_json::from_str::<&RawValue>(&req.json).expect("the value is JSON");
    if let Some(ttl) = req.ttl {
        assert!((1..=MAX_TTL_MS / 1000).contains(&ttl), "ttl {ttl}");
    }
    let key = serde_json::to_string(&req.key).expect("a string serializes");
    let ttl = req.ttl.map_or("null".to_string(), |t| t.to_string());
    let again = format!(r#"{{"ttl":{ttl},"value":{},"key":{key}}}"#, req.json);
    let again = parse_put(again.as_bytes(), limits).expect("written back, it is accepted");
    assert_eq!(summary(&again), summary(&req));
    Some(req)
}

/// Checks what `key_from_path` makes of `encoded`.
fn path_key(encoded: &str, limits: &Limits) {
    let key = match key_from_path(encoded, limits) {
        Ok(key) => key,
        Err(rejection) => {
            let code = rejection.status_and_code().1;
            assert!(
                ["invalid_key", "empty_key", "key_too_long"].contains(&code),
                "{code}"
            );
            return;
        }
    };
    assert!(!key.is_empty() && key.len() <= limits.max_key_bytes);
    if !encoded.contains('%') {
        assert_eq!(key, encoded, "nothing to decode");
    }
    // Every byte escaped, and only the reserved ones (as a client would).
    let all: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let some: String = key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02x}"),
        })
        .collect();
    for encoded in [all, some] {
        assert_eq!(key_from_path(&encoded, limits).ok().as_ref(), Some(&key));
    }
}

/// Checks the parse of an acknowledgement level.
fn ack(text: &str) {
    let named = [
        ("one", WriteAck::One),
        ("quorum", WriteAck::Quorum),
        ("all", WriteAck::All),
    ]
    .into_iter()
    .find(|(name, _)| text.eq_ignore_ascii_case(name))
    .map(|(_, ack)| ack);
    assert_eq!(text.parse::<WriteAck>().ok(), named, "{text:?}");
}
