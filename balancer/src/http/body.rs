//! Reading and checking client input: the `POST /cache` body and keys in
//! paths. Every rule here yields a 400 or 413 with a reason, before any
//! node or index is touched.

use std::collections::HashMap;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use serde_json::value::RawValue;

use super::rejection::Rejection;
use crate::config::Limits;
use crate::input;

/// Longest accepted TTL, in the API's seconds.
const MAX_TTL_SECONDS: u64 = input::MAX_TTL_MS / 1000;

/// Bytes a body may carry beyond its key and value (field names, spacing).
const BODY_OVERHEAD_BYTES: usize = 64 * 1024;

/// A checked `POST /cache` request.
#[derive(Debug)]
pub struct PutRequest {
    /// The key, within the limits.
    pub key: String,
    /// The value's JSON text exactly as sent.
    pub json: String,
    /// The time to live in seconds, when the body gave one.
    pub ttl: Option<u64>,
}

/// Reads the body, refusing more than the limits allow.
pub(super) async fn read(body: Incoming, limits: &Limits) -> Result<bytes::Bytes, Rejection> {
    // A key may be escaped in JSON to up to 6 bytes a byte (\u00XX).
    read_at_most(
        body,
        limits.max_value_bytes + 6 * limits.max_key_bytes + BODY_OVERHEAD_BYTES,
    )
    .await
}

/// Reads the body, refusing more than `max` bytes.
pub(super) async fn read_at_most(body: Incoming, max: usize) -> Result<bytes::Bytes, Rejection> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Rejection::TooLarge(format!(
            "request body is over {max} bytes"
        ))),
        Err(e) => Err(Rejection::bad_request(
            "bad_body",
            format!("cannot read body: {e}"),
        )),
    }
}

/// Parses and checks a `POST /cache` body.
pub fn parse_put(body: &[u8], limits: &Limits) -> Result<PutRequest, Rejection> {
    let fields: HashMap<String, &RawValue> = serde_json::from_slice(body).map_err(|e| {
        Rejection::bad_request(
            "invalid_json",
            format!("body must be a JSON object with key, value and optional ttl: {e}"),
        )
    })?;
    if let Some(unknown) = fields
        .keys()
        .find(|f| !["key", "value", "ttl"].contains(&f.as_str()))
    {
        return Err(Rejection::bad_request(
            "unknown_field",
            format!("unknown field {unknown:?}; expected key, value, ttl"),
        ));
    }
    let key = fields
        .get("key")
        .ok_or_else(|| Rejection::bad_request("missing_key", "field \"key\" is required"))?;
    let key: String = serde_json::from_str(key.get())
        .map_err(|_| Rejection::bad_request("invalid_key", "field \"key\" must be a string"))?;
    check_key(&key, limits)?;
    let json = fields
        .get("value")
        .ok_or_else(|| Rejection::bad_request("missing_value", "field \"value\" is required"))?
        .get();
    input::check_value(json, limits)?;
    let ttl = match fields.get("ttl").map(|t| t.get()) {
        None | Some("null") => None,
        Some(text) => Some(parse_ttl(text)?),
    };
    Ok(PutRequest {
        key,
        json: json.to_string(),
        ttl,
    })
}

/// A TTL is a whole number of seconds, however JSON spells it: `5`, `5.0`
/// and `5e0` are the same number (JSON Schema's `integer`, and what
/// JavaScript's `JSON.stringify` may send).
fn parse_ttl(text: &str) -> Result<u64, Rejection> {
    let whole = serde_json::from_str::<serde_json::Number>(text)
        .ok()
        .and_then(|n| {
            n.as_u64().or_else(|| {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && (1.0..=MAX_TTL_SECONDS as f64).contains(&f))
                    .then_some(f as u64)
            })
        });
    match whole {
        Some(t) if (1..=MAX_TTL_SECONDS).contains(&t) => Ok(t),
        _ => Err(Rejection::bad_request(
            "invalid_ttl",
            format!(
                "ttl must be a whole number of seconds from 1 to {MAX_TTL_SECONDS}, got {text}"
            ),
        )),
    }
}

/// Decodes a key taken from a URL path and checks it.
pub fn key_from_path(encoded: &str, limits: &Limits) -> Result<String, Rejection> {
    let key = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| Rejection::bad_request("invalid_key", "key in the path is not UTF-8"))?
        .into_owned();
    check_key(&key, limits)?;
    Ok(key)
}

fn check_key(key: &str, limits: &Limits) -> Result<(), Rejection> {
    input::check_key(key, limits).map_err(Rejection::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(body: &str) -> Result<PutRequest, Rejection> {
        parse_put(body.as_bytes(), &Limits::default())
    }

    fn code(r: Result<PutRequest, Rejection>) -> &'static str {
        r.unwrap_err().status_and_code().1
    }

    #[test]
    fn keeps_value_text_exactly() {
        let r = put(r#"{"key":"k","value":{"a": [1.50, "é", null]},"ttl":5}"#).unwrap();
        assert_eq!(r.key, "k");
        assert_eq!(r.json, r#"{"a": [1.50, "é", null]}"#);
        assert_eq!(r.ttl, Some(5));
        for (spelled, seconds) in [("5.0", 5), ("1e2", 100), ("3.0e1", 30)] {
            let body = format!(r#"{{"key":"k","value":1,"ttl":{spelled}}}"#);
            assert_eq!(put(&body).unwrap().ttl, Some(seconds), "ttl {spelled}");
        }
        assert_eq!(put(r#"{"key":"k","value":null}"#).unwrap().json, "null");
        assert_eq!(
            put(r#"{"key":"k","value":1,"ttl":null}"#).unwrap().ttl,
            None
        );
    }

    #[test]
    fn rejects_each_bad_input_with_its_reason() {
        assert_eq!(code(put("{")), "invalid_json");
        assert_eq!(code(put("[1]")), "invalid_json");
        assert_eq!(code(put(r#"{"value":1}"#)), "missing_key");
        assert_eq!(code(put(r#"{"key":7,"value":1}"#)), "invalid_key");
        assert_eq!(code(put(r#"{"key":"","value":1}"#)), "empty_key");
        assert_eq!(code(put(r#"{"key":"k"}"#)), "missing_value");
        assert_eq!(
            code(put(r#"{"key":"k","value":1,"extra":2}"#)),
            "unknown_field"
        );
        for ttl in [
            "0",
            "-1",
            "1.5",
            "0.0",
            "-5.0",
            "1e300",
            "\"5\"",
            "true",
            "99999999999999",
        ] {
            let body = format!(r#"{{"key":"k","value":1,"ttl":{ttl}}}"#);
            assert_eq!(code(put(&body)), "invalid_ttl", "ttl {ttl}");
        }
        let long_key = "k".repeat(1025);
        assert_eq!(
            code(put(&format!(r#"{{"key":"{long_key}","value":1}}"#))),
            "key_too_long"
        );
        let big = format!(r#"{{"key":"k","value":"{}"}}"#, "x".repeat(1024 * 1024));
        assert_eq!(code(put(&big)), "too_large");
    }

    #[test]
    fn decodes_path_keys() {
        let limits = Limits::default();
        assert_eq!(key_from_path("a%20b%2Fc", &limits).unwrap(), "a b/c");
        assert!(key_from_path("%FF", &limits).is_err());
        assert!(key_from_path("", &limits).is_err());
    }
}
