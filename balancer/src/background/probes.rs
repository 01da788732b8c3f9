//! Follows probe agents: one task per agent keeps a long poll open on its
//! `GET /report?after=SEQ` and records each report in the node table as
//! soon as the agent takes it. No request path waits on an agent.
//!
//! A node an agent has reported is *covered*: the balancer's own sampler
//! leaves it alone, and if the agent goes silent its figures go stale
//! (ranked last for new keys, still read). An agent that restarts starts
//! its sequence again; a poll that times out checks for that.
//!
//! A report is applied to a node only when it names the node's id *and*
//! its address: a report about an id at another address is about another
//! server (an agent not yet told of a move, or misconfigured), and is
//! logged once per follower instead.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use memreport::{NodeState, Report};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::nodes::capacity::CgroupReport;
use crate::nodes::{Membership, NodeTable};

/// How long one long poll may wait at the agent.
const POLL_WAIT: Duration = Duration::from_secs(2);
/// The largest report body read; a report of a few hundred nodes is some
/// hundred KiB.
const MAX_REPORT_BYTES: usize = 4 << 20;
/// Pause after a failed poll.
const RETRY_AFTER: Duration = Duration::from_millis(500);

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Keeps one follower per agent: the configured ones plus those found in
/// ZooKeeper, starting and stopping followers as `discovered` changes,
/// until `shutdown` turns true.
pub async fn supervise(
    configured: Vec<String>,
    mut discovered: watch::Receiver<Vec<String>>,
    nodes: Arc<Membership>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut followers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        let mut wanted: Vec<String> = configured.clone();
        wanted.extend(discovered.borrow_and_update().iter().cloned());
        let wanted: Vec<String> = wanted
            .into_iter()
            .map(|url| url.trim_end_matches('/').to_string())
            .collect();
        followers.retain(|url, task| {
            let keep = wanted.contains(url);
            if !keep {
                tracing::info!(agent = %url, "probe agent gone from ZooKeeper; no longer followed");
                task.abort();
            }
            keep
        });
        for url in wanted {
            followers.entry(url.clone()).or_insert_with(|| {
                tracing::info!(agent = %url, "following probe agent");
                tokio::spawn(follow(
                    url,
                    nodes.clone(),
                    metrics.clone(),
                    shutdown.clone(),
                ))
            });
        }
        tokio::select! {
            r = discovered.changed() => if r.is_err() { break },
            _ = shutdown.changed() => break,
        }
    }
    for (_, task) in followers {
        task.abort();
    }
}

/// Follows the agent at `base` (e.g. `http://127.0.0.1:8000`) until
/// `shutdown` turns true.
pub async fn follow(
    base: String,
    nodes: Arc<Membership>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut seq = 0;
    let mut mismatched: HashSet<(String, String)> = HashSet::new();
    loop {
        let url = format!(
            "{base}/report?after={seq}&wait_ms={}",
            POLL_WAIT.as_millis()
        );
        let polled = tokio::select! {
            polled = fetch(&client, &url) => polled,
            _ = shutdown.changed() => return,
        };
        let report = match polled {
            Ok(Some(report)) => report,
            // Timed out: no report since `seq`. A restarted agent counts
            // from 1 again, so look at its latest.
            Ok(None) => match fetch(&client, &format!("{base}/report")).await {
                Ok(Some(latest)) if latest.seq < seq => latest,
                _ => continue,
            },
            Err(e) => {
                tracing::debug!(agent = %base, error = %e, "probe agent poll failed");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        seq = report.seq;
        let table = nodes.current();
        for (id, addr) in apply(&report, &table) {
            if mismatched.insert((id.clone(), addr.clone())) {
                tracing::warn!(agent = %base, node = %id, reported = %addr,
                    "probe agent reports this node at another address; its reports are ignored");
            }
        }
        metrics.record_nodes(&table);
    }
}

/// Records every node the report names that this balancer knows at the
/// same address; returns the `(id, address)` of those it knows at another.
pub fn apply(report: &Report, nodes: &NodeTable) -> Vec<(String, String)> {
    let mut mismatched = Vec::new();
    for reported in &report.nodes {
        let Some(node) = nodes.by_id(&reported.id) else {
            continue;
        };
        if node.backend.addr() != reported.addr {
            mismatched.push((reported.id.clone(), reported.addr.clone()));
            continue;
        }
        match (reported.state, &reported.info) {
            (NodeState::Up, Some(info)) => node.record_agent_report(
                info.clone(),
                &report.host,
                CgroupReport::from_report(reported),
            ),
            _ => {
                let reason = reported.error.as_deref().unwrap_or("no answer");
                node.mark_agent_down(format!("agent {}: {reason}", report.host));
            }
        }
    }
    mismatched
}

/// One GET: `Ok(Some)` with a report, `Ok(None)` on 204. The whole
/// answer, body included, must arrive within three poll waits: an agent
/// that sends headers and then stalls is given up on like a silent one.
async fn fetch(client: &HttpClient, url: &str) -> Result<Option<Report>, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("bad agent URL {url}: {e}"))?;
    let answer = async {
        let response = client.get(uri).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REPORT_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    let (status, body) = tokio::time::timeout(POLL_WAIT * 3, answer)
        .await
        .map_err(|_| format!("no complete answer within {:?}", POLL_WAIT * 3))??;
    match status.as_u16() {
        200 => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| format!("bad report: {e}")),
        204 => Ok(None),
        other => Err(format!("HTTP {other}")),
    }
}
