//! `GET /api/events`, the live stream every area shares: a snapshot first
//! (the skeleton's part is the account), then every event published for the
//! user, on whichever API machine the browser is connected to, until the
//! session ends; and the limits on how many streams are open.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{
    SseStream, assert_error, eventually, nats_url, redis_url, spawn_app, spawn_app_with, spawn_peer,
};

const WAIT: Duration = Duration::from_secs(10);

/// Publishes `event` for the user as any process would.
async fn publish(user_id: Uuid, event: &str, data: serde_json::Value) {
    let nats = async_nats::connect(nats_url()).await.expect("nats");
    platform::live::publish(&nats, user_id, event, &data).await;
    nats.flush().await.expect("flush");
}

#[tokio::test]
async fn the_stream_opens_with_the_account() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut stream = SseStream::open(&user.client, &app.url("/api/events")).await;
    let snapshot = stream.next_event(WAIT).await;
    assert_eq!(snapshot.name, "snapshot");
    let account = &snapshot.json()["account"];
    assert_eq!(account["email"], user.email.as_str());
    assert_eq!(account["id"], user.id.to_string());
}

#[tokio::test]
async fn events_reach_the_users_streams_on_every_machine_and_nobody_else() {
    let first = spawn_app().await;
    let second = spawn_peer(&first, &[]).await;
    let (ada, bob) = (first.new_user().await, first.new_user().await);
    let mut ada_here = SseStream::open(&ada.client, &first.url("/api/events")).await;
    let mut ada_there = SseStream::open(&ada.client, &second.url("/api/events")).await;
    let mut bob_here = SseStream::open(&bob.client, &first.url("/api/events")).await;
    for stream in [&mut ada_here, &mut ada_there, &mut bob_here] {
        assert_eq!(stream.next_event(WAIT).await.name, "snapshot");
    }
    publish(ada.id, "note", json!({"text": "for ada"})).await;
    for stream in [&mut ada_here, &mut ada_there] {
        let event = stream.next_named("note", WAIT).await;
        assert_eq!(event.json()["text"], "for ada");
    }
    publish(bob.id, "note", json!({"text": "for bob"})).await;
    let theirs = bob_here.next_named("note", WAIT).await;
    assert_eq!(theirs.json()["text"], "for bob", "bob never sees ada's");
}

