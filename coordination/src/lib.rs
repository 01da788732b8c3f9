//! ZooKeeper glue shared by the balancer and the probe agent.
//!
//! # Layout
//! - [`paths`]: the tree under `/dlb` and what each node holds.
//! - [`session`]: connect, and keep work running under a live session,
//!   reconnecting (and so re-registering) whenever a session ends.
//! - [`registry`]: ephemeral and persistent registrations, discovery of
//!   registered children with a watch and a polling fallback.
//! - [`election`]: leader election and named locks (the lock recipe:
//!   ephemeral sequential nodes, each waiting on its predecessor), with
//!   fencing tokens; leadership read through a [`lease`].
//! - [`reconnect`]: calls that wait out a lost connection inside the
//!   session instead of ending it.
//! - [`current`]: the live session's client, for work outside the
//!   session's own tasks.
//! - [`admin`]: the admin API's changes (node entries added, drained and
//!   deleted; the rebalance control), each at the version it read.
//! - [`journal`]: the rebalancer's moves in flight, written under the
//!   leader's token, so a new leader hands off what the last one left.

pub mod admin;
pub mod current;
pub mod election;
pub mod journal;
pub mod lease;
pub mod paths;
pub mod reconnect;
pub mod registry;
pub mod session;

pub use zookeeper_client::{Acl, Acls, Client, CreateMode, Error, Permission};
