//! Rate limits against a real Redis: atomic under a burst, all or nothing
//! across several limits.

use std::time::Duration;

use platform::{
    config::Secret,
    connections::connect_redis,
    limit::{Limit, Limiter},
    testing::{redis_url, unique_queue_prefix},
};

/// One hit against one limit: whether it passed.
async fn passes(limiter: &Limiter, limit: &Limit) -> bool {
    limiter
        .hit(std::slice::from_ref(limit))
        .await
        .expect("redis")
        .is_ok()
}

fn limiter() -> Limiter {
    let redis = connect_redis(&Secret::new(redis_url())).expect("redis");
    Limiter::new(redis, &unique_queue_prefix())
}

#[tokio::test]
async fn exactly_max_of_a_parallel_burst_pass() {
    let limiter = limiter();
    let limit = Limit::new("burst", 5, Duration::from_secs(60));
    let attempts = (0..30).map(|_| {
        let limiter = limiter.clone();
        let limit = limit.clone();
        tokio::spawn(async move { limiter.hit(&[limit]).await.expect("redis") })
    });
    let results = futures::future::join_all(attempts).await;
    let passed = results
        .into_iter()
        .filter(|r| r.as_ref().expect("join").is_ok())
        .count();
    assert_eq!(passed, 5);
}

#[tokio::test]
async fn a_hit_refused_by_one_limit_is_counted_by_none() {
    let limiter = limiter();
    let tight = Limit::new("tight", 1, Duration::from_secs(60));
    let loose = Limit::new("loose", 3, Duration::from_secs(60));
    assert!(
        limiter
            .hit(&[tight.clone(), loose.clone()])
            .await
            .expect("redis")
            .is_ok()
    );
    for _ in 0..5 {
        let refused = limiter
            .hit(&[tight.clone(), loose.clone()])
            .await
            .expect("redis")
            .expect_err("tight is exhausted");
        assert!(refused.retry_after > Duration::from_secs(58), "{refused:?}");
    }
    // `loose` counted one hit, not six: two more pass on their own.
    assert!(passes(&limiter, &loose).await);
    assert!(passes(&limiter, &loose).await);
    assert!(!passes(&limiter, &loose).await);
}

#[tokio::test]
async fn windows_end_and_refunds_and_resets_give_hits_back() {
    let limiter = limiter();
    let short = Limit::new("short", 1, Duration::from_millis(300));
    assert!(passes(&limiter, &short).await);
    assert!(!passes(&limiter, &short).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(passes(&limiter, &short).await, "a new window");

    let refunded = Limit::new("refunded", 1, Duration::from_secs(60));
    assert!(passes(&limiter, &refunded).await);
    limiter.refund(&["refunded"]).await.expect("refund");
    assert!(passes(&limiter, &refunded).await);
    limiter.reset(&["refunded"]).await.expect("reset");
    assert!(passes(&limiter, &refunded).await);
    // A refund of a counter that does not exist creates nothing.
    limiter.refund(&["never-hit"]).await.expect("refund");
    let never = Limit::new("never-hit", 1, Duration::from_secs(60));
    assert!(passes(&limiter, &never).await);
    assert!(!passes(&limiter, &never).await);
}
