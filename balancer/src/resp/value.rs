//! How RESP's byte strings and the cluster's JSON values map, so that one
//! key space serves both front doors. Pure.
//!
//! - `SET k v` stores `v` as a JSON string: `GET /cache/k` answers
//!   `"value": "v"`. `v` must be UTF-8 (a JSON string holds text), else
//!   the `SET` is refused; a client with binary data encodes it (base64).
//! - `GET k` answers a stored JSON string as its text, and any other JSON
//!   value (object, array, number, `true`, `null`) as its JSON text,
//!   exactly as stored: `POST /cache {"key":"k","value":{"a":1}}` then
//!   `GET k` gives `{"a":1}`.
//!
//! So whatever `SET` stored, `GET` gives back byte for byte; a JSON value
//! written over HTTP reads as its JSON text.

/// The JSON text `SET` stores for `value`; `Err` says why it cannot.
pub fn to_json(value: &[u8]) -> Result<String, &'static str> {
    let text = std::str::from_utf8(value).map_err(|_| {
        "ERR value is not UTF-8: this balancer stores values as JSON text; encode binary data (base64, for one)"
    })?;
    Ok(serde_json::to_string(text).expect("a string serializes"))
}

/// The bytes `GET` answers for the stored JSON text `json`.
pub fn from_json(json: &[u8]) -> Vec<u8> {
    if json.first() == Some(&b'"')
        && let Ok(text) = serde_json::from_slice::<String>(json)
    {
        return text.into_bytes();
    }
    json.to_vec()
}

/// A key as the cluster names it: RESP keys are bytes, the cluster's are
/// UTF-8 text (they travel in URL paths too).
pub fn key(arg: &[u8]) -> Result<&str, &'static str> {
    std::str::from_utf8(arg).map_err(|_| "ERR key is not UTF-8: keys are text in this balancer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_set_stores_get_gives_back() {
        for value in [
            "plain",
            "",
            "with \"quotes\" and \\ and \n",
            "{\"a\":1}",
            "42",
            "é",
        ] {
            let json = to_json(value.as_bytes()).unwrap();
            assert!(serde_json::from_str::<String>(&json).is_ok(), "{json}");
            assert_eq!(from_json(json.as_bytes()), value.as_bytes());
        }
    }

    #[test]
    fn json_written_over_http_reads_as_its_text() {
        assert_eq!(from_json(br#"{"a": [1, 2]}"#), br#"{"a": [1, 2]}"#);
        assert_eq!(from_json(b"null"), b"null");
        assert_eq!(from_json(b"3.50"), b"3.50");
        assert_eq!(from_json(br#""\u00e9\n""#), "é\n".as_bytes());
    }

    #[test]
    fn binary_values_and_keys_are_refused() {
        assert!(to_json(&[0xff, 0xfe]).is_err());
        assert!(key(&[0xc3]).is_err());
        assert_eq!(key(b"user:1"), Ok("user:1"));
    }
}
