use std::time::Duration;

use futures::StreamExt;
use platform::{live::LiveEvent, service::Service};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uptime::{
    checks::{CheckMonitor, Checks, db::NewCheck, job::Recorded},
    light::Thresholds,
    model::{CheckTrigger, MonitorState},
    monitors::events::CheckRecorded,
};
use uuid::Uuid;

use crate::helpers::{
    TestEnv, TestTarget, allow_all, assert_timestamps_are_micros, nats_url, spawn_worker,
};

#[tokio::test]
async fn a_check_requested_through_the_api_is_recorded_and_announced_on_nats() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;

    let app = api::server::ApiServer::build(env.env.clone())
        .await
        .expect("api");
    let api = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let worker = spawn_worker(env.env.clone()).await;

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let credentials = json!({"email": format!("{}@example.com", uuid::Uuid::now_v7()), "password": "long enough"});
    let signup = client
        .post(format!("{api}/api/auth/signup"))
        .json(&credentials)
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 202);
    let login: Value = client
        .post(format!("{api}/api/auth/login"))
        .json(&credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let user_id: uuid::Uuid = login["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let monitor: Value = client
        .post(format!("{api}/api/monitors"))
        .json(&json!({"name": "target", "url": target.url("/ok")}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let monitor_id = monitor["id"].as_str().expect("id");

    let nats = async_nats::connect(nats_url()).await.expect("nats");
    let mut events = nats
        .subscribe(platform::live::user_subject(user_id))
        .await
        .expect("subscribe");
    nats.flush().await.expect("flush");

    let queued = client
        .post(format!("{api}/api/monitors/{monitor_id}/check"))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("check now");
    assert_eq!(queued.status(), StatusCode::ACCEPTED);
    let queued: Value = queued.json().await.expect("json");
    let check_id = queued["check_id"].as_str().expect("check id").to_owned();

    // The scheduler also checks the new monitor (it is due at once): wait for
    // the event of the check we asked for.
    let event = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(message) = events.next().await {
            let event: LiveEvent = serde_json::from_slice(&message.payload).expect("event JSON");
            let data: Value = serde_json::from_str(event.data.get()).expect("data JSON");
            if event.event == "check" && data["check_id"] == check_id.as_str() {
                assert_timestamps_are_micros(&data);
                return serde_json::from_value::<CheckRecorded>(data).expect("a check");
            }
        }
        panic!("subscription ended");
    })
    .await
    .expect("the check's event arrives");
    assert_eq!(event.monitor_id.to_string(), monitor_id);
    assert_eq!(event.user_id, user_id);
    assert!(event.ok);
    assert_eq!(event.status_code, Some(200));
    assert_eq!(event.state, MonitorState::Up);

    let checks: Value = client
        .get(format!("{api}/api/monitors/{monitor_id}/checks"))
        .send()
        .await
        .expect("checks")
        .json()
        .await
        .expect("json");
    assert_timestamps_are_micros(&checks);
    let ids: Vec<&str> = checks["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&check_id.as_str()), "{checks}");
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_redelivered_check_is_recorded_once() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;
    let checks = env.checks(allow_all()).await;
    let job = CheckMonitor::new(monitor_id, CheckTrigger::Manual);

    let first = checks.check(&job).await.expect("first");
    assert!(matches!(first, Recorded::New(..)));
    let second = checks.check(&job).await.expect("second");
    assert_eq!(second, Recorded::Duplicate);
    assert_eq!(env.check_ids(monitor_id).await, vec![job.check_id]);
}

#[tokio::test]
async fn failures_turn_the_light_yellow_then_red_and_recovery_shows_flapping() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/status/500"), false).await;
    let deps = env.checks(allow_all()).await;
    async fn run(checks: &Checks, monitor_id: Uuid) -> CheckRecorded {
        let job = CheckMonitor::new(monitor_id, CheckTrigger::Schedule);
        match checks.check(&job).await.expect("check") {
            Recorded::New(event, _) => *event,
            other => panic!("expected a new check, got {other:?}"),
        }
    }

    let first = run(&deps, monitor_id).await;
    assert_eq!(first.state, MonitorState::Degraded);
    assert_eq!(first.error.as_deref(), Some("expected status 200, got 500"));
    assert_eq!(run(&deps, monitor_id).await.state, MonitorState::Down);
    assert_eq!(env.monitor_state(monitor_id).await, "down");

    sqlx::query("UPDATE monitors SET url = $2 WHERE id = $1")
        .bind(monitor_id)
        .bind(target.url("/ok"))
        .execute(&env.db)
        .await
        .expect("fix target");
    assert_eq!(
        run(&deps, monitor_id).await.state,
        MonitorState::Degraded,
        "recent failures: flapping"
    );
    for _ in 0..4 {
        run(&deps, monitor_id).await;
    }
    assert_eq!(
        run(&deps, monitor_id).await.state,
        MonitorState::Up,
        "clean history again"
    );
}

#[tokio::test]
async fn a_slow_success_is_yellow() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/slow/300"), false).await;
    let mut checks = env.checks(allow_all()).await;
    checks.thresholds = Thresholds {
        slow_ms: 100,
        ..Thresholds::default()
    };
    let job = CheckMonitor::new(monitor_id, CheckTrigger::Manual);
    let Recorded::New(event, _) = checks.check(&job).await.expect("check") else {
        panic!("expected a new check");
    };
    assert!(event.ok);
    assert_eq!(event.state, MonitorState::Degraded);
}

