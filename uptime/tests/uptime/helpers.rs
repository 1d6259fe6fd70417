//! The uptime tests' world: a database of the test's own (dropped when the
//! test ends), a queue prefix of its own, the real api and worker, local HTTP
//! targets, and a Postgres proxy that can be cut.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

pub use api::testing::{TestApp, TestUser, spawn_app, spawn_app_with, spawn_peer};
use axum::{
    Router,
    extract::{Path, Query},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
pub use platform::testing::{
    PrivateRedis, SseStream, TestDatabase, assert_error, assert_timestamps_are_micros, eventually,
    free_port, nats_url, redis_url, test_env,
};
use platform::{app::App, config::Env, outbound::TargetPolicy, testing::connect_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use uptime::{
    checks::{CheckMonitor, Checks},
    light::Thresholds,
    model::CheckTrigger,
    probe::Prober,
};
use uuid::Uuid;
pub use worker::testing::spawn_worker;

/// The example's calls, on a signed-in test user.
pub trait MonitorsExt {
    /// Creates a monitor with defaults for everything but the URL; its id.
    async fn create_monitor(&self, url: &str) -> Uuid;
}

impl MonitorsExt for TestUser {
    async fn create_monitor(&self, url: &str) -> Uuid {
        let response = self
            .post("/api/monitors", &json!({"name": "Example", "url": url}))
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").parse().expect("uuid")
    }
}

/// One test's world for the worker side: its own database and queue
/// prefix, the shared Redis and NATS.
pub struct TestEnv {
    /// Held: dropping it drops the test's database.
    _database: TestDatabase,
    pub db: PgPool,
    pub database_url: String,
    pub redis_url: String,
    /// `<prefix>:checks`, the check queue's Redis name.
    pub queue: String,
    /// What the worker is started with: fast polls and heartbeats, private
    /// targets allowed.
    pub env: Env,
}

impl TestEnv {
    pub async fn new() -> Self {
        let database = TestDatabase::migrated(&api::routes::migrator()).await;
        let env = worker::testing::fast(database.env(test_env()));
        let prefix = env.get("QUEUE_PREFIX").expect("prefix");
        Self {
            db: database.pool.clone(),
            database_url: database.url.clone(),
            redis_url: redis_url(),
            queue: format!("{prefix}:checks"),
            _database: database,
            env,
        }
    }

    /// Points this world (and the workers it starts) at another Redis.
    pub fn use_redis(&mut self, url: &str) {
        self.redis_url = url.to_owned();
        self.env = self.env.clone().with("REDIS_URL", url);
    }

    /// Points the workers it starts at another Postgres URL (a proxy); the
    /// test's own pool stays on the direct one.
    pub fn use_database_url(&mut self, url: &str) {
        self.env = self.env.clone().with("DATABASE_URL", url);
    }

    /// The worker's variables, with some changed.
    pub fn worker_env(&self, vars: &[(&str, &str)]) -> Env {
        let mut env = self.env.clone();
        for (name, value) in vars {
            env = env.with(name, *value);
        }
        env
    }

    /// The app a worker of this world opens, NATS connected.
    pub async fn app(&self) -> App {
        connect_app(&self.env).await
    }

    /// The check handler, as the worker builds it, with `policy`.
    pub async fn checks(&self, policy: TargetPolicy) -> Checks {
        let app = self.app().await;
        Checks {
            alerts: app.queues.queue(),
            app,
            prober: Prober::new(policy, 5).expect("prober"),
            thresholds: Thresholds::default(),
        }
    }

    /// A user and a monitor of theirs for `url`; not due for a day unless
    /// `due`, so the scheduler leaves it alone.
    pub async fn monitor(&self, url: &str, due: bool) -> (Uuid, Uuid) {
        let user_id = Uuid::now_v7();
        sqlx::query("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')")
            .bind(user_id)
            .bind(format!("{user_id}@example.com"))
            .execute(&self.db)
            .await
            .expect("insert user");
        let monitor_id = self.add_monitor(user_id, url, due).await;
        (user_id, monitor_id)
    }

    pub async fn add_monitor(&self, user_id: Uuid, url: &str, due: bool) -> Uuid {
        let monitor_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO monitors (id, user_id, name, url, method, interval_seconds, timeout_ms, expected_status, next_check_at)
             VALUES ($1, $2, 'test', $3, 'GET', 60, 5000, 200,
                     CASE WHEN $4 THEN now() ELSE now() + interval '1 day' END)",
        )
        .bind(monitor_id)
        .bind(user_id)
        .bind(url)
        .bind(due)
        .execute(&self.db)
        .await
        .expect("insert monitor");
        monitor_id
    }

    /// Queues checks the way the api does; their check ids.
    pub async fn queue_checks(&self, monitor_id: Uuid, count: usize) -> Vec<Uuid> {
        let jobs: Vec<CheckMonitor> = (0..count)
            .map(|_| CheckMonitor::new(monitor_id, CheckTrigger::Manual))
            .collect();
        let ids = jobs.iter().map(|j| j.check_id).collect();
        let app = self.app().await;
        let queue = app.queues.queue::<CheckMonitor>();
        queue.push_all(jobs).await.expect("enqueue");
        // The wake-up is on its way before these connections close.
        app.nats.flush().await.expect("flush");
        ids
    }

    pub async fn check_ids(&self, monitor_id: Uuid) -> Vec<Uuid> {
        sqlx::query_scalar("SELECT id FROM checks WHERE monitor_id = $1 ORDER BY id")
            .bind(monitor_id)
            .fetch_all(&self.db)
            .await
            .expect("checks")
    }

    pub async fn checks_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM checks")
            .fetch_one(&self.db)
            .await
            .expect("count")
    }

    pub async fn monitor_state(&self, monitor_id: Uuid) -> String {
        sqlx::query_scalar("SELECT state FROM monitors WHERE id = $1")
            .bind(monitor_id)
            .fetch_one(&self.db)
            .await
            .expect("state")
    }

    /// Waits until exactly these checks are recorded for the monitor.
    pub async fn wait_for_checks(&self, monitor_id: Uuid, expected: &[Uuid], within: Duration) {
        let mut expected = expected.to_vec();
        expected.sort();
        eventually(within, "the checks to be recorded", || async {
            self.check_ids(monitor_id).await.len() >= expected.len()
        })
        .await;
        assert_eq!(
            self.check_ids(monitor_id).await,
            expected,
            "each check recorded once"
        );
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }

    /// Task ids in every in-flight set of the check queue.
    pub async fn in_flight(&self) -> usize {
        let mut conn = self.redis().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:inflight:*", self.queue))
            .query_async(&mut conn)
            .await
            .expect("keys");
        let mut total = 0;
        for key in keys {
            let n: usize = redis::cmd("SCARD")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("scard");
            total += n;
        }
        total
    }
}

