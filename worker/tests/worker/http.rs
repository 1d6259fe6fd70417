use std::time::Duration;

use platform::testing::{eventually, free_port};
use reqwest::StatusCode;
use serde_json::Value;
use worker::testing::spawn_worker;

use crate::world;

#[tokio::test]
async fn the_worker_serves_health_readiness_and_metrics() {
    let (_database, env) = world().await;
    let prefix = env.get("QUEUE_PREFIX").expect("prefix");
    let worker = spawn_worker(env).await;
    let client = reqwest::Client::new();

    let health = client
        .get(worker.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    eventually(Duration::from_secs(10), "ready", || async {
        client
            .get(worker.url("/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;

    let metrics = client
        .get(worker.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    // Every registered queue's depth, sampled at scrape time.
    let welcome_depth = format!(r#"jobs_queue_depth{{queue="{prefix}:welcome"}}"#);
    for name in [welcome_depth.as_str(), "db_pool_connections"] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn readiness_names_nats_when_it_is_down() {
    let (_database, env) = world().await;
    let env = env.with("NATS_URL", format!("nats://127.0.0.1:{}", free_port()));
    let worker = spawn_worker(env).await;
    let response = reqwest::get(worker.url("/ready")).await.expect("ready");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["failed"], serde_json::json!(["nats"]));
    worker.stop().await.expect("clean stop");
}

#[test]
fn a_malformed_setting_stops_the_binary_with_one_line() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_worker"))
        .env("WORKER_CONCURRENCY", "0")
        .output()
        .expect("run the worker binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "configuration error: WORKER_CONCURRENCY is 0: must be between 1 and 1024"
    );
}

#[test]
fn help_describes_the_worker_and_exits_zero() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_worker"))
        .arg("--help")
        .output()
        .expect("run the worker binary");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Usage: worker"), "{stdout}");
}
