//! A memory-aware load balancer for Redis: an HTTP cache API in front of a
//! set of Redis data nodes, placing each new key on the least-utilized of
//! its candidate nodes and remembering where in an index Redis.
//!
//! # Layout
//!
//! **Follow one GET** (`GET /cache/{key}`), one line per file:
//! 1. `http/mod.rs`: the `frontdoor` crate accepts the connection (a
//!    TLS handshake first, by [`tls`], when configured);
//!    `http/stack.rs` passes the request through its tower layers
//!    (metrics, body, load shedding, deadline).
//! 2. `http/routes.rs`: `cache` picks `get`, which checks the key
//!    (`http/body.rs`) and calls [`ops::Ops::get`].
//! 3. `ops/read.rs`: near cache ([`near`]) → location cache
//!    ([`locations`]) → index ([`index`]) → hashing fallback
//!    (`ops/search.rs`, deciding with [`fallback`]); then the replicas in
//!    order.
//! 4. [`values`]: one pipelined `HMGET` + `PTTL` on a node's [`backend`].
//! 5. Back in `http/routes.rs`: the JSON reply (`http/reply.rs`), or a
//!    rejection mapped to a status in `http/rejection.rs`.
//!
//! **Follow one POST** (`POST /cache`):
//! 1. `http/stack.rs` reads the body (`http/upload.rs`), then
//!    `http/routes.rs`: `put` checks it (`http/body.rs`) and calls
//!    [`ops::Ops::put`].
//! 2. `ops/write.rs`: [`replicas::count`] and [`replicas::propose`] (over
//!    [`placement`] and [`rendezvous`]) choose the set; the [`index`]
//!    claims it, while `ops/search.rs` looks for copies already on nodes,
//!    which join the set if the claim created the entry.
//! 3. `ops/fanout.rs`: a task writes the version to every replica
//!    ([`values::apply`], last-writer-wins by [`hlc`] timestamps), picks
//!    substitutes for failed ones and settles a changed set.
//! 4. `ops/write.rs`: waits for the level by the rule in [`acks`], then
//!    records the set in the location cache.
//! 5. `http/routes.rs`: 201 or 200 with the nodes that took it.
//!
//! Pure decisions, each unit-tested, no I/O: `http/cors/mod.rs` (CORS
//! headers), `http/users/input.rs` and `http/users/shape.rs`,
//! `http/admin_api/` (`token.rs`, `input.rs`, `listing.rs`), [`placement`],
//! [`rendezvous`], [`replicas`], [`fallback`], [`acks`], [`newest`], [`ttl_change`],
//! [`nodes::state`] (node health), [`nodes::membership`] (node list diff),
//! [`nodes::capacity`] (a node's capacity and its source),
//! [`rebalance`] (which nodes shed or take bytes, and where each moved
//! key goes: issue 14's planner, driven by the `sim` crate for now),
//! `metrics/stats.rs` (the `GET /stats` figures the dashboard polls).
//!
//! State the request path reads: [`nodes`] (the node table), [`near`],
//! [`locations`] and [`tracking`] (caches invalidated by Redis), [`index`],
//! [`repairs`] (the queue it adds to), [`metrics`].
//!
//! Background work, started by [`background::spawn_all`]: memory
//! sampling, health checks, probe agents, ZooKeeper, repair and resync,
//! and the rebuild of an index that lost its data.
//! The request path imports none of it.
//!
//! **The user-record API** (`POST /createUser`, `/getUser`,
//! `/updateUser`, `/deleteUser`, `GET /getAllUsers`): `http/routes.rs`
//! hands those paths to `http/users/mod.rs`, through the same bounds
//! (`http/stack.rs`; `http/rescue.rs` answers the bounds' failures in
//! each route's body shape). `http/users/input.rs` checks the body or
//! query, `http/users/shape.rs` shapes the answer (both pure); in between,
//! each user is the key `user:{username}` through [`ops::Ops`], and the
//! listing pages through the user index in the index Redis
//! (`index/users.rs`), then reads each user with [`ops::Ops::get`].
//!
//! **The admin API** (`/admin/...`, on only with `admin_token`): the
//! routing table (`http/paths.rs`) sends it past the bounds like the other
//! operator routes, to `http/admin_api/mod.rs`, which checks the bearer
//! token (`http/admin_api/token.rs`) and the input
//! (`http/admin_api/input.rs`), both pure, and writes node
//! entries and the rebalance control to ZooKeeper through
//! `coordination::admin`, with the live session's client the coordinator
//! publishes. Every balancer follows the change through its listings; the
//! leader's rebalancer moves the keys.
//!
//! **CORS**, when `[cors]` lists origins: `http/stack.rs` asks
//! `http/cors/mod.rs` (pure) which headers the request's origin gets, for
//! every route, and `http/cors/apply.rs` answers a preflight at once or
//! adds the headers to the routed answer.
//!
//! **The RESP front end** ([`resp`]) reaches the same [`ops::Ops`]: its
//! module doc follows one `GET k`. Both front doors check keys and values
//! with [`input`].
//!
//! Set-up: [`config`], [`tls`] (HTTPS on the port when configured),
//! [`auth`] (the Redis credentials every connection sends); domain errors:
//! [`error`]; what operations answer: [`answer`]; the log of failed
//! requests: [`failures`].

