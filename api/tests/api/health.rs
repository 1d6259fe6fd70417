use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PrivateRedis, eventually, free_port, spawn_app, spawn_app_with};

#[tokio::test]
async fn liveness_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/api/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readiness_is_200_when_postgres_redis_and_nats_answer() {
    let app = spawn_app().await;
    // NATS connects in the background; give it a moment.
    eventually(Duration::from_secs(10), "ready", || async {
        app.get("/api/ready").await.status() == StatusCode::OK
    })
    .await;
    let body: Value = app.get("/api/ready").await.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    for dependency in ["postgres", "redis", "nats"] {
        assert_eq!(
            body["dependencies"][dependency]["ok"], true,
            "{dependency}: {body}"
        );
    }
    assert_eq!(body["failed"], serde_json::json!([]));
}

#[tokio::test]
async fn readiness_turns_503_and_names_redis_when_redis_stops() {
    let mut redis = PrivateRedis::start().await;
    let redis_url = redis.url.clone();
    let app = spawn_app_with(&[
        ("REDIS_URL", redis_url.as_str()),
        ("READINESS_TIMEOUT_MS", "500"),
    ])
    .await;
    eventually(
        Duration::from_secs(10),
        "ready before the outage",
        || async { app.get("/api/ready").await.status() == StatusCode::OK },
    )
    .await;

    redis.stop();

    let response = app.get("/api/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["failed"], serde_json::json!(["redis"]));
    assert_eq!(body["dependencies"]["redis"]["ok"], false);
    assert_eq!(body["dependencies"]["postgres"]["ok"], true);
    // Liveness does not care.
    assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_api_starts_while_nats_is_down_and_readiness_names_it() {
    let nowhere = format!("nats://127.0.0.1:{}", free_port());
    let app = spawn_app_with(&[("NATS_URL", nowhere.as_str())]).await;
    assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
    let response = app.get("/api/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["failed"], serde_json::json!(["nats"]));
}

#[tokio::test]
async fn readiness_names_postgres_when_it_is_unreachable() {
    let nowhere = format!("postgres://postgres@127.0.0.1:{}/beacon", free_port());
    let app = spawn_app_with(&[
        ("DATABASE_URL", nowhere.as_str()),
        ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
    ])
    .await;
    let response = app.get("/api/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("json");
    let failed = body["failed"].as_array().expect("failed list");
    assert!(failed.contains(&Value::from("postgres")), "{body}");
    // The caller learns what failed, not the connection details.
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}
