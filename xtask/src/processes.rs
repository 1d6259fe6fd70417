//! The servers a harness starts (the api, the worker, nginx, a Redis of its
//! own…) and how they end. Each runs in a process group of its own with its
//! output in `<logs>/<name>.log`, and is stopped with SIGTERM, as Fly stops a
//! machine, last started first, whenever the harness ends: when it returns,
//! fails or panics (`Drop`), on Ctrl-C or SIGTERM ([`guard_signals`]), and
//! when the harness is killed outright (the kernel sends the parent-death
//! signal that `setpriv --pdeathsig` sets).
//!
//! Nothing here may leave a server running: a user who runs
//! `scripts/test.sh` twice must not find the first run's nginx on its ports.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::show;

/// Longer than the api's own drain (SHUTDOWN_TIMEOUT_SECS, 20 s by default).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Every server started and not yet stopped, in start order, across all
/// [`Processes`]: what the signal thread stops.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Turns Ctrl-C, SIGTERM and SIGHUP into an orderly end: the signal thread
/// stops every live server (SIGTERM), and the task, whose commands and
/// waits then fail, unwinds through its cleanups. A second signal kills
/// what is left and exits at once.
///
/// The signals are caught by a handler, not blocked: a blocked signal stays
/// blocked in every command started afterwards (std does not reset the
/// mask), and a server that cannot see SIGTERM is never stopped gracefully.
/// A handled signal goes back to its default in the command it execs.
pub fn guard_signals() -> anyhow::Result<()> {
    let (registered, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = registered.send(Err(anyhow::Error::from(error)));
                    return;
                }
            };
            runtime.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let streams = [
                    (SignalKind::interrupt(), "SIGINT"),
                    (SignalKind::terminate(), "SIGTERM"),
                    (SignalKind::hangup(), "SIGHUP"),
                ]
                .map(|(kind, name)| signal(kind).map(|stream| (stream, name)));
                let [Ok(mut int), Ok(mut term), Ok(mut hup)] = streams else {
                    let _ = registered.send(Err(anyhow::anyhow!("installing signal handlers")));
                    return;
                };
                let _ = registered.send(Ok(()));
                loop {
                    let signal = tokio::select! {
                        _ = int.0.recv() => int.1,
                        _ = term.0.recv() => term.1,
                        _ = hup.0.recv() => hup.1,
                    };
                    on_signal(signal);
                }
            });
        })
        .context("starting the signal thread")?;
    ready
        .recv()
        .context("the signal thread ended before it was ready")?
}

