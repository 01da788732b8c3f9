//! Asks one local Redis for `INFO`, within a time limit, over one
//! auto-reconnecting connection, and looks up the memory limit of its
//! cgroup through the pid `INFO` names ([`redis_process`], [`cgroup`]).
//! The connection authenticates with `redis_username`/`redis_password`
//! when set; a node that refuses them is down "because authentication
//! failed".

use std::path::Path;
use std::time::Duration;

use memreport::{MemoryLimit, NodeInfo, NodeReport, NodeSpec, NodeState, info};
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Config;
use crate::{cgroup, redis_process};

/// One watched Redis.
pub struct RedisProbe {
    spec: NodeSpec,
    conn: ConnectionManager,
    timeout: Duration,
    /// The `run_id` whose pid was last checked to be the Redis: the check
    /// reads every descriptor of the process, so it is done once per run.
    checked_run: Option<String>,
    /// Why the last lookup found no limit, to log each new reason once.
    last_limit_error: Option<String>,
    /// Why the node was down at the last sample, to log each new reason
    /// once (a wrong password fails every sample alike).
    last_error: Option<String>,
}

impl std::fmt::Debug for RedisProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisProbe")
            .field("spec", &self.spec)
            .finish()
    }
}

impl RedisProbe {
    /// Prepares a connection with `config`'s time limit and credentials;
    /// nothing is sent until the first sample.
    pub fn new(spec: NodeSpec, config: &Config) -> Result<RedisProbe, String> {
        let timeout = config.node_timeout;
        let invalid = |e: redis::RedisError| format!("node {}: {e}", spec.id);
        let info = format!("redis://{}/", spec.addr)
            .into_connection_info()
            .map_err(invalid)?;
        let mut settings = info.redis_settings().clone();
        if let Some(password) = &config.redis_password {
            // The two-argument AUTH, `default` when no user is named, as
            // the balancer sends: a server without a password accepts it.
            settings = settings
                .set_password(password.expose())
                .set_username(config.redis_username.as_deref().unwrap_or("default"));
        }
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(invalid)?;
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
            checked_run: None,
            last_limit_error: None,
            last_error: None,
        })
    }

    /// Samples the node: up with its figures and cgroup memory limit, or
    /// down with the reason.
    pub async fn sample(&mut self) -> NodeReport {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("INFO").arg(&info::SECTIONS).clone();
        let result = tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut conn)).await;
        let (state, info, error) = match result {
            Ok(Ok(text)) => (NodeState::Up, Some(info::parse(&text)), None),
            Ok(Err(e)) if is_auth_failure(&e) => (
                NodeState::Down,
                None,
                Some(format!("authentication failed: {e}")),
            ),
            Ok(Err(e)) => (NodeState::Down, None, Some(e.to_string())),
            Err(_) => (
                NodeState::Down,
                None,
                Some(format!("no answer within {:?}", self.timeout)),
            ),
        };
        if error != self.last_error {
            match &error {
                Some(e) => tracing::warn!(node = %self.spec.id, error = %e, "node down"),
                None => tracing::info!(node = %self.spec.id, "node up"),
            }
            self.last_error = error.clone();
        }
        let (memory_limit, memory_limit_error) = match &info {
            Some(info) => self.memory_limit(info).await,
            None => (None, None),
        };
        NodeReport {
            id: self.spec.id.clone(),
            addr: self.spec.addr.clone(),
            state,
            info,
            error,
            memory_limit,
            memory_limit_error,
        }
    }

    /// The limit of the cgroup of the process `info` names, once that
    /// process is known to be this Redis; or why it is unknown.
    async fn memory_limit(&mut self, info: &NodeInfo) -> (Option<MemoryLimit>, Option<String>) {
        let checked = self.checked_run.as_deref() == Some(info.run_id.as_str());
        let (pid, port) = (info.process_id, info.tcp_port);
        let found = tokio::task::spawn_blocking(move || {
            let proc = Path::new("/proc");
            if !checked {
                redis_process::verify(proc, pid, port)?;
            }
            cgroup::memory_limit(proc, pid)
        })
        .await
        .unwrap_or_else(|e| Err(format!("the cgroup lookup failed: {e}")));
        match found {
            Ok(limit) => {
                self.checked_run = Some(info.run_id.clone());
                self.last_limit_error = None;
                (Some(limit), None)
            }
            Err(e) => {
                self.checked_run = None;
                if self.last_limit_error.as_ref() != Some(&e) {
                    tracing::warn!(node = %self.spec.id, error = %e, "memory limit of the node's cgroup unknown");
                    self.last_limit_error = Some(e.clone());
                }
                (None, Some(e))
            }
        }
    }
}

/// True when Redis refused the credentials (a wrong password or user), or
/// wants some and got none (`NOAUTH`).
fn is_auth_failure(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
}
