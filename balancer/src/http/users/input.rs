//! Reading and checking the user-record API's input: the JSON bodies of
//! its POST routes and the query of `GET /getAllUsers`. Pure: each rule
//! broken is a 400 naming its code (and the field), before any node or
//! index is touched. Unknown fields are ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::query;
use super::super::rejection::Rejection;

/// Users a page lists when the query names no limit.
const DEFAULT_LIMIT: usize = 100;

/// Most users a page may list.
const MAX_LIMIT: usize = 1000;

/// A user record, as bodies carry it and as it is stored (in this field
/// order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct User {
    pub(super) name: String,
    pub(super) email: String,
    pub(super) username: String,
}

/// A checked `GET /getAllUsers` query.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PageQuery {
    /// List users after this username; from the start when `None`.
    pub(super) after: Option<String>,
    pub(super) limit: usize,
}

/// Refuses a body that is not declared `application/json` (parameters such
/// as `charset` aside): a browser page on another origin can send a
/// `text/plain` POST without asking first (no CORS preflight), but not a
/// JSON one, so this keeps other sites' pages from changing users. The
/// admin API's POST routes take the same rule.
pub(in crate::http) fn check_json_type(content_type: Option<&str>) -> Result<(), Rejection> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(Rejection::UnsupportedMediaType(
            content_type.unwrap_or("none").to_string(),
        )),
    }
}

/// Parses and checks a `{"name", "email", "username"}` body; the first
/// field that breaks a rule, in that order, is the one named.
pub(super) fn parse_user(body: &[u8]) -> Result<User, Rejection> {
    let fields = object(body)?;
    let name = text(&fields, "name")?;
    check_length("name", &name, 2, 32)?;
    let email = text(&fields, "email")?;
    check_length("email", &email, 11, 35)?;
    check_email(&email)?;
    let username = text(&fields, "username")?;
    check_username("username", &username)?;
    Ok(User {
        name,
        email,
        username,
    })
}

/// Parses and checks a body that names one user by `field` (`username`
/// for `getUser`, `id` for `deleteUser`).
pub(super) fn parse_username(body: &[u8], field: &'static str) -> Result<String, Rejection> {
    let username = text(&object(body)?, field)?;
    check_username(field, &username)?;
    Ok(username)
}

/// The stored record of `username`, if the value is one: a record that
/// breaks a rule, or names another user, was written around this API
/// (through `/cache` or RESP) and is not answered as a user.
pub(super) fn stored_user(json: &[u8], username: &str) -> Result<User, Rejection> {
    parse_user(json)
        .ok()
        .filter(|user| user.username == username)
        .ok_or(Rejection::NotAUser)
}

/// Reads `cursor` and `limit` from the query's parameters (`query.rs`
/// has refused any other); either may be absent, and an empty cursor is
/// the first page's. The cursor is the last username a page listed, so
/// anything else that is not a username is malformed; so is an empty
/// `limit=`, which is no number (the contract's `integer`).
pub(super) fn parse_page(params: &[(&'static str, String)]) -> Result<PageQuery, Rejection> {
    let limit = match query::value(params, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                Rejection::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {text:?}"),
                )
            })?,
    };
    let after = match query::value(params, "cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => {
            check_username("cursor", cursor).map_err(|_| {
                Rejection::bad_request(
                    "invalid_cursor",
                    format!("cursor {cursor:?} is not one a page returned"),
                )
            })?;
            Some(cursor.to_string())
        }
    };
    Ok(PageQuery { after, limit })
}

/// The body's fields, if it is a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    serde_json::from_slice(body).map_err(|e| {
        Rejection::bad_request("invalid_json", format!("body must be a JSON object: {e}"))
    })
}

/// The string `field`, present and a string.
fn text(fields: &Map<String, Value>, field: &'static str) -> Result<String, Rejection> {
    match fields.get(field) {
        None => Err(bad_field(
            "missing_field",
            field,
            format!("{field} is required"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(field, format!("{field} must be a string"))),
    }
}

fn check_length(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), Rejection> {
    let chars = value.chars().count();
    if (min..=max).contains(&chars) {
        return Ok(());
    }
    Err(invalid(
        field,
        format!("{field} must be {min} to {max} characters, got {chars}"),
    ))
}

fn check_email(email: &str) -> Result<(), Rejection> {
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err(invalid(
            "email",
            "email must contain one @ with something on both sides".into(),
        )),
    }
}

/// 5 to 20 characters from `A-Z a-z 0-9 _ . -`.
fn check_username(field: &'static str, username: &str) -> Result<(), Rejection> {
    check_length(field, username, 5, 20)?;
    if username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Ok(());
    }
    Err(invalid(
        field,
        format!("{field} may hold only letters A-Z and a-z, digits, _ . and -"),
    ))
}

fn invalid(field: &'static str, message: String) -> Rejection {
    bad_field("invalid_field", field, message)
}

