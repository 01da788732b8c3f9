//! The `balancer` binary: read the configuration, start logging, serve
//! until SIGTERM or Ctrl-C, then drain.

use std::process::ExitCode;
use std::sync::Arc;

use balancer::config::{Args, Config};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// glibc's malloc was 13% of the balancer's CPU under a write load (perf;
/// BENCHMARKS.md, "The allocator and the last-writer-wins script");
/// mimalloc's per-thread free lists cost less for the many short-lived
/// buffers of a request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let config = match Config::load(args.config.as_deref(), args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("balancer: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime(args.worker_threads) {
        Ok(runtime) => runtime.block_on(serve(config)),
        Err(e) => {
            eprintln!("balancer: cannot start the runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// One thread for `1`, else a thread pool of `threads` (one per core for 0).
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if threads > 1 {
        builder.worker_threads(threads);
    }
    builder.enable_all().build()
}

async fn serve(config: Config) -> ExitCode {
    // Built first: a TLS file that cannot be used is refused (exit 2)
    // before anything is contacted or the port is taken.
    let app = match balancer::App::build(config) {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("balancer: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(zk) = app.config.zookeeper() {
        // Refuse to start against a ZooKeeper that cannot be reached at all;
        // once running, outages are ridden out.
        // Nor as an id another live balancer holds.
        let id = app.config.balancer_id();
        if let Err(e) = balancer::background::coordinator::check_id_free(&zk, &id).await {
            eprintln!("balancer: {e}");
            return ExitCode::from(2);
        }
    }
    let listeners = match balancer::Listeners::bind(&app.config).await {
        Ok(l) => l,
        Err((addr, e)) => {
            eprintln!("balancer: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        listen = %app.config.listen,
        resp = ?app.config.server.resp_listen,
        index = %app.config.index,
        nodes = app.nodes.current().all().len(),
        tls = app.tls.is_tls(),
        "balancer starting"
    );
    balancer::run(listeners, app, shutdown_signal()).await;
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
