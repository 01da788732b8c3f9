//! A node's identity in configuration: `host:port` or `id=host:port`.

use serde::{Deserialize, Serialize};

/// One data node: a stable id (used for hashing and in the index) and the
/// address to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSpec {
    /// Stable name of the node; rendezvous ranks and index entries use it.
    pub id: String,
    /// `host:port` of the node's Redis.
    pub addr: String,
}

impl NodeSpec {
    /// A node whose id is its address.
    pub fn from_addr(addr: String) -> NodeSpec {
        NodeSpec {
            id: addr.clone(),
            addr,
        }
    }
}

impl std::str::FromStr for NodeSpec {
    type Err = String;

    /// Parses `addr` or `id=addr`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once('=') {
            Some((id, addr)) if !id.trim().is_empty() && !addr.trim().is_empty() => Ok(NodeSpec {
                id: id.trim().to_string(),
                addr: addr.trim().to_string(),
            }),
            Some(_) => Err(format!("node {s:?} is not id=host:port")),
            None if s.is_empty() => Err("empty node address".into()),
            None => Ok(NodeSpec::from_addr(s.to_string())),
        }
    }
}

impl<'de> Deserialize<'de> for NodeSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks that `addr` is `host:port` with a non-zero port.
pub fn check_host_port(addr: &str) -> Result<(), String> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(())
        }
        _ => Err(format!("{addr:?} is not host:port")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let n: NodeSpec = "a=127.0.0.1:7000".parse().unwrap();
        assert_eq!((n.id.as_str(), n.addr.as_str()), ("a", "127.0.0.1:7000"));
        let n: NodeSpec = "127.0.0.1:7001".parse().unwrap();
        assert_eq!(n.id, "127.0.0.1:7001");
        assert!("=x".parse::<NodeSpec>().is_err());
        assert!("".parse::<NodeSpec>().is_err());
        assert!(check_host_port("localhost:0").is_err());
        assert!(check_host_port("localhost:6379").is_ok());
    }
}
