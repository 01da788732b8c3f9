//! A node's capacity and where the figure comes from: the pure rule.
//!
//! A Redis without `maxmemory` is bounded by whatever bounds its process:
//! inside a container, the cgroup's limit, which `INFO`'s
//! `total_system_memory` (the host's RAM) does not show. Taking host RAM
//! for capacity makes a 2 GiB container look empty until the kernel kills
//! it, so it is never taken. The rule, first that applies:
//!
//! 1. `maxmemory`, when set;
//! 2. the limit of the node's cgroup as its probe agent reports it;
//! 3. `placement.node_capacity_bytes` for the node;
//! 4. unknown: the node takes no new keys (it still serves the ones it
//!    holds), and `GET /nodes` says why.

use memreport::NodeReport;
use serde::Serialize;

/// Where a capacity figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The node's `maxmemory`.
    Maxmemory,
    /// The limit of the node's cgroup, from its probe agent.
    Cgroup,
    /// `placement.node_capacity_bytes`.
    Configured,
    /// None of these: no new keys.
    Unknown,
}

/// What the node's probe agent said of its cgroup's memory limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CgroupReport {
    /// No agent has reported the node (or its agent predates the field).
    #[default]
    NotReported,
    /// The tightest limit on the node's cgroup, bytes.
    Limit(u64),
    /// The agent found the node's cgroup, and nothing limits its memory.
    Unlimited(String),
    /// The agent could not tell, and why.
    Unknown(String),
}

impl CgroupReport {
    /// What an agent's report of the node says.
    pub fn from_report(node: &NodeReport) -> CgroupReport {
        match (&node.memory_limit, &node.memory_limit_error) {
            (Some(limit), _) => match limit.limit_bytes {
                Some(bytes) => CgroupReport::Limit(bytes),
                None => CgroupReport::Unlimited(limit.cgroup.clone()),
            },
            (None, Some(error)) => CgroupReport::Unknown(error.clone()),
            (None, None) => CgroupReport::NotReported,
        }
    }
}

/// A node's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes; `None` when unknown.
    pub bytes: Option<u64>,
    /// Where the figure comes from.
    pub source: Source,
}

/// The capacity by the rule in the module doc. Placement asks for every
/// new key, so it allocates nothing; [`why_unknown`] has the words.
pub fn decide(maxmemory: u64, cgroup: &CgroupReport, configured: Option<u64>) -> Capacity {
    let (bytes, source) = match (maxmemory, cgroup, configured) {
        (1.., _, _) => (Some(maxmemory), Source::Maxmemory),
        (0, CgroupReport::Limit(bytes), _) => (Some(*bytes), Source::Cgroup),
        (0, _, Some(bytes)) => (Some(bytes), Source::Configured),
        (0, _, None) => (None, Source::Unknown),
    };
    Capacity { bytes, source }
}

/// Why a node's capacity is unknown, given what its agent said.
pub fn why_unknown(cgroup: &CgroupReport) -> String {
    let agent = match cgroup {
        CgroupReport::Limit(bytes) => format!("its probe agent reports a limit of {bytes} bytes"),
        CgroupReport::NotReported => "no probe agent reports its cgroup's memory limit".into(),
        CgroupReport::Unlimited(cgroup) => {
            format!("its probe agent finds no memory limit on its cgroup {cgroup}")
        }
        CgroupReport::Unknown(why) => {
            format!("its probe agent cannot find its cgroup's memory limit: {why}")
        }
    };
    format!(
        "maxmemory is 0, {agent}, and placement.node_capacity_bytes names none for it: \
         it takes no new keys"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn maxmemory_comes_first() {
        let c = decide(GIB, &CgroupReport::Limit(2 * GIB), Some(3 * GIB));
        assert_eq!((c.bytes, c.source), (Some(GIB), Source::Maxmemory));
        let c = decide(GIB, &CgroupReport::NotReported, None);
        assert_eq!((c.bytes, c.source), (Some(GIB), Source::Maxmemory));
    }

    #[test]
    fn without_maxmemory_the_cgroup_limit_then_the_configured_figure() {
        let c = decide(0, &CgroupReport::Limit(2 * GIB), Some(3 * GIB));
        assert_eq!((c.bytes, c.source), (Some(2 * GIB), Source::Cgroup));
        for cgroup in [
            CgroupReport::NotReported,
            CgroupReport::Unlimited("/".into()),
            CgroupReport::Unknown("no pid".into()),
        ] {
            let c = decide(0, &cgroup, Some(3 * GIB));
            assert_eq!((c.bytes, c.source), (Some(3 * GIB), Source::Configured));
        }
    }

    #[test]
    fn with_nothing_known_the_capacity_is_unknown_and_says_why() {
        let cases = [
            (CgroupReport::NotReported, "no probe agent reports"),
            (
                CgroupReport::Unlimited("/docker/ab".into()),
                "no memory limit on its cgroup /docker/ab",
            ),
            (
                CgroupReport::Unknown("pid 1 is not it".into()),
                "cannot find its cgroup's memory limit: pid 1 is not it",
            ),
        ];
        for (cgroup, says) in cases {
            let c = decide(0, &cgroup, None);
            assert_eq!((c.bytes, c.source), (None, Source::Unknown));
            let why = why_unknown(&cgroup);
            assert!(
                why.contains(says) && why.contains("takes no new keys"),
                "{why}"
            );
        }
    }

    #[test]
    fn an_agent_report_reads_as_what_it_says() {
        let mut node: NodeReport = serde_json::from_value(serde_json::json!({
            "id": "a", "addr": "h:1", "state": "up", "info": null, "error": null
        }))
        .unwrap();
        assert_eq!(CgroupReport::from_report(&node), CgroupReport::NotReported);
        node.memory_limit_error = Some("why".into());
        assert_eq!(
            CgroupReport::from_report(&node),
            CgroupReport::Unknown("why".into())
        );
        node.memory_limit = Some(memreport::MemoryLimit {
            limit_bytes: Some(5),
            cgroup: "/c".into(),
        });
        assert_eq!(CgroupReport::from_report(&node), CgroupReport::Limit(5));
        node.memory_limit.as_mut().unwrap().limit_bytes = None;
        assert_eq!(
            CgroupReport::from_report(&node),
            CgroupReport::Unlimited("/c".into())
        );
    }
}
