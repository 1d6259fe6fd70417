//! Two TCP relays in the host's namespace: the Postgres forwarder (Fly's
//! Managed Postgres is reached over the private network; this machine's
//! Postgres listens on loopback only), and the stand-in for Fly's private
//! proxy behind `<app>.flycast`.
//!
//! What the Flycast stand-in models: one stable address per app, in front
//! of whichever machines are live right now (the harness tells it, as Fly's
//! control plane tells its proxy), each new connection going to the next
//! one in turn, a machine that refuses skipped. What it does not: Fly's
//! health-check routing, concurrency limits, starting stopped machines, or
//! HTTP awareness (Fly's proxy speaks HTTP on `http_service`; this relays
//! bytes).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// A relay listening on one address; dropping it stops accepting.
pub struct Relay {
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The machines behind a Flycast address; shared with the harness, which
/// changes it as machines come and go.
#[derive(Clone, Default)]
pub struct Backends(Arc<Mutex<Vec<SocketAddr>>>);

impl Backends {
    pub fn set(&self, machines: Vec<SocketAddr>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = machines;
    }

    fn snapshot(&self) -> Vec<SocketAddr> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Relays every connection on `listen` to one of `backends`, in turn.
pub async fn start(listen: SocketAddr, backends: Backends) -> anyhow::Result<Relay> {
    let listener = TcpListener::bind(listen).await?;
    let task = tokio::spawn(async move {
        let mut turn = 0usize;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let machines = backends.snapshot();
            turn = turn.wrapping_add(1);
            let start = turn;
            tokio::spawn(async move {
                // The next live machine that accepts.
                for offset in 0..machines.len() {
                    let machine = machines[(start + offset) % machines.len()];
                    if let Ok(mut outbound) = TcpStream::connect(machine).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    Ok(Relay { task })
}
