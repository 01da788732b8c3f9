//! `--nodes-poll-ms`: node memory over time. A background task asks the
//! first target's `GET /nodes` every interval and writes one CSV row per
//! node per poll to `nodes.csv` beside the request log, on the log's time
//! axis (µs since the measured run started; negative during the warm-up).
//! A poll that fails is skipped and counted, never fatal: the run matters
//! more than the picture of it.
//!
//! | column | meaning |
//! | --- | --- |
//! | `time_us` | when the answer arrived, µs since the measured run started |
//! | `node` | node id |
//! | `state` | `up`, `draining` or `down` |
//! | `used_bytes` | Redis `used_memory`, empty when unknown |
//! | `capacity_bytes` | the node's capacity, empty when unknown |
//! | `utilization` | (used + pending) / capacity, empty when unknown or stale |
//! | `keys` | keys on the node, empty when unknown |
//! | `placed_keys` | new keys this balancer placed there since it started |

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::client::Client;

/// One row of `nodes.csv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeRow {
    /// µs since the measured run started.
    pub time_us: i64,
    /// Node id.
    pub node: String,
    /// State.
    pub state: String,
    /// Used bytes.
    pub used_bytes: Option<u64>,
    /// Capacity bytes.
    pub capacity_bytes: Option<u64>,
    /// Utilization, 1.0 is full.
    pub utilization: Option<f64>,
    /// Keys.
    pub keys: Option<u64>,
    /// Keys this balancer placed there.
    pub placed_keys: Option<u64>,
}

/// The rows of one `/nodes` answer taken at `time_us`.
pub fn rows(nodes: &Value, time_us: i64) -> Vec<NodeRow> {
    let Some(list) = nodes.get("nodes").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|n| NodeRow {
            time_us,
            node: n["id"].as_str().unwrap_or("?").to_string(),
            state: n["state"].as_str().unwrap_or("?").to_string(),
            used_bytes: n["used_memory_bytes"].as_u64(),
            capacity_bytes: n["capacity_bytes"].as_u64(),
            utilization: n["utilization"].as_f64(),
            keys: n["keys"].as_u64(),
            placed_keys: n["placed_keys"].as_u64(),
        })
        .collect()
}

/// `nodes.csv` in the directory of the request log `log`.
pub fn path_beside(log: &str) -> PathBuf {
    Path::new(log).with_file_name("nodes.csv")
}

/// The running poller; [`Poller::finish`] stops it and flushes the file.
#[derive(Debug)]
pub struct Poller {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<PollCount, String>>,
}

/// What the poller did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollCount {
    /// Polls answered and written.
    pub answered: u64,
    /// Polls that failed.
    pub failed: u64,
}

/// Creates `path` and polls `client`'s first target every `every`, times
/// counted from `origin`.
///
/// # Errors
/// A file that cannot be created.
pub fn start(
    client: Client,
    path: &Path,
    every: Duration,
    origin: Instant,
) -> Result<Poller, String> {
    let file = std::fs::File::create(path).map_err(|e| format!("cannot create {path:?}: {e}"))?;
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(file));
        let mut count = PollCount {
            answered: 0,
            failed: 0,
        };
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticker.tick() => {}
            }
            match client.nodes().await {
                Ok(answer) => {
                    let now = Instant::now();
                    let time_us = if now >= origin {
                        (now - origin).as_micros() as i64
                    } else {
                        -((origin - now).as_micros() as i64)
                    };
                    for row in rows(&answer, time_us) {
                        csv.serialize(row).map_err(|e| e.to_string())?;
                    }
                    count.answered += 1;
                }
                Err(_) => count.failed += 1,
            }
        }
        csv.flush().map_err(|e| e.to_string())?;
        Ok(count)
    });
    Ok(Poller { stop, task })
}

impl Poller {
    /// Stops polling and writes out what is buffered.
    pub async fn finish(self) -> Result<PollCount, String> {
        let _ = self.stop.send(());
        self.task.await.map_err(|e| e.to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_node_with_unknowns_empty() {
        let answer = serde_json::json!({"nodes": [
            {"id": "a", "state": "up", "used_memory_bytes": 1000, "capacity_bytes": 4000,
             "utilization": 0.25, "keys": 7, "placed_keys": 3},
            {"id": "b", "state": "down", "used_memory_bytes": null, "capacity_bytes": null,
             "utilization": null, "keys": null, "placed_keys": 0},
        ]});
        let rows = rows(&answer, -5);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].utilization, Some(0.25));
        assert_eq!((rows[1].state.as_str(), rows[1].used_bytes), ("down", None));
        let mut csv = csv::Writer::from_writer(Vec::new());
        for r in rows {
            csv.serialize(r).unwrap();
        }
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "time_us,node,state,used_bytes,capacity_bytes,utilization,keys,placed_keys\n\
             -5,a,up,1000,4000,0.25,7,3\n-5,b,down,,,,,0\n"
        );
        assert_eq!(
            path_beside("runs/a/requests.csv"),
            Path::new("runs/a/nodes.csv")
        );
        assert_eq!(path_beside("requests.csv"), Path::new("nodes.csv"));
    }
}
