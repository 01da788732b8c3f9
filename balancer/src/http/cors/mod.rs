//! Cross-origin resource sharing: which CORS headers a request's answer
//! carries, decided by [`decide`] from the `[cors]` settings and the
//! request's `Origin`, method and `Access-Control-Request-Method`. Pure;
//! `apply.rs` puts the decision on the wire, for every route (data and
//! operator alike), in `stack.rs`.
//!
//! What it does is what Envoy's CORS filter does, with two choices of
//! ours: a preflight is answered 204 (Envoy: 200), and a wildcard origin
//! is answered `*` (Envoy echoes the origin). A request without `Origin`,
//! or from an origin not allowed, gets no CORS header at all, and its
//! preflight is routed like any other `OPTIONS` request (a 405 from
//! every route), as Envoy forwards it. The preflight's allowed methods and
//! headers are the configured lists whatever the request asks for: the
//! browser compares them.

mod apply;

pub(super) use apply::{Corsed, corsed};
use hyper::Method;
use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, HeaderName, VARY,
};

use crate::config::CorsConfig;

/// What CORS adds to a request's answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Decision {
    /// The request is a preflight: answer 204 at once, with `headers`,
    /// instead of routing it.
    pub(super) preflight: bool,
    /// The headers to set.
    pub(super) headers: Vec<(HeaderName, String)>,
}

/// The CORS headers for a request with `method`, `origin` (its `Origin`
/// header) and, if `asks_method`, an `Access-Control-Request-Method`;
/// `None` when CORS is off. With CORS on, every answer depends on the
/// origin, so each says so (`Vary: Origin`, which keeps a shared cache
/// from handing one origin's answer to another), and only an allowed
/// origin gets more.
pub(super) fn decide(
    config: &CorsConfig,
    method: &Method,
    origin: Option<&str>,
    asks_method: bool,
) -> Option<Decision> {
    if !config.is_on() {
        return None;
    }
    let vary_only = Decision {
        preflight: false,
        headers: vec![(VARY, "Origin".to_string())],
    };
    let Some(origin) = origin.filter(|o| !o.is_empty()) else {
        return Some(vary_only);
    };
    let any = config.allowed_origins.iter().any(|o| o == "*");
    if !any && !config.allowed_origins.iter().any(|o| o == origin) {
        return Some(vary_only);
    }
    let allow_origin = if any { "*" } else { origin };
    let mut headers = vec![
        (ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin.to_string()),
        (VARY, "Origin".to_string()),
    ];
    let preflight = method == Method::OPTIONS && asks_method;
    if preflight {
        for (name, list) in [
            (ACCESS_CONTROL_ALLOW_METHODS, &config.allowed_methods),
            (ACCESS_CONTROL_ALLOW_HEADERS, &config.allowed_headers),
        ] {
            if !list.is_empty() {
                headers.push((name, list.join(", ")));
            }
        }
        headers.push((ACCESS_CONTROL_MAX_AGE, config.max_age_secs.to_string()));
    }
    Some(Decision { preflight, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str]) -> CorsConfig {
        CorsConfig {
            allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..CorsConfig::default()
        }
    }

    fn names(d: &Decision) -> Vec<&str> {
        d.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn value<'a>(d: &'a Decision, name: &HeaderName) -> Option<&'a str> {
        d.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn off_without_origins_and_only_vary_for_others() {
        let app = Some("https://app.example");
        assert_eq!(decide(&config(&[]), &Method::GET, app, false), None);
        assert_eq!(decide(&config(&[]), &Method::OPTIONS, app, true), None);
        let on = config(&["https://app.example"]);
        let vary_only = Some(Decision {
            preflight: false,
            headers: vec![(VARY, "Origin".to_string())],
        });
        assert_eq!(decide(&on, &Method::GET, None, false), vary_only);
        assert_eq!(decide(&on, &Method::GET, Some(""), false), vary_only);
        let other = Some("https://evil.example");
        assert_eq!(decide(&on, &Method::GET, other, false), vary_only);
        assert_eq!(decide(&on, &Method::OPTIONS, other, true), vary_only);
        // Origins are compared whole.
        let longer = Some("https://app.example.com");
        assert_eq!(decide(&on, &Method::GET, longer, false), vary_only);
    }

    #[test]
    fn an_allowed_origin_is_echoed_and_a_wildcard_answered_star() {
        let on = config(&["https://a.example", "https://app.example"]);
        let d = decide(&on, &Method::POST, Some("https://app.example"), false).unwrap();
        assert!(!d.preflight);
        assert_eq!(names(&d), ["access-control-allow-origin", "vary"]);
        assert_eq!(
            value(&d, &ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://app.example")
        );
        assert_eq!(value(&d, &VARY), Some("Origin"));
        let any = config(&["*"]);
        let d = decide(&any, &Method::GET, Some("https://x.example"), false).unwrap();
        assert_eq!(value(&d, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    }

    #[test]
    fn a_preflight_needs_options_and_a_requested_method() {
        let mut on = config(&["https://app.example"]);
        on.max_age_secs = 30;
        let app = Some("https://app.example");
        let d = decide(&on, &Method::OPTIONS, app, true).unwrap();
        assert!(d.preflight);
        assert_eq!(
            value(&d, &ACCESS_CONTROL_ALLOW_METHODS),
            Some("GET, POST, DELETE")
        );
        assert_eq!(
            value(&d, &ACCESS_CONTROL_ALLOW_HEADERS),
            Some("content-type, x-write-ack")
        );
        assert_eq!(value(&d, &ACCESS_CONTROL_MAX_AGE), Some("30"));
        // OPTIONS without the request header is no preflight, nor is a
        // GET that carries it.
        assert!(!decide(&on, &Method::OPTIONS, app, false).unwrap().preflight);
        assert!(!decide(&on, &Method::GET, app, true).unwrap().preflight);
        on.allowed_headers.clear();
        let d = decide(&on, &Method::OPTIONS, app, true).unwrap();
        assert_eq!(value(&d, &ACCESS_CONTROL_ALLOW_HEADERS), None);
    }
}
