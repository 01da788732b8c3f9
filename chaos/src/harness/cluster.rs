//! The cluster under test, all real processes on free loopback ports: one
//! ZooKeeper, the index Redis, the data nodes (no persistence, 64 MiB
//! each), one probe agent watching them (registered in ZooKeeper, as
//! `scripts/up` runs it) and the balancers, each started from the built
//! binary with a config file of its own (so it can be killed and started
//! again, with a clock offset for the skew fault) and, when partitions are
//! on, inside its own cgroup.
//!
//! Each process sits behind its own lock so the two nemesis loops and the
//! RSS sampler can work on different ones at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Mutex;

use super::client::{ADMIN_TOKEN, Http};
use super::netfault::Partitions;
use super::procs::{Proc, free_port, redis_answers, zk_answers};

/// How long any process gets to become ready.
const READY: Duration = Duration::from_secs(30);

/// One balancer process.
#[derive(Debug)]
pub(crate) struct Balancer {
    /// `b1`, `b2`, ...
    pub(crate) name: String,
    /// Its HTTP port.
    pub(crate) port: u16,
    /// Its clock offset now (the skew fault), ms.
    pub(crate) offset_ms: i64,
    /// Its cgroup, when partitions are on.
    pub(crate) group: Option<String>,
    /// The process.
    pub(crate) proc: Proc,
}

/// Every process of the run.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// The run's directory: logs, configs, pids, ZooKeeper's data.
    pub(crate) run_dir: PathBuf,
    /// ZooKeeper's client port.
    pub(crate) zk_port: u16,
    /// The index Redis's port.
    pub(crate) index_port: u16,
    /// The data nodes' ports, in order.
    pub(crate) node_ports: Vec<u16>,
    /// ZooKeeper.
    pub(crate) zk: Mutex<Proc>,
    /// The index Redis.
    pub(crate) index: Mutex<Proc>,
    /// The data nodes.
    pub(crate) nodes: Vec<Mutex<Proc>>,
    /// The probe agent.
    pub(crate) agent: Mutex<Proc>,
    /// The balancers.
    pub(crate) balancers: Vec<Mutex<Balancer>>,
    /// Network partitions, when enabled.
    pub(crate) partitions: Option<Mutex<Partitions>>,
    bin_dir: PathBuf,
    pub(crate) http: Http,
}

/// What to start.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// Data nodes.
    pub(crate) nodes: usize,
    /// Balancers.
    pub(crate) balancers: usize,
    /// Where `balancer` and `probe-agent` are.
    pub(crate) bin_dir: PathBuf,
    /// The run's directory.
    pub(crate) run_dir: PathBuf,
}

impl Cluster {
    /// Starts everything and waits until every balancer is ready.
    pub(crate) async fn start(shape: &Shape, partitions: Option<Partitions>) -> Result<Cluster> {
        let run_dir = shape.run_dir.clone();
        let zk_port = free_port()?;
        let index_port = free_port()?;
        let node_ports: Vec<u16> = (0..shape.nodes)
            .map(|_| free_port())
            .collect::<Result<_>>()?;
        let zk = zookeeper(&run_dir, zk_port)?;
        let agent_port = free_port()?;
        let node_list = node_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let agent = Proc::new(
            "agent",
            &run_dir,
            &bin(&shape.bin_dir, "probe-agent"),
            vec![
                "--listen".into(),
                format!("127.0.0.1:{agent_port}"),
                "--nodes".into(),
                node_list,
                "--zookeeper".into(),
                format!("127.0.0.1:{zk_port}"),
            ],
        );
        let mut cluster = Cluster {
            zk: Mutex::new(zk),
            index: Mutex::new(redis(&run_dir, "index", index_port)),
            nodes: node_ports
                .iter()
                .enumerate()
                .map(|(i, &p)| Mutex::new(redis(&run_dir, &format!("node{}", i + 1), p)))
                .collect(),
            agent: Mutex::new(agent),
            balancers: Vec::new(),
            partitions: partitions.map(Mutex::new),
            run_dir,
            zk_port,
            index_port,
            node_ports,
            bin_dir: shape.bin_dir.clone(),
            http: Http::new(Duration::from_secs(2)),
        };
        cluster.start_zk().await?;
        cluster.start_index().await?;
        for i in 0..cluster.nodes.len() {
            cluster.start_node(i).await?;
        }
        {
            let http = cluster.http.clone();
            let agent = cluster.agent.get_mut();
            agent.start()?;
            let url = format!("http://127.0.0.1:{agent_port}/report");
            agent.wait_ready(READY, || http.ok(url.clone())).await?;
        }
        for i in 0..shape.balancers {
            let name = format!("b{}", i + 1);
            let group = match &cluster.partitions {
                Some(p) => Some(p.lock().await.group(&name)?),
                None => None,
            };
            let port = free_port()?;
            // Replaced by start_balancer, which writes its config first.
            let proc = Proc::new(&name, &cluster.run_dir, "balancer", Vec::new());
            cluster.balancers.push(Mutex::new(Balancer {
                name,
                port,
                offset_ms: 0,
                group,
                proc,
            }));
        }
        for i in 0..cluster.balancers.len() {
            cluster.start_balancer(i, 0).await?;
        }
        Ok(cluster)
    }

    /// The balancers' base URLs, in order.
    pub(crate) fn balancer_urls(&self) -> Vec<String> {
        self.balancers
            .iter()
            .map(|b| format!("http://127.0.0.1:{}", b.try_lock().expect("unlocked").port))
            .collect()
    }

    /// Starts (or restarts, empty) ZooKeeper on its port with its data.
    pub(crate) async fn start_zk(&self) -> Result<()> {
        let mut zk = self.zk.lock().await;
        zk.kill();
        zk.start()?;
        let port = self.zk_port;
        zk.wait_ready(READY, || zk_answers(port)).await
    }

