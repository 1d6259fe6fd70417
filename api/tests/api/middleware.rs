//! The cross-cutting layers: request ids and compression.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_callers() {
    let app = spawn_app().await;
    let response = app.get("/api/health").await;
    let generated = response.headers().get("x-request-id").expect("request id");
    assert_eq!(generated.len(), 36, "a UUID");

    let response = app
        .api_client
        .get(app.url("/api/nope"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"trace-me-123"[..])
    );
}

#[tokio::test]
async fn large_responses_are_compressed_when_the_client_accepts_it() {
    let app = spawn_app().await;
    let response = app
        .api_client
        .get(app.url("/api/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
}