#[tokio::test]
async fn logging_out_ends_that_sessions_streams_on_every_machine() {
    let first = spawn_app().await;
    let second = spawn_peer(&first, &[]).await;
    let user = first.new_user().await;
    // A second session of the same user: a bearer token.
    let token: serde_json::Value = first
        .post_json(
            "/api/auth/token",
            &json!({"email": user.email, "password": crate::helpers::PASSWORD}),
        )
        .await
        .json()
        .await
        .expect("token");
    let token = token["token"].as_str().expect("a token").to_owned();
    let bearer = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().expect("header"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .expect("client");
    let mut cookie_stream = SseStream::open(&user.client, &first.url("/api/events")).await;
    let mut token_stream = SseStream::open(&bearer, &first.url("/api/events")).await;
    for stream in [&mut cookie_stream, &mut token_stream] {
        assert_eq!(stream.next_event(WAIT).await.name, "snapshot");
    }

    // The cookie's session logs out on the other machine: its stream here
    // ends with session_ended; the token's stays open.
    let cookie = user.cookie();
    let logout = reqwest::Client::new()
        .post(second.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(cookie_stream.next_event(WAIT).await.name, "session_ended");
    assert_eq!(cookie_stream.next_any(WAIT).await, None, "and it ends");
    publish(user.id, "note", json!({"still": "open"})).await;
    assert_eq!(
        token_stream.next_named("note", WAIT).await.json()["still"],
        "open"
    );

    // Everywhere: the token's stream ends too.
    let everywhere = bearer
        .post(second.url("/api/auth/logout-everywhere"))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("logout everywhere");
    assert_eq!(everywhere.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        token_stream.next_named("session_ended", WAIT).await.name,
        "session_ended"
    );
    assert_eq!(token_stream.next_any(WAIT).await, None, "and it ends");
}

#[tokio::test]
async fn idle_streams_get_keep_alives() {
    let app = spawn_app_with(&[("SSE_KEEPALIVE_SECS", "1")]).await;
    let user = app.new_user().await;
    let mut stream = SseStream::open(&user.client, &app.url("/api/events")).await;
    assert_eq!(stream.next_event(WAIT).await.name, "snapshot");
    let next = stream.next_any(WAIT).await.expect("stream open");
    assert!(next.comment, "a keep-alive comment, got {next:?}");
}

#[tokio::test]
async fn events_require_a_session() {
    let app = spawn_app().await;
    assert_error(
        app.get("/api/events").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn open_streams_end_when_the_server_stops() {
    let app = spawn_app_with(&[("SHUTDOWN_TIMEOUT_SECS", "30")]).await;
    let user = app.new_user().await;
    let mut stream = SseStream::open(&user.client, &app.url("/api/events")).await;
    assert_eq!(stream.next_event(WAIT).await.name, "snapshot");
    let stopped = tokio::spawn(app.stop());
    assert_eq!(stream.next_any(WAIT).await, None, "the stream ends");
    // Well before the 30 s drain: nothing was left holding the server up.
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("server stopped")
        .expect("join")
        .expect("clean stop");
}

#[tokio::test]
async fn one_user_cannot_hold_more_streams_than_their_share() {
    // Keep-alives every second: a closed stream is noticed at the next write.
    let app = spawn_app_with(&[
        ("SSE_MAX_STREAMS_PER_USER", "2"),
        ("SSE_KEEPALIVE_SECS", "1"),
    ])
    .await;
    let user = app.new_user().await;
    let _first = SseStream::open(&user.client, &app.url("/api/events")).await;
    let second = SseStream::open(&user.client, &app.url("/api/events")).await;
    let refused = user.get("/api/events").await;
    assert!(refused.headers().get("retry-after").is_some());
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_streams").await;
    // Another user is not affected, and a closed stream frees its place.
    let other = app.new_user().await;
    let _theirs = SseStream::open(&other.client, &app.url("/api/events")).await;
    drop(second);
    eventually(WAIT, "the closed stream's place", || async {
        user.get("/api/events").await.status() == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn a_machine_holds_at_most_its_share_of_streams() {
    let app = spawn_app_with(&[("SSE_MAX_STREAMS", "2")]).await;
    let (ada, bob, cy) = (
        app.new_user().await,
        app.new_user().await,
        app.new_user().await,
    );
    let _a = SseStream::open(&ada.client, &app.url("/api/events")).await;
    let _b = SseStream::open(&bob.client, &app.url("/api/events")).await;
    let refused = cy.get("/api/events").await;
    assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "streams_full").await;
}

#[tokio::test]
async fn a_stream_ends_when_its_session_does() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // A session of three seconds, signed the way the app signs them.
    let config =
        platform::session::SessionConfig::from_env(&app.env, platform::config::AppEnv::Development)
            .expect("session config");
    let keys = platform::session::SessionKeys::new(
        &platform::session::SessionConfig {
            ttl: Duration::from_secs(3),
            ..config
        },
        platform::connections::connect_redis(&platform::config::Secret::new(redis_url()))
            .expect("redis"),
        async_nats::connect(nats_url()).await.expect("nats"),
        &app.env.get("QUEUE_PREFIX").expect("prefix"),
    );
    let session = keys.issue(user.id).await.expect("issue");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", session.token).parse().expect("header"),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    let opened = std::time::Instant::now();
    let mut stream = SseStream::open(&client, &app.url("/api/events")).await;
    assert_eq!(stream.next_event(WAIT).await.name, "snapshot");
    while stream.next_any(WAIT).await.is_some() {}
    let lasted = opened.elapsed();
    assert!(
        lasted >= Duration::from_secs(1) && lasted < Duration::from_secs(8),
        "the stream lasted {lasted:?}"
    );
    // Reconnecting with the expired token is refused.
    assert_eq!(
        client
            .get(app.url("/api/events"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