#[tokio::test]
async fn an_unreachable_target_is_a_recorded_failure_not_a_job_error() {
    let env = TestEnv::new().await;
    let closed = format!("http://127.0.0.1:{}/", crate::helpers::free_port());
    let (_, monitor_id) = env.monitor(&closed, false).await;
    let checks = env.checks(allow_all()).await;
    let job = CheckMonitor::new(monitor_id, CheckTrigger::Manual);
    let Recorded::New(event, _) = checks.check(&job).await.expect("check") else {
        panic!("expected a new check");
    };
    assert!(!event.ok);
    assert_eq!(event.status_code, None);
    assert!(
        event
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("connection failed")),
        "{:?}",
        event.error
    );
}

#[tokio::test]
async fn a_check_of_a_deleted_monitor_is_dropped() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;
    let checks = env.checks(allow_all()).await;
    let job = CheckMonitor::new(monitor_id, CheckTrigger::Manual);
    sqlx::query("DELETE FROM monitors WHERE id = $1")
        .bind(monitor_id)
        .execute(&env.db)
        .await
        .expect("delete");
    let outcome = checks.check(&job).await.expect("check");
    assert_eq!(outcome, Recorded::MonitorGone);
    assert_eq!(env.checks_count().await, 0);
}

#[tokio::test]
async fn an_undecodable_job_is_aborted_and_the_worker_carries_on() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;

    // A job of another shape, as an incompatible release might queue.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Nonsense {
        nonsense: bool,
    }
    impl platform::queue::Job for Nonsense {
        const QUEUE: &'static str = "checks";
        fn id(&self) -> String {
            "nonsense".to_owned()
        }
    }
    let app = env.app().await;
    app.queues
        .queue::<Nonsense>()
        .push(Nonsense { nonsense: true })
        .await
        .expect("push");

    let worker = spawn_worker(env.env.clone()).await;
    let ids = env.queue_checks(monitor_id, 1).await;
    env.wait_for_checks(monitor_id, &ids, Duration::from_secs(15))
        .await;

    let mut redis = env.redis().await;
    let dead: usize = redis::cmd("SCARD")
        .arg(format!("{}:dead", env.queue))
        .query_async(&mut redis)
        .await
        .expect("dead set");
    assert_eq!(dead, 1, "the bad job is parked, not retried");
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_wake_up_on_nats_makes_an_idle_worker_fetch_at_once() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;
    // Neither the poll nor the heartbeat (which also fetches) would come
    // within the test's wait: only the wake-up can, which queueing sends.
    let worker = spawn_worker(env.worker_env(&[
        ("POLL_INTERVAL_MS", "60000"),
        ("HEARTBEAT_INTERVAL_SECS", "60"),
    ]))
    .await;
    // Past the worker's first fetch at start-up.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let ids = env.queue_checks(monitor_id, 1).await;
    env.wait_for_checks(monitor_id, &ids, Duration::from_secs(10))
        .await;
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn checks_of_one_monitor_recorded_together_each_see_the_ones_before() {
    let env = TestEnv::new().await;
    let (_, monitor_id) = env.monitor("http://127.0.0.1:9/", false).await;
    let checks = std::sync::Arc::new(env.checks(allow_all()).await);
    let result = |ok: bool, at: i64| NewCheck {
        id: Uuid::now_v7(),
        monitor_id,
        trigger: CheckTrigger::Schedule,
        ok,
        status_code: ok.then_some(200),
        latency_ms: 1,
        error: (!ok).then(|| "refused".to_owned()),
        checked_at: chrono::Utc::now() + chrono::Duration::milliseconds(at),
    };
    let record = |ok: bool, at: i64| {
        let checks = std::sync::Arc::clone(&checks);
        let result = result(ok, at);
        async move {
            match checks.record(&result).await {
                Ok(Recorded::New(event, _)) => event.state,
                other => panic!("expected a new check, got {other:?}"),
            }
        }
    };
    record(false, 0).await;

    // Hold the monitor's row lock so eight recorders all queue behind it,
    // then let them through: each must count the checks committed before it
    // got the lock, not those of the moment it started waiting.
    let mut holder = env.db.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM monitors WHERE id = $1 FOR UPDATE")
        .bind(monitor_id)
        .execute(&mut *holder)
        .await
        .expect("lock");
    let recorders: Vec<_> = (1..=8).map(|at| tokio::spawn(record(true, at))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.commit().await.expect("release");
    let mut states = Vec::new();
    for recorder in recorders {
        states.push(recorder.await.expect("recorder"));
    }

    // The failure is among the 5 recent checks of the first five through the
    // lock (yellow: flapping) and has left the window for the last three.
    let yellow = states
        .iter()
        .filter(|s| **s == MonitorState::Degraded)
        .count();
    let green = states.iter().filter(|s| **s == MonitorState::Up).count();
    assert_eq!((yellow, green), (5, 3), "{states:?}");
    assert_eq!(env.monitor_state(monitor_id).await, "up");
}
