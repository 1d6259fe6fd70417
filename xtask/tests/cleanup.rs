//! A harness leaves nothing of its own running, also when it does not get
//! to finish: the browser end to end (`cargo xtask e2e`) is stopped with
//! SIGTERM, as CI stops a job or a user presses Ctrl-C, while its nginx
//! servers, apis, worker and Chromium run. Then none of them may be left.
//! (A run that finishes checks the same itself, and fails if it finds one.)

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use xtask::repo_root;

/// Any end-to-end run's nginx, api, worker or Chromium.
fn end_to_end_processes(artifacts: &Path) -> Vec<String> {
    xtask::e2e::running(artifacts, "QUEUE_PREFIX=beacon:e2e:")
}

#[test]
fn an_end_to_end_run_stopped_halfway_leaves_no_nginx_api_worker_or_chromium() {
    let root = repo_root();
    let artifacts = root.join(".artifacts/e2e");
    assert_eq!(
        end_to_end_processes(&artifacts),
        Vec::<String>::new(),
        "an earlier run left these running"
    );

    // What the run orphans and does not reap becomes this process's, where
    // the end of the test finds it.
    nix::sys::prctl::set_child_subreaper(true).expect("becoming a subreaper");
    let mut run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("e2e")
        .current_dir(&root)
        .env("SQLX_OFFLINE", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo xtask e2e starts");
    let (lines, output) = mpsc::channel();
    let stderr = run.stderr.take().expect("its stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    // Every server answers, and the browser tests have begun.
    let mut seen = Vec::new();
    loop {
        match output.recv_timeout(Duration::from_secs(600)) {
            Ok(line) => {
                let started = line.contains("==> End-to-end tests");
                seen.push(line);
                if started {
                    break;
                }
            }
            Err(_) => {
                let _ = run.kill();
                panic!(
                    "the run did not reach its tests:\n{}",
                    seen[seen.len().saturating_sub(40)..].join("\n")
                );
            }
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !end_to_end_processes(&artifacts).is_empty(),
        "the servers run while the tests do (or this test looks in the wrong place)"
    );

    kill(Pid::from_raw(run.id() as i32), Signal::SIGTERM).expect("SIGTERM sent");
    let status = run.wait().expect("the run ends");
    let rest: Vec<String> = output.try_iter().collect();
    assert!(!status.success(), "an interrupted run fails: {status}");

    let left = end_to_end_processes(&artifacts);
    if !left.is_empty() {
        // Not for the next run to find.
        Command::new("pkill")
            .args(["-KILL", "-f", &artifacts.display().to_string()])
            .status()
            .ok();
    }
    assert_eq!(
        left,
        Vec::<String>::new(),
        "left running after the run ended; it printed:\n{}",
        rest.join("\n")
    );
    // Chromium's helpers outlive their parents for a moment: the run adopts
    // and reaps them, or they stay zombies of whatever adopts them next.
    assert_eq!(
        adopted(),
        Vec::<String>::new(),
        "orphaned by the run and not reaped (Z is a zombie)"
    );
}

/// This process's children, each as "pid (name)" and " Z" if a zombie:
/// the test started only the run, which it has waited for.
fn adopted() -> Vec<String> {
    let me = std::process::id() as i32;
    xtask::processes::all()
        .into_iter()
        .filter(|p| p.parent == me)
        .map(|p| format!("{} ({}){}", p.pid, p.name, if p.zombie { " Z" } else { "" }))
        .collect()
}