    /// Starts (or restarts, empty) the index Redis.
    pub(crate) async fn start_index(&self) -> Result<()> {
        let mut index = self.index.lock().await;
        index.kill();
        index.start()?;
        let port = self.index_port;
        index.wait_ready(READY, || redis_answers(port)).await
    }

    /// Starts (or restarts, empty) data node `i`.
    pub(crate) async fn start_node(&self, i: usize) -> Result<()> {
        let mut node = self.nodes[i].lock().await;
        node.kill();
        node.start()?;
        let port = self.node_ports[i];
        node.wait_ready(READY, || redis_answers(port)).await
    }

    /// Starts (or restarts) balancer `i` with clock offset `offset_ms`,
    /// and waits until `/readyz` answers 200.
    pub(crate) async fn start_balancer(&self, i: usize, offset_ms: i64) -> Result<()> {
        let mut b = self.balancers[i].lock().await;
        b.proc.kill();
        let config = self.run_dir.join(format!("{}.toml", b.name));
        std::fs::write(&config, self.balancer_config(&b.name, b.port, offset_ms))
            .with_context(|| format!("write {}", config.display()))?;
        let program = bin(&self.bin_dir, "balancer");
        let args = vec!["--config".to_string(), config.display().to_string()];
        let (program, args) = match (&self.partitions, &b.group) {
            (Some(p), Some(group)) => (
                "sh".to_string(),
                p.lock().await.wrap(group, &program, &args),
            ),
            _ => (program, args),
        };
        b.proc = Proc::new(&b.name, &self.run_dir, &program, args);
        b.offset_ms = offset_ms;
        b.proc.start()?;
        let url = format!("http://127.0.0.1:{}/readyz", b.port);
        let http = self.http.clone();
        b.proc.wait_ready(READY, || http.ok(url.clone())).await
    }

    fn balancer_config(&self, name: &str, port: u16, offset_ms: i64) -> String {
        let nodes: Vec<String> = self
            .node_ports
            .iter()
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect();
        format!(
            "# Written by the chaos harness.\n\
             listen = \"127.0.0.1:{port}\"\n\
             index = \"127.0.0.1:{index}\"\n\
             nodes = [{nodes}]\n\
             zookeeper = \"127.0.0.1:{zk}\"\n\
             id = \"{name}\"\n\
             admin_token = \"{ADMIN_TOKEN}\"\n\
             \n[testing]\n\
             clock_offset_ms = {offset_ms}\n",
            index = self.index_port,
            nodes = nodes.join(", "),
            zk = self.zk_port,
        )
    }

    /// Every process's name and pid now, for the RSS series.
    pub(crate) async fn pids(&self) -> Vec<(String, Option<u32>)> {
        let mut out = Vec::new();
        for proc in [&self.zk, &self.index, &self.agent]
            .into_iter()
            .chain(self.nodes.iter())
        {
            let p = proc.lock().await;
            out.push((p.name.clone(), p.pid()));
        }
        for b in &self.balancers {
            let b = b.lock().await;
            out.push((b.name.clone(), b.proc.pid()));
        }
        out
    }

    /// Undoes every fault: thaws frozen nodes and ZooKeeper, removes
    /// partitions, starts whatever is not running and restarts skewed
    /// balancers without skew.
    pub(crate) async fn heal_all(&self) -> Result<()> {
        if let Some(p) = &self.partitions {
            p.lock().await.heal_all();
        }
        self.zk.lock().await.thaw();
        for i in 0..self.nodes.len() {
            let mut node = self.nodes[i].lock().await;
            node.thaw();
            let dead = !node.alive();
            drop(node);
            if dead {
                self.start_node(i).await?;
            }
        }
        if !self.index.lock().await.alive() {
            self.start_index().await?;
        }
        if !self.zk.lock().await.alive() {
            self.start_zk().await?;
        }
        for i in 0..self.balancers.len() {
            let mut b = self.balancers[i].lock().await;
            let restart = !b.proc.alive() || b.offset_ms != 0;
            drop(b);
            if restart {
                self.start_balancer(i, 0).await?;
            }
        }
        Ok(())
    }

    /// Stops the balancers gracefully, then everything else (newest
    /// first); partitions are healed when the last reference goes.
    pub(crate) async fn stop(&self) {
        for b in &self.balancers {
            b.lock().await.proc.terminate(Duration::from_secs(3)).await;
        }
        self.agent.lock().await.kill();
        for node in &self.nodes {
            node.lock().await.kill();
        }
        self.index.lock().await.kill();
        self.zk.lock().await.kill();
        if let Some(p) = &self.partitions {
            p.lock().await.heal_all();
        }
    }
}

fn bin(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// A data or index Redis on `port`: no persistence, 64 MiB, as scripts/up.
fn redis(run_dir: &Path, name: &str, port: u16) -> Proc {
    let args = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "noeviction",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Proc::new(name, run_dir, "redis-server", args)
}

/// ZooKeeper standalone on `port`, data under the run directory, sessions
/// of 1 to 20 s (as scripts/up).
fn zookeeper(run_dir: &Path, port: u16) -> Result<Proc> {
    let dir = run_dir.join("zookeeper");
    std::fs::create_dir_all(dir.join("data"))?;
    let config = dir.join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=ruok\n\
             minSessionTimeout=1000\nmaxSessionTimeout=20000\n",
            dir.join("data").display()
        ),
    )?;
    Ok(Proc::new(
        "zookeeper",
        run_dir,
        "java",
        vec![
            "-Xmx256m".into(),
            "-cp".into(),
            "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar".into(),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain".into(),
            config.display().to_string(),
        ],
    ))
}
