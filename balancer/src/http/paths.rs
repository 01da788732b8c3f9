//! The routing table: every path the HTTP port serves, the methods each
//! takes and what serves each. It is the one list of routes: a request
//! reaches a handler only through [`find`], and a unit test holds the
//! table and the contract (`openapi.json`) to each other, so a route
//! cannot be added to one and forgotten in the other.

use hyper::Method;

use super::rejection::Rejection;
use super::users::Route as User;

/// What serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Serve {
    /// A data route: through the bounds of `stack.rs`, to `routes::cache`.
    Data(Data),
    /// An operator route: straight to `routes::admin`, never load-shed.
    Operator(Operator),
}

/// The data routes' handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Data {
    PutKey,
    GetKey,
    DeleteKey,
    /// A user-record route (`users/`).
    User(User),
}

/// The operator routes' handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operator {
    Nodes,
    Health,
    Ready,
    Metrics,
    Stats,
    Dashboard,
    OpenApi,
}

/// One path and its methods.
struct Route {
    /// The path as the contract writes it; `{key}` stands for the rest of
    /// the path.
    path: &'static str,
    /// The methods, as an `Allow` header lists them.
    allow: &'static str,
    methods: &'static [(&'static str, Serve)],
}

/// An operator route: `GET` only.
macro_rules! operator {
    ($path:literal, $handler:ident) => {
        Route {
            path: $path,
            allow: "GET",
            methods: &[("GET", Serve::Operator(Operator::$handler))],
        }
    };
}

/// A user-record route: one method.
macro_rules! user {
    ($path:literal, $method:literal, $route:ident) => {
        Route {
            path: $path,
            allow: $method,
            methods: &[($method, Serve::Data(Data::User(User::$route)))],
        }
    };
}

/// Every route of the HTTP port.
const ROUTES: &[Route] = &[
    Route {
        path: "/cache",
        allow: "POST",
        methods: &[("POST", Serve::Data(Data::PutKey))],
    },
    Route {
        path: "/cache/{key}",
        allow: "GET, DELETE",
        methods: &[
            ("GET", Serve::Data(Data::GetKey)),
            ("DELETE", Serve::Data(Data::DeleteKey)),
        ],
    },
    user!("/createUser", "POST", Create),
    user!("/getUser", "POST", Get),
    user!("/updateUser", "POST", Update),
    user!("/deleteUser", "POST", Delete),
    user!("/getAllUsers", "GET", List),
    operator!("/nodes", Nodes),
    operator!("/healthz", Health),
    operator!("/health", Health),
    operator!("/readyz", Ready),
    operator!("/metrics", Metrics),
    operator!("/stats", Stats),
    operator!("/dashboard", Dashboard),
    operator!("/openapi.json", OpenApi),
];

/// What serves `method` on `path`: 404 for no route, 405 (naming the
/// methods) for a route that does not take it.
pub(super) fn find(path: &str, method: &Method) -> Result<Serve, Rejection> {
    let route = ROUTES
        .iter()
        .find(|r| matches(r.path, path))
        .ok_or_else(|| Rejection::RouteNotFound(path.to_string()))?;
    route
        .methods
        .iter()
        .find(|(m, _)| *m == method.as_str())
        .map(|(_, serve)| *serve)
        .ok_or_else(|| Rejection::MethodNotAllowed {
            method: method.to_string(),
            allowed: route.allow,
        })
}

/// Whether `path` is served by the route written `pattern`.
fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix("{key}") {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn code(path: &str, method: Method) -> &'static str {
        find(path, &method).unwrap_err().status_and_code().1
    }

    #[test]
    fn paths_find_their_handlers() {
        let get = |p| find(p, &Method::GET);
        assert_eq!(get("/cache/k").unwrap(), Serve::Data(Data::GetKey));
        assert_eq!(
            find("/cache/a/b", &Method::DELETE).unwrap(),
            Serve::Data(Data::DeleteKey)
        );
        assert_eq!(
            find("/cache", &Method::POST).unwrap(),
            Serve::Data(Data::PutKey)
        );
        assert_eq!(get("/health").unwrap(), Serve::Operator(Operator::Health));
        assert_eq!(
            get("/getAllUsers").unwrap(),
            Serve::Data(Data::User(User::List))
        );
        assert_eq!(
            find("/deleteUser", &Method::POST).unwrap(),
            Serve::Data(Data::User(User::Delete))
        );
        assert_eq!(code("/createUser", Method::GET), "method_not_allowed");
        assert_eq!(code("/getAllUsers/", Method::GET), "route_not_found");
        assert_eq!(
            get("/openapi.json").unwrap(),
            Serve::Operator(Operator::OpenApi)
        );
        assert_eq!(code("/cachex", Method::GET), "route_not_found");
        assert_eq!(code("/nodes/", Method::GET), "route_not_found");
        assert_eq!(code("/cache", Method::GET), "method_not_allowed");
        assert_eq!(code("/cache/k", Method::POST), "method_not_allowed");
        assert_eq!(code("/metrics", Method::DELETE), "method_not_allowed");
    }

    #[test]
    fn the_table_and_the_contract_name_the_same_routes() {
        let contract: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json is JSON");
        let mut in_contract = BTreeSet::new();
        for (path, item) in contract["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                in_contract.insert((path.clone(), method.to_uppercase()));
            }
        }
        let in_table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .flat_map(|r| {
                r.methods
                    .iter()
                    .map(|(m, _)| (r.path.to_string(), m.to_string()))
            })
            .collect();
        assert_eq!(
            in_table, in_contract,
            "routes served vs routes in openapi.json"
        );
        for route in ROUTES {
            let listed: Vec<&str> = route.methods.iter().map(|(m, _)| *m).collect();
            assert_eq!(route.allow, listed.join(", "), "Allow of {}", route.path);
        }
    }
}
