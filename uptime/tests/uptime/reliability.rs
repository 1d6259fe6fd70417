//! A check that was accepted is carried out and recorded once, whatever
//! happens to the worker, Redis or Postgres.

use std::{net::SocketAddr, time::Duration};

use crate::helpers::{
    PrivateRedis, TcpProxy, TestEnv, TestTarget, eventually, signal, spawn_worker, worker_process,
};

#[tokio::test]
async fn checks_in_flight_on_a_killed_worker_are_recorded_once_by_another() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/slow/3000"), false).await;

    let mut victim = worker_process(&env.env);
    let ids = env.queue_checks(monitor_id, 4).await;
    eventually(
        Duration::from_secs(15),
        "all four checks in flight",
        || async { target.hits.load(std::sync::atomic::Ordering::SeqCst) >= 4 },
    )
    .await;
    signal(&victim, "KILL");
    let _ = victim.wait();
    assert_eq!(
        env.checks_count().await,
        0,
        "nothing recorded before the kill"
    );

    // Recovery: orphan timeout (1 s × 2) plus a heartbeat, then the 3 s probes.
    let rescuer = spawn_worker(env.env.clone()).await;
    env.wait_for_checks(monitor_id, &ids, Duration::from_secs(30))
        .await;
    rescuer.stop().await.expect("clean stop");
}

#[tokio::test]
async fn sigterm_finishes_checks_in_flight_exits_zero_and_loses_nothing() {
    let env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/slow/1500"), false).await;

    let mut worker = worker_process(&env.worker_env(&[("WORKER_CONCURRENCY", "2")]));
    let ids = env.queue_checks(monitor_id, 5).await;
    eventually(Duration::from_secs(15), "two checks in flight", || async {
        target.hits.load(std::sync::atomic::Ordering::SeqCst) >= 2
    })
    .await;
    signal(&worker, "TERM");
    let status = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    let recorded = env.checks_count().await;
    assert!(
        recorded >= 2,
        "the checks in flight finished before exit ({recorded})"
    );
    assert_eq!(
        env.in_flight().await,
        0,
        "fetched-but-unstarted checks went back to the queue"
    );

    let next = spawn_worker(env.env.clone()).await;
    env.wait_for_checks(monitor_id, &ids, Duration::from_secs(30))
        .await;
    next.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_same_process_recovers_from_redis_restarts_idle_and_busy() {
    let mut redis = PrivateRedis::start().await;
    let mut env = TestEnv::new().await;
    env.use_redis(&redis.url);
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;
    let (_, slow_monitor) = env.monitor(&target.url("/slow/1500"), false).await;
    let worker = spawn_worker(env.env.clone()).await;

    let mut expected = env.queue_checks(monitor_id, 1).await;
    env.wait_for_checks(monitor_id, &expected, Duration::from_secs(15))
        .await;

    // Idle.
    redis.restart().await;
    expected.extend(env.queue_checks(monitor_id, 1).await);
    expected.sort();
    env.wait_for_checks(monitor_id, &expected, Duration::from_secs(30))
        .await;

    // Busy: two slow checks in flight when Redis goes away.
    let slow = env.queue_checks(slow_monitor, 2).await;
    eventually(Duration::from_secs(15), "slow checks in flight", || async {
        env.in_flight().await >= 2
    })
    .await;
    redis.restart().await;
    expected.extend(env.queue_checks(monitor_id, 1).await);
    expected.sort();
    env.wait_for_checks(monitor_id, &expected, Duration::from_secs(30))
        .await;
    let mut slow_sorted = slow.clone();
    slow_sorted.sort();
    env.wait_for_checks(slow_monitor, &slow_sorted, Duration::from_secs(30))
        .await;
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_check_is_retried_while_postgres_refuses_and_recorded_when_it_returns() {
    let mut env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/slow/1000"), false).await;
    let proxy = TcpProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    env.use_database_url(&proxy.url_for(&env.database_url));

    let worker = spawn_worker(env.worker_env(&[
        ("JOB_MAX_ATTEMPTS", "20"),
        ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
    ]))
    .await;

    let ids = env.queue_checks(monitor_id, 1).await;
    eventually(
        Duration::from_secs(15),
        "the probe to be under way",
        || async { target.hits.load(std::sync::atomic::Ordering::SeqCst) >= 1 },
    )
    .await;
    // Postgres goes away while the target is being probed: recording fails.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(env.checks_count().await, 0);
    assert!(target.hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    proxy.open().await;

    env.wait_for_checks(monitor_id, &ids, Duration::from_secs(30))
        .await;
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_check_is_aborted_once_its_retry_budget_is_spent() {
    let mut env = TestEnv::new().await;
    let target = TestTarget::start().await;
    let (_, monitor_id) = env.monitor(&target.url("/ok"), false).await;
    let proxy = TcpProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    env.use_database_url(&proxy.url_for(&env.database_url));
    let worker = spawn_worker(env.worker_env(&[
        ("JOB_MAX_ATTEMPTS", "2"),
        ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
    ]))
    .await;

    proxy.cut();
    let ids = env.queue_checks(monitor_id, 1).await;
    let mut redis = env.redis().await;
    let dead_set = format!("{}:dead", env.queue);
    eventually(
        Duration::from_secs(20),
        "the check to be parked as dead",
        || {
            let dead_set = dead_set.clone();
            let check_id = ids[0].to_string();
            let mut redis = redis.clone();
            async move {
                redis::cmd("SISMEMBER")
                    .arg(&dead_set)
                    .arg(&check_id)
                    .query_async::<bool>(&mut redis)
                    .await
                    .unwrap_or(false)
            }
        },
    )
    .await;
    let scheduled: usize = redis::cmd("ZCARD")
        .arg(format!("{}:scheduled", env.queue))
        .query_async(&mut redis)
        .await
        .expect("zcard");
    assert_eq!(scheduled, 0, "not rescheduled after the abort");
    worker.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_worker_that_cannot_reach_redis_gives_up_and_exits_non_zero() {
    let env = TestEnv::new().await;
    let nowhere = format!("redis://127.0.0.1:{}", crate::helpers::free_port());
    let mut worker = worker_process(&env.worker_env(&[
        ("REDIS_URL", nowhere.as_str()),
        ("WORKER_MAX_RESTARTS", "2"),
    ]));
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || worker.wait()),
    )
    .await
    .expect("the worker gave up in time")
    .expect("join")
    .expect("wait");
    assert_eq!(
        status.code(),
        Some(1),
        "a monitor that stops is fatal, so Fly restarts the machine"
    );
}
