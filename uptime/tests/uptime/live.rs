//! `GET /api/events`: snapshot first, then every event for the user from
//! NATS, on whichever API machine the browser is connected to.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use uptime::{model::MonitorState, monitors::events::CheckRecorded};
use uuid::Uuid;

use crate::helpers::{
    MonitorsExt, SseStream, TestApp, assert_timestamps_are_micros, nats_url, spawn_app, spawn_peer,
};

const WAIT: Duration = Duration::from_secs(10);

async fn publish_check(user_id: Uuid, monitor_id: Uuid) -> Uuid {
    let nats = async_nats::connect(nats_url()).await.expect("nats");
    let check_id = Uuid::now_v7();
    let event = CheckRecorded {
        check_id,
        monitor_id,
        user_id,
        state: MonitorState::Up,
        ok: true,
        status_code: Some(200),
        latency_ms: Some(12),
        error: None,
        checked_at: Utc::now(),
    };
    uptime::monitors::events::check_recorded(&nats, &event).await;
    nats.flush().await.expect("flush");
    check_id
}

/// A second API machine: its own process state, the same database.
async fn second_machine(first: &TestApp) -> TestApp {
    spawn_peer(first, &[]).await
}

#[tokio::test]
async fn the_stream_opens_with_a_snapshot_of_monitors_and_recent_checks() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let busy = user.create_monitor("https://example.com/a").await;
    let quiet = user.create_monitor("https://example.com/b").await;
    sqlx::query(
        "INSERT INTO checks (id, monitor_id, trigger, ok, status_code, latency_ms, checked_at)
         SELECT gen_random_uuid(), $1, 'schedule', true, 200, n, now() - n * interval '1 minute'
         FROM generate_series(1, 25) n",
    )
    .bind(busy)
    .execute(&app.db)
    .await
    .expect("checks");

    let mut stream = SseStream::open(&user.client, &app.url("/api/events")).await;
    let snapshot = stream.next_event(WAIT).await;
    assert_eq!(snapshot.name, "snapshot");
    let body = snapshot.json();
    assert_timestamps_are_micros(&body);
    let monitors = body["monitors"].as_array().expect("monitors");
    assert_eq!(monitors.len(), 2);
    assert_eq!(monitors[0]["id"], busy.to_string());
    assert_eq!(monitors[1]["id"], quiet.to_string());
    let recent = monitors[0]["recent_checks"].as_array().expect("recent");
    assert_eq!(recent.len(), 20, "capped");
    let latencies: Vec<i64> = recent
        .iter()
        .filter_map(|c| c["latency_ms"].as_i64())
        .collect();
    assert_eq!(latencies, (1..=20).collect::<Vec<_>>(), "newest first");
    assert_eq!(monitors[1]["recent_checks"], serde_json::json!([]));
}

#[tokio::test]
async fn events_reach_the_owner_on_every_api_machine_and_nobody_else() {
    let first = spawn_app().await;
    let second = second_machine(&first).await;
    let owner = first.new_user().await;
    let other = first.new_user().await;
    let monitor = owner.create_monitor("https://example.com").await;

    let mut on_first = SseStream::open(&owner.client, &first.url("/api/events")).await;
    let mut on_second = SseStream::open(&owner.client, &second.url("/api/events")).await;
    let mut others = SseStream::open(&other.client, &second.url("/api/events")).await;
    for stream in [&mut on_first, &mut on_second, &mut others] {
        assert_eq!(stream.next_event(WAIT).await.name, "snapshot");
    }

    // As the worker does after recording a check.
    let check_id = publish_check(owner.id, monitor).await;
    for stream in [&mut on_first, &mut on_second] {
        // (The monitor's own creation event may come first.)
        let event = stream.next_named("check", WAIT).await;
        let data = event.json();
        assert_eq!(data["check_id"], check_id.to_string());
        assert_eq!(data["monitor_id"], monitor.to_string());
        assert_eq!(data["state"], "up");
    }
    // The other user's first event is their own, not the owner's.
    let own = publish_check(other.id, Uuid::now_v7()).await;
    let event = others.next_event(WAIT).await;
    assert_eq!(event.json()["check_id"], own.to_string());
}

#[tokio::test]
async fn monitor_changes_on_one_machine_appear_on_another() {
    let first = spawn_app().await;
    let second = second_machine(&first).await;
    let user = first.new_user().await;
    let mut stream = SseStream::open(&user.client, &second.url("/api/events")).await;
    assert_eq!(stream.next_event(WAIT).await.name, "snapshot");

    let id = user.create_monitor("https://example.com").await;
    let created = stream.next_event(WAIT).await;
    assert_eq!(created.name, "monitor");
    assert_eq!(created.json()["monitor"]["id"], id.to_string());

    let path = format!("/api/monitors/{id}");
    user.patch(&path, &serde_json::json!({"name": "Renamed"}))
        .await;
    let updated = stream.next_event(WAIT).await;
    assert_eq!(updated.json()["monitor"]["name"], "Renamed");

    assert_eq!(user.delete(&path).await.status(), StatusCode::NO_CONTENT);
    let deleted = stream.next_event(WAIT).await;
    assert_eq!(deleted.name, "monitor_deleted");
    assert_eq!(deleted.json()["monitor_id"], id.to_string());
}

#[tokio::test]
async fn a_reconnecting_client_re_syncs_from_a_fresh_snapshot() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let monitor = user.create_monitor("https://example.com").await;
    let mut stream = SseStream::open(&user.client, &app.url("/api/events")).await;
    assert_eq!(
        stream.next_event(WAIT).await.json()["monitors"][0]["state"],
        "unknown"
    );
    drop(stream);

    // Recorded while the browser was away; its event was missed.
    let check = Uuid::now_v7();
    sqlx::query("INSERT INTO checks (id, monitor_id, trigger, ok, status_code, latency_ms) VALUES ($1, $2, 'schedule', false, 503, 40)")
        .bind(check)
        .bind(monitor)
        .execute(&app.db)
        .await
        .expect("check");
    sqlx::query("UPDATE monitors SET state = 'down' WHERE id = $1")
        .bind(monitor)
        .execute(&app.db)
        .await
        .expect("state");

    let mut again = SseStream::open(&user.client, &app.url("/api/events")).await;
    let snapshot = again.next_event(WAIT).await.json();
    assert_eq!(snapshot["monitors"][0]["state"], "down");
    assert_eq!(
        snapshot["monitors"][0]["recent_checks"][0]["id"],
        check.to_string()
    );
}
