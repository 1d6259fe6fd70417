use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestEnv, TestTarget, eventually, free_port, spawn_worker};

#[tokio::test]
async fn the_worker_serves_health_readiness_and_metrics() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;
    let worker = spawn_worker(env.worker_config()).await;
    let base = format!("http://127.0.0.1:{}", worker.port);
    let client = reqwest::Client::new();

    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    eventually(Duration::from_secs(10), "ready", || async {
        client
            .get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;

    let ids = env.queue_checks(monitor_id, 1).await;
    env.wait_for_checks(monitor_id, &ids, Duration::from_secs(15))
        .await;
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "beacon_checks_total",
        "beacon_check_duration_seconds_bucket",
        "beacon_check_queue_depth",
        "db_pool_connections",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn readiness_names_nats_when_it_is_down() {
    let env = TestEnv::new().await;
    let mut config = env.worker_config();
    config.common.nats_url =
        common::config::Secret::new(format!("nats://127.0.0.1:{}", free_port()));
    let worker = spawn_worker(config).await;
    let response = reqwest::get(format!("http://127.0.0.1:{}/ready", worker.port))
        .await
        .expect("ready");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["failed"], serde_json::json!(["nats"]));
    worker.stop().await.expect("clean stop");
}
