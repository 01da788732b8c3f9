//! A real standalone ZooKeeper on a free loopback port, with its data in a
//! temporary directory; stopped (and the directory removed) on drop.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's zookeeper package puts the server here.
const CLASSPATH: &str = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar";

/// One ZooKeeper server process.
#[derive(Debug)]
pub struct ZooKeeperServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl ZooKeeperServer {
    /// Starts a server (tick 200 ms, so sessions of 1 to 10 s are allowed).
    pub fn start() -> ZooKeeperServer {
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("dlb-zk-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).expect("zookeeper dir");
        let config = format!(
            "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=ruok\n\
             minSessionTimeout=1000\nmaxSessionTimeout=10000\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("zoo.cfg"), config).expect("write zoo.cfg");
        let mut server = ZooKeeperServer {
            port,
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    /// A client with a session of `session_ms`, retried for up to 20 s:
    /// a JVM just started on a loaded machine can answer `ruok` well
    /// before it opens its first session in time.
    pub async fn client(&self, session_ms: u64) -> coordination::Client {
        let config = coordination::session::ZkConfig::new(&self.addr(), session_ms);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match coordination::session::connect(&config).await {
                Ok(client) => return client,
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is
    /// answered, and no session expires until it resumes.
    pub fn pause(&self) {
        crate::signal::send(self.child.as_ref(), "-STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        crate::signal::send(self.child.as_ref(), "-CONT");
    }

    /// Kills the server (its sessions live on in its data until it returns).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new("java")
            .args(["-Xmx256m", "-cp", CLASSPATH])
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(self.dir.join("zoo.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ZooKeeper (is the zookeeper package installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.answers_ruok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        panic!("ZooKeeper did not answer ruok within 20 s");
    }

    fn answers_ruok(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = String::new();
        s.set_read_timeout(Some(Duration::from_millis(500))).is_ok()
            && s.write_all(b"ruok").is_ok()
            && s.read_to_string(&mut reply).is_ok()
            && reply == "imok"
    }
}

impl Drop for ZooKeeperServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
