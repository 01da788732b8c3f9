//! The agent binary refuses a bad configuration with a message and exit 2.

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_probe-agent"))
        .args(args)
        .output()
        .expect("run probe-agent");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_with_a_message() {
    let (code, err) = run(&["--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no Redis node to watch"), "{err}");
    let (code, err) = run(&["--nodes", "nohost", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not host:port"), "{err}");
    let nobody = format!("127.0.0.1:{}", test_support::free_port());
    let (code, err) = run(&[
        "--nodes",
        "127.0.0.1:1",
        "--zookeeper",
        &nobody,
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("ZooKeeper at"), "{err}");
    let (code, err) = run(&["--config", "/nonexistent/agent.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read config file"), "{err}");
}
