//! The agent's place in ZooKeeper: an ephemeral `/dlb/probes/<host>:<port>`
//! (host and HTTP port, so several agents may share a host) with its URL
//! and the nodes it watches, registered again on every new session.
//!
//! Each watched node is announced once: `/dlb/nodes/<id>` is created, with
//! the marker `/dlb/announced/<id>`, only when no agent ever announced it
//! (see `coordination::registry::create_once`). An operator's change to
//! the entry (`draining`) is kept, and an entry the operator deleted stays
//! deleted: no new session and no restarted agent brings it back. To let
//! agents announce the node again, delete its marker too.

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

/// The name under `/dlb/probes`: `<host>:<port>`.
pub fn name(config: &Config, host: &str) -> String {
    format!("{host}:{}", config.listen.port())
}

/// Keeps the registration `/dlb/probes/<name>` in place until `shutdown`
/// turns true.
pub async fn run(
    zk: ZkConfig,
    name: String,
    entry: ProbeEntry,
    nodes: Vec<NodeSpec>,
    shutdown: watch::Receiver<bool>,
) {
    let (state, _) = watch::channel(ZkState::Connecting);
    let acls = zk.acls();
    session::supervise(zk, state, shutdown, |client| {
        let (name, entry, nodes) = (name.clone(), entry.clone(), nodes.clone());
        async move {
            if let Err(e) = register(&client, &name, &entry, &nodes, acls).await {
                tracing::warn!(%name, error = %e, "ZooKeeper registration failed; retrying on a new session");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                return;
            }
            tracing::info!(%name, "registered in ZooKeeper");
            std::future::pending::<()>().await;
        }
    })
    .await;
}

async fn register(
    client: &coordination::Client,
    name: &str,
    entry: &ProbeEntry,
    nodes: &[NodeSpec],
    acls: coordination::Acls<'_>,
) -> Result<(), coordination::Error> {
    for path in [paths::PROBES, paths::NODES, paths::ANNOUNCED] {
        registry::ensure_path(client, path, acls).await?;
    }
    for node in nodes {
        let data = NodeEntry::active(node.addr.clone(), 1);
        let json = serde_json::to_vec(&data).expect("entry serializes");
        let entry = paths::child(paths::NODES, &node.id);
        let marker = paths::child(paths::ANNOUNCED, &node.id);
        if registry::create_once(client, &entry, &marker, &json, acls).await? {
            tracing::info!(node = %node.id, "announced the node in ZooKeeper");
        }
    }
    let json = serde_json::to_vec(entry).expect("entry serializes");
    // A killed agent's registration is gone within a session timeout;
    // one that outlives two belongs to a live agent on this host and port.
    let wait = client.session_timeout() * 2;
    registry::register_ephemeral(
        client,
        &paths::child(paths::PROBES, name),
        &json,
        wait,
        acls,
    )
    .await
}
