//! The skeleton's job, end to end through Redis: queued, run once, the
//! user's open tabs told (an `account` event on NATS), and a redelivery
//! changes nothing.

use std::time::Duration;

use accounts::WelcomeUser;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use platform::live::{LiveEvent, user_subject};
use platform::testing::{connect_app, eventually};
use uuid::Uuid;
use worker::testing::spawn_worker;

use crate::world;

async fn welcomed_at(db: &sqlx::PgPool, id: Uuid) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("SELECT welcomed_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("user row")
}

#[tokio::test]
async fn a_queued_welcome_is_run_once() {
    let (database, env) = world().await;
    let user_id = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')")
        .bind(user_id)
        .bind(format!("{user_id}@example.com"))
        .execute(&database.pool)
        .await
        .expect("insert user");
    let app = connect_app(&env).await;
    let mut events = app
        .nats
        .subscribe(user_subject(user_id))
        .await
        .expect("subscribe");
    app.nats.flush().await.expect("subscribed");
    let queue = app.queues.queue::<WelcomeUser>();
    queue.push(WelcomeUser { user_id }).await.expect("queue");

    let worker = spawn_worker(env).await;
    eventually(Duration::from_secs(15), "the account welcomed", || async {
        welcomed_at(&database.pool, user_id).await.is_some()
    })
    .await;
    let first = welcomed_at(&database.pool, user_id).await;
    let message = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event for the user's tabs")
        .expect("subscribed");
    let event: LiveEvent = serde_json::from_slice(&message.payload).expect("a live event");
    assert_eq!(event.event, accounts::ACCOUNT_EVENT);
    let account: serde_json::Value = serde_json::from_str(event.data.get()).expect("json");
    assert_eq!(account["id"], user_id.to_string());
    assert!(account["welcomed_at"].is_string(), "{account}");

    // The same welcome again (a redelivery, or a second sign-up request
    // racing the first): nothing changes.
    queue
        .push(WelcomeUser { user_id })
        .await
        .expect("queue again");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(welcomed_at(&database.pool, user_id).await, first);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), events.next())
            .await
            .is_err(),
        "a redelivered welcome tells nobody again"
    );
    worker.stop().await.expect("clean stop");
}
