//! The chaos harness's pure half: the recorded histories and their checkers.
//!
//! The `chaos` binary (`src/main.rs`, modules under `src/harness/`) starts
//! a real cluster (ZooKeeper, an index Redis, data nodes with a probe
//! agent, two or more balancer processes), drives concurrent clients
//! through the balancers while a nemesis injects faults, records every
//! operation as an [`history::Op`] and polls every balancer's view of
//! leadership as a [`leader_polls::Poll`]. This library owns what is
//! decided from those records, with no I/O:
//!
//! - [`version`]: the balancer's HLC versions (`X-Cache-Version`), parsed
//!   and ordered; upper bounds for operations whose version is unknown.
//! - [`history`]: one operation as recorded (who, where, what, when, how it
//!   ended).
//! - [`checker`]: per key a last-writer-wins register checked against the
//!   history: lost writes, resurrected deletes, stale reads, and the worst
//!   cross-balancer lag.
//! - [`leader_polls`]: one answer of the leadership poller (`GET /nodes`
//!   of one balancer: when, and what it said about leadership).
//! - [`leader_checker`]: those answers checked: two leaders at once, a
//!   fencing token going back, and counts.
//! - [`duration`]: `60s` / `5m` / `30m` / `250ms` command-line durations.

pub mod checker;
pub mod duration;
pub mod history;
pub mod leader_checker;
pub mod leader_polls;
pub mod version;
