//! Asks one local Redis for `INFO`, within a time limit, over one
//! auto-reconnecting connection.

use std::time::Duration;

use memreport::{NodeReport, NodeSpec, NodeState, info};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// One watched Redis.
pub struct RedisProbe {
    spec: NodeSpec,
    conn: ConnectionManager,
    timeout: Duration,
}

impl std::fmt::Debug for RedisProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisProbe")
            .field("spec", &self.spec)
            .finish()
    }
}

impl RedisProbe {
    /// Prepares a connection; nothing is sent until the first sample.
    pub fn new(spec: NodeSpec, timeout: Duration) -> Result<RedisProbe, String> {
        let client = redis::Client::open(format!("redis://{}/", spec.addr))
            .map_err(|e| format!("node {}: {e}", spec.id))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("node {}: {e}", spec.id))?;
        Ok(RedisProbe {
            spec,
            conn,
            timeout,
        })
    }

    /// Samples the node: up with its figures, or down with the reason.
    pub async fn sample(&self) -> NodeReport {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("INFO").arg(&info::SECTIONS).clone();
        let result = tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut conn)).await;
        let (state, info, error) = match result {
            Ok(Ok(text)) => (NodeState::Up, Some(info::parse(&text)), None),
            Ok(Err(e)) => (NodeState::Down, None, Some(e.to_string())),
            Err(_) => (
                NodeState::Down,
                None,
                Some(format!("no answer within {:?}", self.timeout)),
            ),
        };
        NodeReport {
            id: self.spec.id.clone(),
            addr: self.spec.addr.clone(),
            state,
            info,
            error,
        }
    }
}
