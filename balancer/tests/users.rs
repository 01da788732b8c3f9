//! The user-record API end to end against real Redis processes: create,
//! replace, get, update, delete, validation, the paged listing through
//! the user index in the index Redis (never `KEYS`), expiry, the error
//! shapes of each route, and CORS on and off.

use std::time::Duration;

use hyper::{Method, StatusCode};
use redis::AsyncCommands;
use serde_json::{Value, json};
use test_support::{Cluster, HttpClient, HttpReply, TestBalancer};

/// Four nodes, a balancer with `configure` applied, a client.
async fn stack(
    configure: impl FnOnce(&mut balancer::config::Config),
) -> (Cluster, TestBalancer, HttpClient) {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb", "64mb"]);
    let mut config = cluster.config();
    configure(&mut config);
    let balancer = TestBalancer::start(config).await;
    (cluster, balancer, HttpClient::new())
}

fn user(username: &str) -> Value {
    json!({"name": "Ada Lovelace", "email": "ada@example.com", "username": username})
}

async fn post(http: &HttpClient, b: &TestBalancer, path: &str, body: &Value) -> HttpReply {
    http.post_json(&format!("{}{path}", b.url), body)
        .await
        .unwrap()
}

async fn list(http: &HttpClient, b: &TestBalancer, query: &str) -> HttpReply {
    http.get(&format!("{}/getAllUsers{query}", b.url))
        .await
        .unwrap()
}

/// Every username `/getAllUsers` lists, page by page of `limit`, and
/// the count each page gave.
async fn list_all(http: &HttpClient, b: &TestBalancer, limit: usize) -> (Vec<String>, Vec<u64>) {
    let (mut names, mut counts, mut cursor) = (Vec::new(), Vec::new(), String::new());
    for _ in 0..1000 {
        let r = list(http, b, &format!("?cursor={cursor}&limit={limit}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let page = r.json();
        assert_eq!(page["status"], json!(200));
        let users = page["data"]["users"].as_array().unwrap();
        assert!(users.len() <= limit);
        names.extend(
            users
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string()),
        );
        counts.push(page["data"]["count"].as_u64().unwrap());
        match &page["data"]["next_cursor"] {
            Value::Null => return (names, counts),
            Value::String(next) => cursor = next.clone(),
            other => panic!("next_cursor {other}"),
        }
    }
    panic!("the listing never ended");
}

#[tokio::test]
async fn a_user_is_created_replaced_read_updated_and_deleted() {
    let (_cluster, b, http) = stack(|_| {}).await;
    let r = post(&http, &b, "/createUser", &user("ada_l")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json(), json!({"message": true, "status": 201}));
    let r = post(&http, &b, "/createUser", &user("ada_l")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"message": true, "status": 200}));

    let r = post(
        &http,
        &b,
        "/getUser",
        &json!({"username": "ada_l", "extra": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"data": user("ada_l"), "message": "user fetched"})
    );
    // The same record through the cache API, with the users' TTL.
    let r = http
        .get(&format!("{}/cache/user:ada_l", b.url))
        .await
        .unwrap();
    assert_eq!(r.json()["value"], user("ada_l"));
    let ttl = r.json()["ttl"].as_u64().unwrap();
    assert!((14_390..=14_400).contains(&ttl), "ttl {ttl}");

    let mut changed = user("ada_l");
    changed["name"] = json!("Augusta Ada King");
    let r = post(&http, &b, "/updateUser", &changed).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"message": true, "status": 200}));
    let r = post(&http, &b, "/getUser", &json!({"username": "ada_l"})).await;
    assert_eq!(r.json()["data"], changed);

    let r = post(&http, &b, "/deleteUser", &json!({"id": "ada_l"})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"message": true, "status": 200}));

    let r = post(&http, &b, "/getUser", &json!({"username": "ada_l"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.json(),
        json!({"data": null, "message": "user not found", "error": "user_not_found"})
    );
    let absent = json!({"message": false, "status": 404, "error": "user_not_found",
                        "detail": "user not found"});
    let r = post(&http, &b, "/updateUser", &user("ada_l")).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::NOT_FOUND, absent.clone())
    );
    let r = post(&http, &b, "/deleteUser", &json!({"id": "ada_l"})).await;
    assert_eq!((r.status, r.json()), (StatusCode::NOT_FOUND, absent));
    // An update of a missing user wrote nothing.
    let r = http
        .get(&format!("{}/cache/user:ada_l", b.url))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let text = http.get(&format!("{}/metrics", b.url)).await.unwrap().body;
    for line in [
        r#"dlb_requests_total{op="create_user",outcome="created"} 1"#,
        r#"dlb_requests_total{op="create_user",outcome="updated"} 1"#,
        r#"dlb_requests_total{op="update_user",outcome="miss"} 1"#,
        r#"dlb_requests_total{op="delete_user",outcome="deleted"} 1"#,
        r#"dlb_requests_total{op="get_user",outcome="hit"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line:?}");
    }
}

