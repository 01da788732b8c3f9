//! The agent's place in ZooKeeper: an ephemeral `/dlb/probes/<host>` with
//! its URL and the nodes it watches, and a persistent `/dlb/nodes/<id>`
//! for each of those nodes (created when missing; an operator's change,
//! such as `draining`, is kept). Registered again on every new session.

use coordination::paths::{self, NodeEntry, ProbeEntry};
use coordination::registry;
use coordination::session::{self, ZkConfig, ZkState};
use memreport::NodeSpec;
use tokio::sync::watch;

use crate::config::Config;

/// The entry this agent registers.
pub fn entry(config: &Config, host: &str) -> ProbeEntry {
    ProbeEntry {
        url: config.advertised_url(),
        host: host.to_string(),
        nodes: config.nodes.iter().map(|n| n.id.clone()).collect(),
    }
}

/// Keeps the registration in place until `shutdown` turns true.
pub async fn run(
    zk: ZkConfig,
    entry: ProbeEntry,
    nodes: Vec<NodeSpec>,
    shutdown: watch::Receiver<bool>,
) {
    let (state, _) = watch::channel(ZkState::Connecting);
    session::supervise(zk, state, shutdown, |client| {
        let (entry, nodes) = (entry.clone(), nodes.clone());
        async move {
            if let Err(e) = register(&client, &entry, &nodes).await {
                tracing::warn!(error = %e, "ZooKeeper registration failed; retrying on a new session");
                return;
            }
            tracing::info!(host = %entry.host, "registered in ZooKeeper");
            std::future::pending::<()>().await;
        }
    })
    .await;
}

async fn register(
    client: &coordination::Client,
    entry: &ProbeEntry,
    nodes: &[NodeSpec],
) -> Result<(), coordination::Error> {
    registry::ensure_path(client, paths::PROBES).await?;
    registry::ensure_path(client, paths::NODES).await?;
    for node in nodes {
        let data = NodeEntry {
            addr: node.addr.clone(),
            weight: 1,
            state: "active".into(),
        };
        let json = serde_json::to_vec(&data).expect("entry serializes");
        registry::ensure_persistent(client, &paths::child(paths::NODES, &node.id), &json).await?;
    }
    let json = serde_json::to_vec(entry).expect("entry serializes");
    registry::register_ephemeral(client, &paths::child(paths::PROBES, &entry.host), &json).await
}
