//! Every failure is a JSON error with a code, including the ones produced
//! before a handler runs.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    assert_error(
        app.get("/api/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/elsewhere").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_that_keeps_allow() {
    let app = spawn_app().await;
    let response = app
        .api_client
        .put(app.url("/api/health"))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("request");
    assert!(response.headers().get("allow").is_some());
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .api_client
        .post(app.url("/api/auth/signup"))
        .header("content-type", "application/json")
        .body(r#"{"email": "a@b.co","#)
        .send()
        .await
        .expect("request");
    assert_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
}

#[tokio::test]
async fn writes_without_a_json_content_type_are_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // A form post, as a cross-site page could send it.
    let form = user
        .client
        .post(app.url("/api/auth/signup"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=x@evil.example&password=long+enough")
        .send()
        .await
        .expect("request");
    assert_error(
        form,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // Bodiless writes too: a log-out without the header is refused.
    let logout = user
        .client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .expect("request");
    assert!(logout.headers().get("set-cookie").is_none());
    assert_error(
        logout,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(
        user.get("/api/auth/me").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn oversized_bodies_are_a_json_413() {
    let app = spawn_app_with(&[("BODY_LIMIT_BYTES", "4096")]).await;
    let big = json!({"email": "a@b.co", "password": "x".repeat(10_000)});
    let response = app.post_json("/api/auth/signup", &big).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_is_a_json_408() {
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    // Promise a body and never finish sending it.
    stream
        .write_all(
            format!(
                "POST /api/auth/signup HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"email\""
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.expect("read");
            response.extend_from_slice(&buffer[..n]);
            if n == 0 || response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}}")
            {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no response before the test's own timeout");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"request_timeout""#), "{text}");
}

#[tokio::test]
async fn internal_errors_are_logged_not_echoed() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    sqlx::query("ALTER TABLE users RENAME TO users_elsewhere")
        .execute(&app.db)
        .await
        .expect("rename table");
    let response = user.get("/api/auth/me").await;
    let body = assert_error(response, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    let text = body.to_string();
    for leak in ["users", "relation", "sqlx", "SELECT"] {
        assert!(!text.contains(leak), "error body leaks `{leak}`: {text}");
    }
}
