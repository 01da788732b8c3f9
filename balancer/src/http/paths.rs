//! The routing table: every path the HTTP port serves, the methods each
//! takes and what serves each. It is the one list of routes: a request
//! reaches a handler only through [`find`], and a unit test holds the
//! table and the contract (`openapi.json`) to each other, so a route
//! cannot be added to one and forgotten in the other.
//!
//! The admin routes (`/admin/...`) are in the table only while the admin
//! API is on (`admin_token` set): off, they are unknown routes (404) for
//! every method.

use hyper::Method;

use super::admin_api::Route as Admin;
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
    /// An admin route (`admin_api/`).
    Admin(Admin),
}

/// One path and its methods.
struct Route {
    /// The path as the contract writes it; `{key}` stands for the rest of
    /// the path, `{id}` for one non-empty segment.
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

/// An admin route: one method.
macro_rules! admin {
    ($path:literal, $method:literal, $route:ident) => {
        Route {
            path: $path,
            allow: $method,
            methods: &[($method, Serve::Operator(Operator::Admin(Admin::$route)))],
        }
    };
}

/// The paths of the admin routes begin so.
const ADMIN_PREFIX: &str = "/admin/";

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
    Route {
        path: "/admin/nodes",
        allow: "GET, POST",
        methods: &[
            ("GET", Serve::Operator(Operator::Admin(Admin::ListNodes))),
            ("POST", Serve::Operator(Operator::Admin(Admin::AddNode))),
        ],
    },
    admin!("/admin/nodes/{id}", "DELETE", DeleteNode),
    admin!("/admin/nodes/{id}/drain", "POST", DrainNode),
    admin!("/admin/nodes/{id}/activate", "POST", ActivateNode),
    Route {
        path: "/admin/rebalance",
        allow: "GET, POST",
        methods: &[
            (
                "GET",
                Serve::Operator(Operator::Admin(Admin::RebalanceStatus)),
            ),
            (
                "POST",
                Serve::Operator(Operator::Admin(Admin::SetRebalance)),
            ),
        ],
    },
];

/// What serves `method` on `path`: 404 for no route, 405 (naming the
/// methods) for a route that does not take it. The admin routes are
/// routes only when `admin` is on.
pub(super) fn find(path: &str, method: &Method, admin: bool) -> Result<Serve, Rejection> {
    let route = ROUTES
        .iter()
        .filter(|r| admin || !r.path.starts_with(ADMIN_PREFIX))
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
    if let Some(prefix) = pattern.strip_suffix("{key}") {
        return path.starts_with(prefix);
    }
    let mut segments = path.split('/');
    pattern.split('/').all(|want| {
        segments
            .next()
            .is_some_and(|s| s == want || (want == "{id}" && !s.is_empty()))
    }) && segments.next().is_none()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn code(path: &str, method: Method) -> &'static str {
        find(path, &method, true).unwrap_err().status_and_code().1
    }

    #[test]
    fn paths_find_their_handlers() {
        let get = |p| find(p, &Method::GET, true);
        assert_eq!(get("/cache/k").unwrap(), Serve::Data(Data::GetKey));
        assert_eq!(
            find("/cache/a/b", &Method::DELETE, true).unwrap(),
            Serve::Data(Data::DeleteKey)
        );
        assert_eq!(
            find("/cache", &Method::POST, true).unwrap(),
            Serve::Data(Data::PutKey)
        );
        assert_eq!(get("/health").unwrap(), Serve::Operator(Operator::Health));
        assert_eq!(
            get("/getAllUsers").unwrap(),
            Serve::Data(Data::User(User::List))
        );
        assert_eq!(
            find("/deleteUser", &Method::POST, true).unwrap(),
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
    fn admin_paths_name_one_node_and_are_unknown_while_the_admin_api_is_off() {
        let admin = |p, m: Method| find(p, &m, true).unwrap();
        let node = |r| Serve::Operator(Operator::Admin(r));
        assert_eq!(
            admin("/admin/nodes/n1/drain", Method::POST),
            node(Admin::DrainNode)
        );
        assert_eq!(
            admin("/admin/nodes/n1/activate", Method::POST),
            node(Admin::ActivateNode)
        );
        assert_eq!(
            admin("/admin/nodes/127.0.0.1:5300", Method::DELETE),
            node(Admin::DeleteNode)
        );
        assert_eq!(admin("/admin/nodes", Method::POST), node(Admin::AddNode));
        assert_eq!(
            admin("/admin/rebalance", Method::GET),
            node(Admin::RebalanceStatus)
        );
        for path in [
            "/admin/nodes//drain",
            "/admin/nodes/a/b",
            "/admin/nodes/a/drain/x",
        ] {
            assert_eq!(code(path, Method::POST), "route_not_found", "{path}");
        }
        assert_eq!(code("/admin/nodes/", Method::DELETE), "route_not_found");
        assert_eq!(code("/admin/nodes/n1", Method::GET), "method_not_allowed");
        for (path, method) in [
            ("/admin/nodes", Method::GET),
            ("/admin/nodes", Method::PUT),
            ("/admin/nodes/n1", Method::DELETE),
            ("/admin/rebalance", Method::POST),
        ] {
            let off = find(path, &method, false).unwrap_err();
            assert_eq!(
                off.status_and_code().1,
                "route_not_found",
                "{method} {path}"
            );
        }
        assert_eq!(
            find("/nodes", &Method::GET, false).unwrap(),
            Serve::Operator(Operator::Nodes)
        );
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
