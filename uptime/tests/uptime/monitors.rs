use chrono::{Duration as ChronoDuration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uptime::{checks::CheckMonitor, model::CheckTrigger};
use uuid::Uuid;

use crate::helpers::{
    MonitorsExt, assert_error, assert_timestamps_are_micros, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn a_monitor_can_be_created_listed_read_updated_and_deleted() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let created = user
        .post(
            "/api/monitors",
            &json!({"name": " Homepage ", "url": "https://example.com/", "method": "head"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let monitor: Value = created.json().await.expect("json");
    assert_eq!(monitor["name"], "Homepage");
    assert_eq!(monitor["method"], "HEAD");
    assert_eq!(monitor["interval_seconds"], 60);
    assert_eq!(monitor["timeout_ms"], 5000);
    assert_eq!(monitor["expected_status"], 200);
    assert_eq!(monitor["state"], "unknown");
    assert_timestamps_are_micros(&monitor);
    let id = monitor["id"].as_str().expect("id");

    let list: Value = user.get("/api/monitors").await.json().await.expect("json");
    assert_eq!(list["monitors"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["monitors"][0]["id"], id);

    let read: Value = user
        .get(&format!("/api/monitors/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read, monitor);

    let updated = user
        .patch(
            &format!("/api/monitors/{id}"),
            &json!({"interval_seconds": 300, "name": "Home"}),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.expect("json");
    assert_eq!(updated["interval_seconds"], 300);
    assert_eq!(updated["name"], "Home");
    assert_eq!(updated["url"], "https://example.com/");

    assert_eq!(
        user.delete(&format!("/api/monitors/{id}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        user.get(&format!("/api/monitors/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        user.delete(&format!("/api/monitors/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn invalid_monitors_are_refused_field_by_field() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let url = "https://example.com";
    let cases = [
        (json!({"name": "", "url": url}), "name"),
        (json!({"name": "x".repeat(101), "url": url}), "name"),
        (json!({"name": "n", "url": "ftp://example.com"}), "url"),
        (json!({"name": "n", "url": "not a url"}), "url"),
        (
            json!({"name": "n", "url": "https://user:secret@example.com"}),
            "url",
        ),
        (
            json!({"name": "n", "url": format!("{url}/{}", "a".repeat(2048))}),
            "url",
        ),
        (
            json!({"name": "n", "url": url, "method": "DELETE"}),
            "method",
        ),
        (
            json!({"name": "n", "url": url, "interval_seconds": 9}),
            "interval_seconds",
        ),
        (
            json!({"name": "n", "url": url, "interval_seconds": 86_401}),
            "interval_seconds",
        ),
        (
            json!({"name": "n", "url": url, "timeout_ms": 99}),
            "timeout_ms",
        ),
        (
            json!({"name": "n", "url": url, "timeout_ms": 30_001}),
            "timeout_ms",
        ),
        (
            json!({"name": "n", "url": url, "interval_seconds": 10, "timeout_ms": 10_000}),
            "timeout_ms",
        ),
        (
            json!({"name": "n", "url": url, "expected_status": 99}),
            "expected_status",
        ),
        (
            json!({"name": "n", "url": url, "expected_status": 600}),
            "expected_status",
        ),
    ];
    for (body, field) in cases {
        let response = user.post("/api/monitors", &body).await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let fields: Vec<&str> = error["error"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["field"].as_str())
            .collect();
        assert_eq!(fields, [field], "{body}");
    }
    // Wrong types and unknown fields are refused before validation.
    for body in [
        json!({"name": "n", "url": url, "interval_seconds": "often"}),
        json!({"name": "n", "url": url, "owner": "someone"}),
        json!({"url": url}),
    ] {
        assert_error(
            user.post("/api/monitors", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        )
        .await;
    }
    let list: Value = user.get("/api/monitors").await.json().await.expect("json");
    assert_eq!(list["monitors"], json!([]), "nothing invalid was stored");
}

#[tokio::test]
async fn an_update_is_validated_against_the_whole_monitor() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com").await;
    // 20 s timeout is within bounds, but not shorter than a 10 s interval.
    user.patch(
        &format!("/api/monitors/{id}"),
        &json!({"timeout_ms": 20_000}),
    )
    .await;
    let response = user
        .patch(
            &format!("/api/monitors/{id}"),
            &json!({"interval_seconds": 10}),
        )
        .await;
    let error = assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error["error"]["fields"][0]["field"], "timeout_ms");
}

#[tokio::test]
async fn changing_the_url_resets_the_light_to_unknown() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com").await;
    sqlx::query(
        "UPDATE monitors SET state = 'up', next_check_at = now() + interval '1 hour' WHERE id = $1",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .expect("update");
    let renamed: Value = user
        .patch(&format!("/api/monitors/{id}"), &json!({"name": "Renamed"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(renamed["state"], "up", "a rename keeps the light");
    let moved: Value = user
        .patch(
            &format!("/api/monitors/{id}"),
            &json!({"url": "https://example.org"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(moved["state"], "unknown");
    let next: chrono::DateTime<Utc> = moved["next_check_at"]
        .as_str()
        .expect("time")
        .parse()
        .expect("rfc3339");
    assert!(next <= Utc::now(), "the new target is due at once");
}

#[tokio::test]
async fn users_never_see_or_touch_each_others_monitors() {
    let app = spawn_app().await;
    let owner = app.new_user().await;
    let intruder = app.new_user().await;
    let id = owner.create_monitor("https://example.com").await;

    let list: Value = intruder
        .get("/api/monitors")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["monitors"], json!([]));
    let path = format!("/api/monitors/{id}");
    assert_error(
        intruder.get(&path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        intruder.patch(&path, &json!({"name": "mine"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        intruder.delete(&path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        intruder.get(&format!("{path}/checks")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        intruder.post_empty(&format!("{path}/check")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let untouched: Value = owner.get(&path).await.json().await.expect("json");
    assert_eq!(untouched["name"], "Example");
}

#[tokio::test]
async fn monitors_require_a_session() {
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    let client = &app.api_client;
    let requests = [
        client.get(app.url("/api/monitors")),
        client
            .post(app.url("/api/monitors"))
            .json(&json!({"name": "n", "url": "https://example.com"})),
        client.get(app.url(&format!("/api/monitors/{id}"))),
        client
            .patch(app.url(&format!("/api/monitors/{id}")))
            .json(&json!({})),
        client
            .delete(app.url(&format!("/api/monitors/{id}")))
            .header("content-type", "application/json"),
        client.get(app.url(&format!("/api/monitors/{id}/checks"))),
        client
            .post(app.url(&format!("/api/monitors/{id}/check")))
            .header("content-type", "application/json"),
    ];
    for request in requests {
        let response = request.send().await.expect("request");
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn an_account_has_a_monitor_limit() {
    let app = spawn_app_with(&[("MAX_MONITORS_PER_USER", "2")]).await;
    let user = app.new_user().await;
    user.create_monitor("https://example.com/a").await;
    user.create_monitor("https://example.com/b").await;
    let third = user
        .post(
            "/api/monitors",
            &json!({"name": "c", "url": "https://example.com/c"}),
        )
        .await;
    assert_error(third, StatusCode::CONFLICT, "monitor_limit_reached").await;
}

#[tokio::test]
async fn the_monitor_limit_holds_against_parallel_creates() {
    let app = spawn_app_with(&[
        ("MAX_MONITORS_PER_USER", "5"),
        ("URL_CHANGES_PER_HOUR", "1000"),
    ])
    .await;
    let user = app.new_user().await;
    let creates = (0..40).map(|i| {
        let user = &user;
        async move {
            user.post(
                "/api/monitors",
                &json!({"name": format!("m{i}"), "url": format!("https://example.com/{i}")}),
            )
            .await
            .status()
        }
    });
    let statuses = futures::future::join_all(creates).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 5, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::CREATED, StatusCode::CONFLICT].contains(s)),
        "{statuses:?}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM monitors WHERE user_id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored, 5);
}

#[tokio::test]
async fn new_urls_are_limited_per_user_and_other_changes_are_not() {
    let app = spawn_app_with(&[("URL_CHANGES_PER_HOUR", "2")]).await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com/a").await;
    user.create_monitor("https://example.com/b").await;
    let third = user
        .post(
            "/api/monitors",
            &json!({"name": "c", "url": "https://example.com/c"}),
        )
        .await;
    assert_error(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let path = format!("/api/monitors/{id}");
    let moved = user
        .patch(&path, &json!({"url": "https://example.com/moved"}))
        .await;
    let body = assert_error(moved, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("new monitor URLs"),
        "{body}"
    );
    // Deleting does not give the count back, and renaming is not a new URL.
    assert_eq!(user.delete(&path).await.status(), StatusCode::NO_CONTENT);
    let again = user
        .post(
            "/api/monitors",
            &json!({"name": "a", "url": "https://example.com/a"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another user has a count of their own.
    app.new_user()
        .await
        .create_monitor("https://example.com/a")
        .await;
}

#[tokio::test]
async fn check_now_is_limited_per_user() {
    let app = spawn_app_with(&[("MANUAL_CHECKS_PER_MINUTE", "3")]).await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com/").await;
    let path = format!("/api/monitors/{id}/check");
    for _ in 0..3 {
        assert_eq!(user.post_empty(&path).await.status(), StatusCode::ACCEPTED);
    }
    let refused = user.post_empty(&path).await;
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let queued: i64 = {
        let prefix = app.env.get("QUEUE_PREFIX").expect("prefix");
        let mut redis = redis::Client::open(crate::helpers::redis_url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        redis::cmd("HLEN")
            .arg(format!("{prefix}:checks:data"))
            .query_async(&mut redis)
            .await
            .expect("HLEN")
    };
    assert_eq!(queued, 3, "the refused check was never queued");
}

#[tokio::test]
async fn checks_are_listed_newest_first_a_page_at_a_time() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com").await;
    let now = Utc::now();
    let mut ids = Vec::new();
    for minutes_ago in 0..5 {
        let check_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO checks (id, monitor_id, trigger, ok, status_code, latency_ms, checked_at)
             VALUES ($1, $2, 'schedule', true, 200, 42, $3)",
        )
        .bind(check_id)
        .bind(id)
        .bind(now - ChronoDuration::minutes(minutes_ago))
        .execute(&app.db)
        .await
        .expect("insert check");
        ids.push(check_id.to_string());
    }

    let mut seen = Vec::new();
    let mut path = format!("/api/monitors/{id}/checks?limit=2");
    loop {
        let page: Value = user.get(&path).await.json().await.expect("json");
        let checks = page["checks"].as_array().expect("checks");
        assert!(checks.len() <= 2);
        seen.extend(
            checks
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
        match page["next_before"].as_str() {
            Some(before) => path = format!("/api/monitors/{id}/checks?limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every check once, newest first");

    for bad in ["limit=0", "limit=101", "limit=ten", "before=not-a-uuid"] {
        let response = user.get(&format!("/api/monitors/{id}/checks?{bad}")).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
}

#[tokio::test]
async fn check_now_queues_a_job_under_the_agreed_queue_name() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com").await;

    let response = user.post_empty(&format!("/api/monitors/{id}/check")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let queued: Value = response.json().await.expect("json");
    let check_id: Uuid = queued["check_id"]
        .as_str()
        .expect("check_id")
        .parse()
        .expect("uuid");
    assert_eq!(queued["monitor_id"], id.to_string());

    // Read the queue the way the worker will: the storage for CheckMonitor on
    // the configured queue name.
    let prefix = app.env.get("QUEUE_PREFIX").expect("prefix");
    let queue = format!("{prefix}:checks");
    let config = apalis_redis::Config::default().queue(&queue);
    let client = redis::Client::open(crate::helpers::redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let jobs: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(config.job_data_hash())
        .query_async(&mut conn)
        .await
        .expect("job data");
    assert_eq!(jobs.len(), 1, "one job stored");
    let (task_id, data) = jobs.into_iter().next().expect("one job");
    assert_eq!(task_id, check_id.to_string(), "the check id is the task id");
    // apalis-redis 1.0 puts every new task in the scheduled set, due now; the
    // worker moves due tasks to the active list.
    let due: Option<f64> = redis::cmd("ZSCORE")
        .arg(config.scheduled_jobs_set())
        .arg(&task_id)
        .query_async(&mut conn)
        .await
        .expect("scheduled set");
    let active: Vec<String> = redis::cmd("LRANGE")
        .arg(config.active_jobs_list())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("active list");
    assert!(
        due.is_some() || active.contains(&task_id),
        "the job is waiting for a worker"
    );
    let job: CheckMonitor = serde_json::from_slice(&data).expect("a CheckMonitor job");
    assert_eq!(job.check_id, check_id);
    assert_eq!(job.monitor_id, id);
    assert_eq!(job.trigger, CheckTrigger::Manual);
    assert!(queue.starts_with("beacon:"));
}

#[tokio::test]
async fn check_now_answers_503_when_redis_is_down() {
    let mut redis = crate::helpers::PrivateRedis::start().await;
    let app = spawn_app_with(&[("REDIS_URL", redis.url.as_str())]).await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com").await;
    redis.stop();
    let response = user.post_empty(&format!("/api/monitors/{id}/check")).await;
    // The queue, the limits and the session checks share one Redis; the
    // session check is the first to need it, and says so.
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "sessions_unavailable",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_id_names_no_monitor() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let bad_id = user.get("/api/monitors/not-a-uuid").await;
    assert_error(bad_id, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_delete_without_a_json_content_type_deletes_nothing() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = user.create_monitor("https://example.com").await;
    // Bodiless writes need the header too (the CSRF rule).
    let delete = user
        .client
        .delete(user.url(&format!("/api/monitors/{id}")))
        .send()
        .await
        .expect("request");
    assert_error(
        delete,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(
        user.get(&format!("/api/monitors/{id}")).await.status(),
        StatusCode::OK,
        "nothing was deleted"
    );
}

#[tokio::test]
async fn the_example_documents_its_routes_and_schemas() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    for (path, method) in [
        ("/api/monitors", "get"),
        ("/api/monitors", "post"),
        ("/api/monitors/{id}", "get"),
        ("/api/monitors/{id}", "patch"),
        ("/api/monitors/{id}", "delete"),
        ("/api/monitors/{id}/checks", "get"),
        ("/api/monitors/{id}/check", "post"),
        ("/api/events", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in [
        "Monitor",
        "CreateMonitor",
        "UpdateMonitor",
        "CheckPage",
        "MonitorState",
        "HttpMethod",
        "CheckTrigger",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} is missing");
    }
    // Typed values are documented as their words, not as free text.
    assert_eq!(
        schemas["MonitorState"]["enum"],
        json!(["up", "degraded", "down", "unknown"])
    );
}
