//! What the real binary writes: JSON lines tagged with the Fly machine.

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{TestDatabase, free_port, nats_url, redis_url};

/// The api binary with production settings and nothing else from this
/// process's environment.
fn production_api(database_url: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .env_clear()
        .env("APP_ENV", "production")
        .env("JWT_SECRET", "a-test-secret-that-is-long-enough-0123456789")
        .env("PORT", port.to_string())
        .env("METRICS_PORT", free_port().to_string())
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env("NATS_URL", nats_url());
    command
}

#[tokio::test]
async fn production_logs_are_json_lines_tagged_with_region_and_machine() {
    let database = TestDatabase::migrated(&api::routes::migrator()).await;
    let database_url = database.url.clone();
    let port = free_port();
    let mut child = production_api(&database_url, port)
        .env("FLY_REGION", "ams")
        .env("FLY_MACHINE_ID", "e2865013c16e86")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start api");
    let client = reqwest::Client::new();
    let mut served = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/api/health"))
            .send()
            .await
            .is_ok()
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "api did not start");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait();
        let mut out = String::new();
        child.stdout.take().map(|mut s| s.read_to_string(&mut out));
        (status, out)
    })
    .await
    .expect("join");
    let (status, out) = status;
    assert_eq!(status.expect("wait").code(), Some(0));

    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 3, "start, request and stop lines: {out}");
    for line in &lines {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(entry["fly_region"], "ams", "{line}");
        assert_eq!(entry["fly_machine_id"], "e2865013c16e86", "{line}");
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(
        !out.contains(&database_url),
        "the database URL is never logged"
    );
    assert!(out.contains("/api/health"), "requests are logged: {out}");
    // Lines are written by a thread of their own; the last one, logged just
    // before main returns, must still reach stdout.
    let last: Value = serde_json::from_str(lines[lines.len() - 1]).expect("JSON");
    assert_eq!(
        last["message"], "in-flight requests finished; stopped",
        "{out}"
    );
}

#[tokio::test]
async fn the_reason_a_start_failed_is_the_last_line_written() {
    // The port is taken: the api cannot bind it, says so and exits. It fails
    // before connecting anywhere (connections are lazy), so no database is
    // made for it.
    let taken = std::net::TcpListener::bind("[::]:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let output = production_api("postgres://postgres@127.0.0.1:5432/beacon", port)
        .output()
        .expect("run api");
    assert_eq!(output.status.code(), Some(1));
    let out = String::from_utf8_lossy(&output.stdout);
    let last: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("last line not JSON ({e}): {out}"));
    assert_eq!(last["level"], "ERROR", "{out}");
    assert_eq!(last["message"], "cannot start", "{out}");
    assert!(
        last["error"].as_str().is_some_and(|e| e.contains("PORT")),
        "{out}"
    );
}

#[tokio::test]
async fn production_refuses_the_public_development_secret_and_predictable_ones() {
    for (secret, problem) in [
        (
            platform::session::DEV_JWT_SECRET.to_owned(),
            "is the development value, which is public",
        ),
        ("5f".repeat(32), "is too predictable"),
        (
            "passwordpasswordpasswordpassword".to_owned(),
            "is too predictable",
        ),
    ] {
        let output = production_api("postgres://postgres@127.0.0.1:5432/beacon", free_port())
            .env("JWT_SECRET", &secret)
            .output()
            .expect("run api");
        assert_eq!(output.status.code(), Some(2), "{secret}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.trim()
                .starts_with(&format!("configuration error: JWT_SECRET {problem}")),
            "{secret}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!err.contains(&secret), "the secret is not echoed: {err}");
    }
}
