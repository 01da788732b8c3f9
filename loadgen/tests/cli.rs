//! Bad arguments get a clear message and exit code 2.

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_exit_2_and_say_why() {
    let unreachable = format!("http://127.0.0.1:{}", test_support::free_port());
    let cases: [(&[&str], &str); 14] = [
        (&["--rate", "0"], "rate must be a positive number"),
        (&["--key-dist", "pareto"], "unknown key distribution"),
        (
            &["--payload", "file:/nonexistent/values.txt"],
            "cannot read payload file",
        ),
        (&["--mix", "get=0"], "no operation"),
        (&["--duration", "soon"], "is not a number"),
        (&["--target", &unreachable, "--quiet"], "cannot reach"),
        (
            &["--target", "localhost:3100"],
            "expected http://HOST:PORT[=WEIGHT]",
        ),
        (
            &["--target", "http://127.0.0.1:3100=0"],
            "weight must be 1 to 1000",
        ),
        (&["--header", "X-Write-Ack all"], "is not 'Name: value'"),
        (&["--threshold", "p99"], "no < or > in it"),
        (
            &["--mode", "closed", "--threshold", "rate>0.9"],
            "open loop only",
        ),
        (&["--nodes-poll-ms", "500"], "give --log too"),
        (&["--requests", "0"], "requests must be at least 1"),
        (&["--warmup", "soon"], "is not a number"),
    ];
    for (args, message) in cases {
        let (code, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--help")
        .output()
        .expect("run loadgen");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--target",
        "--mode",
        "--rate",
        "--duration",
        "--ramp-to",
        "--schedule",
        "--mix",
        "--keys",
        "--key-dist",
        "--value-size",
        "--payload",
        "--ttl",
        "--preload",
        "--seed",
        "--log",
        "--summary-json",
        "--header",
        "--warmup",
        "--requests",
        "--threshold",
        "--hdr-out",
        "--nodes-poll-ms",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
