//! A real `redis-server` on a free loopback port, killed on drop;
//! optionally one that wants a password ([`ServerAuth`]), or one on
//! another loopback address, which placement counts as another host.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

/// How clients must authenticate to a test server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ServerAuth {
    /// Not at all.
    #[default]
    None,
    /// With this password for the `default` user (`--requirepass`).
    Password(String),
    /// As this ACL user (`user`, `password`), allowed every command and
    /// key; the `default` user is off.
    User(String, String),
}

impl ServerAuth {
    /// The `(username, password)` a client sends; both `None` for no AUTH.
    pub fn credentials(&self) -> (Option<&str>, Option<&str>) {
        match self {
            ServerAuth::None => (None, None),
            ServerAuth::Password(password) => (None, Some(password)),
            ServerAuth::User(user, password) => (Some(user), Some(password)),
        }
    }

    fn args(&self) -> Vec<String> {
        let args: &[&str] = match self {
            ServerAuth::None => &[],
            ServerAuth::Password(password) => &["--requirepass", password],
            ServerAuth::User(user, password) => &[
                "--user",
                "default",
                "off",
                "--user",
                user,
                "on",
                &format!(">{password}"),
                "~*",
                "&*",
                "+@all",
            ],
        };
        args.iter().map(|a| a.to_string()).collect()
    }
}

/// One redis-server child process without persistence.
#[derive(Debug)]
pub struct RedisServer {
    host: String,
    port: u16,
    maxmemory: String,
    auth: ServerAuth,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server with a 64 MiB `maxmemory`.
    pub fn start() -> RedisServer {
        RedisServer::with_maxmemory("64mb")
    }

    /// Starts a server with the given `maxmemory` (e.g. `"128mb"`).
    pub fn with_maxmemory(maxmemory: &str) -> RedisServer {
        RedisServer::with_auth(maxmemory, ServerAuth::None)
    }

    /// Starts a server with the given `maxmemory` that wants `auth`.
    pub fn with_auth(maxmemory: &str, auth: ServerAuth) -> RedisServer {
        RedisServer::on_host("127.0.0.1", maxmemory, auth)
    }

    /// Starts a server listening on `host`, a loopback address such as
    /// `127.0.0.2`: a failure domain of its own to placement.
    pub fn on_host(host: &str, maxmemory: &str, auth: ServerAuth) -> RedisServer {
        for _ in 0..5 {
            let mut server = RedisServer {
                host: host.to_string(),
                port: crate::free_port(),
                maxmemory: maxmemory.to_string(),
                auth: auth.clone(),
                child: None,
            };
            if server.spawn().is_ok() {
                return server;
            }
        }
        panic!("could not start redis-server; is it installed?");
    }

    /// `<host>:<port>`; the host is `127.0.0.1` unless started
    /// [`RedisServer::on_host`].
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How clients must authenticate to it.
    pub fn auth(&self) -> &ServerAuth {
        &self.auth
    }

    /// `redis://[user:password@]<host>:<port>/`, with its credentials.
    pub fn url(&self) -> String {
        match self.auth.credentials() {
            (user, Some(password)) => format!(
                "redis://{}:{password}@{}/",
                user.unwrap_or_default(),
                self.addr()
            ),
            _ => format!("redis://{}/", self.addr()),
        }
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A paused process dies of SIGKILL too, but resume it so its
            // socket closes at once.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP): it keeps its port and its data but
    /// answers nothing, like a hung server.
    pub fn pause(&self) {
        crate::signal::send(self.child.as_ref(), "-STOP");
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) {
        crate::signal::send(self.child.as_ref(), "-CONT");
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("restart redis-server on its port");
    }

    /// A connection for checking what the server holds (authenticated).
    pub async fn connection(&self) -> MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("valid url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to test redis")
    }

    /// `(value, timestamp)` of `key` as this server holds it, read around
    /// any balancer.
    pub async fn held(&self, key: &str) -> (Option<String>, Option<String>) {
        let mut conn = self.connection().await;
        redis::cmd("HMGET")
            .arg(key)
            .arg("v")
            .arg("t")
            .query_async(&mut conn)
            .await
            .expect("read a value around the balancer")
    }

    /// [`RedisServer::held`] of each of `keys`, in order, over one
    /// connection in one pipeline.
    pub async fn held_each<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Vec<(Option<String>, Option<String>)> {
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("HMGET").arg(key).arg("v").arg("t");
        }
        let mut conn = self.connection().await;
        pipe.query_async(&mut conn)
            .await
            .expect("read values around the balancer")
    }

    /// Writes `mebibytes` MiB of junk straight into the server, around any
    /// balancer, under keys `junk:0`, `junk:1`, ...
    pub async fn fill_with_junk(&self, mebibytes: usize) {
        let mut conn = self.connection().await;
        let junk = vec![b'j'; 1024 * 1024];
        for i in 0..mebibytes {
            let _: () = redis::cmd("SET")
                .arg(format!("junk:{i}"))
                .arg(&junk)
                .query_async(&mut conn)
                .await
                .expect("write junk");
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        // The C locale: Redis's Lua compares the balancer's version
        // strings by the locale's collation, which must be byte order.
        let child = Command::new("redis-server")
            .env("LC_ALL", "C")
            .args(["--port", &self.port.to_string(), "--bind", &self.host])
            .args(["--save", "", "--appendonly", "no"])
            .args([
                "--maxmemory",
                &self.maxmemory,
                "--maxmemory-policy",
                "noeviction",
            ])
            .args(self.auth.args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("redis-server exited: {status}"));
            }
            if answers_ping(&self.host, self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err("redis-server did not answer in 5 s".into())
    }
}

/// Whether a Redis on `host:port` answers `PING`: `PONG`, or `NOAUTH`
/// from one that wants a password first.
pub(crate) fn answers_ping(host: &str, port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect((host, port)) else {
        return false;
    };
    let mut buf = [0u8; 7];
    s.set_read_timeout(Some(Duration::from_millis(500))).is_ok()
        && s.write_all(b"PING\r\n").is_ok()
        && s.read_exact(&mut buf).is_ok()
        && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
