//! The client of the session open now, for work that runs outside the
//! session's own tasks (the balancer's admin API writes node entries
//! when an operator asks, not when a session starts).
//!
//! Why a slot rather than a client kept anywhere: [`crate::session::supervise`]
//! replaces the client whenever a session ends, and closes the old one
//! once every clone of it is dropped. The session's work publishes its
//! client here for as long as it runs ([`Current::publish`]); the
//! publication is withdrawn when the work stops, however it stops (the
//! guard's `Drop`), so a reader gets the live session's client or none,
//! never one a supervisor has given up.

use tokio::sync::watch;
use zookeeper_client::Client;

/// The live session's client, when there is one.
#[derive(Debug)]
pub struct Current {
    slot: watch::Sender<Option<Client>>,
}

impl Default for Current {
    fn default() -> Current {
        Current {
            slot: watch::channel(None).0,
        }
    }
}

impl Current {
    /// Publishes `client` until the returned guard is dropped.
    pub fn publish(&self, client: &Client) -> Published<'_> {
        self.slot.send_replace(Some(client.clone()));
        Published(self)
    }

    /// The live session's client; `None` between sessions (connecting,
    /// or ZooKeeper not reached yet).
    pub fn get(&self) -> Option<Client> {
        self.slot.borrow().clone()
    }
}

/// A client published in a [`Current`]; withdrawn on drop.
#[derive(Debug)]
#[must_use = "the client is withdrawn when this is dropped"]
pub struct Published<'a>(&'a Current);

impl Drop for Published<'_> {
    fn drop(&mut self) {
        self.0.slot.send_replace(None);
    }
}
