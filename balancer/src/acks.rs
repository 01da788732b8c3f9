//! The acknowledgement rule, as pure decisions: how many replicas must
//! take a write, when a replica's acknowledgement may be passed on to the
//! client, and what the client hears once the write has gone as far as
//! it will.
//!
//! **The hold.** While a write's replica set stays as it was, each
//! replica's acknowledgement goes to the client as it arrives. Once the
//! set changes (a member is down, or fails the write), the
//! acknowledgements still to come are held back until the I/O side has
//! settled the set: edited the index entry, dropped older copies, queued
//! a repair. Only then are they released, so no read that follows the
//! client's answer can be sent to an older copy.
//!
//! **The primary.** A read asks the set's primary first, so a write sent
//! to the primary is not acknowledged without it, whatever the level: with
//! three replicas and `quorum`, two other replicas' answers are not
//! enough ([`enough`]). A primary that fails the write leaves the set, and
//! the write is answered once its task ends.

use std::sync::Arc;

use crate::backend::BackendError;
use crate::config::WriteAck;
use crate::error::Error;
use crate::values::Applied;

/// Acknowledgements needed from a replica set of `replicas` nodes.
pub fn needed(ack: WriteAck, replicas: usize) -> usize {
    match ack {
        WriteAck::One => 1.min(replicas),
        WriteAck::Quorum => replicas / 2 + 1,
        WriteAck::All => replicas,
    }
}

/// Acknowledgements needed from a write to `members` nodes whose level
/// asks for [`needed`] of `replicas`, under replication factor `factor`.
/// A set wider than the factor (a key the rebalancer is moving, or copies
/// adopted after index loss) needs every member: the rebalancer narrows
/// it to any of its members, primary included, and each must then hold
/// every acknowledged write.
pub fn needed_of(ack: WriteAck, replicas: usize, members: usize, factor: usize) -> usize {
    if members > factor {
        members
    } else {
        needed(ack, replicas)
    }
}

/// What a write that ran to its end needs after all: `needed`, or R's
/// level when it changed its set and the index records it (`settled`):
/// every member of the recorded set then holds it, however wide the set
/// was.
pub fn settled_need(ack: WriteAck, replicas: usize, needed: usize, settled: bool) -> usize {
    if settled {
        self::needed(ack, replicas)
    } else {
        needed
    }
}

/// Whether the client may hear back now: `needed` acknowledgements are
/// in, and the primary's among them if the write was sent to it.
pub fn enough(taken: &[Ack], needed: usize, primary_sent: bool) -> bool {
    taken.len() >= needed && (!primary_sent || taken.iter().any(|a| a.primary))
}

/// One replica's answer to a write.
#[derive(Debug)]
pub struct Ack {
    /// The replica.
    pub node: Arc<str>,
    /// It was the first member of the set the write was given.
    pub primary: bool,
    /// What the replica's last-writer-wins script did.
    pub applied: Applied,
    /// The replica kept a version stamped after this write's. (One equal
    /// to it is this write's own, copied there first by a repair.)
    pub superseded: bool,
}

/// Where one write stands: who took it, who did not, and which
/// acknowledgements are held back (see the module docs).
#[derive(Debug, Default)]
pub struct Progress {
    hold: bool,
    held: Vec<Ack>,
    /// Replicas that took the write.
    pub acked: Vec<Arc<str>>,
    /// Replicas that answered the write with an error (full, say).
    pub refused: Vec<Arc<str>>,
    /// Replicas that could not be reached in time.
    pub unreachable: Vec<Arc<str>>,
    /// The last replica error.
    pub last_error: Option<BackendError>,
}

impl Progress {
    /// A write whose set already changed before it was sent holds every
    /// acknowledgement from the start.
    pub fn new(set_changed: bool) -> Progress {
        Progress {
            hold: set_changed,
            ..Progress::default()
        }
    }

    /// A replica took the write: returns the acknowledgement to pass on
    /// now, or `None` while the hold is on.
    pub fn ack(&mut self, ack: Ack) -> Option<Ack> {
        self.acked.push(ack.node.clone());
        if self.hold {
            self.held.push(ack);
            None
        } else {
            Some(ack)
        }
    }

    /// A replica failed the write: the set will change, so the hold goes
    /// on for the acknowledgements still to come.
    pub fn fail(&mut self, node: Arc<str>, error: BackendError) {
        if error.is_unreachable() {
            self.unreachable.push(node);
        } else {
            self.refused.push(node);
        }
        self.last_error = Some(error);
        self.hold = true;
    }

    /// Replicas that failed the write so far.
    pub fn failed(&self) -> usize {
        self.refused.len() + self.unreachable.len()
    }

    /// The set is settled: the held acknowledgements, to pass on now.
    pub fn release(&mut self) -> Vec<Ack> {
        std::mem::take(&mut self.held)
    }
}

/// A write the acknowledgement level accepted.
#[derive(Debug)]
pub struct Accepted {
    /// The replicas that acknowledged it, in the order they did.
    pub nodes: Vec<Arc<str>>,
    /// The primary (else the first replica to answer) held a live value
    /// before: for a write, the key was not new.
    pub existed: bool,
    /// Any acknowledging replica held a live value before: for a delete,
    /// there was something to delete.
    pub any_existed: bool,
    /// An acknowledging replica applied it (a TTL change is not applied
    /// where the version it changes is not held).
    pub applied_any: bool,
    /// An acknowledging replica kept a version stamped after this write's
    /// (a balancer whose clock runs ahead wrote it): the write did not
    /// take effect there.
    pub superseded: bool,
    /// A stamp that beat this write was further ahead of this balancer's
    /// clock than it adopts (set by the caller, which observes the stamps).
    pub unadopted: bool,
}

/// What the client hears from the acknowledgements it got: accepted when
/// there are `needed` of them, else why not.
pub fn verdict(
    acks: Vec<Ack>,
    needed: usize,
    last_error: Option<BackendError>,
) -> Result<Accepted, Error> {
    if acks.len() < needed || acks.is_empty() {
        return Err(match last_error {
            Some(e) if acks.is_empty() => e.into(),
            None if acks.is_empty() => Error::NoNodes,
            // Some replicas took it: the outcome is unknown, never "not
            // applied".
            last => Error::TooFewReplicas {
                acked: acks.len(),
                needed,
                last: last.map_or_else(|| "members down".to_string(), |e| e.to_string()),
            },
        });
    }
    let on_primary = acks.iter().find(|a| a.primary).map(|a| a.applied.existed);
    let existed = on_primary.unwrap_or(acks[0].applied.existed);
    let any_existed = acks.iter().any(|a| a.applied.existed);
    let superseded = acks.iter().any(|a| a.superseded);
    let applied_any = acks.iter().any(|a| a.applied.applied);
    Ok(Accepted {
        nodes: acks.into_iter().map(|a| a.node).collect(),
        existed,
        any_existed,
        applied_any,
        superseded,
        unadopted: false,
    })
}

/// Whether a write created its key (201) rather than replaced it (200).
/// A key whose entry this write created is new unless a search found a
/// live copy or any replica held one; otherwise the primary decides, as
/// for [`Accepted::existed`].
pub fn created(claimed: bool, copies_found: bool, accepted: &Accepted) -> bool {
    if claimed {
        !(copies_found || accepted.any_existed)
    } else {
        !accepted.existed
    }
}

#[cfg(test)]
mod tests;
