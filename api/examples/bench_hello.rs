//! The baseline `cargo xtask bench` measures `GET /api/health` against: a
//! bare axum server on the same runtime settings as the api, with one route
//! that answers the same body, and nothing else (no middleware, no logging,
//! no metrics). The bench also points the worker's checks at it, as a local
//! target that answers as fast as anything can.
//!
//! `PORT=8081 cargo run --release -p api --example bench_hello`

use std::net::{Ipv6Addr, SocketAddr};

use axum::{Json, Router, routing::get};
use serde::Serialize;

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn hello() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| anyhow::anyhow!("PORT must be a port number, got {port:?}"))?,
        Err(_) => 8081,
    };
    // [::] like the api, so both are reached the same way.
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))).await?;
    axum::serve(listener, Router::new().route("/", get(hello))).await?;
    Ok(())
}
