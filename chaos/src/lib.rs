//! The chaos harness's pure half: the recorded history and its checker.
//!
//! The `chaos` binary (`src/main.rs`, modules under `src/harness/`) starts
//! a real cluster (ZooKeeper, an index Redis, data nodes with a probe
//! agent, two or more balancer processes), drives concurrent clients
//! through the balancers while a nemesis injects faults, and records every
//! operation as an [`history::Op`]. This library owns what is decided from
//! that record, with no I/O:
//!
//! - [`version`]: the balancer's HLC versions (`X-Cache-Version`), parsed
//!   and ordered; upper bounds for operations whose version is unknown.
//! - [`history`]: one operation as recorded (who, where, what, when, how it
//!   ended).
//! - [`checker`]: per key a last-writer-wins register checked against the
//!   history: lost writes, resurrected deletes, stale reads, and the worst
//!   cross-balancer lag.
//! - [`duration`]: `60s` / `5m` / `30m` / `250ms` command-line durations.

pub mod checker;
pub mod duration;
pub mod history;
pub mod version;
