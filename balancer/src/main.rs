//! The `balancer` binary: read the configuration, start logging, serve
//! until SIGTERM or Ctrl-C, then drain.

use std::process::ExitCode;
use std::sync::Arc;

use balancer::config::{Choices, Config, NodeSpec, WriteAck};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Memory-aware HTTP load balancer for Redis.
///
/// Settings come from the TOML file given with --config, then from the
/// environment variables and flags below, which win over the file.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML configuration file (every field optional; see README).
    #[arg(long, env = "DLB_CONFIG")]
    config: Option<String>,
    /// Address for the HTTP API [default: 127.0.0.1:3100].
    #[arg(long, env = "DLB_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Index Redis address, host:port [default: 127.0.0.1:5000].
    #[arg(long, env = "DLB_INDEX")]
    index: Option<String>,
    /// Data nodes, comma-separated, each host:port or id=host:port
    /// [default: 127.0.0.1:5300,127.0.0.1:5400,127.0.0.1:5500,127.0.0.1:5600].
    #[arg(long, env = "DLB_NODES", value_delimiter = ',')]
    nodes: Option<Vec<NodeSpec>>,
    /// Probe agents to follow, comma-separated base URLs (http://host:8000);
    /// nodes they report take their memory figures from them [default: none].
    #[arg(long, env = "DLB_PROBES", value_delimiter = ',')]
    probes: Option<Vec<String>>,
    /// ZooKeeper ensemble, host:port[,host:port], for registration, leader
    /// election and probe discovery [default: none; static settings only].
    #[arg(long, env = "DLB_ZOOKEEPER")]
    zookeeper: Option<String>,
    /// This balancer's id in ZooKeeper [default: balancer-<listen address>].
    #[arg(long, env = "DLB_ID")]
    id: Option<String>,
    /// Rendezvous candidates per new key: a number, or "all" [default: 2].
    #[arg(long, env = "DLB_PLACEMENT_CHOICES")]
    choices: Option<Choices>,
    /// Bounded-load slack over mean utilization [default: 0.25].
    #[arg(long, env = "DLB_LOAD_EPSILON")]
    load_epsilon: Option<f64>,
    /// Copies of each key on distinct nodes [default: 2].
    #[arg(long, env = "DLB_REPLICATION_FACTOR")]
    replication_factor: Option<std::num::NonZeroUsize>,
    /// Replicas that must take a write: one, quorum or all [default: quorum].
    #[arg(long, env = "DLB_WRITE_ACK")]
    write_ack: Option<WriteAck>,
    /// Failed requests or health checks in a row that mark a node down [default: 3].
    #[arg(long, env = "DLB_EJECT_AFTER")]
    eject_after: Option<u32>,
    /// Interval of the balancer's own node health checks, ms [default: 500].
    #[arg(long, env = "DLB_HEALTH_INTERVAL_MS")]
    health_interval_ms: Option<u64>,
    /// Longest key in bytes [default: 1024].
    #[arg(long, env = "DLB_MAX_KEY_BYTES")]
    max_key_bytes: Option<usize>,
    /// Largest value in bytes of JSON [default: 1048576].
    #[arg(long, env = "DLB_MAX_VALUE_BYTES")]
    max_value_bytes: Option<usize>,
    /// Time limit for one data-node command, ms [default: 500].
    #[arg(long, env = "DLB_NODE_TIMEOUT_MS")]
    node_timeout_ms: Option<u64>,
    /// Time limit for one index command, ms [default: 200].
    #[arg(long, env = "DLB_INDEX_TIMEOUT_MS")]
    index_timeout_ms: Option<u64>,
    /// Time limit for a whole request, ms [default: 5000].
    #[arg(long, env = "DLB_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Bytes of values the near cache keeps; 0 turns it off [default: 67108864].
    #[arg(long, env = "DLB_NEAR_CACHE_BYTES")]
    near_cache_bytes: Option<usize>,
    /// Memory sampling interval, ms [default: 1000].
    #[arg(long, env = "DLB_SAMPLE_INTERVAL_MS")]
    sample_interval_ms: Option<u64>,
    /// Threads serving requests: 1 runs everything on one thread, the way
    /// Twemproxy does, which is fastest when the balancer shares a small
    /// host with its Redis nodes; 0 means one per core.
    #[arg(long, env = "DLB_WORKER_THREADS", default_value_t = 1)]
    worker_threads: usize,
}

impl Args {
    /// The file's configuration with the flags and variables applied.
    fn into_config(self) -> Result<Config, balancer::config::ConfigError> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        set(&mut c.listen, self.listen);
        set(&mut c.index, self.index);
        set(&mut c.nodes, self.nodes);
        set(&mut c.probes, self.probes);
        if self.zookeeper.is_some() {
            c.zookeeper = self.zookeeper;
        }
        if self.id.is_some() {
            c.id = self.id;
        }
        set(&mut c.placement.choices, self.choices);
        set(&mut c.placement.load_epsilon, self.load_epsilon);
        set(&mut c.replication.factor, self.replication_factor);
        set(&mut c.replication.write_ack, self.write_ack);
        set(&mut c.failure.eject_after, self.eject_after);
        set(&mut c.failure.health_interval, ms(self.health_interval_ms));
        set(&mut c.limits.max_key_bytes, self.max_key_bytes);
        set(&mut c.limits.max_value_bytes, self.max_value_bytes);
        set(&mut c.timeouts.node, ms(self.node_timeout_ms));
        set(&mut c.timeouts.index, ms(self.index_timeout_ms));
        set(&mut c.timeouts.request, ms(self.request_timeout_ms));
        set(&mut c.sample_interval, ms(self.sample_interval_ms));
        set(&mut c.near_cache_bytes, self.near_cache_bytes);
        c.validate()?;
        Ok(c)
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn ms(value: Option<u64>) -> Option<std::time::Duration> {
    value.map(std::time::Duration::from_millis)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let runtime = match args.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if n > 0 {
                builder.worker_threads(n);
            }
            builder.enable_all().build()
        }
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("balancer: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("balancer: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    if let Some(zk) = config.zookeeper() {
        // Refuse to start against a ZooKeeper that cannot be reached at all;
        // once running, outages are ridden out.
        if let Err(e) = coordination::session::connect(&zk).await {
            eprintln!("balancer: {e}");
            return ExitCode::from(2);
        }
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("balancer: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    let app = match balancer::App::build(config) {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("balancer: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        listen = %app.config.listen,
        index = %app.config.index,
        nodes = app.nodes.current().all().len(),
        "balancer starting"
    );
    balancer::run(listener, app, shutdown_signal()).await;
    tracing::info!("balancer stopped");
    ExitCode::SUCCESS
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: draining"),
    }
}
