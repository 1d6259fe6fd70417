//! Redis and NATS, opened the same way by every process (Postgres is
//! [`crate::db`]'s). Both connect lazily or retry in the background, so a
//! process starts (and answers liveness) while a dependency is down;
//! readiness reports it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Secret;

/// redis-rs gives up on a reply after 500 ms by default; a busy Upstash
/// instance or a blocking queue script can take longer, and a timed-out reply
/// would surface as a failed enqueue.
const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A NATS node that vanished without closing its connections (its machine
/// gone) is given up after three unanswered pings: 30 s, where async-nats'
/// default of a minute between pings would leave a client on a dead node
/// for three.
const NATS_PING_INTERVAL: Duration = Duration::from_secs(10);

/// A connection manager that reconnects by itself and connects on first use.
pub fn connect_redis(url: &Secret) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url.expose())?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(REDIS_RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Returns at once even while NATS is down (`retry_on_initial_connect`) and
/// keeps reconnecting forever; readiness reports the state meanwhile. Core
/// NATS is at-most-once, which suits live updates: every SSE stream starts
/// from a Postgres snapshot.
///
/// The URL's host may be a name behind which every node of a cluster
/// answers (`<app>.internal` on Fly): it is resolved again on every
/// reconnect, so a client finds the nodes that are up now. Credentials in
/// the URL (`nats://api:<password>@host:4222`) are handed to the client as
/// user and password: async-nats reads them only from its options.
pub async fn connect_nats(
    url: &Secret,
    name: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let (address, credentials) = split_credentials(url.expose());
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(CONNECT_TIMEOUT)
        .ping_interval(NATS_PING_INTERVAL)
        .max_reconnects(None);
    if let Some((user, password)) = credentials {
        options = options.user_and_password(user, password);
    }
    options.connect(address).await
}

/// The URL without its user and password, and those two (percent-decoded).
/// A URL that does not parse is returned as it is, for async-nats to refuse.
fn split_credentials(raw: &str) -> (String, Option<(String, String)>) {
    let Ok(mut url) = url::Url::parse(raw) else {
        return (raw.to_owned(), None);
    };
    if url.username().is_empty() {
        return (raw.to_owned(), None);
    }
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = (
        decode(url.username()),
        decode(url.password().unwrap_or_default()),
    );
    // Cannot fail on a URL that has a host, which one with a user has.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    (url.to_string(), Some(credentials))
}

#[cfg(test)]
mod tests {
    use super::split_credentials;

    #[test]
    fn credentials_leave_the_url_for_the_client_options() {
        let (address, credentials) = split_credentials("nats://api:s3cr%40t@bus.internal:4222");
        assert_eq!(address, "nats://bus.internal:4222");
        assert_eq!(credentials, Some(("api".to_owned(), "s3cr@t".to_owned())));
    }

    #[test]
    fn a_url_without_credentials_is_left_alone() {
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), None)
        );
    }
}
