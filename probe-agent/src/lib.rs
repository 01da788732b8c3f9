//! The probe agent: one per host. Every interval it samples the host's
//! memory and CPU and each local Redis's `INFO`, and serves the result as
//! a [`memreport::Report`] over HTTP, with a long poll so balancers get
//! each report as soon as it is taken.
//!
//! # Layout
//! - [`config`]: the TOML file and its checks.
//! - [`host`]: host memory and CPU ([`host::MemorySource`], sysinfo).
//! - [`redis_probe`]: `INFO` from one Redis, with a time limit, and the
//!   memory limit of its cgroup.
//! - [`redis_process`]: whether the pid `INFO` names is that Redis here.
//! - [`cgroup`]: the memory limit of a process's cgroup (v1 or v2).
//! - [`sampler`]: the sampling loop; publishes each report.
//! - [`http`]: `/report` (and its long poll), `/metrics`, `/healthz`.
//!
//! Its HTTP connections are bounded by the [`frontdoor`] it shares with
//! the balancer: a connection limit, a header-read and an idle timeout.
//! - [`metrics`]: the agent's Prometheus metrics.
//! - [`registration`]: the agent's ZooKeeper entries.

pub mod cgroup;
pub mod config;
pub mod host;
pub mod http;
pub mod metrics;
pub mod redis_probe;
pub mod redis_process;
pub mod registration;
pub mod sampler;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::host::MemorySource;
use crate::metrics::Metrics;
use crate::redis_probe::RedisProbe;
use crate::sampler::Sampler;

/// Runs the agent on `listener` until `shutdown` completes: takes the first
/// report, then samples in the background while serving HTTP.
///
/// # Errors
/// A node address that cannot be used, in words.
pub async fn run(
    listener: TcpListener,
    config: Config,
    source: Box<dyn MemorySource>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let probes = config
        .nodes
        .iter()
        .map(|spec| RedisProbe::new(spec.clone(), &config))
        .collect::<Result<Vec<_>, _>>()?;
    let metrics = Arc::new(Metrics::new());
    let (reports, latest) = watch::channel(None);
    let sampler = Sampler {
        host: config.host.clone().unwrap_or_else(host::host_name),
        source,
        probes,
        interval: config.interval,
        reports,
        metrics: metrics.clone(),
    };
    let (stop, stopped) = watch::channel(false);
    let registering = config.zookeeper().map(|zk| {
        let entry = registration::entry(&config, &sampler.host);
        let name = registration::name(&config, &sampler.host);
        tokio::spawn(registration::run(
            zk,
            name,
            entry,
            config.nodes.clone(),
            stopped.clone(),
        ))
    });
    let sampling = tokio::spawn(sampler.run(stopped));
    let state = http::State {
        reports: latest,
        metrics,
    };
    let closed = {
        let metrics = state.metrics.clone();
        move |why: &'static str| metrics.connection_closed(why)
    };
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(http::route(&state, req).await) }
    });
    let grace = std::time::Duration::from_secs(2);
    frontdoor::serve(
        listener,
        frontdoor::Plain,
        config.limits(),
        service,
        closed,
        shutdown,
        grace,
    )
    .await;
    let _ = stop.send(true);
    let _ = sampling.await;
    if let Some(registering) = registering {
        let _ = registering.await;
    }
    Ok(())
}
