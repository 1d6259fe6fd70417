//! `api migrate` through the real binary, as Fly's release_command runs it.

use std::{
    process::{Command, Output},
    time::Duration,
};

use sqlx::PgPool;

use crate::helpers::TestDatabase;

/// Every up migration this build carries, as `migrate` names them: `0001 users`.
fn migrations() -> Vec<String> {
    api::routes::migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect()
}

/// A database of the test's own with nothing in it.
async fn empty_database() -> TestDatabase {
    TestDatabase::empty().await
}

fn api(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_api"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run the api binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn lines_with(text: &str, word: &str) -> usize {
    text.lines()
        .filter(|l| l.split_whitespace().any(|w| w == word))
        .count()
}

fn applied_lines(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("applied ")).count()
}

#[tokio::test]
async fn status_run_and_revert_manage_the_schema() {
    let database = empty_database().await;
    let url = database.url.clone();
    let all = migrations();
    let n = all.len();
    assert!(n >= 2, "the skeleton has at least two migrations: {all:?}");

    let status = api(&url, &["migrate", "status"]);
    assert!(status.status.success());
    let text = stdout(&status);
    assert_eq!(lines_with(&text, "pending"), n, "{text}");
    assert!(text.contains(&format!("0 applied, {n} pending")), "{text}");
    let check = api(&url, &["migrate", "status", "--check"]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "pending migrations fail --check"
    );

    let run = api(&url, &["migrate", "run"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = stdout(&run);
    for migration in &all {
        assert!(text.contains(&format!("applied {migration}")), "{text}");
    }

    let again = api(&url, &["migrate", "run"]);
    assert!(again.status.success());
    let text = stdout(&again);
    assert!(text.contains("up to date"), "{text}");
    assert_eq!(
        applied_lines(&text),
        0,
        "the second run applies nothing: {text}"
    );
    assert!(
        api(&url, &["migrate", "status", "--check"])
            .status
            .success()
    );

    let revert = api(&url, &["migrate", "revert"]);
    assert!(revert.status.success());
    let text = stdout(&revert);
    assert_eq!(text.trim(), format!("reverted {}", all[n - 1]));
    assert!(
        stdout(&api(&url, &["migrate", "status"]))
            .contains(&format!("{} applied, 1 pending", n - 1))
    );

    let everything = api(&url, &["migrate", "revert", "--to", "0"]);
    assert!(everything.status.success());
    let text = stdout(&everything);
    let expected: Vec<String> = all[..n - 1]
        .iter()
        .rev()
        .map(|m| format!("reverted {m}"))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    let pool = PgPool::connect(&url).await.expect("connect");
    let users_exists: bool = sqlx::query_scalar("SELECT to_regclass('users') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .expect("query");
    assert!(!users_exists);

    let unknown_target = api(&url, &["migrate", "revert", "--to", "42"]);
    assert_eq!(unknown_target.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown_target.stderr).contains("--to 42 is not a migration"));
}

#[tokio::test]
async fn two_machines_running_migrations_at_once_apply_each_once() {
    let database = empty_database().await;
    let url = database.url.clone();
    let n = migrations().len();
    let (a, b) = tokio::join!(
        tokio::task::spawn_blocking({
            let url = url.clone();
            move || api(&url, &["migrate", "run"])
        }),
        tokio::task::spawn_blocking({
            let url = url.clone();
            move || api(&url, &["migrate", "run"])
        }),
    );
    let (a, b) = (a.expect("join"), b.expect("join"));
    assert!(a.status.success() && b.status.success());
    let together = format!("{}{}", stdout(&a), stdout(&b));
    assert_eq!(
        applied_lines(&together),
        n,
        "each migration applied once: {together}"
    );
    assert_eq!(together.matches("up to date").count(), 1, "{together}");
    let pool = PgPool::connect(&url).await.expect("connect");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .expect("query");
    assert_eq!(usize::try_from(rows).ok(), Some(n));
}

#[tokio::test]
async fn a_changed_migration_is_reported_and_blocks_run() {
    let database = empty_database().await;
    let url = database.url.clone();
    assert!(api(&url, &["migrate", "run"]).status.success());
    let pool = PgPool::connect(&url).await.expect("connect");
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1")
        .execute(&pool)
        .await
        .expect("tamper");

    let status = api(&url, &["migrate", "status", "--check"]);
    assert_eq!(status.status.code(), Some(1));
    let text = stdout(&status);
    assert!(
        text.lines()
            .any(|l| l.starts_with("0001") && l.contains("changed")),
        "{text}"
    );

    let run = api(&url, &["migrate", "run"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("error:"));
}

#[tokio::test]
async fn migrations_unknown_to_this_build_are_reported_not_fatal() {
    // A rolled-back release runs an older binary against a newer schema.
    let database = empty_database().await;
    let url = database.url.clone();
    assert!(api(&url, &["migrate", "run"]).status.success());
    let pool = PgPool::connect(&url).await.expect("connect");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99999999999999, 'from the future', true, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .expect("insert");
    let run = api(&url, &["migrate", "run"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout(&run).contains("newer than this build"));
    let status = stdout(&api(&url, &["migrate", "status"]));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("99999999999999") && l.contains("unknown")),
        "{status}"
    );
}

#[test]
fn a_bad_database_url_stops_with_one_line_naming_the_variable() {
    let output = api("mysql://user:hunter2@db/beacon", &["migrate", "status"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the URL's password is not echoed"
    );
}

#[test]
fn an_unreachable_database_is_waited_for_then_a_clear_error() {
    let port = crate::helpers::free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .args(["migrate", "run"])
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/beacon"),
        )
        .env("MIGRATE_CONNECT_WAIT_SECS", "2")
        .output()
        .expect("run the api binary");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("waiting for Postgres"), "{stderr}");
    assert!(stderr.contains("cannot connect to Postgres"), "{stderr}");
}

#[test]
fn a_database_that_does_not_exist_is_named_at_once_with_how_to_create_it() {
    let name = format!("beacon_missing_{}", std::process::id());
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .args(["migrate", "run"])
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{name}"),
        )
        .env("MIGRATE_CONNECT_WAIT_SECS", "30")
        .output()
        .expect("run the api binary");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("waiting for Postgres"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the database `{name}` does not exist on 127.0.0.1:5432"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("sqlx database create"), "{stderr}");
}

#[tokio::test]
async fn migrate_waits_for_a_postgres_that_comes_up_late() {
    // A Postgres that answers only after a second: what `docker compose up`
    // and a release command racing a restarting proxy see.
    let database = empty_database().await;
    let port = crate::helpers::free_port();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        // Forward the first connections to the real Postgres.
        loop {
            let (mut client, _) = listener.accept().await.expect("accept");
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect("127.0.0.1:5432")
                    .await
                    .expect("postgres");
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    let url = database
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));
    let output = tokio::task::spawn_blocking(move || api(&url, &["migrate", "run"]))
        .await
        .expect("join");
    late.abort();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("waiting for Postgres"));
    assert_eq!(applied_lines(&stdout(&output)), migrations().len());
}

#[test]
fn serve_refuses_a_malformed_port_before_starting() {
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .env("PORT", "eighty")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "configuration error: PORT is `eighty`: invalid digit found in string"
    );
}
