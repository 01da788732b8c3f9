//! The balancer's side of ZooKeeper: registers `/dlb/balancers/<id>`,
//! stands for leader election, and follows `/dlb/probes` (so probe agents
//! are found without configuration), `/dlb/nodes` (the data nodes) and
//! `/dlb/balancers` (its peers). Every change is published on `watch`
//! channels; nothing on the request path waits for ZooKeeper.
//!
//! With ZooKeeper unreachable the balancer keeps serving with what it last
//! knew; [`coordination::session::supervise`] re-registers and re-watches
//! on the next session. Without ZooKeeper configured, the static settings
//! (`--nodes`, `--probes`) are all there is.
//!
//! The live session's client is published for the admin API
//! ([`Coordinator::live_client`]), which writes node entries and the
//! rebalance control when an operator asks.

use std::sync::Arc;
use std::time::Duration;

use coordination::current::Current;
use coordination::election::{self, Leadership, Standing};
use coordination::lease::Lease;
use coordination::paths::{self, NodeEntry, ProbeEntry, RebalanceControl};
use coordination::reconnect::retrying;
use coordination::registry;
use coordination::session::{self, ZkConfig, ZkState};
use serde::Serialize;
use tokio::sync::watch;

use crate::backend::Dial;
use crate::config::NodeSpec;
use crate::metrics::Metrics;
use crate::nodes::Membership;
use crate::nodes::membership::Listed;

/// How often listings are re-read when no watch fires (the polling fallback).
const POLL: Duration = Duration::from_secs(2);

/// How long a registration waits for one another session holds to go,
/// in session timeouts: a killed process's session is expired within
/// one; one that lasts longer belongs to a live process.
const REGISTRATION_WAIT_SESSIONS: u32 = 2;

/// Refuses to start as `id` while another live balancer's session holds
/// `/dlb/balancers/<id>` (waiting out one a killed process left).
///
/// # Errors
/// In words: the id is taken, or ZooKeeper failed.
pub async fn check_id_free(zk: &ZkConfig, id: &str) -> Result<(), String> {
    let client = session::connect(zk).await?;
    let path = paths::child(paths::BALANCERS, id);
    let wait = zk.session_timeout * REGISTRATION_WAIT_SESSIONS;
    match registry::await_ownable(&client, &path, wait).await {
        Ok(_) => Ok(()),
        Err(coordination::Error::NodeExists) => Err(format!(
            "balancer id {id:?} is registered in ZooKeeper by another live balancer \
             (still there after {wait:?}); give each balancer its own `id`"
        )),
        Err(e) => Err(format!("ZooKeeper at {}: {e}", zk.address)),
    }
}

/// What ZooKeeper has told this balancer.
#[derive(Debug)]
pub struct Coordinator {
    zk: Option<ZkConfig>,
    id: String,
    state: watch::Sender<ZkState>,
    leadership: watch::Sender<Leadership>,
    lease: Arc<Lease>,
    probes: watch::Sender<Vec<String>>,
    /// The data nodes listed under `/dlb/nodes`, `(spec, draining)`.
    listed_nodes: watch::Sender<Vec<Listed>>,
    /// Every registered balancer, `id=address`.
    balancers: watch::Sender<Vec<String>>,
    /// What `/dlb/rebalance` says (the admin API's start and pause).
    control: watch::Sender<RebalanceControl>,
    /// The live session's client, while its work runs.
    live: Current,
}

/// What `/nodes` and `/readyz` show about coordination.
#[derive(Debug, Serialize)]
pub struct CoordinatorView {
    /// `connected`, `connecting`, `disconnected` or `not configured`.
    pub zookeeper: &'static str,
    /// This balancer's id.
    pub balancer_id: String,
    /// The current leader's id, when known.
    pub leader: Option<String>,
    /// Whether this balancer leads: elected, connected, and within its
    /// lease.
    pub is_leader: bool,
    /// The leader's fencing token (its election node's sequence number).
    pub leader_token: Option<u64>,
    /// Probe agents found in ZooKeeper.
    pub discovered_probes: Vec<String>,
    /// Balancers registered in ZooKeeper (this one included), `id=address`.
    pub balancers: Vec<String>,
}

