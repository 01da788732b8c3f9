//! A probe agent running in this process, with fixed host figures, on a
//! loopback port; stopped on drop.

use std::net::SocketAddr;

use memreport::{HostMemory, NodeSpec};
use probe_agent::config::Config;
use probe_agent::host::{FixedSource, MemorySource};
use tokio::sync::oneshot;

use crate::RedisServer;

/// The host memory every test agent reports.
pub const AGENT_HOST_MEMORY: HostMemory = HostMemory {
    total_bytes: 16 << 30,
    available_bytes: 12 << 30,
    used_bytes: 4 << 30,
};

/// The CPU percentage every test agent reports.
pub const AGENT_CPU_PERCENT: f32 = 12.5;

/// A running probe agent.
#[derive(Debug)]
pub struct TestAgent {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// `http://<addr>`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl TestAgent {
    /// An agent configuration: `host` watching `nodes` (each node's id is
    /// its address), on a free loopback port, sampling every 200 ms with a
    /// 300 ms limit per node.
    pub fn config(host: &str, nodes: &[&RedisServer]) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            host: Some(host.into()),
            nodes: nodes
                .iter()
                .map(|n| NodeSpec::from_addr(n.addr()))
                .collect(),
            interval: std::time::Duration::from_millis(200),
            node_timeout: std::time::Duration::from_millis(300),
            ..Config::default()
        }
    }

    /// Binds `config.listen` (port 0: a free one) and runs the agent there,
    /// reporting [`AGENT_HOST_MEMORY`] and [`AGENT_CPU_PERCENT`].
    pub async fn start(config: Config) -> TestAgent {
        let source = FixedSource(AGENT_HOST_MEMORY, AGENT_CPU_PERCENT);
        TestAgent::start_with(config, Box::new(source)).await
    }

    /// The same with the host figures of `source`.
    pub async fn start_with(mut config: Config, source: Box<dyn MemorySource>) -> TestAgent {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind the agent's port");
        // What the agent registers in ZooKeeper is its configured address.
        config.listen = listener.local_addr().expect("local addr");
        let addr = config.listen;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(probe_agent::run(listener, config, source, async {
            let _ = stopped.await;
        }));
        TestAgent {
            addr,
            url: format!("http://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    /// Stops it and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
