//! The attacks on the ways in, against the real api, Redis and Postgres:
//! each one refused, in the error shape, with nothing lost.

use std::time::Duration;

use platform::http::CLIENT_IP_HEADER;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, redis_url, spawn_app_with, unique_client_address, unique_email,
};

/// A login (or sign-up) from `address`, as nginx would report it.
async fn post_from(
    app: &TestApp,
    path: &str,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    app.api_client
        .post(app.url(path))
        .header(CLIENT_IP_HEADER, address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds")
}

#[tokio::test]
async fn parallel_guesses_on_one_account_are_counted_before_any_password_is_checked() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "5")]).await;
    let owner = app.new_user().await;
    // 29 wrong guesses and the right one, at once, each from an address of
    // its own (a botnet): only 5 may reach the password check.
    let guesses = (0..30).map(|i| {
        let password = if i == 17 {
            PASSWORD.to_owned()
        } else {
            format!("guess number {i}")
        };
        let (app, email) = (&app, owner.email.clone());
        async move {
            post_from(
                app,
                "/api/auth/login",
                &unique_client_address(),
                &email,
                &password,
            )
            .await
            .status()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [
            StatusCode::UNAUTHORIZED,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
        .contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn strangers_cannot_lock_an_owner_out_of_an_address_they_use() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    let home = unique_client_address();
    let email = unique_email();
    assert_eq!(
        post_from(&app, "/api/auth/signup", &home, &email, PASSWORD)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    // The attacker, from many addresses, uses up the account's shared count.
    for _ in 0..3 {
        let guess = post_from(
            &app,
            "/api/auth/login",
            &unique_client_address(),
            &email,
            "not it at all",
        )
        .await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = post_from(
        &app,
        "/api/auth/login",
        &unique_client_address(),
        &email,
        "not it either",
    )
    .await;
    assert!(retry_after(&locked) > 0);
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // From a new address, the owner is refused as well: said in the README.
    let travelling = post_from(
        &app,
        "/api/auth/login",
        &unique_client_address(),
        &email,
        PASSWORD,
    )
    .await;
    assert_eq!(travelling.status(), StatusCode::TOO_MANY_REQUESTS);
    // From home, where the account was made, the owner gets in.
    let at_home = post_from(&app, "/api/auth/login", &home, &email, PASSWORD).await;
    assert_eq!(at_home.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_address_trying_many_emails_is_stopped() {
    let app = spawn_app_with(&[("LOGIN_MAX_PER_ADDRESS", "10")]).await;
    let sprayer = unique_client_address();
    for _ in 0..10 {
        let response = post_from(
            &app,
            "/api/auth/login",
            &sprayer,
            &unique_email(),
            "Summer2026!",
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = post_from(
        &app,
        "/api/auth/token",
        &sprayer,
        &unique_email(),
        "Summer2026!",
    )
    .await;
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another client is not affected.
    let other = post_from(
        &app,
        "/api/auth/login",
        &unique_client_address(),
        &unique_email(),
        "Summer2026!",
    )
    .await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signups_are_limited_per_address() {
    let app = spawn_app_with(&[("SIGNUP_MAX_PER_ADDRESS", "2")]).await;
    let address = unique_client_address();
    for _ in 0..2 {
        let response = post_from(
            &app,
            "/api/auth/signup",
            &address,
            &unique_email(),
            PASSWORD,
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let email = unique_email();
    let refused = post_from(&app, "/api/auth/signup", &address, &email, PASSWORD).await;
    assert!((3000..=3600).contains(&retry_after(&refused)));
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let made: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(made, 0, "a refused sign-up makes nothing");
}

#[tokio::test]
async fn an_oversized_email_is_refused_before_it_becomes_a_redis_key() {
    let app = spawn_app_with(&[]).await;
    let huge = format!("{}@example.com", "a".repeat(60_000));
    for path in ["/api/auth/login", "/api/auth/token", "/api/auth/signup"] {
        let response = post_from(&app, path, &unique_client_address(), &huge, PASSWORD).await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(body["error"]["fields"][0]["field"], "email", "{path}");
    }
    let prefix = app.env.get("QUEUE_PREFIX").expect("prefix");
    let mut redis = redis::Client::open(redis_url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert!(
        keys.iter().all(|k| k.len() < 400),
        "{} keys, one oversized",
        keys.len()
    );
}

#[tokio::test]
async fn password_hashes_beyond_the_bound_get_503_not_memory() {
    // One hash at a time and no waiting: a burst of logins for made-up
    // emails (each a full argon2 verification) is mostly turned away.
    let app = spawn_app_with(&[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_WAIT_MS", "0"),
        ("LOGIN_MAX_PER_ADDRESS", "1000"),
    ])
    .await;
    let burst = (0..24).map(|_| {
        let app = &app;
        async move {
            post_from(
                app,
                "/api/auth/login",
                &unique_client_address(),
                &unique_email(),
                PASSWORD,
            )
            .await
        }
    });
    let responses = futures::future::join_all(burst).await;
    let mut busy = 0;
    for response in responses {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(retry_after(&response), 1);
                let body: Value = response.json().await.expect("json");
                assert_eq!(body["error"]["code"], "busy");
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "the bound turned some away");
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed() {
    let app = spawn_app_with(&[("HTTP_IDLE_TIMEOUT_SECS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let closed_within = |mut stream: TcpStream| async move {
        let mut buf = [0u8; 4096];
        let started = std::time::Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return started.elapsed(),
                Ok(Ok(_)) => continue,
                Err(_) => panic!("still open after 10 s"),
            }
        }
    };
    // Half a request: headers never finished.
    let mut half = TcpStream::connect(&address).await.expect("connect");
    half.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert!(closed_within(half).await < Duration::from_secs(5));
    // Nothing at all.
    let silent = TcpStream::connect(&address).await.expect("connect");
    assert!(closed_within(silent).await < Duration::from_secs(5));
    // One request, then idle on a kept-alive connection.
    let mut idle = TcpStream::connect(&address).await.expect("connect");
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    assert!(closed_within(idle).await < Duration::from_secs(5));
    // The metrics listener too.
    let metrics = app.metrics_address.trim_start_matches("http://").to_owned();
    let silent = TcpStream::connect(&metrics).await.expect("connect");
    assert!(closed_within(silent).await < Duration::from_secs(5));
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_before_it_reaches_a_log_line() {
    let app = spawn_app_with(&[]).await;
    let response = app
        .api_client
        .get(app.url("/api/health"))
        .header("x-padding", "a".repeat(40 * 1024))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
}
