//! The binary refuses a bad configuration with a message and exit code 2,
//! before it binds or connects to anything.

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_balancer"))
        .args(args)
        .env_remove("DLB_NODES")
        .output()
        .expect("run balancer");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_with_a_message() {
    let (code, err) = run(&["--nodes", "nope", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("\"nope\" is not host:port"), "{err}");

    let (code, err) = run(&["--choices", "zero", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("choices"), "{err}");

    let dir = std::env::temp_dir().join(format!("dlb-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "listen = 3100\n").unwrap();
    let (code, err) = run(&["--config", file.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("invalid config file"), "{err}");

    let nobody = format!("127.0.0.1:{}", test_support::free_port());
    let (code, err) = run(&["--zookeeper", &nobody, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("ZooKeeper at"), "{err}");

    let (code, err) = run(&["--config", "/nonexistent/balancer.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read config file"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn help_explains_every_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_balancer"))
        .arg("--help")
        .output()
        .expect("run balancer");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--listen",
        "--index",
        "--nodes",
        "--choices",
        "--load-epsilon",
        "--max-key-bytes",
        "--max-value-bytes",
        "--node-timeout-ms",
        "--index-timeout-ms",
        "--request-timeout-ms",
        "--sample-interval-ms",
        "--worker-threads",
        "--tls-cert",
        "--tls-key",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
