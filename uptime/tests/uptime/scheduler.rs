use std::time::Duration;

use crate::helpers::{PrivateRedis, TestEnv, TestTarget, eventually, spawn_worker};

#[tokio::test]
async fn three_workers_check_each_due_monitor_once_per_interval() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (user_id, first) = env.monitor(&target.url("/ok"), true).await;
    let mut monitors = vec![first];
    for _ in 0..29 {
        monitors.push(env.add_monitor(user_id, &target.url("/ok"), true).await);
    }
    let workers = vec![
        spawn_worker(env.env.clone()).await,
        spawn_worker(env.env.clone()).await,
        spawn_worker(env.env.clone()).await,
    ];
    eventually(Duration::from_secs(20), "every monitor checked", || async {
        env.checks_count().await >= 30
    })
    .await;
    // Several more scheduler ticks of every worker, well inside the 60 s interval.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for monitor in &monitors {
        assert_eq!(
            env.check_ids(*monitor).await.len(),
            1,
            "monitor {monitor} checked more than once"
        );
    }
    for worker in workers {
        worker.stop().await.expect("clean stop");
    }
}

#[tokio::test]
async fn a_claim_is_rolled_back_when_the_queue_is_unreachable() {
    let env = TestEnv::new().await;
    let (_, monitor_id) = env.monitor("https://example.com/", true).await;
    let mut redis = PrivateRedis::start().await;
    let env_on_private_redis = env.worker_env(&[("REDIS_URL", redis.url.as_str())]);
    let config = platform::config::PlatformConfig::from_env(&env_on_private_redis).expect("config");
    let app = platform::app::App::connect(env_on_private_redis, config, "test")
        .await
        .expect("connect");
    let scheduler = uptime::scheduler::Scheduler {
        checks: app.queues.queue(),
        app,
        tick: Duration::from_secs(1),
        batch: 10,
    };
    redis.stop();

    let result = scheduler.claim_and_enqueue().await;
    assert!(result.is_err(), "queueing failed");
    let still_due: bool =
        sqlx::query_scalar("SELECT next_check_at <= now() FROM monitors WHERE id = $1")
            .bind(monitor_id)
            .fetch_one(&env.db)
            .await
            .expect("query");
    assert!(still_due, "the monitor is claimed again on the next tick");
}
