use std::time::Duration;

use uuid::Uuid;

use crate::helpers::{TestEnv, TestTarget, spawn_worker};

#[tokio::test]
async fn checks_older_than_the_retention_are_pruned_in_batches() {
    let env = TestEnv::new().await;
    let (_, monitor_id) = env.monitor("https://example.com/", false).await;
    sqlx::query(
        "INSERT INTO checks (id, monitor_id, trigger, ok, checked_at)
         SELECT gen_random_uuid(), $1, 'schedule', true, now() - interval '40 days'
         FROM generate_series(1, 2500)",
    )
    .bind(monitor_id)
    .execute(&env.db)
    .await
    .expect("old checks");
    let recent = Uuid::now_v7();
    sqlx::query("INSERT INTO checks (id, monitor_id, trigger, ok, checked_at) VALUES ($1, $2, 'schedule', true, now() - interval '29 days')")
        .bind(recent)
        .bind(monitor_id)
        .execute(&env.db)
        .await
        .expect("recent check");

    let retention = uptime::retention::Retention {
        app: env.app().await,
        keep: Duration::from_secs(30 * 86_400),
        tick: Duration::from_secs(600),
    };
    let deleted = retention.prune().await.expect("prune");
    assert_eq!(deleted, 2500);
    assert_eq!(env.check_ids(monitor_id).await, vec![recent]);
}

#[tokio::test]
async fn finished_tasks_are_cleared_out_of_redis() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;
    let worker = spawn_worker(env.env.clone()).await;
    let ids = env.queue_checks(monitor_id, 3).await;
    let mut sorted = ids.clone();
    sorted.sort();
    env.wait_for_checks(monitor_id, &sorted, Duration::from_secs(15))
        .await;
    worker.stop().await.expect("clean stop");

    let app = env.app().await;
    let removed = platform::queue::prune_finished_tasks(&app.redis, &env.queue, 100)
        .await
        .expect("prune");
    assert_eq!(removed, 3);
    let mut redis = env.redis().await;
    let data: usize = redis::cmd("HLEN")
        .arg(format!("{}:data", env.queue))
        .query_async(&mut redis)
        .await
        .expect("hlen");
    assert_eq!(data, 0);
    let meta: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:meta:*", env.queue))
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert!(meta.is_empty(), "{meta:?}");
}
