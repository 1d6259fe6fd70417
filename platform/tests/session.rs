//! Sessions against a real Redis: what logging out ends, and what it leaves.

use std::time::Duration;

use platform::{
    config::Secret,
    connections::{connect_nats, connect_redis},
    session::{SessionConfig, SessionKeys},
    testing::{nats_url, redis_url, unique_queue_prefix},
};
use uuid::Uuid;

async fn keys_with(secret: &str, ttl: Duration) -> SessionKeys {
    let redis = connect_redis(&Secret::new(redis_url())).expect("redis");
    let nats = connect_nats(&Secret::new(nats_url()), "test")
        .await
        .expect("nats");
    SessionKeys::new(
        &SessionConfig {
            jwt_secret: Secret::new(secret),
            ttl,
            secure_cookie: true,
        },
        redis,
        nats,
        &unique_queue_prefix(),
    )
}

async fn keys() -> SessionKeys {
    keys_with("0123456789abcdef0123456789abcdef", Duration::from_secs(60)).await
}

async fn user_of(keys: &SessionKeys, token: &str) -> Option<Uuid> {
    keys.verify(token)
        .await
        .expect("redis answers")
        .map(|u| u.id)
}

#[tokio::test]
async fn issued_sessions_verify_and_forged_ones_do_not() {
    let keys = keys().await;
    let user = Uuid::now_v7();
    let session = keys.issue(user).await.expect("issue");
    assert_eq!(user_of(&keys, &session.token).await, Some(user));
    let verified = keys.verify(&session.token).await.expect("redis");
    assert_eq!(
        verified.map(|u| u.expires_at.timestamp()),
        Some(session.expires_at.timestamp()),
        "the session's end travels with the user"
    );
    let other = keys_with("another-secret-another-secret-xx", Duration::from_secs(60)).await;
    assert_eq!(user_of(&other, &session.token).await, None);
    assert_eq!(user_of(&keys, "not.a.jwt").await, None);
}

#[tokio::test]
async fn logging_out_ends_that_token_and_no_other() {
    let keys = keys().await;
    let user = Uuid::now_v7();
    let laptop = keys.issue(user).await.expect("issue");
    let phone = keys.issue(user).await.expect("issue");
    keys.revoke(&laptop.token).await.expect("revoke");
    assert_eq!(user_of(&keys, &laptop.token).await, None);
    assert_eq!(user_of(&keys, &phone.token).await, Some(user));
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_earlier_token_but_not_later_ones() {
    let keys = keys().await;
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let ada_laptop = keys.issue(ada).await.expect("issue");
    let ada_phone = keys.issue(ada).await.expect("issue");
    let bob_session = keys.issue(bob).await.expect("issue");
    keys.revoke_all(ada).await.expect("revoke all");
    assert_eq!(user_of(&keys, &ada_laptop.token).await, None);
    assert_eq!(user_of(&keys, &ada_phone.token).await, None);
    assert_eq!(user_of(&keys, &bob_session.token).await, Some(bob));
    let fresh = keys.issue(ada).await.expect("issue");
    assert_eq!(user_of(&keys, &fresh.token).await, Some(ada));
}

#[tokio::test]
async fn an_expired_token_is_refused_without_grace() {
    let keys = keys_with("0123456789abcdef0123456789abcdef", Duration::from_secs(1)).await;
    let user = Uuid::now_v7();
    let session = keys.issue(user).await.expect("issue");
    assert_eq!(user_of(&keys, &session.token).await, Some(user));
    // exp has a resolution of one second: two are past it whatever the phase.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(user_of(&keys, &session.token).await, None);
}

#[tokio::test]
async fn sessions_fail_closed_when_redis_is_unreachable() {
    let nowhere = connect_redis(&Secret::new("redis://127.0.0.1:1")).expect("lazy");
    let nats = connect_nats(&Secret::new(nats_url()), "test")
        .await
        .expect("nats");
    let keys = SessionKeys::new(
        &SessionConfig {
            jwt_secret: Secret::new("0123456789abcdef0123456789abcdef"),
            ttl: Duration::from_secs(60),
            secure_cookie: true,
        },
        nowhere,
        nats,
        "test",
    );
    let error = keys.issue(Uuid::now_v7()).await.err().expect("refused");
    assert_eq!(
        error.to_string(),
        "sessions cannot be checked right now; try again shortly"
    );
}
