//! A memory-aware load balancer for Redis: an HTTP cache API in front of a
//! set of Redis data nodes, placing each new key on the least-utilized of
//! its candidate nodes and remembering where in an index Redis.
//!
//! # Layout
//!
//! Request path (each a file to read top to bottom):
//! - `http/`: accept loop, routing table (`routes.rs`), input checks
//!   (`body.rs`), responses and the error mapping (`reply.rs`), operator
//!   endpoints (`admin.rs`).
//! - [`cache`]: get, put, delete; lookup order and write protocol.
//! - [`placement`] and [`rendezvous`]: pure decisions, where a new key goes.
//! - [`near`]: values of hot keys kept in the balancer, invalidated by
//!   the data nodes (`CLIENT TRACKING`), so a hit needs no round trip.
//! - [`index`], [`locations`]: the key-location index and its local LRU,
//!   invalidated by the index (`CLIENT TRACKING`, see `tracking/`).
//! - `replication.rs`: one write's fan-out to its replicas, substitutes
//!   for failed ones, and the index edit when the set changes.
//! - [`values`]: how versioned values are stored on a data node, with
//!   [`hlc`] timestamps for last-writer-wins.
//! - [`backend`]: one Redis connection with time limits.
//!
//! Background and state: [`nodes`] (the node table), [`health`] (the
//! balancer's own node checks), [`repair`] (replica repair and resync of
//! returning nodes), [`coordinator`]
//! (ZooKeeper: registration, election, probe discovery), [`probes`] (reports
//! from probe agents), [`sampler`] (own `INFO` sampling where no agent
//! reports, parsed by `memreport::info`), [`metrics`].
//! Set-up: [`config`], [`error`].

pub mod backend;
pub mod cache;
pub mod config;
pub mod coordinator;
pub mod error;
pub mod health;
pub mod hlc;
mod http;
pub mod index;
pub mod locations;
pub mod metrics;
pub mod near;
pub mod nodes;
pub mod placement;
pub mod probes;
pub mod rendezvous;
pub mod repair;
mod replication;
pub mod sampler;
mod tracking;
pub mod values;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::{Backend, BackendError};
use crate::cache::Cache;
use crate::config::Config;
use crate::index::Index;
use crate::locations::LocationCache;
use crate::metrics::Metrics;
use crate::near::NearCache;
use crate::nodes::{Membership, NodeTable};
use crate::repair::Repairer;

/// Everything a running balancer shares between requests.
#[derive(Debug)]
pub struct App {
    /// The configuration it was built from.
    pub config: Config,
    /// The cache operations.
    pub cache: Cache,
    /// Values kept in the balancer, invalidated by the nodes.
    pub near: Arc<NearCache>,
    /// Key locations kept in the balancer, invalidated by the index.
    pub locations: Arc<LocationCache>,
    /// The data nodes (the current table).
    pub nodes: Arc<Membership>,
    /// The key-location index.
    pub index: Arc<Index>,
    /// Metric families.
    pub metrics: Arc<Metrics>,
    /// The replica repair queue.
    pub repairs: Arc<Repairer>,
    /// What ZooKeeper says.
    pub coordinator: coordinator::Coordinator,
}

impl App {
    /// Builds the balancer from a validated configuration. Opens no
    /// connection yet; servers that are down now are no error.
    pub fn build(config: Config) -> Result<App, BackendError> {
        let nodes = Arc::new(Membership::new(NodeTable::new(
            &config.nodes,
            config.timeouts.node,
            config.sample_interval,
        )?));
        let index = Arc::new(Index::new(Backend::new(
            &config.index,
            config.timeouts.index,
        )?));
        let metrics = Arc::new(Metrics::new());
        let repairs = Arc::new(Repairer::new(
            config.repair.clone(),
            config.replication.factor.get(),
            metrics.clone(),
        ));
        let locations = Arc::new(LocationCache::new(
            config.location_cache_entries,
            &config.index,
            config.timeouts.index,
            metrics.location_clears.clone(),
        ));
        let near = Arc::new(NearCache::new(
            config.near_cache_bytes,
            config.timeouts.node,
            metrics.clone(),
        ));
        let cache = Cache::new(
            nodes.clone(),
            near.clone(),
            index.clone(),
            locations.clone(),
            config.placement,
            config.replication.clone(),
            config.failure.eject_after,
            hlc::Clock::new(&config.balancer_id()),
            repairs.clone(),
            metrics.clone(),
        );
        let coordinator = coordinator::Coordinator::new(config.zookeeper(), config.balancer_id());
        Ok(App {
            config,
            cache,
            near,
            locations,
            nodes,
            index,
            metrics,
            repairs,
            coordinator,
        })
    }
}

/// Runs the balancer on `listener` until `shutdown` completes: samples every
/// node once, starts the background loops (memory sampler, health checks,
/// the caches' invalidation streams, repairs, probe agent followers,
/// ZooKeeper, index health), serves HTTP, then drains in-flight requests
/// and stops the loops.
pub async fn run(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    sampler::sample_all(&app.nodes.current(), &app.metrics).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sampler::run(
        app.nodes.clone(),
        app.metrics.clone(),
        app.config.sample_interval,
        stop_rx.clone(),
    ));
    let health = tokio::spawn(health::run(
        app.nodes.clone(),
        app.metrics.clone(),
        app.config.failure.health_interval,
        app.config.failure.eject_after,
        stop_rx.clone(),
    ));
    let near = tokio::spawn(app.near.clone().run(app.nodes.clone(), stop_rx.clone()));
    let locations = {
        let (app, stop) = (app.clone(), stop_rx.clone());
        tokio::spawn(async move { app.locations.run(stop).await })
    };
    let repairs = tokio::spawn(app.repairs.clone().run(
        app.nodes.clone(),
        app.index.clone(),
        stop_rx.clone(),
    ));
    let agents = tokio::spawn(probes::supervise(
        app.config.probes.clone(),
        app.coordinator.discovered_probes(),
        app.nodes.clone(),
        app.metrics.clone(),
        stop_rx.clone(),
    ));
    let membership = {
        let (app, stop) = (app.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let timeout = app.config.timeouts.node;
            app.coordinator
                .steer_membership(&app.nodes, timeout, stop)
                .await
        })
    };
    let coordination = {
        let (app, stop) = (app.clone(), stop_rx.clone());
        let advertise = listener
            .local_addr()
            .map_or_else(|_| app.config.listen.to_string(), |a| a.to_string());
        tokio::spawn(async move {
            app.coordinator
                .run(advertise, app.metrics.clone(), stop)
                .await
        })
    };
    let index_watch = {
        let app = app.clone();
        tokio::spawn(async move {
            app.index
                .watch(app.config.timeouts.index_retry, stop_rx)
                .await
        })
    };
    http::serve(listener, app, shutdown).await;
    let _ = stop_tx.send(true);
    let _ = tokio::join!(
        sampler,
        near,
        locations,
        health,
        repairs,
        index_watch,
        agents,
        membership,
        coordination
    );
}
