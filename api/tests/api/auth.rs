use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, assert_error, assert_timestamps_are_micros, spawn_app, spawn_app_with, spawn_peer,
    unique_email,
};

#[tokio::test]
async fn signup_creates_an_account_and_login_starts_a_cookie_session() {
    let app = spawn_app().await;
    let email = unique_email();
    let response = app.post_signup(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "the session comes from logging in"
    );
    let response = app.post_login(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("session cookie")
        .to_owned();
    for attribute in ["beacon_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    // Development serves plain HTTP, so the cookie is not Secure there.
    assert!(!cookie.contains("Secure"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["email"], email);
    assert_timestamps_are_micros(&body);
    assert!(
        body.get("token").is_none(),
        "cookie sessions keep the token out of JS"
    );

    let token = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("beacon_session="))
        .expect("token");
    let me = app
        .api_client
        .get(app.url("/api/auth/me"))
        .header("cookie", format!("beacon_session={token}"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["user"]["email"], email);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("user row");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn signup_does_not_tell_whether_an_email_has_an_account() {
    let app = spawn_app().await;
    let email = unique_email();
    let first = app.post_signup(&email, PASSWORD).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.expect("json");
    // The same email again, in other case and with another password: the
    // same answer, and nothing about the account changes.
    let again = app
        .post_signup(&email.to_uppercase(), "another password")
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again: Value = again.json().await.expect("json");
    assert_eq!(first, again);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(accounts, 1);
    assert_eq!(
        app.post_login(&email, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post_login(&email, "another password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn signup_rejects_invalid_input_with_field_errors() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": unique_email(), "password": "short"}),
            "password",
        ),
        (
            json!({"email": unique_email(), "password": "x".repeat(129)}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let response = app.post_json("/api/auth/signup", &body).await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error["error"]["fields"][0]["field"], field, "{body}");
    }
    for body in [
        json!({"email": unique_email()}),
        json!({"email": unique_email(), "password": PASSWORD, "admin": true}),
        json!({"email": 42, "password": PASSWORD}),
    ] {
        let response = app.post_json("/api/auth/signup", &body).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    }
}

#[tokio::test]
async fn login_accepts_the_right_password_only() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let ok = app.post_login(&user.email.to_uppercase(), PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().get("set-cookie").is_some());

    let wrong = app.post_login(&user.email, "wrong password").await;
    let body = assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app.post_login(&unique_email(), PASSWORD).await;
    let body_unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // The same answer: a login does not reveal whether an email has an account.
    assert_eq!(body, body_unknown);
}

#[tokio::test]
async fn me_requires_a_valid_session() {
    let app = spawn_app().await;
    assert_error(
        app.get("/api/auth/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let forged = app
        .api_client
        .get(app.url("/api/auth/me"))
        .header(
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged",
        )
        .send()
        .await
        .expect("request");
    assert_error(forged, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_bearer_token_works_without_cookies() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .post_json(
            "/api/auth/token",
            &json!({"email": user.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none());
    let body: Value = response.json().await.expect("json");
    assert_timestamps_are_micros(&body);
    let token = body["token"].as_str().expect("token");
    let me = app
        .api_client
        .get(app.url("/api/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_clears_the_cookie_and_ends_the_session_everywhere() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_eq!(user.get("/api/auth/me").await.status(), StatusCode::OK);
    let copied_cookie = user.cookie();
    let response = user.post_empty("/api/auth/logout").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("clearing cookie");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(
        user.get("/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A copy of the cookie kept elsewhere is dead too, on every machine.
    let peer = spawn_peer(&app, &[]).await;
    let replayed = peer
        .api_client
        .get(peer.url("/api/auth/me"))
        .header("cookie", copied_cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_a_bearer_token_and_logout_everywhere_ends_them_all() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let token = || async {
        let response = app
            .post_json(
                "/api/auth/token",
                &json!({"email": user.email, "password": PASSWORD}),
            )
            .await;
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    };
    let me = |token: String| {
        let app = &app;
        async move {
            app.api_client
                .get(app.url("/api/auth/me"))
                .bearer_auth(token)
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    let script = token().await;
    let logout = app
        .api_client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&script)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(script).await, StatusCode::UNAUTHORIZED);

    let (laptop, phone) = (token().await, token().await);
    assert_eq!(me(laptop.clone()).await, StatusCode::OK);
    let everywhere = user.post_empty("/api/auth/logout-everywhere").await;
    assert_eq!(everywhere.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        user.get("/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED,
        "the cookie session that asked is over too"
    );
    assert_eq!(me(token().await).await, StatusCode::OK, "a new login works");
}

#[tokio::test]
async fn failed_logins_are_limited_across_api_machines() {
    // Two API machines sharing one database and one Redis: the limit is
    // counted in Redis.
    let first = spawn_app_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    let second = spawn_peer(&first, &[("LOGIN_MAX_FAILURES", "3")]).await;
    let email = unique_email();
    assert_eq!(
        first.post_signup(&email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );

    for _ in 0..3 {
        let response = first.post_login(&email, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = second.post_login(&email, PASSWORD).await;
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Bearer-token logins share the limit.
    let token = second
        .post_json(
            "/api/auth/token",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(token.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    let user = app.new_user().await;
    for _ in 0..2 {
        assert_eq!(
            app.post_login(&user.email, "nope nope").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.post_login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            app.post_login(&user.email, "nope nope").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.post_login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn signup_queues_the_welcome_job_once_per_account() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let prefix = app.env.get("QUEUE_PREFIX").expect("a test prefix");
    let client = redis::Client::open(crate::helpers::redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    // apalis keeps each task's payload in `<queue>:data`, under its id.
    let payload: Option<String> = redis::cmd("HGET")
        .arg(format!("{prefix}:welcome:data"))
        .arg(format!("welcome-{}", user.id))
        .query_async(&mut conn)
        .await
        .expect("HGET");
    let payload = payload.expect("the welcome job is queued under the account's id");
    assert!(payload.contains(&user.id.to_string()), "{payload}");
}
