//! The real worker in a test: in this process ([`spawn_worker`]) or as the
//! binary Fly runs ([`binary`]) (feature `test-helpers`).

use std::{path::PathBuf, time::Duration};

use platform::config::Env;
use tokio::{sync::oneshot, task::JoinHandle};

use platform::service::Service;

use crate::server::Worker;

/// Settings fast enough for tests: 50 ms polls, 1 s heartbeats (a 2 s orphan
/// timeout), 100 ms retries, private targets allowed (targets are local).
pub const FAST: &[(&str, &str)] = &[
    ("ALLOW_PRIVATE_TARGETS", "true"),
    ("POLL_INTERVAL_MS", "50"),
    ("HEARTBEAT_INTERVAL_SECS", "1"),
    ("MISSED_HEARTBEATS", "2"),
    ("SCHEDULER_TICK_MS", "100"),
    ("SHUTDOWN_TIMEOUT_SECS", "10"),
    ("JOB_RETRY_BASE_DELAY_MS", "100"),
];

/// `env` with [`FAST`] applied.
pub fn fast(mut env: Env) -> Env {
    for (name, value) in FAST {
        env = env.with(name, *value);
    }
    env
}

/// A worker running in this process.
pub struct RunningWorker {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_worker(env: Env) -> RunningWorker {
    platform::testing::init_tracing();
    let worker = Worker::build(env).await.expect("build worker");
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

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The worker binary, as Fly runs it: built beside the test binary by
/// `cargo test --workspace` / `cargo nextest run --workspace`.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/worker
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("worker"))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: run the tests with --workspace, or `cargo build -p worker` first",
        path.display()
    );
    path
}
