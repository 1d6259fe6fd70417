use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn prometheus_metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.get("/api/health").await;
    app.get("/api/health").await;
    app.get("/api/nope").await;

    let response = app
        .api_client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    let health = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total")
                && l.contains(r#"route="/api/health""#)
                && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no health counter in:\n{text}"));
    let count: f64 = health
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(count >= 2.0, "{health}");
    assert!(
        text.contains(r#"route="unmatched""#),
        "unknown paths share one label"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(text.contains("db_pool_connections"), "pool usage");
}

#[tokio::test]
async fn metrics_are_not_served_on_the_api_port() {
    let app = spawn_app().await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}
