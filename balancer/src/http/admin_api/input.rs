//! The admin API's input, checked before ZooKeeper is asked, pure: node
//! ids (in bodies and paths), the bodies of
//! `POST /admin/nodes` and `POST /admin/rebalance`, and `?force=`. Each
//! rule broken is a 400 whose message names the field; an unknown field
//! is refused, so a typo never falls back to a default.

use coordination::paths::{NodeEntry, RebalanceControl};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::super::rejection::Rejection;

/// Longest node id, in bytes: ids go into every index entry and
/// `X-Cache-Node` header that names the node.
const MAX_ID_BYTES: usize = 128;

/// A checked `POST /admin/nodes` body.
#[derive(Debug, PartialEq)]
pub(super) struct NewNode {
    pub(super) id: String,
    pub(super) entry: NodeEntry,
}

/// Parses and checks `{"id", "addr", "weight"}`; the entry is `active`.
pub(super) fn parse_new_node(body: &[u8]) -> Result<NewNode, Rejection> {
    let fields = object(body, &["id", "addr", "weight"])?;
    let id = text(&fields, "id")?;
    check_id(&id).map_err(|why| invalid("id", format!("field \"id\" {why}")))?;
    let addr = text(&fields, "addr")?;
    memreport::check_host_port(&addr)
        .map_err(|why| invalid("addr", format!("field \"addr\": {why}")))?;
    let weight = fields
        .get("weight")
        .ok_or_else(|| missing("weight"))?
        .as_u64()
        .filter(|w| *w >= 1)
        .and_then(|w| u32::try_from(w).ok())
        .ok_or_else(|| {
            invalid(
                "weight",
                format!(
                    "field \"weight\" must be a whole number from 1 to {}",
                    u32::MAX
                ),
            )
        })?;
    Ok(NewNode {
        id,
        entry: NodeEntry::active(addr, weight),
    })
}

/// Parses and checks `{"action": "start" | "pause"}`.
pub(super) fn parse_control(body: &[u8]) -> Result<RebalanceControl, Rejection> {
    let fields = object(body, &["action"])?;
    match text(&fields, "action")?.as_str() {
        "start" => Ok(RebalanceControl { paused: false }),
        "pause" => Ok(RebalanceControl { paused: true }),
        other => Err(invalid(
            "action",
            format!("field \"action\" must be \"start\" or \"pause\", not {other:?}"),
        )),
    }
}

/// The node id of a path segment, percent-decoded and checked.
pub(super) fn node_id(encoded: &str) -> Result<String, Rejection> {
    let id = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| Rejection::bad_request("invalid_id", "the node id is not UTF-8"))?;
    check_id(&id)
        .map_err(|why| Rejection::bad_request("invalid_id", format!("the node id {why}")))?;
    Ok(id.into_owned())
}

/// `?force=`: absent or `false` is no, `true` is yes.
pub(super) fn force(value: Option<&str>) -> Result<bool, Rejection> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Rejection::bad_request(
            "invalid_force",
            format!("force must be true or false, not {other:?}"),
        )),
    }
}

/// Why `id` cannot name a node, if it cannot: it is the name of a
/// ZooKeeper node under `/dlb/nodes` (none of the characters ZooKeeper
/// refuses, no `/`, not `.` or `..`), and no comma, which separates ids in
/// `X-Cache-Node` (the config refuses it too), nor spacing.
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(format!("must be 1 to {MAX_ID_BYTES} bytes"));
    }
    if id == "." || id == ".." {
        return Err(format!("must not be {id:?}"));
    }
    let refused = |c: char| {
        c.is_control()
            || c.is_whitespace()
            || matches!(c, '/' | ',' | '\u{E000}'..='\u{F8FF}' | '\u{FFF0}'..='\u{FFFF}')
    };
    match id.chars().find(|c| refused(*c)) {
        Some(c) => Err(format!("must not contain {c:?}")),
        None => Ok(()),
    }
}

/// The body as a JSON object of `known` fields only.
fn object(body: &[u8], known: &[&str]) -> Result<Map<String, Value>, Rejection> {
    let fields: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        Rejection::bad_request(
            "invalid_json",
            format!("body must be a JSON object with {known:?}: {e}"),
        )
    })?;
    if let Some(unknown) = fields.keys().find(|f| !known.contains(&f.as_str())) {
        return Err(Rejection::bad_request(
            "unknown_field",
            format!("unknown field {unknown:?}; expected {known:?}"),
        ));
    }
    Ok(fields)
}

/// The string field `name`.
fn text(fields: &Map<String, Value>, name: &'static str) -> Result<String, Rejection> {
    match fields.get(name) {
        None => Err(missing(name)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(name, format!("field {name:?} must be a string"))),
    }
}

fn missing(field: &'static str) -> Rejection {
    Rejection::BadField {
        code: "missing_field",
        field,
        message: format!("field {field:?} is required"),
    }
}