fn bad_field(code: &'static str, field: &'static str, message: String) -> Rejection {
    Rejection::BadField {
        code,
        field,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code and field of a refused body.
    fn refused(r: Result<impl std::fmt::Debug, Rejection>) -> (&'static str, &'static str) {
        match r.unwrap_err() {
            Rejection::BadField { code, field, .. } => (code, field),
            other => (other.status_and_code().1, ""),
        }
    }

    fn user(name: &str, email: &str, username: &str) -> Result<User, Rejection> {
        let body = serde_json::json!({"name": name, "email": email, "username": username});
        parse_user(body.to_string().as_bytes())
    }

    #[test]
    fn only_json_bodies_are_taken() {
        for ok in ["application/json", "Application/JSON; charset=utf-8"] {
            assert!(check_json_type(Some(ok)).is_ok(), "{ok}");
        }
        for refused in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let e = check_json_type(refused).unwrap_err();
            assert_eq!(
                e.status_and_code().1,
                "unsupported_media_type",
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_valid_user_is_read_and_unknown_fields_ignored() {
        let body = br#"{"name":"Ada","email":"ada@example.com","username":"ada_l.1-x","age":36}"#;
        let u = parse_user(body).unwrap();
        assert_eq!((u.name.as_str(), u.username.as_str()), ("Ada", "ada_l.1-x"));
        let stored = serde_json::to_string(&u).unwrap();
        assert_eq!(
            stored,
            r#"{"name":"Ada","email":"ada@example.com","username":"ada_l.1-x"}"#
        );
        assert_eq!(stored_user(stored.as_bytes(), "ada_l.1-x").unwrap(), u);
        assert!(matches!(
            stored_user(b"42", "ada_l"),
            Err(Rejection::NotAUser)
        ));
        let ada = br#"{"name":"Ada","email":"ada@example.org","username":"ada_l"}"#;
        assert_eq!(stored_user(ada, "ada_l").unwrap().name, "Ada");
        assert!(matches!(
            stored_user(ada, "bob_b"),
            Err(Rejection::NotAUser)
        ));
        let empty = br#"{"name":"","email":"","username":""}"#;
        assert!(matches!(stored_user(empty, ""), Err(Rejection::NotAUser)));
    }

    #[test]
    fn each_rule_names_its_field() {
        let ok = ("Ada", "ada@example.com", "ada_l");
        assert!(user(ok.0, ok.1, ok.2).is_ok());
        // Lengths in characters, at both ends.
        assert!(user("Ad", ok.1, ok.2).is_ok());
        assert!(user(&"é".repeat(32), ok.1, ok.2).is_ok());
        assert!(user(ok.0, "a@bcdefghij", ok.2).is_ok());
        assert!(user(ok.0, ok.1, &"u".repeat(20)).is_ok());
        let cases = [
            (user("A", ok.1, ok.2), "name"),
            (user(&"é".repeat(33), ok.1, ok.2), "name"),
            (user(ok.0, "a@bcdefghi", ok.2), "email"),
            (user(ok.0, &format!("a@{}", "b".repeat(34)), ok.2), "email"),
            (user(ok.0, "ada.example.com", ok.2), "email"),
            (user(ok.0, "@adaexample.com", ok.2), "email"),
            (user(ok.0, "adaexample.com@", ok.2), "email"),
            (user(ok.0, "ada@exa@mple.com", ok.2), "email"),
            (user(ok.0, ok.1, "ada4"), "username"),
            (user(ok.0, ok.1, &"u".repeat(21)), "username"),
            (user(ok.0, ok.1, "ada lovelace"), "username"),
            (user(ok.0, ok.1, "adé_l"), "username"),
        ];
        for (result, field) in cases {
            assert_eq!(refused(result), ("invalid_field", field));
        }
    }

    #[test]
    fn missing_and_mistyped_fields_and_bodies_that_are_no_object() {
        let missing = br#"{"name":"Ada","username":"ada_l"}"#;
        assert_eq!(refused(parse_user(missing)), ("missing_field", "email"));
        let typed = br#"{"name":7,"email":"ada@example.com","username":"ada_l"}"#;
        assert_eq!(refused(parse_user(typed)), ("invalid_field", "name"));
        for body in [&b"[1]"[..], b"\"x\"", b"{", b""] {
            assert_eq!(refused(parse_user(body)), ("invalid_json", ""));
        }
        assert_eq!(parse_username(br#"{"id":"ada_l"}"#, "id").unwrap(), "ada_l");
        assert_eq!(
            refused(parse_username(b"{}", "id")),
            ("missing_field", "id")
        );
        let short = br#"{"username":"ada"}"#;
        assert_eq!(
            refused(parse_username(short, "username")),
            ("invalid_field", "username")
        );
    }

    #[test]
    fn the_page_query_has_defaults_and_bounds() {
        let page = |q: &str| {
            let params = query::params(Some(q), &["cursor", "limit"]).unwrap();
            parse_page(&params)
        };
        let default = PageQuery {
            after: None,
            limit: 100,
        };
        assert_eq!(page("").unwrap(), default);
        assert_eq!(page("cursor=").unwrap(), default);
        let q = page("limit=1000&cursor=ada_l").unwrap();
        assert_eq!((q.after.as_deref(), q.limit), (Some("ada_l"), 1000));
        assert_eq!(page("cursor=ada%5Fl").unwrap().after.unwrap(), "ada_l");
        for limit in ["", "0", "1001", "-1", "1.5", "ten"] {
            let q = format!("limit={limit}");
            assert_eq!(refused(page(&q)), ("invalid_limit", ""), "{limit}");
        }
        for cursor in ["abc", "has%20space", &"u".repeat(21)] {
            let q = format!("cursor={cursor}");
            assert_eq!(refused(page(&q)), ("invalid_cursor", ""), "{cursor}");
        }
    }
}
