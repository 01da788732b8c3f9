//! Calls that ride out a lost connection inside the session.
//!
//! Why: a connection to ZooKeeper can drop (a server paused or restarted,
//! a network blip) while the session, and every ephemeral node with it,
//! lives on for up to the session timeout. A call that fails with
//! [`Error::ConnectionLoss`] then says nothing about the session: it is
//! tried again once the client has reconnected. Only a session that ended
//! (expired, closed, refused) ends the work, so registrations and election
//! nodes are recreated only when ZooKeeper itself dropped them.
//!
//! A retried call may already have taken effect (a `create` whose answer
//! was lost); the callers check ownership (`ephemeralOwner`) to tell.

use std::time::Duration;

use zookeeper_client::{Client, Error, SessionState};

/// A pause between tries, so a client that has not yet noticed its lost
/// connection is not asked again at once.
const BACKOFF: Duration = Duration::from_millis(100);

/// What to do after a call failed with `error`.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// The connection dropped: wait for the session to reconnect, try
    /// again.
    Reconnect,
    /// Anything else: the caller gets the error.
    GiveUp,
}

/// What a call's failure says about the session. ZooKeeper's answers
/// about the data (no node, node exists, bad version, ...) and the ends of
/// a session are final; anything else is a connection that broke under
/// the call (the client fails calls in flight with its I/O error, e.g.
/// "no response from connection in 2400ms", not only with
/// [`Error::ConnectionLoss`]), and [`reconnected`] tells whether the
/// session survived it.
pub fn after(error: &Error) -> After {
    match error {
        Error::NoNode
        | Error::NodeExists
        | Error::BadVersion
        | Error::NotEmpty
        | Error::NoChildrenForEphemerals
        | Error::NoAuth
        | Error::InvalidAcl
        | Error::BadArguments(_)
        | Error::QuotaExceeded
        | Error::NoWatcher
        | Error::Unimplemented
        | Error::ReconfigDisabled
        | Error::RuntimeInconsistent
        | Error::UnmarshalError { .. }
        | Error::MarshallingError
        | Error::UnexpectedErrorCode(_)
        | Error::SessionExpired
        | Error::SessionMoved
        | Error::ClientClosed
        | Error::AuthFailed
        | Error::NoHosts => After::GiveUp,
        _ => After::Reconnect,
    }
}

/// Whether `state` is a session that can still answer.
fn alive(state: SessionState) -> Option<bool> {
    match state {
        SessionState::SyncConnected | SessionState::ConnectedReadOnly => Some(true),
        SessionState::Disconnected => Some(false),
        _ => None,
    }
}

/// Waits until `client` is connected again; [`Error::SessionExpired`] once
/// its session has ended.
///
/// # Errors
/// The session ended.
pub async fn reconnected(client: &Client) -> Result<(), Error> {
    let mut states = client.state_watcher();
    let mut state = client.state();
    loop {
        match alive(state) {
            Some(true) => return Ok(()),
            Some(false) => state = states.changed().await,
            None => return Err(Error::SessionExpired),
        }
    }
}

/// Runs `call` until it answers something other than a lost connection,
/// waiting for the session to reconnect between tries.
///
/// # Errors
/// The call's error, or [`Error::SessionExpired`] when the session ended
/// while waiting.
pub async fn retrying<T, F>(client: &Client, mut call: impl FnMut() -> F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    loop {
        match call().await {
            Err(e) if after(&e) == After::Reconnect => {
                tokio::time::sleep(BACKOFF).await;
                reconnected(client).await?;
            }
            answer => return answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_waited_out_and_the_rest_is_given_up() {
        assert_eq!(after(&Error::ConnectionLoss), After::Reconnect);
        assert_eq!(after(&Error::Timeout), After::Reconnect);
        assert_eq!(after(&Error::Throttled), After::Reconnect);
        for e in [
            Error::SessionExpired,
            Error::ClientClosed,
            Error::NodeExists,
            Error::NoNode,
            Error::BadVersion,
            Error::MarshallingError,
            Error::AuthFailed,
        ] {
            assert_eq!(after(&e), After::GiveUp, "{e}");
        }
    }

    #[test]
    fn only_a_connected_session_answers_and_an_ended_one_never_will() {
        assert_eq!(alive(SessionState::SyncConnected), Some(true));
        assert_eq!(alive(SessionState::Disconnected), Some(false));
        assert_eq!(alive(SessionState::Expired), None);
        assert_eq!(alive(SessionState::Closed), None);
    }
}
