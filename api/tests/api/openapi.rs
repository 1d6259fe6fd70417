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

    // The skeleton's own routes; each domain's tests check theirs.
    let expected = [
        ("/api/health", "get"),
        ("/api/ready", "get"),
        ("/api/auth/signup", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/token", "post"),
        ("/api/auth/logout", "post"),
        ("/api/auth/me", "get"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is missing"
        );
    }

    // Every documented route is served: each documented GET answers
    // something other than the unknown-route 404 (401 for most of them).
    for (path, operations) in paths {
        if operations.get("get").is_none() {
            continue;
        }
        let path = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
        let body: Value = app.get(&path).await.json().await.unwrap_or_default();
        assert_ne!(body["error"]["message"], "no such route", "GET {path}");
    }

    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in ["ErrorBody", "Readiness", "Credentials", "UserResponse"] {
        assert!(schemas.contains_key(schema), "schema {schema} is missing");
    }
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for tag in ["health", "auth"] {
        assert!(tags.contains(&tag), "tag {tag} is missing: {tags:?}");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(schemes.contains_key("session_cookie") && schemes.contains_key("bearer"));
}
