//! The `[cors]` table: which browser origins may call the HTTP API and
//! what their preflights are told (applied by `http/cors/`). Off by
//! default: with no allowed origin, no response carries a CORS header.

use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

/// Cross-origin resource sharing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed, each as a browser sends it
    /// (`https://app.example.com`), or `"*"` for any. Empty (the
    /// default) turns CORS off.
    pub allowed_origins: Vec<String>,
    /// Methods a preflight is told are allowed
    /// (`Access-Control-Allow-Methods`). Default GET, POST, DELETE.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight is told are allowed
    /// (`Access-Control-Allow-Headers`). Default content-type,
    /// x-write-ack.
    pub allowed_headers: Vec<String>,
    /// How long a browser may keep a preflight's answer
    /// (`Access-Control-Max-Age`), in whole seconds. Default 600.
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            allowed_methods: ["GET", "POST", "DELETE"].map(String::from).to_vec(),
            allowed_headers: ["content-type", "x-write-ack"].map(String::from).to_vec(),
            max_age_secs: 600,
        }
    }
}

impl CorsConfig {
    /// Whether any origin is allowed at all.
    pub fn is_on(&self) -> bool {
        !self.allowed_origins.is_empty()
    }

    /// What is wrong with these settings, if anything: every value must
    /// be sendable in its header.
    pub(super) fn problem(&self) -> Option<String> {
        if let Some(o) = self
            .allowed_origins
            .iter()
            .find(|o| o.is_empty() || o.contains(',') || HeaderValue::from_str(o).is_err())
        {
            return Some(format!("cors.allowed_origins: {o:?} is not an origin"));
        }
        if let Some(m) = self
            .allowed_methods
            .iter()
            .find(|m| Method::from_bytes(m.as_bytes()).is_err())
        {
            return Some(format!("cors.allowed_methods: {m:?} is not a method"));
        }
        if let Some(h) = self
            .allowed_headers
            .iter()
            .find(|h| HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Some(format!("cors.allowed_headers: {h:?} is not a header name"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_each_value_must_fit_its_header() {
        let cors = CorsConfig::default();
        assert!(!cors.is_on());
        assert_eq!(cors.problem(), None);
        let with = |f: fn(&mut CorsConfig)| {
            let mut c = CorsConfig::default();
            f(&mut c);
            c.problem()
        };
        assert_eq!(with(|c| c.allowed_origins = vec!["*".into()]), None);
        for (f, what) in [
            (
                (|c: &mut CorsConfig| c.allowed_origins = vec![String::new()])
                    as fn(&mut CorsConfig),
                "allowed_origins",
            ),
            (
                |c| c.allowed_origins = vec!["a,b".into()],
                "allowed_origins",
            ),
            (
                |c| c.allowed_methods = vec!["G ET".into()],
                "allowed_methods",
            ),
            (
                |c| c.allowed_headers = vec!["x y".into()],
                "allowed_headers",
            ),
        ] {
            let problem = with(f).expect("refused");
            assert!(problem.contains(what), "{problem}");
        }
    }
}
