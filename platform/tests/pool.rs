//! The Postgres pool (`platform::db::connect_lazy`): it skips sqlx's ping on
//! every acquire, so it must still notice a connection that died while idle.

use std::time::Duration;

use platform::{
    config::{DatabaseConfig, Secret},
    testing::TestDatabase,
};
use sqlx::{Connection, Executor, PgConnection};

#[tokio::test]
async fn a_connection_that_died_while_idle_is_replaced_before_use() {
    let database = TestDatabase::empty().await;
    let url = database.url.clone();
    let pool = platform::db::connect_lazy(&DatabaseConfig {
        url: Secret::new(url.clone()),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
        max_lifetime: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(300),
    })
    .expect("pool");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("first query");

    // What a Postgres restart or failover does to an idle connection.
    let mut admin = PgConnection::connect(&url).await.expect("admin connection");
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .expect("terminate");
    assert!(terminated);
    admin.close().await.expect("close admin");

    // Past the idle threshold, the pool pings before handing it out.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let new_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("the dead connection was replaced, not handed out");
    assert_ne!(new_pid, pid);
    pool.execute("SELECT 1").await.expect("pool keeps working");
}

#[tokio::test]
async fn connections_are_replaced_after_their_lifetime() {
    // What Fly's Managed Postgres asks for: its proxy restarts, and closes
    // connections older than its grace.
    let database = TestDatabase::empty().await;
    let pool = platform::db::connect_lazy(&DatabaseConfig {
        url: Secret::new(database.url.clone()),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
        max_lifetime: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(300),
    })
    .expect("pool");
    let pid = || async {
        sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("query")
    };
    let first = pid().await;
    assert_eq!(pid().await, first, "reused while young");
    // The pool's reaper looks every lifetime: two of them are past it
    // whatever the phase.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_ne!(pid().await, first, "replaced once past its lifetime");
}
