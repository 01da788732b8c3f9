//! A TCP proxy in this process in front of one server: the network between
//! the test's clients and a data node, which a test can break for some of
//! them. It numbers connections in the order it accepts them, so a test can
//! cut every connection but the first ones (a probe agent that connected
//! first keeps its node, a balancer that connected later loses it), and it
//! can hold back every answer (a slow node). Stopped on drop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A running proxy.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    target: String,
    accepted: AtomicUsize,
    /// Connections numbered this or higher are cut; `usize::MAX`: none.
    cut_from: AtomicUsize,
    /// Milliseconds each chunk of an answer is held back.
    delay_ms: AtomicU64,
    /// Tells open connections that `cut_from` changed.
    changed: watch::Sender<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            target: target.to_string(),
            accepted: AtomicUsize::new(0),
            cut_from: AtomicUsize::new(usize::MAX),
            delay_ms: AtomicU64::new(0),
            changed: watch::channel(()).0,
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        TcpProxy { addr, shared, task }
    }

    /// `127.0.0.1:<port>`: the address clients use for the server.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection but the first `keep` accepted, and closes
    /// each new one as soon as it is accepted.
    pub fn cut_all_but_first(&self, keep: usize) {
        self.shared.cut_from.store(keep, Ordering::SeqCst);
        self.shared.changed.send_replace(());
    }

    /// Lets every connection through again, and answers without delay.
    pub fn heal(&self) {
        self.shared.delay_ms.store(0, Ordering::SeqCst);
        self.shared.cut_from.store(usize::MAX, Ordering::SeqCst);
        self.shared.changed.send_replace(());
    }

    /// Holds back each chunk of the server's answers for `delay`, each
    /// independently of the others.
    pub fn delay_answers(&self, delay: Duration) {
        let ms = delay.as_millis() as u64;
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all_but_first(0);
    }
}

impl Shared {
    fn is_cut(&self, number: usize) -> bool {
        number >= self.cut_from.load(Ordering::SeqCst)
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        let number = shared.accepted.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve(client, number, shared.clone()));
    }
}

/// Forwards one connection both ways until either side closes or the
/// connection is cut.
async fn serve(client: TcpStream, number: usize, shared: Arc<Shared>) {
    let mut changed = shared.changed.subscribe();
    if shared.is_cut(number) {
        return;
    }
    let Ok(server) = TcpStream::connect(&shared.target).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let cut = async {
        while changed.changed().await.is_ok() {
            if shared.is_cut(number) {
                return;
            }
        }
    };
    tokio::select! {
        () = pump(client_read, server_write, None) => {}
        () = pump(server_read, client_write, Some(&shared.delay_ms)) => {}
        () = cut => {}
    }
}

/// Copies `from` to `to`; with `delay_ms`, each chunk goes out that long
/// after it came in (a delay line: chunks do not wait for each other).
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    delay_ms: Option<&AtomicU64>,
) {
    let (line, mut out) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            let ms = delay_ms.map_or(0, |d| d.load(Ordering::SeqCst));
            let due = Instant::now() + Duration::from_millis(ms);
            if line.send((due, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    let write = async move {
        while let Some((due, chunk)) = out.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(read, write);
}
