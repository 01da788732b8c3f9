//! The user-record routes and the bodies they answer: each route keeps
//! its own shape, kept from the prototype these routes come from, for
//! successes and errors alike. Pure: no I/O.
//!
//! | route | success | error |
//! | --- | --- | --- |
//! | create, update, delete | `{"message": true, "status"}` | `{"message": false, "status", "error", "detail"}`, plus `"field"` for a field error |
//! | getUser | `{"data": user, "message": "user fetched"}` | `{"data": null, "message", "error"}` |
//! | getAllUsers | `{"data": {"count", "users", "next_cursor"}, "status"}` | `{"data": null, "status", "error", "message"}` |
//!
//! A wrong method is the exception: a 405 has the body every route's
//! 405 has, `{"error", "message"}`.

use hyper::StatusCode;
use serde_json::json;

use super::super::rejection::Rejection;
use super::input::User;

/// A user-record route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in super::super) enum Route {
    /// `POST /createUser`.
    Create,
    /// `POST /getUser`.
    Get,
    /// `POST /updateUser`.
    Update,
    /// `POST /deleteUser`.
    Delete,
    /// `GET /getAllUsers`.
    List,
}

impl Route {
    /// The user route at `path`, if it is one.
    pub(in super::super) fn of(path: &str) -> Option<Route> {
        match path {
            "/createUser" => Some(Route::Create),
            "/getUser" => Some(Route::Get),
            "/updateUser" => Some(Route::Update),
            "/deleteUser" => Some(Route::Delete),
            "/getAllUsers" => Some(Route::List),
            _ => None,
        }
    }
}

/// A create, update or delete that worked: `{"message": true, "status"}`.
pub(super) fn done(status: StatusCode) -> String {
    json!({"message": true, "status": status.as_u16()}).to_string()
}

/// `getUser`'s answer.
pub(super) fn fetched(user: &User) -> String {
    json!({"data": user, "message": "user fetched"}).to_string()
}

/// `getAllUsers`'s answer.
pub(super) fn listed(count: u64, users: &[User], next_cursor: Option<&str>) -> String {
    json!({
        "data": {"count": count, "users": users, "next_cursor": next_cursor},
        "status": 200,
    })
    .to_string()
}

/// The error body of `route` for `e`.
pub(in super::super) fn error_body(route: Route, e: &Rejection) -> String {
    if let Rejection::MethodNotAllowed { .. } = e {
        return e.body();
    }
    let (status, code) = e.status_and_code();
    let text = e.to_string();
    let body = match route {
        Route::Create | Route::Update | Route::Delete => {
            let mut body = json!({
                "message": false,
                "status": status.as_u16(),
                "error": code,
                "detail": text,
            });
            if let Rejection::BadField { field, .. } = e {
                body["field"] = json!(field);
            }
            body
        }
        Route::Get => json!({"data": null, "message": text, "error": code}),
        Route::List => json!({
            "data": null,
            "status": status.as_u16(),
            "error": code,
            "message": text,
        }),
    };
    body.to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::error::Error;

    fn body(route: Route, e: &Rejection) -> Value {
        serde_json::from_str(&error_body(route, e)).unwrap()
    }

    #[test]
    fn routes_by_path_each_with_its_method() {
        assert_eq!(Route::of("/createUser"), Some(Route::Create));
        assert_eq!(Route::of("/getAllUsers"), Some(Route::List));
        assert_eq!(Route::of("/getallusers"), None);
        assert_eq!(Route::of("/cache"), None);
    }

    #[test]
    fn successes_have_the_prototype_shapes() {
        let v = |s: String| serde_json::from_str::<Value>(&s).unwrap();
        assert_eq!(
            v(done(StatusCode::CREATED)),
            json!({"message": true, "status": 201})
        );
        let ada = User {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            username: "ada_l".into(),
        };
        let user = json!({"name": "Ada", "email": "ada@example.com", "username": "ada_l"});
        assert_eq!(
            v(fetched(&ada)),
            json!({"data": user, "message": "user fetched"})
        );
        assert_eq!(
            v(listed(3, &[ada], Some("ada_l"))),
            json!({"data": {"count": 3, "users": [user], "next_cursor": "ada_l"}, "status": 200})
        );
        assert_eq!(v(listed(0, &[], None))["data"]["next_cursor"], Value::Null);
    }

    #[test]
    fn errors_keep_each_routes_shape() {
        let field = Rejection::BadField {
            code: "invalid_field",
            field: "email",
            message: "email must contain one @".into(),
        };
        for route in [Route::Create, Route::Update, Route::Delete] {
            assert_eq!(
                body(route, &field),
                json!({"message": false, "status": 400, "error": "invalid_field",
                       "detail": "email must contain one @", "field": "email"})
            );
        }
        assert_eq!(body(Route::Get, &field).get("field"), None);
        assert_eq!(body(Route::List, &field).get("field"), None);
        assert_eq!(
            body(Route::Update, &Rejection::UserNotFound),
            json!({"message": false, "status": 404, "error": "user_not_found",
                   "detail": "user not found"})
        );
        assert_eq!(
            body(Route::Get, &Rejection::UserNotFound),
            json!({"data": null, "message": "user not found", "error": "user_not_found"})
        );
        let full = Rejection::Failed(Error::NoNodes);
        assert_eq!(
            body(Route::List, &full),
            json!({"data": null, "status": 503, "error": "no_nodes",
                   "message": "no data node is reachable"})
        );
        let wrong = Rejection::MethodNotAllowed {
            method: "GET".into(),
            allowed: "POST",
        };
        assert_eq!(body(Route::Create, &wrong)["error"], "method_not_allowed");
        assert_eq!(body(Route::Create, &wrong).get("status"), None);
    }
}
