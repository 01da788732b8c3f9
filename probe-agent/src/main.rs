//! The `probe-agent` binary: read the configuration, sample and serve
//! until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use probe_agent::config::{Args, Config};
use probe_agent::host::SysinfoSource;
use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let config = match Config::load(args.config.as_deref(), args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("probe-agent: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(zk) = config.zookeeper() {
        // Refuse to start against a ZooKeeper that cannot be reached at all;
        // once running, outages are ridden out.
        if let Err(e) = coordination::session::connect(&zk).await {
            eprintln!("probe-agent: {e}");
            return ExitCode::from(2);
        }
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("probe-agent: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    tracing::info!(listen = %config.listen, nodes = config.nodes.len(), "probe agent starting");
    let source = match SysinfoSource::new() {
        Ok(s) => Box::new(s),
        Err(e) => {
            eprintln!("probe-agent: {e}");
            return ExitCode::from(1);
        }
    };
    match probe_agent::run(listener, config, source, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probe-agent: {e}");
            ExitCode::from(2)
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
