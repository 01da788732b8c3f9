//! The query string and the headers that steer a request: each route
//! names the query parameters it takes, and anything else is a 400, as
//! an unknown body field is (a typo such as `?ak=all` must not silently
//! fall back to the default). The acknowledgement level of a write comes
//! from `?ack=` or the `X-Write-Ack` header; both are checked when both
//! are given, and the query wins.

use hyper::HeaderMap;
use percent_encoding::percent_decode_str;

use super::rejection::Rejection;
use crate::config::WriteAck;

/// The query's parameters, decoded, each named in `allowed` and given at
/// most once; in the order sent.
pub(super) fn params(
    query: Option<&str>,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, Rejection> {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name)?;
        let Some(known) = allowed.iter().find(|a| **a == name) else {
            return Err(Rejection::bad_request(
                "unknown_parameter",
                format!("unknown query parameter {name:?}; this route takes {allowed:?}"),
            ));
        };
        if found.iter().any(|(n, _)| n == known) {
            return Err(Rejection::bad_request(
                "duplicate_parameter",
                format!("query parameter {name:?} is given more than once"),
            ));
        }
        found.push((known, decode(raw_value)?));
    }
    Ok(found)
}

/// The value of `name` among `params`, if given.
pub(super) fn value<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// The acknowledgement level a write asks for, if it names one: `?ack=`
/// (among `params`) over the `X-Write-Ack` header, each checked.
pub(super) fn write_ack(
    params: &[(&'static str, String)],
    headers: &HeaderMap,
) -> Result<Option<WriteAck>, Rejection> {
    let from_header = headers
        .get("x-write-ack")
        .map(|v| parse_ack(v.to_str().unwrap_or("")))
        .transpose()?;
    let from_query = value(params, "ack").map(parse_ack).transpose()?;
    Ok(from_query.or(from_header))
}

fn parse_ack(text: &str) -> Result<WriteAck, Rejection> {
    text.parse()
        .map_err(|m: String| Rejection::bad_request("invalid_ack", m))
}

fn decode(text: &str) -> Result<String, Rejection> {
    let plus_as_space = text.replace('+', " ");
    percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Rejection::bad_request("invalid_query", "the query string is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn code<T: std::fmt::Debug>(r: Result<T, Rejection>) -> &'static str {
        r.unwrap_err().status_and_code().1
    }

    fn headers(ack: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-write-ack", HeaderValue::from_str(ack).unwrap());
        h
    }

    #[test]
    fn known_parameters_are_decoded_in_order() {
        let got = params(Some("cursor=a%20b&limit=5"), &["limit", "cursor"]).unwrap();
        assert_eq!(got, vec![("cursor", "a b".into()), ("limit", "5".into())]);
        assert_eq!(params(None, &["ack"]).unwrap(), vec![]);
        assert_eq!(params(Some(""), &["ack"]).unwrap(), vec![]);
        assert_eq!(
            params(Some("ack"), &["ack"]).unwrap(),
            vec![("ack", "".into())]
        );
    }

    #[test]
    fn unknown_repeated_or_undecodable_parameters_are_refused() {
        assert_eq!(code(params(Some("ak=all"), &["ack"])), "unknown_parameter");
        assert_eq!(
            code(params(Some("ack=one&ack=all"), &["ack"])),
            "duplicate_parameter"
        );
        assert_eq!(code(params(Some("ack=%FF"), &["ack"])), "invalid_query");
        assert_eq!(code(params(Some("x=1"), &[])), "unknown_parameter");
    }

    #[test]
    fn the_query_wins_but_both_are_checked() {
        let one = params(Some("ack=one"), &["ack"]).unwrap();
        assert_eq!(
            write_ack(&one, &headers("all")).unwrap(),
            Some(WriteAck::One)
        );
        assert_eq!(
            write_ack(&[], &headers("all")).unwrap(),
            Some(WriteAck::All)
        );
        assert_eq!(write_ack(&[], &HeaderMap::new()).unwrap(), None);
        assert_eq!(code(write_ack(&one, &headers("AAA"))), "invalid_ack");
        let bad = params(Some("ack=most"), &["ack"]).unwrap();
        assert_eq!(code(write_ack(&bad, &headers("one"))), "invalid_ack");
    }
}