fn on_signal(signal: &str) {
    let live = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        for pid in live.iter().rev() {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        std::process::exit(130);
    }
    show::progress(&format!(
        "{signal}: stopping {} server(s), then cleaning up",
        live.len()
    ));
    for pid in live.iter().rev() {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
}

/// Whether Ctrl-C or SIGTERM arrived: long waits give up when it did.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails once the run was interrupted, so a task stops between steps.
pub fn check_interrupted() -> anyhow::Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

struct Started {
    name: String,
    child: Child,
}

/// The servers one harness started, stopped together when it ends.
pub struct Processes {
    logs: PathBuf,
    started: Vec<Started>,
    dry_run: bool,
    /// Servers that may outlive the harness ([`Processes::detach`]).
    detachable: bool,
}

impl Processes {
    /// Servers whose logs go to `logs` (created if missing).
    pub fn new(logs: impl Into<PathBuf>, dry_run: bool) -> anyhow::Result<Self> {
        let logs = logs.into();
        if !dry_run {
            std::fs::create_dir_all(&logs)
                .with_context(|| format!("creating {}", logs.display()))?;
        }
        Ok(Self {
            logs,
            started: Vec::new(),
            dry_run,
            detachable: false,
        })
    }

    /// Servers the harness may leave running when it succeeds
    /// ([`Processes::detach`]); until then they are stopped like any others.
    pub fn detachable(logs: impl Into<PathBuf>, dry_run: bool) -> anyhow::Result<Self> {
        let mut processes = Self::new(logs, dry_run)?;
        processes.detachable = true;
        Ok(processes)
    }

    /// Leaves every server running, and returns their names and pids.
    pub fn detach(mut self) -> Vec<(String, u32)> {
        let started = std::mem::take(&mut self.started);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|pid| !started.iter().any(|s| s.child.id() as i32 == *pid));
        }
        started
            .into_iter()
            .map(|s| (s.name, s.child.id()))
            .collect()
    }

    pub fn log_file(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// Starts `command` in the background as `name`. Under `--dry-run` it
    /// is only shown.
    pub fn start(&mut self, name: &str, command: Command) -> anyhow::Result<()> {
        // The kernel stops it if this harness dies without cleaning up.
        // Started from the main thread: the signal is sent when the thread
        // that started it ends.
        let mut wrapped = if self.detachable {
            Command::new(command.get_program())
        } else {
            let mut setpriv = Command::new("setpriv");
            setpriv.args(["--pdeathsig", "TERM", "--"]);
            setpriv.arg(command.get_program());
            setpriv
        };
        wrapped.args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        show::progress(&format!(
            "starting {name}, logging to {}",
            self.log_file(name).display()
        ));
        show::progress(&show::shown(&command));
        if self.dry_run {
            return Ok(());
        }
        check_interrupted()?;
        let log = std::fs::File::create(self.log_file(name))
            .with_context(|| format!("creating {}", self.log_file(name).display()))?;
        use std::os::unix::process::CommandExt;
        let child = wrapped
            // Ctrl-C reaches the harness only, which stops everything in order.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        if let Ok(mut live) = LIVE.lock() {
            live.push(child.id() as i32);
        }
        self.started.push(Started {
            name: name.to_owned(),
            child,
        });
        Ok(())
    }

    /// The names of the servers, in start order.
    pub fn names(&self) -> Vec<String> {
        self.started.iter().map(|s| s.name.clone()).collect()
    }

    /// The pid of a running server.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.started
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.child.id())
    }

    /// Fails, with the end of its log, if `name` has exited.
    pub fn check_running(&mut self, name: &str) -> anyhow::Result<()> {
        let log = self.log_file(name);
        let Some(started) = self.started.iter_mut().find(|s| s.name == name) else {
            return Ok(());
        };
        if let Some(status) = started.child.try_wait()? {
            bail!(
                "{name} exited ({status}); the end of {}:\n{}",
                log.display(),
                tail(&log, 20)
            );
        }
        Ok(())
    }

    /// Waits until `url` answers 200 while `name` keeps running.
    pub fn wait_for_200(&mut self, name: &str, url: &str, within: Duration) -> anyhow::Result<()> {
        show::progress(&format!("waiting for {url}"));
        if self.dry_run {
            return Ok(());
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + within;
        loop {
            check_interrupted()?;
            self.check_running(name)?;
            if let Ok(response) = client.get(url).send()
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{url} did not answer 200 within {within:?}; see {}",
                    self.log_file(name).display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops `name`: SIGTERM, and SIGKILL if it is still there after
    /// [`STOP_TIMEOUT`]. Never SIGKILL first: nginx's master would leave
    /// its workers running.
    pub fn stop(&mut self, name: &str) {
        if let Some(index) = self.started.iter().position(|s| s.name == name) {
            let started = self.started.remove(index);
            stop(started);
        }
    }

    /// Stops every server, last started first.
    pub fn stop_all(&mut self) {
        while let Some(started) = self.started.pop() {
            stop(started);
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn stop(mut started: Started) {
    let pid = started.child.id() as i32;
    if let Ok(None) = started.child.try_wait() {
        show::progress(&format!("stopping {} (pid {pid})", started.name));
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while let Ok(None) = started.child.try_wait() {
            if Instant::now() >= deadline {
                show::progress(&format!(
                    "{} did not stop within {STOP_TIMEOUT:?}; killing it",
                    started.name
                ));
                let _ = started.child.kill();
                let _ = started.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| *p != pid);
    }
}

/// Waits for a command the task runs in the foreground (a build, a test
/// runner), which the signal thread stops too while it runs.
pub fn wait_foreground(child: Child) -> anyhow::Result<std::process::Output> {
    let pid = child.id() as i32;
    if let Ok(mut live) = LIVE.lock() {
        live.push(pid);
    }
    let output = child.wait_with_output();
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| *p != pid);
    }
    Ok(output?)
}

/// Makes this process the reaper of its orphaned descendants: a server
/// whose parent exited without stopping it becomes a child of this
/// process, where [`leftovers`] finds it.
pub fn adopt_orphans() -> anyhow::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).context("becoming a subreaper")
}

/// A process below this one that a step left behind.
#[derive(Debug)]
pub struct Leftover {
    pub pid: i32,
    pub name: String,
    pub command_line: String,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}: {})", self.pid, self.name, self.command_line)
    }
}