fn invalid(field: &'static str, message: String) -> Rejection {
    Rejection::BadField {
        code: "invalid_field",
        field,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal's code and message.
    fn refusal(e: Rejection) -> (&'static str, String) {
        let message = e.to_string();
        (e.status_and_code().1, message)
    }

    #[test]
    fn a_new_node_is_active_with_its_weight() {
        let body = br#"{"id": "n1", "addr": "10.0.0.1:6379", "weight": 2}"#;
        assert_eq!(
            parse_new_node(body).unwrap(),
            NewNode {
                id: "n1".into(),
                entry: NodeEntry::active("10.0.0.1:6379", 2),
            }
        );
        let ip_id = br#"{"id": "127.0.0.1:5300", "addr": "127.0.0.1:5300", "weight": 1}"#;
        assert_eq!(parse_new_node(ip_id).unwrap().id, "127.0.0.1:5300");
    }

    #[test]
    fn a_bad_node_body_is_refused_naming_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"addr": "h:1", "weight": 1}"#, "missing_field", "\"id\""),
            (
                r#"{"id": 7, "addr": "h:1", "weight": 1}"#,
                "invalid_field",
                "\"id\"",
            ),
            (
                r#"{"id": "a/b", "addr": "h:1", "weight": 1}"#,
                "invalid_field",
                "\"id\"",
            ),
            (
                r#"{"id": "..", "addr": "h:1", "weight": 1}"#,
                "invalid_field",
                "\"id\"",
            ),
            (
                r#"{"id": "a,b", "addr": "h:1", "weight": 1}"#,
                "invalid_field",
                "\"id\"",
            ),
            (
                r#"{"id": "a b", "addr": "h:1", "weight": 1}"#,
                "invalid_field",
                "\"id\"",
            ),
            (
                r#"{"id": "", "addr": "h:1", "weight": 1}"#,
                "invalid_field",
                "\"id\"",
            ),
            (r#"{"id": "n", "weight": 1}"#, "missing_field", "\"addr\""),
            (
                r#"{"id": "n", "addr": "nope", "weight": 1}"#,
                "invalid_field",
                "\"addr\"",
            ),
            (
                r#"{"id": "n", "addr": "h:0", "weight": 1}"#,
                "invalid_field",
                "\"addr\"",
            ),
            (
                r#"{"id": "n", "addr": "h:1"}"#,
                "missing_field",
                "\"weight\"",
            ),
            (
                r#"{"id": "n", "addr": "h:1", "weight": 0}"#,
                "invalid_field",
                "\"weight\"",
            ),
            (
                r#"{"id": "n", "addr": "h:1", "weight": -1}"#,
                "invalid_field",
                "\"weight\"",
            ),
            (
                r#"{"id": "n", "addr": "h:1", "weight": 1.5}"#,
                "invalid_field",
                "\"weight\"",
            ),
            (
                r#"{"id": "n", "addr": "h:1", "weight": "2"}"#,
                "invalid_field",
                "\"weight\"",
            ),
            (
                r#"{"id": "n", "addr": "h:1", "weight": 4294967296}"#,
                "invalid_field",
                "\"weight\"",
            ),
            (
                r#"{"id": "n", "addr": "h:1", "weight": 1, "wieght": 2}"#,
                "unknown_field",
                "\"wieght\"",
            ),
            (r#"["n", "h:1", 1]"#, "invalid_json", "JSON object"),
            ("id=n", "invalid_json", "JSON object"),
        ];
        for (body, code, named) in cases {
            let (got, message) = refusal(parse_new_node(body.as_bytes()).unwrap_err());
            assert_eq!(got, *code, "{body}: {message}");
            assert!(message.contains(named), "{body}: {message}");
        }
        let long = format!(
            r#"{{"id": "{}", "addr": "h:1", "weight": 1}}"#,
            "n".repeat(129)
        );
        assert!(parse_new_node(long.as_bytes()).is_err());
    }

    #[test]
    fn the_rebalancer_is_started_or_paused_and_nothing_else() {
        let parse = |b: &str| parse_control(b.as_bytes());
        assert!(parse(r#"{"action": "pause"}"#).unwrap().paused);
        assert!(!parse(r#"{"action": "start"}"#).unwrap().paused);
        for (body, code) in [
            (r#"{"action": "stop"}"#, "invalid_field"),
            (r#"{"action": true}"#, "invalid_field"),
            ("{}", "missing_field"),
            (r#"{"action": "pause", "now": true}"#, "unknown_field"),
            ("pause", "invalid_json"),
        ] {
            let (got, message) = refusal(parse(body).unwrap_err());
            assert_eq!(got, code, "{body}: {message}");
        }
    }

    #[test]
    fn path_ids_are_decoded_then_checked() {
        assert_eq!(node_id("127.0.0.1:5300").unwrap(), "127.0.0.1:5300");
        assert_eq!(
            node_id("n%201").unwrap_err().status_and_code().1,
            "invalid_id"
        );
        assert_eq!(
            node_id("a%2Fb").unwrap_err().status_and_code().1,
            "invalid_id"
        );
        assert_eq!(
            node_id("%FF").unwrap_err().status_and_code().1,
            "invalid_id"
        );
        assert_eq!(node_id("caf%C3%A9").unwrap(), "café");
    }

    #[test]
    fn force_is_true_or_false() {
        assert!(!force(None).unwrap());
        assert!(!force(Some("false")).unwrap());
        assert!(force(Some("true")).unwrap());
        assert!(force(Some("yes")).is_err());
        assert!(force(Some("")).is_err());
    }
}
