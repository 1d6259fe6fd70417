//! A three-node NATS cluster, run from docker/nats/ with the production
//! users and permissions, behind one name as `<prefix>-nats.internal` is on
//! Fly; the api and the worker each sign in as their own user. Losing the
//! api's node must not stop live updates or wake-ups.

use std::time::Duration;

use platform::testing::{NatsCluster, block_on};
use reqwest::StatusCode;

use crate::helpers::{
    MonitorsExt, SseStream, TestTarget, eventually, spawn_app_with, spawn_worker,
};

const WAIT: Duration = Duration::from_secs(15);

/// A plain test: the cluster's name must be in place before the runtime
/// starts its threads (see [`NatsCluster::start`]).
#[test]
fn check_events_and_wake_ups_survive_the_loss_of_the_apis_nats_node() {
    let mut cluster = NatsCluster::start(3);
    block_on(async {
        cluster.wait_meshed().await;
        let target = TestTarget::start().await;
        let app = spawn_app_with(&[
            ("NATS_URL", &cluster.url("api")),
            ("ALLOW_PRIVATE_TARGETS", "true"),
        ])
        .await;
        // Neither the poll nor the heartbeat comes within the waits
        // below: a queued check reaches this worker only by a wake-up.
        let worker = spawn_worker(
            worker::testing::fast(app.env.clone())
                .with("NATS_URL", cluster.url("worker"))
                .with("POLL_INTERVAL_MS", "60000")
                .with("HEARTBEAT_INTERVAL_SECS", "60"),
        )
        .await;
        let ready = |url: String| async move {
            reqwest::get(url)
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        };
        let worker_ready = format!("http://127.0.0.1:{}/ready", worker.port);
        eventually(WAIT, "the api ready on the cluster", || {
            ready(app.url("/api/ready"))
        })
        .await;
        eventually(WAIT, "the worker ready on the cluster", || {
            ready(worker_ready.clone())
        })
        .await;

        let user = app.new_user().await;
        let monitor = user.create_monitor(&target.url("/ok")).await;
        // Queues a check; its id.
        let check_now = || async {
            let response = user
                .post(
                    &format!("/api/monitors/{monitor}/check"),
                    &serde_json::json!({}),
                )
                .await;
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            let queued: serde_json::Value = response.json().await.expect("json");
            queued["check_id"].as_str().expect("check_id").to_owned()
        };
        // The stream's event for that check, skipping others.
        async fn event_of(stream: &mut SseStream, check_id: &str) {
            loop {
                let event = stream.next_named("check", WAIT).await;
                if event.json()["check_id"] == check_id {
                    return;
                }
            }
        }
        let mut stream = SseStream::open(&user.client, &app.url("/api/events")).await;
        assert_eq!(stream.next_event(WAIT).await.name, "snapshot");
        let before = check_now().await;
        event_of(&mut stream, &before).await;

        let lost = cluster.node_of("api").await.expect("the api is on a node");
        cluster.kill(lost);

        // The api reconnects through the name to a live node and ends
        // its streams, whose browsers reconnect to a fresh snapshot
        // instead of missing what was published meanwhile.
        let ended = tokio::time::timeout(WAIT, async {
            while stream.next_any(WAIT).await.is_some() {}
        })
        .await;
        assert!(ended.is_ok(), "the stream did not end for a re-sync");
        eventually(WAIT, "the api back on a live node", || async {
            cluster
                .node_of("api")
                .await
                .is_some_and(|node| node != lost)
        })
        .await;
        eventually(WAIT, "the api ready again", || ready(app.url("/api/ready"))).await;
        eventually(WAIT, "the worker ready again", || {
            ready(worker_ready.clone())
        })
        .await;

        let mut stream = SseStream::open(&user.client, &app.url("/api/events")).await;
        let snapshot = stream.next_event(WAIT).await;
        assert_eq!(snapshot.name, "snapshot");
        let after = check_now().await;
        event_of(&mut stream, &after).await;

        worker.stop().await.expect("clean stop");
    });
}
