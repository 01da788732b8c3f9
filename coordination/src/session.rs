//! Sessions: connect with a time limit, and run work under a live session,
//! starting it again on a new session whenever one ends.
//!
//! Why: a ZooKeeper outage shorter than the session timeout keeps the
//! session (and every ephemeral node) alive, and calls resume by
//! themselves. A longer one expires the session, which deletes our
//! ephemeral nodes and leaves the client unusable; then the only remedy is
//! a new client, and the work (registrations, watches, election) must run
//! again from the start. [`supervise`] does exactly that, and reports the
//! connection state for `/readyz` and metrics meanwhile.
//!
//! With credentials ([`ZkConfig::auth`], `user:password`), every session
//! adds them as `digest` auth when it opens (and again on each
//! reconnection, which the client does by itself), and [`ZkConfig::acls`]
//! is the ACL every znode this project creates gets: all permissions for
//! the session's own identity (ZooKeeper's `auth` scheme, "creator all"),
//! nothing for anyone else. Without them, sessions are anonymous and
//! znodes open to anyone, as before.

use std::time::Duration;

use memreport::settings::Secret;
use tokio::sync::watch;
use zookeeper_client::{Acls, Client, SessionState};

/// Connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkConfig {
    /// `host:port[,host:port...]` of the ensemble.
    pub address: String,
    /// Session timeout: how long ephemeral nodes outlive a silent process.
    pub session_timeout: Duration,
    /// `digest` credentials, `user:password`; none: anonymous, open ACLs.
    pub auth: Option<Secret>,
}

impl ZkConfig {
    /// Settings for `address` with a session timeout in milliseconds, and
    /// no credentials.
    pub fn new(address: &str, session_timeout_ms: u64) -> ZkConfig {
        ZkConfig {
            address: address.to_string(),
            session_timeout: Duration::from_millis(session_timeout_ms),
            auth: None,
        }
    }

    /// The same settings with `digest` credentials, `user:password`.
    pub fn with_auth(self, user_password: &str) -> ZkConfig {
        ZkConfig {
            auth: Some(Secret::new(user_password)),
            ..self
        }
    }

    /// The ACL for every znode created under these settings: all
    /// permissions to the session's own identity when it has credentials
    /// (`auth` scheme, "creator all"), to anyone otherwise.
    pub fn acls(&self) -> Acls<'static> {
        match self.auth {
            Some(_) => Acls::creator_all(),
            None => Acls::anyone_all(),
        }
    }
}

/// Why `user_password` cannot be `digest` credentials, if it cannot.
pub fn auth_problem(user_password: &str) -> Option<String> {
    match user_password.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => None,
        _ => Some("zookeeper_auth must be user:password, both non-empty".into()),
    }
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZkState {
    /// Trying to open a session.
    Connecting,
    /// Connected, with a live session.
    Connected,
    /// Cut off from ZooKeeper; the session may still be alive.
    Disconnected,
}

impl ZkState {
    /// `connecting`, `connected` or `disconnected`.
    pub fn name(self) -> &'static str {
        match self {
            ZkState::Connecting => "connecting",
            ZkState::Connected => "connected",
            ZkState::Disconnected => "disconnected",
        }
    }
}

/// Opens a session, giving up after the session timeout.
///
/// # Errors
/// ZooKeeper unreachable or refusing, in words.
pub async fn connect(config: &ZkConfig) -> Result<Client, String> {
    let mut connector = Client::connector()
        .with_session_timeout(config.session_timeout)
        .with_connection_timeout(config.session_timeout);
    if let Some(auth) = &config.auth {
        connector = connector.with_auth("digest", auth.expose().as_bytes());
    }
    let connecting = connector.connect(&config.address);
    match tokio::time::timeout(config.session_timeout, connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("ZooKeeper at {}: {e}", config.address)),
        Err(_) => Err(format!(
            "ZooKeeper at {} did not answer within {:?}",
            config.address, config.session_timeout
        )),
    }
}

/// Runs `work` under a session until `shutdown` turns true; whenever the
/// session ends (expired, closed), opens a new one and runs `work` again.
/// On shutdown, closes the session so ephemeral nodes vanish at once.
pub async fn supervise<W, F>(
    config: ZkConfig,
    state: watch::Sender<ZkState>,
    mut shutdown: watch::Receiver<bool>,
    work: W,
) where
    W: Fn(Client) -> F,
    F: Future<Output = ()>,
{
    loop {
        state.send_replace(ZkState::Connecting);
        let connected = tokio::select! {
            c = connect(&config) => c,
            _ = shutdown.changed() => return,
        };
        let client = match connected {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "ZooKeeper unreachable; serving with the last known membership");
                state.send_replace(ZkState::Disconnected);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        state.send_replace(ZkState::Connected);
        tracing::info!(session = ?client.session_id(), "ZooKeeper session open");
        let mut states = client.state_watcher();
        let follow_state = async {
            loop {
                match states.changed().await {
                    SessionState::Disconnected => {
                        tracing::warn!("ZooKeeper disconnected; the session may survive");
                        state.send_replace(ZkState::Disconnected);
                    }
                    SessionState::SyncConnected => {
                        tracing::info!("ZooKeeper reconnected");
                        state.send_replace(ZkState::Connected);
                    }
                    other => {
                        tracing::warn!(state = ?other, "ZooKeeper session ended; opening a new one");
                        return;
                    }
                }
            }
        };
        let stop = tokio::select! {
            () = work(client.clone()) => false,
            () = follow_state => false,
            _ = shutdown.changed() => true,
        };
        close(client).await;
        if stop {
            return;
        }
        state.send_replace(ZkState::Disconnected);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Closes the session: once every clone is dropped, the client's task ends
/// it, and our ephemeral nodes go with it.
async fn close(client: Client) {
    let mut states = client.state_watcher();
    drop(client);
    let closed = async {
        while !matches!(
            states.changed().await,
            SessionState::Closed | SessionState::Expired
        ) {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), closed).await;
}