#[tokio::test]
async fn each_rule_is_a_400_naming_its_field_and_writes_nothing() {
    let (cluster, b, http) = stack(|_| {}).await;
    let with = |field: &str, value: Value| {
        let mut body = user("ada_l");
        body[field] = value;
        body
    };
    let mut missing = user("ada_l");
    missing.as_object_mut().unwrap().remove("email");
    let cases = [
        (with("name", json!("A")), "invalid_field", "name"),
        (with("name", json!("n".repeat(33))), "invalid_field", "name"),
        (with("name", json!(7)), "invalid_field", "name"),
        (with("email", json!("a@b.c")), "invalid_field", "email"),
        (
            with("email", json!(format!("a@{}", "b".repeat(34)))),
            "invalid_field",
            "email",
        ),
        (
            with("email", json!("ada.example.com")),
            "invalid_field",
            "email",
        ),
        (
            with("email", json!("ada@exam@ple.com")),
            "invalid_field",
            "email",
        ),
        (
            with("email", json!("@adaexample.com")),
            "invalid_field",
            "email",
        ),
        (with("username", json!("ada")), "invalid_field", "username"),
        (
            with("username", json!("u".repeat(21))),
            "invalid_field",
            "username",
        ),
        (
            with("username", json!("ada lovelace")),
            "invalid_field",
            "username",
        ),
        (
            with("username", json!("ada/l")),
            "invalid_field",
            "username",
        ),
        (missing, "missing_field", "email"),
    ];
    for route in ["/createUser", "/updateUser"] {
        for (body, code, field) in &cases {
            let r = post(&http, &b, route, body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{route} {body}");
            let j = r.json();
            assert_eq!(
                (&j["message"], &j["status"], &j["error"], &j["field"]),
                (&json!(false), &json!(400), &json!(code), &json!(field)),
                "{route} {body}: {j}"
            );
            assert!(
                j["detail"].as_str().is_some_and(|d| d.contains(field)),
                "{j}"
            );
        }
        let r = http
            .send(Method::POST, &format!("{}{route}", b.url), "[1, 2]")
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json()["error"], json!("invalid_json"));
        assert_eq!(r.json().get("field"), None);
    }
    let r = post(&http, &b, "/deleteUser", &json!({"username": "ada_l"})).await;
    let j = r.json();
    assert_eq!(
        (&j["error"], &j["field"]),
        (&json!("missing_field"), &json!("id"))
    );
    let r = post(&http, &b, "/deleteUser", &json!({"id": "a b"})).await;
    assert_eq!(r.json()["field"], json!("id"));
    let r = post(&http, &b, "/getUser", &json!({"username": 5})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let j = r.json();
    assert_eq!(
        (&j["data"], &j["error"]),
        (&Value::Null, &json!("invalid_field"))
    );
    assert!(j["message"].as_str().unwrap().contains("username"));

    for node in &cluster.nodes {
        let n: usize = redis::cmd("DBSIZE")
            .query_async(&mut node.connection().await)
            .await
            .unwrap();
        assert_eq!(n, 0, "a refused body wrote nothing");
    }
    let mut index = cluster.index.connection().await;
    let listed: usize = index.zcard("dlb:users:names").await.unwrap();
    assert_eq!(listed, 0);
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let (_cluster, b, http) = stack(|_| {}).await;
    for (method, path, allow) in [
        (Method::GET, "/createUser", "POST"),
        (Method::PUT, "/updateUser", "POST"),
        (Method::DELETE, "/deleteUser", "POST"),
        (Method::GET, "/getUser", "POST"),
        (Method::POST, "/getAllUsers", "GET"),
    ] {
        let r = http
            .send(method.clone(), &format!("{}{path}", b.url), "")
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(r.headers["allow"], allow);
        assert_eq!(r.json()["error"], json!("method_not_allowed"));
    }
}

#[tokio::test]
async fn the_listing_pages_through_the_index_without_keys() {
    let (cluster, b, http) = stack(|_| {}).await;
    let mut expected: Vec<String> = (0..23).map(|i| format!("user-{i:02}")).collect();
    for name in &expected {
        let r = post(&http, &b, "/createUser", &user(name)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let (names, counts) = list_all(&http, &b, 5).await;
    assert_eq!(names, expected, "every user once, in order");
    assert_eq!(counts, vec![23; 5], "five pages of at most 5");
    let r = list(&http, &b, "").await;
    let page = r.json();
    assert_eq!(
        page["data"]["users"].as_array().unwrap().len(),
        23,
        "default limit 100"
    );
    assert_eq!(page["data"]["next_cursor"], Value::Null);
    assert_eq!(page["data"]["users"][0], user("user-00"));

    // A page ends exactly on the last user: no further page is promised.
    let r = list(&http, &b, "?limit=3&cursor=user-19").await;
    let page = r.json();
    assert_eq!(page["data"]["users"].as_array().unwrap().len(), 3);
    assert_eq!(page["data"]["next_cursor"], Value::Null);

    let r = post(&http, &b, "/deleteUser", &json!({"id": "user-07"})).await;
    assert_eq!(r.status, StatusCode::OK);
    expected.retain(|n| n != "user-07");
    let (names, counts) = list_all(&http, &b, 10).await;
    assert_eq!(names, expected, "a deleted user leaves the listing");
    assert_eq!(counts, vec![22; 3]);

    for (query, code) in [
        ("?limit=0", "invalid_limit"),
        ("?limit=1001", "invalid_limit"),
        ("?limit=x", "invalid_limit"),
        ("?cursor=abc", "invalid_cursor"),
        ("?cursor=a%20bcdef", "invalid_cursor"),
        ("?limt=5", "unknown_parameter"),
        ("?limit=5&limit=6", "duplicate_parameter"),
    ] {
        let r = list(&http, &b, query).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        let j = r.json();
        assert_eq!(
            (&j["data"], &j["status"], &j["error"]),
            (&Value::Null, &json!(400), &json!(code)),
            "{query}"
        );
        assert!(j["message"].is_string());
    }

    let mut servers = vec![&cluster.index];
    servers.extend(&cluster.nodes);
    for server in servers {
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut server.connection().await)
            .await
            .unwrap();
        assert!(
            !stats.contains("cmdstat_keys"),
            "KEYS ran on {}",
            server.addr()
        );
    }
}

#[tokio::test]
async fn an_expired_user_leaves_the_listing_and_the_count() {
    // An entry outlives its record by the request deadline.
    let (cluster, b, http) = stack(|c| {
        c.users.ttl = Duration::from_secs(2);
        c.timeouts.request = Duration::from_millis(2000);
    })
    .await;
    for name in ["early-1", "early-2", "early-3"] {
        assert_eq!(
            post(&http, &b, "/createUser", &user(name)).await.status,
            StatusCode::CREATED
        );
    }
    let (names, counts) = list_all(&http, &b, 2).await;
    assert_eq!((names.len(), counts[0]), (3, 3));
    tokio::time::sleep(Duration::from_millis(5000)).await;
    assert_eq!(
        post(&http, &b, "/createUser", &user("later-1"))
            .await
            .status,
        StatusCode::CREATED
    );
    let (names, counts) = list_all(&http, &b, 2).await;
    assert_eq!(names, ["later-1"]);
    assert_eq!(counts, [1]);
    let mut index = cluster.index.connection().await;
    let expiring: usize = index.zcard("dlb:users:expiry").await.unwrap();
    assert_eq!(expiring, 1, "the expired entries are gone from both sets");
    let r = post(&http, &b, "/getUser", &json!({"username": "early-1"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = post(&http, &b, "/createUser", &user("early-1")).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "an expired user is created anew"
    );
}

#[tokio::test]
async fn cluster_failures_keep_each_routes_shape() {
    let (mut cluster, b, http) = stack(|_| {}).await;
    assert_eq!(
        post(&http, &b, "/createUser", &user("ada_l")).await.status,
        StatusCode::CREATED
    );
    cluster.index.stop();
    // The listing needs the user index; a create needs it to list the user.
    let r = list(&http, &b, "").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (&j["data"], &j["status"], &j["error"]),
        (&Value::Null, &json!(503), &json!("index_unavailable"))
    );
    assert!(j["message"].is_string(), "{j}");
    let r = post(&http, &b, "/createUser", &user("grace_h")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (&j["message"], &j["status"], &j["error"]),
        (&json!(false), &json!(503), &json!("index_unavailable"))
    );
    assert!(j["detail"].is_string() && j.get("field").is_none(), "{j}");
    // The entry goes in before the record: a create the index refused
    // wrote nothing, so no user is left out of the listing for good.
    let r = post(&http, &b, "/getUser", &json!({"username": "grace_h"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    for node in &mut cluster.nodes {
        node.stop();
    }
    let r = post(&http, &b, "/createUser", &user("alan_t")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let j = r.json();
    assert_eq!((&j["message"], &j["status"]), (&json!(false), &json!(503)));
    assert!(j["error"].is_string() && j["detail"].is_string(), "{j}");
}

/// The CORS headers of a reply, by name.
fn cors_headers(r: &HttpReply) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("access-control-") || n.as_str() == "vary")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let (_cluster, b, http) = stack(|_| {}).await;
    let origin = [("origin", "https://app.example")];
    let r = http
        .send_with(Method::GET, &format!("{}/getAllUsers", b.url), &origin, "")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(cors_headers(&r), []);
    let preflight = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "POST"),
    ];
    let r = http
        .send_with(
            Method::OPTIONS,
            &format!("{}/createUser", b.url),
            &preflight,
            "",
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(cors_headers(&r), []);
}

#[tokio::test]
async fn cors_answers_allowed_origins_and_their_preflights_on_every_route() {
    let (_cluster, b, http) = stack(|c| {
        c.cors.allowed_origins = vec!["https://app.example".into()];
        c.cors.max_age_secs = 120;
    })
    .await;
    let app = "https://app.example";
    let allowed = vec![
        ("access-control-allow-origin".to_string(), app.to_string()),
        ("vary".to_string(), "Origin".to_string()),
    ];
    let send = |method: Method, path: &str, headers: Vec<(&'static str, &'static str)>, body| {
        let (http, url) = (http.clone(), format!("{}{path}", b.url));
        async move { http.send_with(method, &url, &headers, body).await.unwrap() }
    };
    let origin = vec![("origin", "https://app.example")];
    let json_origin = vec![
        ("origin", "https://app.example"),
        ("content-type", "application/json"),
    ];
    let body = user("ada_l").to_string();
    let r = send(Method::POST, "/createUser", json_origin.clone(), body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(cors_headers(&r), allowed);
    for path in [
        "/getAllUsers",
        "/cache/user:ada_l",
        "/nodes",
        "/cache/absent",
    ] {
        let r = send(Method::GET, path, origin.clone(), String::new()).await;
        assert_eq!(cors_headers(&r), allowed, "{path}");
    }
    let r = send(Method::POST, "/getUser", json_origin, "{}".into()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(cors_headers(&r), allowed, "errors carry them too");

    // With CORS on, every answer varies by origin, and says so.
    let vary_only = vec![("vary".to_string(), "Origin".to_string())];
    let evil = vec![("origin", "https://evil.example")];
    let r = send(Method::GET, "/getAllUsers", evil, String::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(cors_headers(&r), vary_only);
    let r = send(Method::GET, "/getAllUsers", vec![], String::new()).await;
    assert_eq!(cors_headers(&r), vary_only);

    for path in ["/createUser", "/cache", "/nodes", "/anything"] {
        let preflight = vec![
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ];
        let r = send(Method::OPTIONS, path, preflight, String::new()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}");
        let mut expected = allowed.clone();
        expected.extend([
            (
                "access-control-allow-methods".into(),
                "GET, POST, DELETE".into(),
            ),
            (
                "access-control-allow-headers".into(),
                "content-type, x-write-ack".into(),
            ),
            ("access-control-max-age".into(), "120".into()),
        ]);
        let mut got = cors_headers(&r);
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "{path}");
        assert_eq!(r.body, "");
    }
    // A preflight from another origin is routed like any OPTIONS: 405,
    // with no CORS headers but Vary (Envoy forwards it the same way).
    let preflight = vec![
        ("origin", "https://evil.example"),
        ("access-control-request-method", "POST"),
    ];
    let r = send(Method::OPTIONS, "/createUser", preflight, String::new()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(cors_headers(&r), vary_only);
}

#[tokio::test]
async fn expired_entries_are_swept_by_later_creates_without_a_listing() {
    // An entry outlives its record by the request deadline: 5 s here, time
    // enough to write all 150 before the first expires.
    let (cluster, b, http) = stack(|c| {
        c.users.ttl = Duration::from_secs(3);
        c.timeouts.request = Duration::from_millis(2000);
    })
    .await;
    for i in 0..150 {
        let r = post(&http, &b, "/createUser", &user(&format!("early-{i:03}"))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let mut index = cluster.index.connection().await;
    let written: usize = index.zcard("dlb:users:expiry").await.unwrap();
    assert_eq!(written, 150, "all 150 entries in before any expired");
    tokio::time::sleep(Duration::from_millis(6000)).await;
    // Each create sweeps up to 100 expired entries: the first leaves 50
    // of the 150 (the sweep is bounded), the second the rest.
    for (name, left) in [("late-1", 51), ("late-2", 2)] {
        assert_eq!(
            post(&http, &b, "/createUser", &user(name)).await.status,
            StatusCode::CREATED
        );
        let expiring: usize = index.zcard("dlb:users:expiry").await.unwrap();
        assert_eq!(expiring, left, "after {name}");
    }
    let names: usize = index.zcard("dlb:users:names").await.unwrap();
    let expiring: usize = index.zcard("dlb:users:expiry").await.unwrap();
    assert_eq!(
        (names, expiring),
        (2, 2),
        "no listing ran, yet both sets shrank"
    );
}

#[tokio::test]
async fn a_delete_of_an_absent_user_clears_its_entry() {
    let (cluster, b, http) = stack(|_| {}).await;
    // An entry with no record: what a write that failed after it leaves.
    let mut index = cluster.index.connection().await;
    let far = 4_000_000_000_000_u64;
    let _: () = index.zadd("dlb:users:names", "ghost_g", 0).await.unwrap();
    let _: () = index
        .zadd("dlb:users:expiry", "ghost_g", far)
        .await
        .unwrap();
    assert_eq!(list(&http, &b, "").await.json()["data"]["count"], json!(1));
    let r = post(&http, &b, "/deleteUser", &json!({"id": "ghost_g"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let names: usize = index.zcard("dlb:users:names").await.unwrap();
    assert_eq!(names, 0, "a retried delete clears what a failed write left");
    assert_eq!(list(&http, &b, "").await.json()["data"]["count"], json!(0));
}

#[tokio::test]
async fn a_record_written_around_the_api_is_no_user() {
    let (_cluster, b, http) = stack(|_| {}).await;
    let cache = format!("{}/cache", b.url);
    let impostor = json!({"name": "Mallory", "email": "m@evil.example.org", "username": "alice"});
    for (key, value) in [("user:bobby", impostor), ("user:carol", json!(42))] {
        let r = http
            .post_json(&cache, &json!({"key": key, "value": value}))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    for username in ["bobby", "carol"] {
        let r = post(&http, &b, "/getUser", &json!({"username": username})).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{username}: {}", r.body);
        assert_eq!(r.json()["error"], json!("stored_value_not_user"));
    }
}

#[tokio::test]
async fn user_writes_take_only_json_bodies() {
    let (_cluster, b, http) = stack(|_| {}).await;
    assert_eq!(
        post(&http, &b, "/createUser", &user("ada_l")).await.status,
        StatusCode::CREATED
    );
    // What a page on another origin can send without a preflight.
    let url = format!("{}/deleteUser", b.url);
    let plain = [("content-type", "text/plain")];
    let body = json!({"id": "ada_l"}).to_string();
    let r = http
        .send_with(Method::POST, &url, &plain, body)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    let j = r.json();
    assert_eq!((&j["message"], &j["status"]), (&json!(false), &json!(415)));
    assert_eq!(j["error"], json!("unsupported_media_type"));
    let r = post(&http, &b, "/getUser", &json!({"username": "ada_l"})).await;
    assert_eq!(r.status, StatusCode::OK, "the user is still there");
}
