//! SIGTERM to the real binary: in-flight requests finish, then it exits 0.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestDatabase, free_port, nats_url, redis_url, unique_queue_prefix};

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let database = TestDatabase::migrated(&api::routes::migrator()).await;
    let database_url = database.url.clone();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_api"))
        .env("PORT", port.to_string())
        .env("METRICS_PORT", free_port().to_string())
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", redis_url())
        .env("NATS_URL", nats_url())
        // Its own keys in the shared Redis: limits counted by earlier runs
        // must not refuse this one's sign-up.
        .env("QUEUE_PREFIX", unique_queue_prefix())
        .env("SHUTDOWN_TIMEOUT_SECS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start api");
    let address = format!("127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://{address}/api/health"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "api did not start");

    // A signup whose body is only half sent: in flight when SIGTERM lands.
    let body = r#"{"email":"drain@example.com","password":"correct horse battery"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(
            format!(
                "POST /api/auth/signup HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .expect("write headers");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // No new connections once draining...
    assert!(
        client
            .get(format!("http://{address}/api/health"))
            .send()
            .await
            .is_err(),
        "a new connection was accepted after SIGTERM"
    );
    // ...but the request in flight completes.
    stream.write_all(rest.as_bytes()).await.expect("write rest");
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("response in time")
    .expect("read");
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}