pub fn allow_all() -> TargetPolicy {
    TargetPolicy {
        allow_private: true,
        exceptions: Vec::new(),
    }
}

/// The worker binary, as Fly runs it, with `env`'s variables only.
pub fn worker_process(env: &Env) -> Child {
    Command::new(worker::testing::binary())
        .env_clear()
        .envs(env.vars())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker binary")
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// A local HTTP server for checks to probe.
pub struct TestTarget {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

#[derive(serde::Deserialize)]
struct RedirectTo {
    to: String,
}

impl TestTarget {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1").await
    }

    /// On another loopback address, e.g. 127.0.0.2.
    pub async fn start_on(ip: &str) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let app = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/slow/{ms}",
                get(|Path(ms): Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "slow"
                }),
            )
            .route(
                "/status/{code}",
                get(|Path(code): Path<u16>| async move {
                    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
                }),
            )
            .route(
                "/redirect",
                get(|Query(q): Query<RedirectTo>| async move {
                    (StatusCode::FOUND, [(header::LOCATION, q.to)]).into_response()
                }),
            )
            .layer(axum::middleware::from_fn(
                move |request, next: axum::middleware::Next| {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        next.run(request).await
                    }
                },
            ));
        let listener = TcpListener::bind((ip, 0)).await.expect("bind target");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Self {
            addr,
            hits,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A TCP proxy in front of Postgres that a test can cut and restore, to
/// make the database refuse connections without touching the shared server.
pub struct TcpProxy {
    pub port: u16,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let proxy = Self {
            port: free_port(),
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.open().await;
        proxy
    }

    /// Listens again on the same port.
    pub async fn open(&self) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .expect("bind proxy");
        let listener = socket.listen(64).expect("listen");
        let upstream = self.upstream;
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("lock").push(relay);
            }
        });
        self.tasks.lock().expect("lock").push(accept);
    }

    /// Refuses new connections and drops the open ones.
    pub fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    pub fn url_for(&self, database_url: &str) -> String {
        database_url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", self.port))
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
