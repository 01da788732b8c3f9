//! Shared by the integration tests that need probe agents: an in-process
//! agent with fixed host figures.

use std::net::SocketAddr;
use std::time::Duration;

use memreport::{HostMemory, NodeSpec};
use probe_agent::config::Config;
use test_support::RedisServer;
use tokio::sync::oneshot;

/// A probe agent running in this process, stopped on drop.
pub(crate) struct Agent {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Agent {
    /// An agent config: `host` on 127.0.0.1:`port`, watching `nodes`,
    /// sampling every 200 ms.
    pub(crate) fn config(port: u16, host: &str, nodes: &[&RedisServer]) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            host: Some(host.into()),
            nodes: nodes
                .iter()
                .map(|n| NodeSpec::from_addr(n.addr()))
                .collect(),
            interval: Duration::from_millis(200),
            node_timeout: Duration::from_millis(300),
            ..Config::default()
        }
    }

    /// Binds `config.listen` and runs the agent with fixed host figures.
    pub(crate) async fn start(config: Config) -> Agent {
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let memory = HostMemory {
            total_bytes: 1 << 34,
            available_bytes: 1 << 33,
            used_bytes: 1 << 33,
        };
        let source = Box::new(probe_agent::host::FixedSource(memory, 5.0));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(probe_agent::run(listener, config, source, async {
            let _ = stopped.await;
        }));
        Agent {
            stop: Some(stop),
            task,
        }
    }

    /// Stops it and waits until it has.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
