//! A real `redis-server` in a Docker container with a memory limit
//! (`docker run --memory`), removed on drop.
//!
//! No image registry is reachable here, so the image is built on the spot
//! from this machine's own `redis-server` and the libraries `ldd` names,
//! imported with `docker import` (about 17 MB, a second). The container
//! uses the host's network (the server listens on a free loopback port)
//! and, when asked, the host's pid namespace, so an agent on the host
//! can (or cannot) see the server's process.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The image, tagged by the Redis version it holds.
const IMAGE: &str = "dlb-test-redis";

/// One Redis container.
#[derive(Debug)]
pub struct RedisContainer {
    id: String,
    port: u16,
}

/// Whether a container shares the host's pid namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pids {
    /// `--pid host`: the server's pid is the same on the host.
    Host,
    /// A pid namespace of its own: the server is pid 1 inside.
    Own,
}

impl RedisContainer {
    /// Starts a server without `maxmemory` in a container limited to
    /// `memory` (e.g. `"256m"`). `None`, said loudly on stderr, when no
    /// Docker Engine answers here.
    pub fn start(memory: &str, pids: Pids) -> Option<RedisContainer> {
        if !docker(&["info"]).is_ok_and(|o| o.status.success()) {
            eprintln!(
                "\n*** SKIPPED: no Docker Engine answers `docker info` on this machine; \
                 the container test did not run ***\n"
            );
            return None;
        }
        let image = image();
        let port = crate::free_port();
        let mut args = vec!["run", "-d", "--rm", "--network", "host", "--memory", memory];
        if pids == Pids::Host {
            args.extend(["--pid", "host"]);
        }
        let port_arg = port.to_string();
        args.extend([image.as_str(), "/usr/bin/redis-server", "--port", &port_arg]);
        args.extend(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        let run = docker(&args).expect("run docker");
        assert!(
            run.status.success(),
            "docker run failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let container = RedisContainer {
            id: String::from_utf8_lossy(&run.stdout).trim().to_string(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !crate::redis_server::answers_ping("127.0.0.1", port) {
            assert!(
                Instant::now() < deadline,
                "the containerized Redis did not answer in 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(container)
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The container's full id (its cgroup is named after it).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for RedisContainer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.id]);
    }
}

fn docker(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
}

/// `dlb-test-redis:<version>`, built from this machine's `redis-server`
/// unless it exists; once per process, so tests running side by side do
/// not build it over each other.
fn image() -> String {
    static IMAGE_TAG: OnceLock<String> = OnceLock::new();
    IMAGE_TAG.get_or_init(build_image).clone()
}

fn build_image() -> String {
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .expect("run redis-server --version");
    let version = String::from_utf8_lossy(&version.stdout);
    let version = version
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .expect("redis-server --version names v=");
    let tag = format!("{IMAGE}:{version}");
    if docker(&["image", "inspect", &tag]).is_ok_and(|o| o.status.success()) {
        return tag;
    }
    let dir = std::env::temp_dir().join(format!("dlb-redis-image-{}", std::process::id()));
    let script = format!(
        "set -e; d={dir}; rm -rf $d; mkdir -p $d/usr/bin $d/tmp; \
         cp -L \"$(command -v redis-server)\" $d/usr/bin/redis-server; \
         for l in $(ldd $d/usr/bin/redis-server | grep -o '/[^ ]*'); do \
           mkdir -p $d$(dirname $l); cp -L $l $d$l; done; \
         tar -C $d -c . | docker import - {tag} >/dev/null; rm -rf $d",
        dir = dir.display()
    );
    let built = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("run sh");
    assert!(
        built.status.success(),
        "building the Redis image failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    tag
}
