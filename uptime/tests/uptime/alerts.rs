//! Alerts: a webhook per account, one POST per red light and per recovery,
//! retried when the receiver fails, never sent twice, and refused for a
//! private address in production.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode as AxumStatus},
    routing::post,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};
use uptime::{
    alerts::{outbox::AlertOutbox, send::Alerts},
    checks::{CheckMonitor, job::Recorded},
    model::{AlertStatus, CheckTrigger},
};
use uuid::Uuid;

use crate::helpers::{
    MonitorsExt, PrivateRedis, TestEnv, TestTarget, allow_all, assert_error,
    assert_timestamps_are_micros, eventually, spawn_app, spawn_worker,
};

/// A local webhook receiver: keeps every POST, and answers 500 to the next
/// `fail_next` of them.
#[derive(Clone, Default)]
struct Received {
    posts: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    fail_next: Arc<AtomicUsize>,
}

struct Receiver {
    addr: SocketAddr,
    received: Received,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    async fn start() -> Self {
        async fn hook(
            State(received): State<Received>,
            headers: HeaderMap,
            Json(body): Json<Value>,
        ) -> AxumStatus {
            received.posts.lock().expect("lock").push((headers, body));
            let failing = received
                .fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                AxumStatus::INTERNAL_SERVER_ERROR
            } else {
                AxumStatus::NO_CONTENT
            }
        }
        let received = Received::default();
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(received.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Self {
            addr,
            received,
            _stop: stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn posts(&self) -> Vec<(HeaderMap, Value)> {
        self.received.posts.lock().expect("lock").clone()
    }

    fn events(&self) -> Vec<String> {
        self.posts()
            .iter()
            .map(|(_, body)| body["event"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn set_webhook(env: &TestEnv, user_id: Uuid, url: &str, format: &str) {
    sqlx::query("INSERT INTO webhooks (user_id, url, format) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(url)
        .bind(format)
        .execute(&env.db)
        .await
        .expect("webhook");
}

async fn alert_rows(env: &TestEnv, monitor_id: Uuid) -> Vec<(String, String, i32)> {
    sqlx::query_as(
        "SELECT kind, status, attempts FROM alerts WHERE monitor_id = $1 ORDER BY created_at",
    )
    .bind(monitor_id)
    .fetch_all(&env.db)
    .await
    .expect("alerts")
}

/// Points the monitor somewhere else (the target failing or recovering).
async fn retarget(env: &TestEnv, monitor_id: Uuid, url: &str) {
    sqlx::query("UPDATE monitors SET url = $2 WHERE id = $1")
        .bind(monitor_id)
        .bind(url)
        .execute(&env.db)
        .await
        .expect("retarget");
}

#[tokio::test]
async fn the_webhook_is_set_read_and_removed_through_the_api() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let none: Value = user
        .get("/api/alerts/webhook")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(none, json!({"webhook": null}));

    let set = user
        .client
        .put(user.url("/api/alerts/webhook"))
        .json(&json!({"url": " https://hooks.example.com/beacon ", "format": "slack"}))
        .send()
        .await
        .expect("put");
    assert_eq!(set.status(), StatusCode::OK);
    let set: Value = set.json().await.expect("json");
    assert_eq!(set["webhook"]["url"], "https://hooks.example.com/beacon");
    assert_eq!(set["webhook"]["format"], "slack");
    assert_timestamps_are_micros(&set);
    let read: Value = user
        .get("/api/alerts/webhook")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read, set);

    for (body, field) in [
        (json!({"url": "ftp://hooks.example.com/"}), "url"),
        (json!({"url": "https://user:pw@hooks.example.com/"}), "url"),
    ] {
        let refused = user
            .client
            .put(user.url("/api/alerts/webhook"))
            .json(&body)
            .send()
            .await
            .expect("put");
        let error = assert_error(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error["error"]["fields"][0]["field"], field);
    }
    let bad_format = user
        .client
        .put(user.url("/api/alerts/webhook"))
        .json(&json!({"url": "https://hooks.example.com/", "format": "xml"}))
        .send()
        .await
        .expect("put");
    assert_error(bad_format, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    assert_eq!(
        user.delete("/api/alerts/webhook").await.status(),
        StatusCode::NO_CONTENT
    );
    let gone: Value = user
        .get("/api/alerts/webhook")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(gone, json!({"webhook": null}));

    // Another account sees nothing of it, and the list needs a session.
    let other = app.new_user().await;
    let alerts: Value = other.get("/api/alerts").await.json().await.expect("json");
    assert_eq!(alerts, json!({"alerts": []}));
    assert_error(
        app.get("/api/alerts").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn one_post_per_red_light_and_per_recovery_through_the_worker() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let receiver = Receiver::start().await;
    let (user_id, monitor_id) = env.monitor(&target.url("/status/500"), false).await;
    set_webhook(&env, user_id, &receiver.url(), "json").await;
    let worker = spawn_worker(env.env.clone()).await;

    // Yellow, red (an alert), red again (none).
    for _ in 0..3 {
        let ids = env.queue_checks(monitor_id, 1).await;
        eventually(Duration::from_secs(15), "the check recorded", || async {
            env.check_ids(monitor_id).await.contains(&ids[0])
        })
        .await;
    }
    eventually(Duration::from_secs(15), "the down alert", || async {
        receiver.posts().len() == 1
    })
    .await;

    // Recovery: green again (an alert), and green once more (none).
    retarget(&env, monitor_id, &target.url("/ok")).await;
    for _ in 0..2 {
        let ids = env.queue_checks(monitor_id, 1).await;
        eventually(Duration::from_secs(15), "the check recorded", || async {
            env.check_ids(monitor_id).await.contains(&ids[0])
        })
        .await;
    }
    eventually(Duration::from_secs(15), "the recovery alert", || async {
        receiver.posts().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.events(), ["monitor.down", "monitor.recovered"]);

    let (headers, down) = &receiver.posts()[0];
    assert_eq!(down["monitor"]["id"], monitor_id.to_string());
    assert_eq!(down["monitor"]["state"], "down");
    assert_eq!(down["check"]["status_code"], 500);
    assert_timestamps_are_micros(down);
    assert_eq!(
        headers["idempotency-key"].to_str().expect("ascii"),
        down["alert_id"].as_str().expect("alert id")
    );
    assert_eq!(
        alert_rows(&env, monitor_id).await,
        [
            ("down".to_owned(), "sent".to_owned(), 1),
            ("recovered".to_owned(), "sent".to_owned(), 1),
        ]
    );
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_the_alert_recorded_once_sent() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start().await;
    receiver.received.fail_next.store(1, Ordering::SeqCst);
    let (user_id, monitor_id) = env.monitor("http://127.0.0.1:9/", false).await;
    set_webhook(&env, user_id, &receiver.url(), "slack").await;
    let worker = spawn_worker(env.env.clone()).await;

    // Two failed checks turn it red.
    for _ in 0..2 {
        let ids = env.queue_checks(monitor_id, 1).await;
        eventually(Duration::from_secs(15), "the check recorded", || async {
            env.check_ids(monitor_id).await.contains(&ids[0])
        })
        .await;
    }
    eventually(Duration::from_secs(20), "the alert sent", || async {
        alert_rows(&env, monitor_id)
            .await
            .first()
            .is_some_and(|(_, status, _)| status == "sent")
    })
    .await;
    let posts = receiver.posts();
    assert_eq!(posts.len(), 2, "one failed POST, then the one that worked");
    assert_eq!(posts[0].1, posts[1].1, "the same alert both times");
    let text = posts[1].1["text"].as_str().expect("a Slack text");
    assert!(text.contains("is down"), "{text}");
    assert_eq!(
        alert_rows(&env, monitor_id).await,
        [("down".to_owned(), "sent".to_owned(), 2)]
    );
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_redelivered_alert_is_not_sent_again() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start().await;
    let (user_id, monitor_id) = env.monitor("http://127.0.0.1:9/", false).await;
    set_webhook(&env, user_id, &receiver.url(), "json").await;
    let checks = env.checks(allow_all()).await;
    let mut alert = None;
    for _ in 0..2 {
        let job = CheckMonitor::new(monitor_id, CheckTrigger::Schedule);
        if let Recorded::New(_, Some(id)) = checks.check(&job).await.expect("check") {
            alert = Some(id);
        }
    }
    let alert = alert.expect("the second failure turned it red: an alert");
    let alerts = Alerts::new(env.app().await, allow_all(), 5).expect("alerts");

    // The job twice at once (two workers), then once more (a redelivery):
    // one POST.
    let (a, b) = tokio::join!(alerts.send(alert), alerts.send(alert));
    let mut outcomes = [a.expect("a"), b.expect("b")];
    outcomes.sort_by_key(Option::is_some);
    assert_eq!(outcomes, [None, Some(AlertStatus::Sent)]);
    assert_eq!(alerts.send(alert).await.expect("again"), None);
    assert_eq!(receiver.posts().len(), 1);
}

#[tokio::test]
async fn a_private_webhook_is_refused_by_a_production_worker() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start().await;
    let (user_id, monitor_id) = env.monitor("http://127.0.0.1:9/", false).await;
    set_webhook(&env, user_id, &receiver.url(), "json").await;
    // As on Fly: APP_ENV=production, ALLOW_PRIVATE_TARGETS unset. The
    // monitor's own private target is refused too, which turns it red.
    let production = env
        .worker_env(&[("APP_ENV", "production"), ("LOG_FORMAT", "pretty")])
        .without("ALLOW_PRIVATE_TARGETS");
    let worker = spawn_worker(production).await;
    for _ in 0..2 {
        let ids = env.queue_checks(monitor_id, 1).await;
        eventually(Duration::from_secs(15), "the check recorded", || async {
            env.check_ids(monitor_id).await.contains(&ids[0])
        })
        .await;
    }
    eventually(Duration::from_secs(15), "the alert given up", || async {
        alert_rows(&env, monitor_id)
            .await
            .first()
            .is_some_and(|(_, status, _)| status == "failed")
    })
    .await;
    let error: String = sqlx::query_scalar("SELECT last_error FROM alerts WHERE monitor_id = $1")
        .bind(monitor_id)
        .fetch_one(&env.db)
        .await
        .expect("alert");
    assert!(
        error.starts_with("refused:") && error.contains("loopback"),
        "{error}"
    );
    assert_eq!(
        alert_rows(&env, monitor_id).await,
        [("down".to_owned(), "failed".to_owned(), 1)],
        "a refusal is not retried"
    );
    assert!(receiver.posts().is_empty(), "nothing reached the receiver");
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_alert_whose_queueing_failed_is_swept_from_the_outbox() {
    let env = TestEnv::new().await;
    let receiver = Receiver::start().await;
    let (user_id, monitor_id) = env.monitor("http://127.0.0.1:9/", false).await;
    set_webhook(&env, user_id, &receiver.url(), "json").await;

    // Checks whose alert queue is a Redis that is gone.
    let mut redis = PrivateRedis::start().await;
    let mut checks = env.checks(allow_all()).await;
    let mut dead = TestEnv::new().await;
    dead.use_redis(&redis.url);
    checks.alerts = dead.app().await.queues.queue();
    redis.stop();
    for _ in 0..2 {
        let job = CheckMonitor::new(monitor_id, CheckTrigger::Schedule);
        checks
            .check(&job)
            .await
            .expect("the check is recorded all the same");
    }
    assert_eq!(
        alert_rows(&env, monitor_id).await,
        [("down".to_owned(), "pending".to_owned(), 0)]
    );

    // Long enough later, the sweep queues it on the real Redis.
    sqlx::query("UPDATE alerts SET queued_at = now() - interval '1 hour'")
        .execute(&env.db)
        .await
        .expect("age");
    let app = env.app().await;
    let outbox = AlertOutbox {
        alerts: app.queues.queue(),
        app,
        tick: Duration::from_secs(30),
    };
    assert_eq!(outbox.sweep().await.expect("sweep"), 1);
    assert_eq!(outbox.sweep().await.expect("again"), 0, "claimed once");
    let worker = spawn_worker(env.env.clone()).await;
    eventually(Duration::from_secs(15), "the swept alert sent", || async {
        receiver.posts().len() == 1
    })
    .await;
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_owner_lists_their_alerts() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let monitor = user.create_monitor("https://example.com").await;
    let check_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO checks (id, monitor_id, trigger, ok, checked_at) VALUES ($1, $2, 'schedule', false, now())",
    )
    .bind(check_id)
    .bind(monitor)
    .execute(&app.db)
    .await
    .expect("check");
    sqlx::query(
        "INSERT INTO alerts (id, monitor_id, check_id, kind, status, attempts, sent_at)
         VALUES ($1, $2, $3, 'down', 'sent', 1, now())",
    )
    .bind(Uuid::now_v7())
    .bind(monitor)
    .bind(check_id)
    .execute(&app.db)
    .await
    .expect("alert");
    let body: Value = user.get("/api/alerts").await.json().await.expect("json");
    let alerts = body["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["monitor_id"], monitor.to_string());
    assert_eq!(alerts[0]["monitor_name"], "Example");
    assert_eq!(alerts[0]["kind"], "down");
    assert_eq!(alerts[0]["status"], "sent");
    assert_timestamps_are_micros(&body);
    assert_error(
        user.get("/api/alerts?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}
