//! The request log: one CSV row per request, written by a background task
//! so the load never waits on the disk. The notebooks depend on these
//! columns; change them only together.
//!
//! | column | meaning |
//! | --- | --- |
//! | `intended_us` | when the request was due, µs since the run started |
//! | `sent_us` | when it was actually sent, µs since the run started |
//! | `op` | `get`, `set` or `delete` |
//! | `key` | the key |
//! | `value_bytes` | bytes of the value's JSON text (0 for get and delete) |
//! | `status` | HTTP status, 0 when no response arrived |
//! | `outcome` | `hit`, `miss`, `ok` or `error` |
//! | `latency_us` | from `intended_us` (or `sent_us` if that was earlier) to the full response; closed loop: from `sent_us` |
//! | `service_us` | from `sent_us` to the full response |
//! | `nodes` | the `X-Cache-Node` header, `-` when absent |
//! | `error` | what went wrong, `-` when nothing did |
//! | `source` | the `X-Cache-Source` header of a get hit: `near` (the balancer's near cache) or `node`; `-` when absent |
//! | `response_bytes` | bytes of the response body (a get hit's: the value with its key and ttl) |
//!
//! Times count from the start of the measured run: requests of the
//! warm-up are sent but not logged.

use std::fs::File;
use std::io::BufWriter;

use tokio::sync::mpsc;

/// One row of the log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// µs since start when due.
    pub intended_us: u64,
    /// µs since start when sent.
    pub sent_us: u64,
    /// Operation name.
    pub op: &'static str,
    /// The key.
    pub key: String,
    /// Value bytes.
    pub value_bytes: usize,
    /// HTTP status or 0.
    pub status: u16,
    /// `hit`, `miss`, `ok` or `error`.
    pub outcome: &'static str,
    /// Latency in µs, as the summary counts it.
    pub latency_us: u64,
    /// Service time in µs.
    pub service_us: u64,
    /// Node(s) that served it, or `-`.
    pub nodes: String,
    /// Error text, or `-`.
    pub error: String,
    /// `near`, `node` or `-`.
    pub source: String,
    /// Response body bytes.
    pub response_bytes: u64,
}

/// Hands rows to the writer task.
#[derive(Debug, Clone)]
pub struct LogSender(mpsc::UnboundedSender<Row>);

/// The writer task; await it to flush the file.
#[derive(Debug)]
pub struct LogWriter(tokio::task::JoinHandle<Result<u64, String>>);

/// Opens `path` and starts the writer.
pub fn open(path: &str) -> Result<(LogSender, LogWriter), String> {
    let file = File::create(path).map_err(|e| format!("cannot create log {path:?}: {e}"))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Row>();
    let task = tokio::task::spawn_blocking(move || {
        let mut csv = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
        let mut rows = 0u64;
        while let Some(row) = rx.blocking_recv() {
            csv.serialize(&row).map_err(|e| e.to_string())?;
            rows += 1;
        }
        csv.flush().map_err(|e| e.to_string())?;
        Ok(rows)
    });
    Ok((LogSender(tx), LogWriter(task)))
}

impl LogSender {
    /// Queues a row; never blocks.
    pub fn send(&self, row: Row) {
        let _ = self.0.send(row);
    }
}

impl LogWriter {
    /// Waits until every queued row is written; returns the row count.
    /// Drop every `LogSender` first.
    pub async fn finish(self) -> Result<u64, String> {
        self.0.await.map_err(|e| e.to_string())?
    }
}
