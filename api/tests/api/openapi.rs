use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );

    let expected = [
        ("/api/health", "get"),
        ("/api/ready", "get"),
        ("/api/auth/signup", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/token", "post"),
        ("/api/auth/logout", "post"),
        ("/api/auth/me", "get"),
        ("/api/monitors", "get"),
        ("/api/monitors", "post"),
        ("/api/monitors/{id}", "get"),
        ("/api/monitors/{id}", "patch"),
        ("/api/monitors/{id}", "delete"),
        ("/api/monitors/{id}/checks", "get"),
        ("/api/monitors/{id}/check", "post"),
        ("/api/events", "get"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is missing"
        );
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        documented,
        expected.len(),
        "an undocumented extra operation or a stale list"
    );

    // Every route is served: each documented path answers something other than
    // the unknown-route 404.
    // (The event stream answers 401 here, like any other unauthenticated route.)
    for (path, method) in expected.iter().filter(|(_, m)| *m == "get") {
        let path = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
        let body: Value = app.get(&path).await.json().await.unwrap_or_default();
        assert_ne!(body["error"]["message"], "no such route", "{method} {path}");
    }

    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in [
        "ErrorBody",
        "Monitor",
        "CreateMonitor",
        "UpdateMonitor",
        "CheckPage",
        "Readiness",
        "Credentials",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} is missing");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(schemes.contains_key("session_cookie") && schemes.contains_key("bearer"));
}
