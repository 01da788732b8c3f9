//! Moving keys that are already placed (issue 14), as pure decisions: which
//! nodes shed bytes and which take them, how many ([`plan`]), and, key by
//! key, where a moved key goes and when to stop ([`Progress`]). No I/O, no
//! clocks: the leader that migrates keys, fences and records them in the
//! index is built on top.
//!
//! Placement ([`crate::placement`]) only decides where *new* keys go, so a
//! node added to a full cluster fills only as fast as new keys arrive, a
//! node cannot be emptied, and a skew left by a burst or by lagging memory
//! reports stays until its keys expire. The rebalancer corrects that with
//! two marks over the target mean (total used over the serving nodes'
//! capacity, what utilization will be once draining nodes are empty):
//!
//! - a draining node (or a dead one being replaced, whose bytes come from
//!   the other replicas) sheds everything;
//! - a node above `high x mean` sheds down to `low x mean` (hysteresis, as
//!   in HDFS's balancer threshold and Ceph's upmap deviation: a node
//!   inside the band is left alone, so the planner does not chase noise);
//! - what is shed fills the emptiest nodes under the mean, evenly;
//! - a node under `mean / high` (one just added) also draws from the
//!   fullest nodes until it reaches `mean / low`, so it takes its share
//!   even when no node is above `high x mean` (one node added to 1,000 at
//!   70% leaves every old node at 1.001 x mean).
//!
//! The marks are the rebalancer's own, apart from placement's
//! `load_epsilon`: that cap bounds where a new key may go at once, these
//! bound how far the cluster may drift before keys are moved.
//!
//! Each moved key goes to a failure domain apart from its other copies
//! while a node on one is free (spread comes before room), and among
//! those, where placement would put it among the nodes still taking bytes
//! ([`crate::placement::choose_replicas`] over the key's rendezvous
//! ranking).

mod key;
mod plan;
mod spread;
mod status;
mod step;

pub use key::{KeyPlan, key_plan};
pub use plan::{Excluded, Load, Marks, Plan, Role, Transfer, plan};
pub use spread::Spread;
pub use status::{NodeTarget, Status, View};
pub use step::{Progress, Step};
