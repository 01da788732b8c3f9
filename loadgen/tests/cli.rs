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
    let cases: [(&[&str], &str); 6] = [
        (&["--rate", "0"], "rate must be a positive number"),
        (&["--key-dist", "pareto"], "unknown key distribution"),
        (
            &["--payload", "file:/nonexistent/values.txt"],
            "cannot read payload file",
        ),
        (&["--mix", "get=0"], "no operation"),
        (&["--duration", "soon"], "is not a number"),
        (&["--target", &unreachable, "--quiet"], "cannot reach"),
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
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
