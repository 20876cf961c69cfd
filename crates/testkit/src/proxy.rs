//! A TCP proxy whose behaviour a test switches, to inject network faults between linkleaf and a
//! dependency (there is no toxiproxy or `tc netem` here): `Pass` forwards, `Reset` closes every
//! connection and each new one at once, `Blackhole` keeps connections open and forwards nothing
//! (the peer hangs, as behind a dead link).

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Reset,
    Blackhole,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = watch::channel(Mode::Pass);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let rx = rx.clone();
                tokio::spawn(serve(client, target, rx));
            }
        });
        Self {
            addr,
            mode: Arc::new(tx),
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `redis://` URL of the proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let mut upstream: Option<TcpStream> = None;
    loop {
        let m = *mode.borrow_and_update();
        match m {
            Mode::Reset => return,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::Pass => {
                let up = match &mut upstream {
                    Some(u) => u,
                    None => match TcpStream::connect(target).await {
                        Ok(u) => upstream.insert(u),
                        Err(_) => return,
                    },
                };
                tokio::select! {
                    r = tokio::io::copy_bidirectional(&mut client, up) => {
                        let _ = r;
                        return;
                    }
                    changed = mode.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}
