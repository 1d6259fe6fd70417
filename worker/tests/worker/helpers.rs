//! The worker's test harness.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, Query},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
pub use common::testing::{
    PrivateRedis, eventually, free_port, migrated_database, nats_url, redis_url, unique_queue,
};
use common::{
    config::{Env, Secret},
    jobs::{CheckMonitor, CheckTrigger},
};
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use uuid::Uuid;
use worker::{config::WorkerConfig, startup::Worker};

/// One test's world: its own database and queue, the shared Redis and NATS.
#[derive(Clone)]
pub struct TestEnv {
    pub database_url: String,
    pub db: PgPool,
    pub redis_url: String,
    pub queue: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        let (database_url, db) = migrated_database().await;
        Self {
            database_url,
            db,
            redis_url: redis_url(),
            queue: unique_queue(),
        }
    }

    /// Worker settings fast enough for tests: 50 ms polls, 1 s heartbeats,
    /// a 2 s orphan timeout, private targets allowed (targets are local).
    pub fn worker_config(&self) -> WorkerConfig {
        let mut config = WorkerConfig::from_env(&Env::from_pairs(&[
            ("WORKER_PORT", "0"),
            ("ALLOW_PRIVATE_TARGETS", "true"),
            ("POLL_INTERVAL_MS", "50"),
            ("HEARTBEAT_INTERVAL_SECS", "1"),
            ("MISSED_HEARTBEATS", "2"),
            ("SCHEDULER_TICK_MS", "100"),
            ("SHUTDOWN_TIMEOUT_SECS", "10"),
            ("RETRY_BASE_DELAY_MS", "100"),
        ]))
        .expect("test config");
        config.common.database.url = Secret::new(self.database_url.clone());
        config.common.redis_url = Secret::new(self.redis_url.clone());
        config.common.nats_url = Secret::new(nats_url());
        config.check_queue = self.queue.clone();
        config
    }

    /// The same settings as environment variables, for the worker binary.
    pub fn worker_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("WORKER_PORT", free_port().to_string()),
            ("ALLOW_PRIVATE_TARGETS", "true".into()),
            ("POLL_INTERVAL_MS", "50".into()),
            ("HEARTBEAT_INTERVAL_SECS", "1".into()),
            ("MISSED_HEARTBEATS", "2".into()),
            ("SCHEDULER_TICK_MS", "100".into()),
            ("SHUTDOWN_TIMEOUT_SECS", "10".into()),
            ("DATABASE_URL", self.database_url.clone()),
            ("REDIS_URL", self.redis_url.clone()),
            ("NATS_URL", nats_url()),
            ("CHECK_QUEUE", self.queue.clone()),
        ]
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
        let conn =
            common::redis_conn::connect_lazy(&Secret::new(self.redis_url.clone())).expect("redis");
        let mut storage = common::jobs::check_storage(conn, &self.queue);
        common::jobs::enqueue(&mut storage, jobs)
            .await
            .expect("enqueue");
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

    /// Task ids in every in-flight set of the queue.
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

/// What `execute_check` needs, for tests that run checks directly.
pub async fn check_deps(
    env: &TestEnv,
    policy: worker::outbound::TargetPolicy,
) -> worker::job::CheckDeps {
    worker::job::CheckDeps {
        db: env.db.clone(),
        nats: async_nats::connect(nats_url()).await.expect("nats"),
        prober: worker::probe::Prober::new(policy, 5).expect("prober"),
        thresholds: worker::light::Thresholds::default(),
        max_attempts: 3,
    }
}

pub fn allow_all() -> worker::outbound::TargetPolicy {
    worker::outbound::TargetPolicy {
        allow_private: true,
        exceptions: Vec::new(),
    }
}

/// A worker running in this process.
pub struct RunningWorker {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_worker(config: WorkerConfig) -> RunningWorker {
    let worker = Worker::build(config).await.expect("build worker");
    let port = worker.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run_until_stopped(async {
        let _ = stopped.await;
    }));
    RunningWorker {
        port,
        stop: Some(stop),
        handle,
    }
}

impl RunningWorker {
    /// Sends the stop signal and waits for a clean exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("worker stopped in time")
            .expect("worker task")
    }
}

/// The worker binary, as Fly runs it.
pub fn worker_process(env: &[(&'static str, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_worker"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
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
