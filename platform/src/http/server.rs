//! Serving routers on `[::]` until told to stop, then draining.
//!
//! hyper is driven directly rather than through `axum::serve`, which sets no
//! timer and so no timeouts: a client could open a connection and send half a
//! request, or nothing at all, and hold a file descriptor forever.

use std::{
    future::Future,
    net::{Ipv6Addr, SocketAddr},
    time::Duration,
};

use anyhow::Context;
use axum::{Router, extract::ConnectInfo, http::Request};
use futures::future::select_all;
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Binds `[::]:port`. On Linux it is dual-stack, so Fly Proxy (IPv4) and
/// Flycast/6PN (IPv6) both reach it: 0.0.0.0 breaks `.internal`, and
/// `fly-local-6pn` breaks Flycast. `var` names the setting, for the error.
pub async fn bind(port: u16, var: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
        .await
        .with_context(|| format!("cannot listen on [::]:{port} (set by {var})"))
}

/// The largest request head (request line and headers) read: nginx's own
/// limit is 8 KiB a line, and a session cookie is well under 1 KiB.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// How [`serve`] stops and what it allows a connection.
#[derive(Debug, Clone)]
pub struct Serving {
    /// Cancelled when serving stops, by `shutdown` or by a server failing.
    pub stopping: CancellationToken,
    /// How long in-flight requests get once it is.
    pub drain: Duration,
    /// How long a connection may take to send a request's headers, counted
    /// from when it waits for one: a new connection's first request, or the
    /// next on a kept-alive one. So it is the idle timeout as well.
    pub idle_timeout: Duration,
}

/// Serves each router on its listener (HTTP/1.1: what nginx and Fly's proxy
/// speak to a backend) until `shutdown` completes, then cancels `stopping`,
/// stops accepting connections and gives in-flight requests `drain` to
/// finish. A server that stops by itself is an error. Handlers can extract
/// `ConnectInfo<SocketAddr>`: the peer's address.
pub async fn serve(
    servers: Vec<(TcpListener, Router)>,
    shutdown: impl Future<Output = ()>,
    serving: Serving,
) -> anyhow::Result<()> {
    let stopping = serving.stopping.clone();
    let mut tasks: Vec<_> = servers
        .into_iter()
        .map(|(listener, router)| tokio::spawn(serve_one(listener, router, serving.clone())))
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
    let drained = tokio::time::timeout(serving.drain, futures::future::join_all(tasks)).await;
    match drained {
        Ok(_) => tracing::info!("in-flight requests finished; stopped"),
        Err(_) => tracing::warn!(
            timeout_secs = serving.drain.as_secs(),
            "drain time over; stopping with requests still in flight"
        ),
    }
    Ok(())
}

/// Accepts until `stopping`, then waits for its open connections, each told
/// to close once its current response is written.
async fn serve_one(listener: TcpListener, router: Router, serving: Serving) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(serving.idle_timeout)
        // A request line and headers past this get 431 (without it hyper
        // reads up to its ~400 KB buffer, and the request line reaches a
        // log line).
        .max_header_size(MAX_HEAD_BYTES);
    let connections = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = serving.stopping.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request)
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that hangs up or times out is no server error.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}
