//! The RESP front end end to end, with a real client library (redis-rs)
//! and raw sockets, against a balancer over real Redis nodes: every
//! command it serves, pipelining, the key space it shares with the HTTP
//! API, and the errors for what it refuses.

use std::time::Duration;

use hyper::StatusCode;
use redis::aio::MultiplexedConnection;
use serde_json::json;
use test_support::{Cluster, HttpClient, TestBalancer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn stack() -> (Cluster, TestBalancer) {
    let cluster = Cluster::start(&["64mb", "64mb", "64mb"]);
    let balancer = TestBalancer::start(cluster.config()).await;
    (cluster, balancer)
}

fn resp_addr(b: &TestBalancer) -> String {
    b.app
        .config
        .server
        .resp_listen
        .expect("test balancers serve RESP")
        .to_string()
}

async fn client(b: &TestBalancer) -> MultiplexedConnection {
    redis::Client::open(format!("redis://{}", resp_addr(b)))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the RESP port")
}

/// Sends raw bytes and reads until `expected` bytes of answer arrived.
async fn raw(b: &TestBalancer, request: &[u8], expected: usize) -> String {
    let mut stream = TcpStream::connect(resp_addr(b)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = vec![0; expected];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer))
        .await
        .expect("answer in time")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

async fn cmd<T: redis::FromRedisValue>(
    c: &mut MultiplexedConnection,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut command = redis::cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    command.query_async(c).await
}

#[tokio::test]
async fn strings_round_trip_with_expiry_and_delete() {
    let (_cluster, b) = stack().await;
    let mut c = client(&b).await;
    let ok: String = cmd(&mut c, &["SET", "k", "hello world"]).await.unwrap();
    assert_eq!(ok, "OK");
    let v: Option<String> = cmd(&mut c, &["GET", "k"]).await.unwrap();
    assert_eq!(v.as_deref(), Some("hello world"));
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "k"]).await.unwrap(), -1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "absent"]).await.unwrap(), -2);

    let _: () = cmd(&mut c, &["SET", "t", "v", "EX", "100"]).await.unwrap();
    let ttl: i64 = cmd(&mut c, &["TTL", "t"]).await.unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    let _: () = cmd(&mut c, &["SET", "p", "v", "PX", "50000"])
        .await
        .unwrap();
    let pttl: i64 = cmd(&mut c, &["PTTL", "p"]).await.unwrap();
    assert!((40_000..=50_000).contains(&pttl), "{pttl}");
    // KEEPTTL keeps the expiry; a plain SET drops it.
    let _: () = cmd(&mut c, &["SET", "t", "w", "KEEPTTL"]).await.unwrap();
    assert!(cmd::<i64>(&mut c, &["TTL", "t"]).await.unwrap() > 90);
    assert_eq!(cmd::<String>(&mut c, &["GET", "t"]).await.unwrap(), "w");
    let _: () = cmd(&mut c, &["SET", "t", "x"]).await.unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "t"]).await.unwrap(), -1);
    let _: () = cmd(&mut c, &["SET", "short", "v", "PX", "300"])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let gone: Option<String> = cmd(&mut c, &["GET", "short"]).await.unwrap();
    assert_eq!(gone, None, "expired");

    assert_eq!(
        cmd::<i64>(&mut c, &["EXISTS", "k", "k", "absent"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        cmd::<i64>(&mut c, &["DEL", "k", "absent"]).await.unwrap(),
        1
    );
    assert_eq!(cmd::<i64>(&mut c, &["UNLINK", "t"]).await.unwrap(), 1);
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["GET", "k"]).await.unwrap(),
        None
    );
    assert_eq!(cmd::<i64>(&mut c, &["EXISTS", "k"]).await.unwrap(), 0);
}

#[tokio::test]
async fn mset_mget_and_connection_commands() {
    let (_cluster, b) = stack().await;
    let mut c = client(&b).await;
    let _: () = cmd(&mut c, &["MSET", "a", "1", "b", "2"]).await.unwrap();
    let got: Vec<Option<String>> = cmd(&mut c, &["MGET", "a", "nope", "b"]).await.unwrap();
    assert_eq!(got, vec![Some("1".into()), None, Some("2".into())]);
    assert_eq!(cmd::<String>(&mut c, &["PING"]).await.unwrap(), "PONG");
    assert_eq!(cmd::<String>(&mut c, &["PING", "hi"]).await.unwrap(), "hi");
    assert_eq!(cmd::<String>(&mut c, &["ECHO", "é"]).await.unwrap(), "é");
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "0"]).await.unwrap(), "OK");
    assert!(cmd::<String>(&mut c, &["SELECT", "1"]).await.is_err());
    assert_eq!(
        cmd::<String>(&mut c, &["CLIENT", "SETNAME", "t"])
            .await
            .unwrap(),
        "OK"
    );
    let info: String = cmd(&mut c, &["INFO"]).await.unwrap();
    assert!(info.contains("dlb_nodes_up:3"), "{info}");
    assert_eq!(cmd::<i64>(&mut c, &["COMMAND", "COUNT"]).await.unwrap(), 22);
}

