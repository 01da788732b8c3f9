//! Everything the balancer does besides answering requests, behind one
//! contract: [`spawn_all`] starts every loop against the shared [`App`],
//! each loop checks the stop signal on every pass, and [`Tasks::join`]
//! waits for them all once the signal is sent.
//!
//! The loops:
//! - [`sampler`]: each node's memory with `INFO`, where no agent reports it;
//! - [`health`]: the balancer's own node checks (`INFO server`) and
//!   latency outlier ejection;
//! - [`probes`]: reports from probe agents;
//! - [`coordinator`]: ZooKeeper registration, election, discovery, and
//!   the node list it publishes ([`coordinator::Coordinator::steer_membership`]);
//! - [`repair`]: the repair queue and the resync of returning nodes;
//! - [`rebalancer`]: the leader's moves of placed keys (drains, skew,
//!   added nodes), fenced by its token;
//! - [`rebuild`]: the index's completeness check, and its rebuild from
//!   the nodes after it lost its data (paced by [`pace`], as resyncs are);
//! - the failure log's count lines ([`crate::failures`]);
//! - the caches' invalidation streams (near cache, location cache) and
//!   the index's health ping, which live with what they serve.
//!
//! The request path imports none of these: it reads what they leave in
//! the node table, and adds to the repair queue ([`crate::repairs`]).

pub mod coordinator;
pub mod health;
mod pace;
pub mod probes;
mod rebalancer;
mod rebuild;
mod repair;
pub mod sampler;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::App;
use rebalancer::Rebalancer;
use rebuild::Rebuilder;
use repair::Repairer;

/// The running background loops.
#[derive(Debug)]
pub struct Tasks(Vec<JoinHandle<()>>);

impl Tasks {
    /// Waits for every loop to finish; send the stop signal first.
    pub async fn join(self) {
        for task in self.0 {
            let _ = task.await;
        }
    }
}

/// Starts every background loop; each runs until `stop` turns true.
/// `advertise` is the address registered in ZooKeeper.
pub fn spawn_all(app: &Arc<App>, advertise: String, stop: &watch::Receiver<bool>) -> Tasks {
    let config = &app.config;
    let mut tasks = vec![
        tokio::spawn(sampler::run(
            app.nodes.clone(),
            app.metrics.clone(),
            config.sample_interval,
            config.failure.rise,
            stop.clone(),
        )),
        tokio::spawn(health::run(
            app.nodes.clone(),
            app.metrics.clone(),
            config.failure.clone(),
            config.replication.factor.get(),
            stop.clone(),
        )),
        tokio::spawn(app.near.clone().run(app.nodes.clone(), stop.clone())),
        tokio::spawn(
            Repairer {
                queue: app.repairs.clone(),
                nodes: app.nodes.clone(),
                index: app.index.clone(),
                metrics: app.metrics.clone(),
                config: config.repair.clone(),
                factor: config.replication.factor.get(),
                max_drift_ms: config.replication.max_clock_drift.as_millis() as u64,
                when_full: config.replication.when_full,
            }
            .run(stop.clone()),
        ),
        tokio::spawn(
            Rebuilder {
                index: app.index.clone(),
                nodes: app.nodes.clone(),
                repairs: app.repairs.clone(),
                metrics: app.metrics.clone(),
                owner: config.balancer_id(),
                keys_per_sec: config.repair.index_rebuild_keys_per_sec,
                interval: config.timeouts.index_retry,
            }
            .run(stop.clone()),
        ),
        tokio::spawn(probes::supervise(
            config.probes.clone(),
            app.coordinator.discovered_probes(),
            app.nodes.clone(),
            app.metrics.clone(),
            stop.clone(),
        )),
    ];
    tasks.push(tokio::spawn(
        Rebalancer { app: app.clone() }.run(stop.clone()),
    ));
    let (a, s) = (app.clone(), stop.clone());
    tasks.push(tokio::spawn(async move { a.locations.run(s).await }));
    let (a, s) = (app.clone(), stop.clone());
    tasks.push(tokio::spawn(async move { a.failures.run(s).await }));
    let (a, s) = (app.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        a.index.watch(a.config.timeouts.index_retry, s).await;
    }));
    let (a, s) = (app.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        let dial = a.config.node_dial();
        a.coordinator.steer_membership(&a.nodes, &dial, s).await;
    }));
    let (a, s) = (app.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        a.coordinator.run(advertise, a.metrics.clone(), s).await;
    }));
    Tasks(tasks)
}