pub mod acks;
pub mod answer;
pub mod auth;
pub mod backend;
pub mod background;
pub mod config;
pub mod error;
pub mod failures;
pub mod fallback;
pub mod fence;
pub mod hlc;
pub mod http;
pub mod index;
pub mod input;
pub mod locations;
pub mod metrics;
pub mod near;
pub mod newest;
pub mod nodes;
pub mod ops;
pub mod placement;
pub mod rebalance;
pub mod rendezvous;
pub mod repairs;
pub mod replicas;
pub mod resp;
pub mod tls;
pub mod tracking;
pub mod ttl_change;
pub mod values;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::{Backend, BackendError};
use crate::background::coordinator::Coordinator;
use crate::config::{Config, ConfigError};
use crate::failures::FailureLog;
use crate::index::Index;
use crate::locations::LocationCache;
use crate::metrics::Metrics;
use crate::near::NearCache;
use crate::nodes::{Membership, NodeTable};
use crate::ops::{Context, Ops};
use crate::repairs::RepairQueue;
use crate::tls::Acceptor;

/// Everything a running balancer shares between requests.
#[derive(Debug)]
pub struct App {
    /// The configuration it was built from.
    pub config: Config,
    /// The cache operations.
    pub ops: Ops,
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
    pub repairs: Arc<RepairQueue>,
    /// What ZooKeeper says.
    pub coordinator: Coordinator,
    /// The log of failed requests, kept short under errors.
    pub failures: Arc<FailureLog>,
    /// How connections begin: plain HTTP, or TLS with the configured files.
    pub tls: Acceptor,
    /// What the rebalancer is doing (the leader's executor writes it).
    pub rebalance: Arc<rebalance::Status>,
}

impl App {
    /// Builds the balancer from a validated configuration. Opens no
    /// connection yet; servers that are down now are no error.
    ///
    /// # Errors
    /// The TLS files cannot be used ([`ConfigError::Tls`]), or a Redis
    /// address is refused by the client ([`ConfigError::Invalid`]).
    pub fn build(config: Config) -> Result<App, ConfigError> {
        let tls = Acceptor::from_config(&config.server)?;
        let app = App::connect(config, tls).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(app)
    }

    /// [`App::build`] once the TLS files are read.
    fn connect(config: Config, tls: Acceptor) -> Result<App, BackendError> {
        let nodes = Arc::new(Membership::new(NodeTable::new(
            &config.nodes,
            config.placement.node_capacity_bytes.clone(),
            &config.node_dial(),
            config.sample_interval,
        )?));
        let index = Arc::new(Index::new(Backend::dial(
            &config.index,
            &config.index_dial(),
        )?));
        let metrics = Arc::new(Metrics::new());
        let repairs = Arc::new(RepairQueue::new(
            config.repair.queue_limit,
            config.repair.max_attempts,
            metrics.clone(),
        ));
        let locations = Arc::new(LocationCache::new(
            config.location_cache_entries,
            &config.index,
            &config.index_dial(),
            config.near_cache_max_lag,
            metrics.location_clears.clone(),
        ));
        let near = Arc::new(NearCache::new(
            config.near_cache_bytes,
            config.node_dial(),
            config.near_cache_max_lag,
            metrics.clone(),
        ));
        let ops = Ops {
            nodes: nodes.clone(),
            near: near.clone(),
            locations: locations.clone(),
            clock: hlc::Clock::new(&config.balancer_id(), config.replication.max_clock_drift)
                .with_test_offset_ms(config.testing.clock_offset_ms),
            replication: config.replication.clone(),
            context: Context {
                index: index.clone(),
                repairs: repairs.clone(),
                metrics: metrics.clone(),
                placement: config.placement.clone(),
                eject_after: config.failure.eject_after,
                max_drift_ms: config.replication.max_clock_drift.as_millis() as u64,
            },
        };
        let coordinator = Coordinator::new(config.zookeeper(), config.balancer_id());
        let failures = Arc::new(FailureLog::new(config.server.failure_log_interval));
        Ok(App {
            config,
            ops,
            near,
            locations,
            nodes,
            index,
            metrics,
            repairs,
            coordinator,
            failures,
            tls,
            rebalance: Arc::default(),
        })
    }
}

/// The sockets a balancer serves on: HTTP, and RESP when configured.
#[derive(Debug)]
pub struct Listeners {
    /// The HTTP API.
    pub http: TcpListener,
    /// The RESP front end ([`resp`]).
    pub resp: Option<TcpListener>,
}

impl Listeners {
    /// Binds the configured addresses; `Err` names the one that failed.
    pub async fn bind(config: &Config) -> Result<Listeners, (SocketAddr, std::io::Error)> {
        let http = TcpListener::bind(config.listen)
            .await
            .map_err(|e| (config.listen, e))?;
        let resp = match config.server.resp_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| (addr, e))?),
            None => None,
        };
        Ok(Listeners { http, resp })
    }
}

/// Runs the balancer on `listeners` until `shutdown` completes: samples
/// every node once, starts the background loops
/// ([`background::spawn_all`]), serves HTTP and RESP, then drains
/// in-flight HTTP requests and stops the loops. RESP stops accepting when
/// `shutdown` completes.
pub async fn run(listeners: Listeners, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    background::sampler::sample_all(&app.nodes.current(), &app.metrics, app.config.failure.rise)
        .await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let advertise = listeners
        .http
        .local_addr()
        .map_or_else(|_| app.config.listen.to_string(), |a| a.to_string());
    let tasks = background::spawn_all(&app, advertise, &stop_rx);
    let (closing_tx, closing_rx) = watch::channel(false);
    if let Some(resp) = listeners.resp {
        tokio::spawn(resp::serve(resp, app.clone(), closing_rx));
    }
    let shutdown = async move {
        shutdown.await;
        let _ = closing_tx.send(true);
    };
    http::serve(listeners.http, app, shutdown).await;
    let _ = stop_tx.send(true);
    tasks.join().await;
}