impl Coordinator {
    /// A coordinator for balancer `id`; inert without `zk`.
    pub fn new(zk: Option<ZkConfig>, id: String) -> Coordinator {
        let session_timeout = zk.as_ref().map_or(Duration::ZERO, |zk| zk.session_timeout);
        Coordinator {
            zk,
            id,
            state: watch::channel(ZkState::Connecting).0,
            leadership: watch::channel(Leadership::default()).0,
            lease: Arc::new(Lease::for_session(session_timeout)),
            probes: watch::channel(Vec::new()).0,
            listed_nodes: watch::channel(Vec::new()).0,
            balancers: watch::channel(Vec::new()).0,
            control: watch::channel(RebalanceControl::default()).0,
            live: Current::default(),
        }
    }

    /// The live session's client, for the admin API's writes; `None`
    /// without ZooKeeper or between sessions.
    pub fn live_client(&self) -> Option<coordination::Client> {
        self.live.get()
    }

    /// Applies `/dlb/nodes` to the node table as it changes: listed nodes
    /// take new keys unless draining; a node that leaves the listing keeps
    /// serving its keys but takes no new ones, unless it was last listed
    /// as emptied (then it leaves the table); an entry whose address
    /// cannot be used is left out and shown in `GET /nodes`. Until
    /// ZooKeeper lists any node, the configured list stands.
    pub async fn steer_membership(
        &self,
        nodes: &Membership,
        dial: &Dial,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut listed = self.listed_nodes.subscribe();
        loop {
            let members = listed.borrow_and_update().clone();
            if !members.is_empty() && nodes.update(&members, dial) {
                tracing::info!(nodes = members.len(), "membership changed");
            }
            tokio::select! {
                r = listed.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Probe agent URLs found in ZooKeeper, as they change.
    pub fn discovered_probes(&self) -> watch::Receiver<Vec<String>> {
        self.probes.subscribe()
    }

    /// Whether the admin API paused the rebalancer, as last read.
    pub fn rebalance_paused(&self) -> bool {
        self.control.borrow().paused
    }

    /// Leadership, read under the lease.
    pub fn standing(&self) -> Standing {
        Standing::new(
            self.leadership.subscribe(),
            self.lease.clone(),
            self.state.subscribe(),
        )
    }

    /// The current picture.
    pub fn view(&self) -> CoordinatorView {
        let leadership = self.standing().now();
        CoordinatorView {
            zookeeper: match &self.zk {
                Some(_) => self.state.borrow().name(),
                None => "not configured",
            },
            balancer_id: self.id.clone(),
            leader: leadership.leader,
            is_leader: leadership.is_leader,
            leader_token: leadership.token,
            discovered_probes: self.probes.borrow().clone(),
            balancers: self.balancers.borrow().clone(),
        }
    }

    /// Registers as `advertise` and follows ZooKeeper until `shutdown`;
    /// returns at once when ZooKeeper is not configured.
    pub async fn run(
        &self,
        advertise: String,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) {
        let Some(zk) = self.zk.clone() else { return };
        // A lease ends without an event: the gauges are read again often
        // enough to drop within a tenth of it.
        let gauges = {
            let (standing, state) = (self.standing(), self.state.subscribe());
            let every = (zk.session_timeout / 20).max(Duration::from_millis(10));
            async move {
                loop {
                    metrics.record_coordination(
                        *state.borrow() == ZkState::Connected,
                        standing.now().is_leader,
                    );
                    tokio::time::sleep(every).await;
                }
            }
        };
        let wait = zk.session_timeout * REGISTRATION_WAIT_SESSIONS;
        let acls = zk.acls();
        let session = session::supervise(zk, self.state.clone(), shutdown, |client| {
            let advertise = advertise.clone();
            async move {
                let _published = self.live.publish(&client);
                if let Err(e) = self.serve_session(&client, &advertise, wait, acls).await {
                    tracing::warn!(
                        id = %self.id,
                        error = %e,
                        "ZooKeeper work failed (a node-exists error means another balancer uses this id; \
                         an auth error, that `zookeeper_auth` is missing or not the identity /dlb was \
                         created by); starting over on a new session"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
        tokio::select! {
            () = session => {}
            () = gauges => {}
        }
    }

    async fn serve_session(
        &self,
        client: &coordination::Client,
        advertise: &str,
        wait: Duration,
        acls: coordination::Acls<'_>,
    ) -> Result<(), coordination::Error> {
        for path in [
            paths::BALANCERS,
            paths::PROBES,
            paths::NODES,
            paths::ELECTION,
        ] {
            registry::ensure_path(client, path, acls).await?;
        }
        let me = paths::child(paths::BALANCERS, &self.id);
        registry::register_ephemeral(client, &me, advertise.as_bytes(), wait, acls).await?;
        tracing::info!(id = %self.id, "registered in ZooKeeper");
        let follow_probes = registry::follow_children(client, paths::PROBES, POLL, |listing| {
            let mut urls: Vec<String> = listing
                .iter()
                .filter_map(|(name, data)| match serde_json::from_slice::<ProbeEntry>(data) {
                    Ok(entry) => Some(entry.url),
                    Err(e) => {
                        tracing::warn!(probe = %name, error = %e, "unreadable probe registration");
                        None
                    }
                })
                .collect();
            urls.sort();
            self.probes.send_if_modified(|known| {
                let changed = *known != urls;
                *known = urls;
                changed
            });
        });
        let follow_nodes = registry::follow_children(client, paths::NODES, POLL, |listing| {
            let mut members: Vec<Listed> = listing
                .iter()
                .filter_map(
                    |(id, data)| match serde_json::from_slice::<NodeEntry>(data) {
                        Ok(entry) => Some(Listed {
                            spec: NodeSpec {
                                id: id.clone(),
                                addr: entry.addr.clone(),
                            },
                            draining: !entry.takes_new_keys(),
                            emptied: entry.is_emptied(),
                        }),
                        Err(e) => {
                            tracing::warn!(node = %id, error = %e, "unreadable node entry");
                            None
                        }
                    },
                )
                .collect();
            members.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
            self.listed_nodes.send_if_modified(|known| {
                let changed = *known != members;
                *known = members;
                changed
            });
        });
        let follow_balancers =
            registry::follow_children(client, paths::BALANCERS, POLL, |listing| {
                let mut peers: Vec<String> = listing
                    .iter()
                    .map(|(id, data)| format!("{id}={}", String::from_utf8_lossy(data)))
                    .collect();
                peers.sort();
                self.balancers.send_if_modified(|known| {
                    let changed = *known != peers;
                    *known = peers;
                    changed
                });
            });
        tokio::select! {
            r = self.follow_control(client) => r,
            r = follow_probes => r,
            r = follow_nodes => r,
            r = follow_balancers => r,
            r = election::stand(client, &self.id, POLL, &self.leadership, &self.lease, acls) => r,
        }
    }
}

impl Coordinator {
    /// Reads `/dlb/rebalance` every [`POLL`]: absent means not paused; an
    /// entry that cannot be read leaves the last value, with a warning.
    async fn follow_control(
        &self,
        client: &coordination::Client,
    ) -> Result<(), coordination::Error> {
        loop {
            let control = match retrying(client, || client.get_data(paths::REBALANCE)).await {
                Ok((data, _)) => serde_json::from_slice(&data)
                    .inspect_err(|e| tracing::warn!(error = %e, "unreadable /dlb/rebalance"))
                    .ok(),
                Err(coordination::Error::NoNode) => Some(RebalanceControl::default()),
                Err(e) => return Err(e),
            };
            if let Some(control) = control {
                self.control.send_if_modified(|known| {
                    let changed = *known != control;
                    *known = control;
                    changed
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