#[tokio::test]
async fn one_key_space_with_the_http_api() {
    let (_cluster, b) = stack().await;
    let http = HttpClient::new();
    let mut c = client(&b).await;
    let _: () = cmd(&mut c, &["SET", "shared", "from resp"]).await.unwrap();
    let r = http.get(&format!("{}/cache/shared", b.url)).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["value"], "from resp");

    let body = json!({"key": "doc", "value": {"a": [1, 2]}});
    let r = http
        .post_json(&format!("{}/cache", b.url), &body)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED);
    let v: String = cmd(&mut c, &["GET", "doc"]).await.unwrap();
    assert_eq!(v, r#"{"a":[1,2]}"#);
    let body = json!({"key": "text", "value": "from http"});
    http.post_json(&format!("{}/cache", b.url), &body)
        .await
        .unwrap();
    assert_eq!(
        cmd::<String>(&mut c, &["GET", "text"]).await.unwrap(),
        "from http"
    );
}

#[tokio::test]
async fn refused_commands_say_why() {
    let (_cluster, b) = stack().await;
    let mut c = client(&b).await;
    for args in [
        &["SET", "k", "v", "NX"][..],
        &["INCR", "k"],
        &["GETSET", "k", "v"],
    ] {
        let err = cmd::<String>(&mut c, args).await.unwrap_err();
        assert!(err.to_string().contains("not supported"), "{args:?}: {err}");
    }
    let err = cmd::<String>(&mut c, &["FLUSHALL"]).await.unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");
    let err = cmd::<String>(&mut c, &["GET"]).await.unwrap_err();
    assert!(
        err.to_string().contains("wrong number of arguments"),
        "{err}"
    );
    // The connection still serves after errors.
    assert_eq!(cmd::<String>(&mut c, &["PING"]).await.unwrap(), "PONG");
}

#[tokio::test]
async fn pipelines_inline_commands_resp3_and_protocol_errors() {
    let (_cluster, b) = stack().await;
    let pipeline = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\nGET nope\r\nPING\r\n";
    let expected = "+OK\r\n$1\r\n1\r\n$-1\r\n+PONG\r\n";
    assert_eq!(raw(&b, pipeline, expected.len()).await, expected);
    let all = raw_for(&b, b"HELLO 3\r\nGET nope\r\nQUIT\r\n", 10_000).await;
    assert!(
        all.starts_with("%7\r\n") && all.ends_with("_\r\n+OK\r\n"),
        "{all:?}"
    );

    let mut stream = TcpStream::connect(resp_addr(&b)).await.unwrap();
    stream.write_all(b"*1\r\n+PING\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect("closed after a protocol error")
        .unwrap();
    assert!(answer.starts_with("-ERR Protocol error"), "{answer}");
}

#[tokio::test]
async fn binary_values_are_refused_and_stored_data_is_kept() {
    let (_cluster, b) = stack().await;
    let mut c = client(&b).await;
    let _: () = cmd(&mut c, &["SET", "k", "kept"]).await.unwrap();
    let err = redis::cmd("SET")
        .arg("k")
        .arg(&[0xff_u8, 0xfe][..])
        .query_async::<String>(&mut c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    assert_eq!(cmd::<String>(&mut c, &["GET", "k"]).await.unwrap(), "kept");
}

#[tokio::test]
async fn a_pipeline_sent_whole_before_any_reply_is_read_is_answered() {
    // As redis-py's pipeline does: every request first, then the replies.
    // 16 MB each way is more than both directions' socket buffers hold:
    // a server that stopped reading while it wrote would wait forever.
    let (_cluster, b) = stack().await;
    let payload = "x".repeat(8 * 1024);
    let request = format!("*2\r\n$4\r\nECHO\r\n${}\r\n{payload}\r\n", payload.len());
    let reply = format!("${}\r\n{payload}\r\n", payload.len());
    let count = 2000;
    let mut stream = TcpStream::connect(resp_addr(&b)).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(30), async {
        stream
            .write_all(request.repeat(count).as_bytes())
            .await
            .unwrap();
        let mut answer = vec![0; reply.len() * count];
        stream.read_exact(&mut answer).await.unwrap();
        answer
    })
    .await
    .expect("the whole pipeline answered, no deadlock");
    assert!(answered.starts_with(reply.as_bytes()));
    assert!(answered.ends_with(reply.as_bytes()));
}

#[tokio::test]
async fn requests_read_while_replies_are_written_are_answered_without_more_input() {
    // redis-benchmark -P 16: 16 requests, then wait for 16 replies. The
    // server may read the last of them while it writes the first replies:
    // it must answer them without waiting for more bytes.
    let (_cluster, b) = stack().await;
    let mut stream = TcpStream::connect(resp_addr(&b)).await.unwrap();
    for round in 0..200 {
        let batch = b"*1\r\n$4\r\nPING\r\n".repeat(16);
        stream.write_all(&batch).await.unwrap();
        let mut replies = vec![0; b"+PONG\r\n".len() * 16];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut replies))
            .await
            .unwrap_or_else(|_| panic!("round {round}: replies stalled"))
            .unwrap();
    }
}

