//! Serving routers on `[::]` until told to stop, then draining.

use std::{future::Future, net::Ipv6Addr, time::Duration};

use anyhow::Context;
use axum::Router;
use futures::future::select_all;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds `[::]:port`. On Linux it is dual-stack, so Fly Proxy (IPv4) and
/// Flycast/6PN (IPv6) both reach it: 0.0.0.0 breaks `.internal`, and
/// `fly-local-6pn` breaks Flycast. `var` names the setting, for the error.
pub async fn bind(port: u16, var: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
        .await
        .with_context(|| format!("cannot listen on [::]:{port} (set by {var})"))
}

/// Serves each router on its listener until `shutdown` completes, then
/// cancels `stopping`, stops accepting connections and gives in-flight
/// requests `drain` to finish. A server that stops by itself is an error.
pub async fn serve(
    servers: Vec<(TcpListener, Router)>,
    shutdown: impl Future<Output = ()>,
    stopping: CancellationToken,
    drain: Duration,
) -> anyhow::Result<()> {
    let mut tasks: Vec<_> = servers
        .into_iter()
        .map(|(listener, router)| {
            let stopping = stopping.clone();
            tokio::spawn(
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stopping.cancelled().await })
                    .into_future(),
            )
        })
        .collect();
    if tasks.is_empty() {
        anyhow::bail!("nothing to serve");
    }
    tokio::select! {
        () = shutdown => {}
        () = stopping.cancelled() => {}
        (result, _, _) = select_all(tasks.iter_mut()) => {
            stopping.cancel();
            anyhow::bail!("a server stopped unexpectedly: {result:?}");
        }
    }
    stopping.cancel();
    let drained = tokio::time::timeout(drain, futures::future::join_all(tasks)).await;
    match drained {
        Ok(_) => tracing::info!("in-flight requests finished; stopped"),
        Err(_) => tracing::warn!(
            timeout_secs = drain.as_secs(),
            "drain time over; stopping with requests still in flight"
        ),
    }
    Ok(())
}
