//! The NATS client. Core NATS is at-most-once, which is fine for live updates:
//! every SSE stream starts from a Postgres snapshot.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, connection::State};

use crate::config::Secret;

/// Returns at once even while NATS is down (`retry_on_initial_connect`) and
/// keeps reconnecting forever; readiness reports the state meanwhile.
pub async fn connect(url: &Secret, client_name: &str) -> Result<Client, async_nats::ConnectError> {
    ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .connect(url.expose())
        .await
}

pub fn is_connected(client: &Client) -> bool {
    client.connection_state() == State::Connected
}
