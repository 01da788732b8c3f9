//! The `probe-agent` binary: read the configuration, sample and serve
//! until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use memreport::NodeSpec;
use probe_agent::config::Config;
use probe_agent::host::SysinfoSource;
use tracing_subscriber::EnvFilter;

/// Reports this host's memory and each local Redis's INFO to balancers.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML configuration file (every field optional).
    #[arg(long, env = "PROBE_CONFIG")]
    config: Option<String>,
    /// Address of the HTTP server [default: 127.0.0.1:8000].
    #[arg(long, env = "PROBE_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Host name in reports [default: this machine's name].
    #[arg(long, env = "PROBE_HOST")]
    host: Option<String>,
    /// Redis instances to watch, comma-separated, each host:port or
    /// id=host:port (ids must match the balancer's).
    #[arg(long, env = "PROBE_NODES", value_delimiter = ',')]
    nodes: Option<Vec<NodeSpec>>,
    /// Sampling interval, ms [default: 1000].
    #[arg(long, env = "PROBE_INTERVAL_MS")]
    interval_ms: Option<u64>,
    /// Time limit for one INFO, ms [default: 500].
    #[arg(long, env = "PROBE_NODE_TIMEOUT_MS")]
    node_timeout_ms: Option<u64>,
    /// ZooKeeper ensemble to register in, host:port[,host:port] [default: none].
    #[arg(long, env = "PROBE_ZOOKEEPER")]
    zookeeper: Option<String>,
    /// URL balancers use to reach this agent [default: http://<listen>].
    #[arg(long, env = "PROBE_ADVERTISE")]
    advertise: Option<String>,
}

impl Args {
    fn into_config(self) -> Result<Config, String> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if self.host.is_some() {
            c.host = self.host;
        }
        if let Some(v) = self.nodes {
            c.nodes = v;
        }
        if let Some(v) = self.interval_ms {
            c.interval_ms = v;
        }
        if let Some(v) = self.node_timeout_ms {
            c.node_timeout_ms = v;
        }
        if self.zookeeper.is_some() {
            c.zookeeper = self.zookeeper;
        }
        if self.advertise.is_some() {
            c.advertise = self.advertise;
        }
        c.validate()?;
        Ok(c)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = match Args::parse().into_config() {
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