/// Sends `request` on a new connection and reads what comes back until
/// the balancer closes it or `ms` pass.
async fn raw_for(b: &TestBalancer, request: &[u8], ms: u64) -> String {
    let mut stream = TcpStream::connect(resp_addr(b)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(ms), async {
        let mut chunk = [0; 4096];
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    String::from_utf8(all).unwrap()
}

#[tokio::test]
async fn pipelined_commands_on_one_key_take_effect_in_the_order_sent() {
    // Commands on distinct keys of a pipeline run at the same time; each
    // command here follows one on its key, so each must see that one.
    let (_cluster, b) = stack().await;
    let keys: Vec<String> = (0..20).map(|i| format!("order-{i}")).collect();
    let (mut request, mut expected) = (String::new(), String::new());
    let mut each = |line: &dyn Fn(&str) -> String, reply: &str| {
        for key in &keys {
            request.push_str(&line(key));
            expected.push_str(reply);
        }
    };
    each(&|k| format!("SET {k} a\r\n"), "+OK\r\n");
    each(&|k| format!("GET {k}\r\n"), "$1\r\na\r\n");
    each(&|k| format!("SET {k} b\r\n"), "+OK\r\n");
    each(&|k| format!("GET {k}\r\n"), "$1\r\nb\r\n");
    each(&|k| format!("DEL {k}\r\n"), ":1\r\n");
    each(&|k| format!("EXISTS {k}\r\n"), ":0\r\n");
    assert_eq!(raw(&b, request.as_bytes(), expected.len()).await, expected);
}

#[tokio::test]
async fn hello_in_a_pipeline_changes_only_the_replies_after_it() {
    let (_cluster, b) = stack().await;
    let all = raw_for(
        &b,
        b"GET nope\r\nHELLO 3\r\nGET nope\r\nHELLO 2\r\nGET nope\r\nQUIT\r\n",
        10_000,
    )
    .await;
    assert!(all.starts_with("$-1\r\n%7\r\n"), "{all:?}");
    assert!(all.contains("_\r\n*14\r\n"), "{all:?}");
    assert!(all.ends_with("$-1\r\n+OK\r\n"), "{all:?}");
}

#[tokio::test]
async fn nothing_pipelined_after_quit_runs() {
    let (_cluster, b) = stack().await;
    let all = raw_for(&b, b"SET before 1\r\nQUIT\r\nSET after 1\r\n", 5000).await;
    assert_eq!(all, "+OK\r\n+OK\r\n");
    let mut c = client(&b).await;
    assert_eq!(
        cmd::<i64>(&mut c, &["EXISTS", "before", "after"])
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn mget_of_many_keys_answers_each_in_the_order_asked() {
    // Its keys are read 64 at a time; the answer keeps the order asked.
    let (_cluster, b) = stack().await;
    let mut c = client(&b).await;
    let mut sets = redis::pipe();
    for i in 0..150 {
        sets.set(format!("many-{i}"), format!("v{i}")).ignore();
    }
    let _: () = sets.query_async(&mut c).await.unwrap();
    let mut mget = vec!["MGET".to_string()];
    let mut want = Vec::new();
    for i in 0..150 {
        mget.extend([format!("many-{i}"), format!("absent-{i}")]);
        want.extend([Some(format!("v{i}")), None]);
    }
    let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
    let got: Vec<Option<String>> = cmd(&mut c, &mget).await.unwrap();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_request_after_megabytes_of_empty_lines_is_answered() {
    // Empty requests are read and dropped; a batch of requests that ends
    // with none taken must mean that no complete request is left. The
    // replies (14 MB, more than the socket buffers hold) keep the
    // connection writing while the empty lines arrive, so they are all
    // buffered at once.
    let (_cluster, b) = stack().await;
    let mut c = client(&b).await;
    let big = "b".repeat(900 * 1024);
    let _: () = cmd(&mut c, &["SET", "big", &big]).await.unwrap();
    let mut request = b"GET big\r\n".repeat(16);
    request.extend(b"\r\n".repeat(1_500_000));
    request.extend(b"PING\r\n");
    let expected = format!("${}\r\n{big}\r\n", big.len()).repeat(16) + "+PONG\r\n";
    let mut stream = TcpStream::connect(resp_addr(&b)).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        stream.write_all(&request).await.unwrap();
        let mut answer = vec![0; expected.len()];
        stream.read_exact(&mut answer).await.unwrap();
        answer
    })
    .await
    .expect("PING answered after the empty lines");
    assert!(answer.ends_with(b"+PONG\r\n"));
}