/// How long what ends on its own (Chromium's helpers after the browser) is
/// given before it counts as left behind.
const SETTLE: Duration = Duration::from_secs(3);

/// The processes below this one still running once its own servers and
/// commands have ended: after a step, each is a process the step left
/// behind. What is ending is waited for (up to [`SETTLE`]), and the dead
/// among the orphans this process adopted are reaped, as a subreaper must,
/// or they stay zombies of whatever adopts them when this process exits.
pub fn leftovers() -> Vec<Leftover> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let found = descendants();
        if found.is_empty() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One process, as /proc shows it.
#[derive(Debug)]
pub struct Process {
    pub pid: i32,
    pub parent: i32,
    pub zombie: bool,
    pub name: String,
}

impl Process {
    /// None once it is gone.
    pub fn read(pid: i32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid …, where comm may hold spaces and parentheses.
        let (head, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_whitespace();
        let zombie = fields.next()? == "Z";
        let parent = fields.next()?.parse().ok()?;
        let name = head.split_once('(')?.1.to_owned();
        Some(Self {
            pid,
            parent,
            zombie,
            name,
        })
    }

    /// Its arguments, joined by spaces; empty once it is gone.
    pub fn command_line(&self) -> String {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|a| {
                String::from_utf8_lossy(&a)
                    .replace('\0', " ")
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default()
    }
}

/// Every process on this machine.
pub fn all() -> Vec<Process> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Process::read(entry.file_name().to_str()?.parse().ok()?))
        .collect()
}

/// One pass over /proc: reaps this process's dead adopted children, and
/// returns every living process below it outside the servers and commands
/// it tracks (those are waited for where they were started).
fn descendants() -> Vec<Leftover> {
    let me = std::process::id() as i32;
    let tracked = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    let all = all();
    let mut below = vec![me];
    let mut found = Vec::new();
    while let Some(parent) = below.pop() {
        for process in all.iter().filter(|p| p.parent == parent) {
            if tracked.contains(&process.pid) {
                continue;
            }
            if process.zombie {
                if parent == me {
                    let _ = nix::sys::wait::waitpid(
                        Pid::from_raw(process.pid),
                        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                    );
                }
                continue;
            }
            below.push(process.pid);
            found.push(Leftover {
                pid: process.pid,
                name: process.name.clone(),
                command_line: process.command_line(),
            });
        }
    }
    found
}

/// Stops what [`leftovers`] finds (SIGTERM, then SIGKILL after 10 s), and
/// reaps it, so a failed run leaves nothing behind either.
pub fn stop_leftovers() {
    let signal_all = |signal| {
        for leftover in descendants() {
            let _ = kill(Pid::from_raw(leftover.pid), signal);
        }
    };
    signal_all(Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !descendants().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_all(Signal::SIGKILL);
    let deadline = Instant::now() + SETTLE;
    while !descendants().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `lines` lines of a log, for an error message.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
