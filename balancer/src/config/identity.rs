//! ZooKeeper settings and this balancer's identity in ZooKeeper.

use super::Config;

impl Config {
    /// ZooKeeper settings, when configured.
    pub fn zookeeper(&self) -> Option<coordination::session::ZkConfig> {
        let address = self.zookeeper.clone()?;
        Some(coordination::session::ZkConfig {
            address,
            session_timeout: self.zookeeper_session,
        })
    }

    /// This balancer's id: the configured one, else one naming this host,
    /// so `listen = "0.0.0.0:3100"` on two hosts gives two ids.
    pub fn balancer_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            default_id(host.trim(), self.listen)
        })
    }
}

/// `balancer-<host>-<listen>` (`localhost` when the host name is unknown).
fn default_id(host: &str, listen: std::net::SocketAddr) -> String {
    let host = if host.is_empty() { "localhost" } else { host };
    format!("balancer-{host}-{listen}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_id_names_the_host() {
        let listen = "0.0.0.0:3100".parse().unwrap();
        assert_eq!(default_id("web1", listen), "balancer-web1-0.0.0.0:3100");
        assert_ne!(default_id("web1", listen), default_id("web2", listen));
        assert_eq!(default_id("", listen), "balancer-localhost-0.0.0.0:3100");
    }
}
