//! The agent on the host watching a Redis in a memory-limited Docker
//! container: with the container's pids visible (`--pid host`) it reports
//! the container's limit; without, it reports none and says why. A plain
//! Redis on the host has its cgroup found too.

use std::time::Duration;

use hyper::StatusCode;
use memreport::{NodeReport, NodeSpec, Report};
use test_support::{HttpClient, Pids, RedisContainer, RedisServer, TestAgent};

/// The first report in which the agent's one node is up.
async fn node_report(addr: String) -> NodeReport {
    let mut config = TestAgent::config("container-host", &[]);
    config.nodes = vec![NodeSpec::from_addr(addr)];
    let agent = TestAgent::start(config).await;
    let http = HttpClient::new();
    for _ in 0..100 {
        let r = http.get(&format!("{}/report", agent.url)).await.unwrap();
        if r.status == StatusCode::OK {
            let report: Report = serde_json::from_str(&r.body).unwrap();
            if report.nodes[0].info.is_some() {
                return report.nodes[0].clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the agent never reported its node up");
}

#[tokio::test]
async fn a_redis_in_a_memory_limited_container_is_reported_with_that_limit() {
    let Some(container) = RedisContainer::start("256m", Pids::Host) else {
        return;
    };
    let node = node_report(container.addr()).await;
    assert_eq!(node.info.as_ref().unwrap().maxmemory, 0);
    assert_eq!(node.memory_limit_error, None);
    let limit = node.memory_limit.expect("a limit");
    assert_eq!(limit.limit_bytes, Some(256 << 20));
    assert!(limit.cgroup.contains(container.id()), "{limit:?}");
}

#[tokio::test]
async fn a_container_whose_pids_the_agent_cannot_see_gets_no_limit_and_a_reason() {
    let Some(container) = RedisContainer::start("128m", Pids::Own) else {
        return;
    };
    let node = node_report(container.addr()).await;
    // The server is pid 1 in its own namespace; pid 1 here is another process.
    assert_eq!(node.info.as_ref().unwrap().process_id, 1);
    assert_eq!(node.memory_limit, None);
    let reason = node.memory_limit_error.expect("a reason");
    assert!(reason.contains("pid namespace"), "{reason}");
}

#[tokio::test]
async fn a_redis_on_the_host_has_its_cgroup_found() {
    let redis = RedisServer::start();
    let node = node_report(redis.addr()).await;
    assert_eq!(node.memory_limit_error, None);
    let own =
        std::fs::read_to_string(format!("/proc/{}/cgroup", node.info.unwrap().process_id)).unwrap();
    let limit = node.memory_limit.expect("the cgroup is found");
    // The process's own cgroup, or the ancestor whose limit binds it.
    assert!(
        own.lines()
            .filter_map(|l| l.splitn(3, ':').nth(2))
            .any(|path| path.starts_with(&limit.cgroup)),
        "{limit:?} vs {own}"
    );
}
