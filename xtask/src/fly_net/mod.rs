//! `cargo xtask fly-net`: Beacon on a Fly-like private network built on this
//! machine, the way Fly wires it, and driven from the user's side.
//!
//! Every machine is a network namespace with one IPv6 address in
//! `fdaa::/16` and nothing else; names come from a DNS server at `[fdaa::3]`
//! (`dns.rs`); `<prefix>-api.flycast` is a relay over the live api machines
//! (`proxy.rs`). The processes get exactly the environment `fly/*.toml` and
//! `scripts/deploy-fly.sh` give them on Fly (`fly_env.rs`), so a drift
//! there fails here. Then: sign up and watch a check arrive over
//! `/api/events` through nginx; replace an api machine and move the api's
//! Flycast address, and see nginx follow without a reload; see the worker
//! refuse `fdaa:` targets while the services talk over those very addresses.
//!
//! Needs root (namespaces), `ip`, `dnsmasq`, `nginx`, `nats-server` and
//! `redis-server`; scripts/test.sh installs what is missing.

mod client;
mod dns;
mod fly_env;
mod net;
mod proxy;

use std::{
    net::{Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::{Child, Command};

use self::{
    client::User,
    dns::Dns,
    fly_env::FlyEnv,
    net::{Network, SERVICES},
    proxy::{Backends, Relay},
};

/// Run Beacon on a Fly-like private network built on this machine (root)
///
/// A namespace per machine with only an fdaa: address, DNS at [fdaa::3], a
/// Flycast stand-in, the environment of fly/*.toml and the deploy script;
/// then a user's journey through nginx (the skeleton's contract and each
/// area's scenario), replace an api machine and move the Flycast address.
/// Removes everything it made, also when a step fails or it is stopped.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// The api binary [default: <target>/debug/api, built first].
    #[arg(long, value_name = "PATH")]
    pub api_bin: Option<PathBuf>,
    /// The worker binary [default: <target>/debug/worker, built first].
    #[arg(long, value_name = "PATH")]
    pub worker_bin: Option<PathBuf>,
    /// Print the steps and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The options with the binaries found.
struct Run {
    root: PathBuf,
    api_bin: PathBuf,
    worker_bin: PathBuf,
}

/// Two Flycast addresses: the api's, and the one it moves to.
const FLYCAST: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfdaa, 0, 0x1, 0, 0x1, 0, 0, 0xf1),
    Ipv6Addr::new(0xfdaa, 0, 0x1, 0, 0x1, 0, 0, 0xf2),
];
const NATS_NODES: usize = 3;
/// How long a step may take before the run fails, waiting on what it
/// started (processes, nginx's DNS cache of 10 s).
const STEP: Duration = Duration::from_secs(30);

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let target = crate::cmd::target_dir(root);
    let run = Run {
        root: root.to_path_buf(),
        api_bin: options
            .api_bin
            .clone()
            .unwrap_or_else(|| target.join("debug/api")),
        worker_bin: (options.worker_bin.clone()).unwrap_or_else(|| target.join("debug/worker")),
    };
    let plan = [
        "a bridge with [fdaa::3] (dnsmasq) and [fdaa::1] (Redis, Postgres forwarder)",
        "3 NATS machines, the release command, 2 api machines, a worker, the web machine",
        "<prefix>-api.flycast: a relay over the live api machines",
        "a client linked to the web machine only",
        "a user's journey through nginx: the skeleton's contract, then each area's scenario",
        "replace an api machine; move the Flycast address",
    ];
    if options.dry_run {
        for step in plan {
            println!("would run: {step}");
        }
        return Ok(());
    }
    // Run alone, it must not run binaries an older checkout left (in
    // cargo xtask test, the end-to-end step built them: a no-op here).
    if options.api_bin.is_none() || options.worker_bin.is_none() {
        crate::cmd::Runner { dry_run: false }.run(
            crate::cmd::cargo()
                .args(["build", "--quiet", "-p", "api", "-p", "worker"])
                .env("SQLX_OFFLINE", "true")
                .current_dir(root),
        )?;
    }
    preflight(&run)?;
    // The processes started here inherit it: how the check for leftovers
    // recognises them.
    std::env::set_current_dir(root)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let started = Instant::now();
            let id = format!("bf{:04x}", rand::random::<u16>());
            let mut world = World::new(&run, &id)?;
            // Whatever happens, everything made is removed: on an error,
            // and on Ctrl-C or SIGTERM.
            let outcome = tokio::select! {
                outcome = scenario(&mut world) => outcome,
                _ = interrupted() => Err(anyhow::anyhow!("interrupted")),
            };
            world.teardown().await;
            drop(world);
            // Checked whether the run passed or not.
            let clean = leftovers(&id, root);
            outcome?;
            clean?;
            proved("nothing is left: no namespace, link or process of this run");
            println!("fly-net: proved in {:.0?}", started.elapsed());
            Ok(())
        })
}

/// Fails if a namespace or link named after this run outlived it, or a
/// process started here still runs in a namespace of its own (a deleted
/// namespace lives on, nameless, as long as a process holds it).
fn leftovers(id: &str, root: &std::path::Path) -> anyhow::Result<()> {
    let namespaces = net::run("ip", &["netns", "list"])?;
    let links = net::run("ip", &["-brief", "link"])?;
    let mut found: Vec<String> = String::from_utf8_lossy(&namespaces.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&links.stdout).lines())
        .filter(|line| line.starts_with(id))
        .map(|line| {
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let own = std::fs::read_link("/proc/self/ns/net")?;
    let root = root.canonicalize()?;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let proc = entry.path();
        let (Ok(net), Ok(cwd)) = (
            std::fs::read_link(proc.join("ns/net")),
            std::fs::read_link(proc.join("cwd")),
        ) else {
            continue;
        };
        if net != own && cwd == root {
            let name = std::fs::read_to_string(proc.join("comm")).unwrap_or_default();
            found.push(format!(
                "process {} ({})",
                entry.file_name().to_string_lossy(),
                name.trim()
            ));
        }
    }
    if !found.is_empty() {
        bail!("left behind: {}", found.join(", "));
    }
    Ok(())
}

async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn preflight(options: &Run) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("fly-net builds network namespaces: run it as root");
    }
    for tool in [
        "ip",
        "dnsmasq",
        "nginx",
        "nats-server",
        "redis-server",
        "psql",
    ] {
        let found = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            bail!("{tool} is not installed (scripts/test.sh installs it)");
        }
    }
    for binary in [&options.api_bin, &options.worker_bin] {
        if !binary.is_file() {
            bail!(
                "{} is not built: cargo build -p api -p worker",
                binary.display()
            );
        }
    }
    Ok(())
}

fn step(what: &str) {
    println!("==> {what}");
}

fn proved(what: &str) {
    println!("  proved: {what}");
}

/// A machine: its namespace, address and process.
struct Machine {
    namespace: String,
    address: Ipv6Addr,
    child: Child,
}

struct World {
    root: PathBuf,
    dir: PathBuf,
    network: Network,
    fly: FlyEnv,
    api_bin: PathBuf,
    worker_bin: PathBuf,
    dns: Option<Dns>,
    relays: Vec<Relay>,
    flycast: Backends,
    redis: Option<Child>,
    database: String,
    nats: Vec<Machine>,
    apis: Vec<Machine>,
    worker: Option<Machine>,
    web: Option<Machine>,
    client: Option<String>,
}

impl World {
    fn new(options: &Run, id: &str) -> anyhow::Result<Self> {
        let dir = options.root.join(".artifacts/fly-net");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let database = format!("beacon_flynet_{id}");
        let fly = FlyEnv::read(&options.root, &database)?;
        Ok(Self {
            root: options.root.clone(),
            dir,
            network: Network::create(id)?,
            fly,
            api_bin: options.api_bin.clone(),
            worker_bin: options.worker_bin.clone(),
            dns: None,
            relays: Vec::new(),
            flycast: Backends::default(),
            redis: None,
            database,
            nats: Vec::new(),
            apis: Vec::new(),
            worker: None,
            web: None,
            client: None,
        })
    }

    fn dns(&mut self) -> &mut Dns {
        self.dns.as_mut().expect("DNS runs")
    }

    /// Starts `command` in a new machine named `name`, logging to
    /// `.artifacts/fly-net/<name>.log`, with exactly `env` (and PATH).
    fn start_machine(
        &mut self,
        name: &str,
        command: &[&str],
        env: &[(String, String)],
    ) -> anyhow::Result<Machine> {
        let (namespace, address) = self.network.add_machine(name)?;
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &namespace])
            .args(command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "FLY_MACHINE_ID",
                format!("{:014x}", rand::random::<u64>() >> 8),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Machine {
            namespace,
            address,
            child,
        })
    }

    async fn teardown(&mut self) {
        let machines = self
            .web
            .iter_mut()
            .chain(self.worker.iter_mut())
            .chain(self.apis.iter_mut())
            .chain(self.nats.iter_mut());
        for machine in machines {
            stop(&mut machine.child).await;
        }
        if let Some(redis) = self.redis.as_mut() {
            stop(redis).await;
        }
        self.relays.clear();
        self.dns = None;
        self.network.teardown();
        let _ = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .output();
    }
}

async fn scenario(world: &mut World) -> anyhow::Result<()> {
    step("Network: the bridge, [fdaa::3] and the services on [fdaa::1]");
    world.dns = Some(Dns::start(&world.dir)?);
    let redis = Command::new("redis-server")
        .args(["--bind", &SERVICES.to_string(), "--port", "6379"])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting redis-server")?;
    world.redis = Some(redis);
    for name in [
        fly_env::POSTGRES_POOLED,
        fly_env::POSTGRES_DIRECT,
        fly_env::REDIS,
    ] {
        world.dns().set(name, &[SERVICES])?;
    }
    let postgres = Backends::default();
    postgres.set(vec!["127.0.0.1:5432".parse()?]);
    world
        .relays
        .push(proxy::start(SocketAddr::new(SERVICES.into(), 5432), postgres).await?);
    net::run(
        "psql",
        &[
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-X",
            "-q",
            "-c",
            &format!("CREATE DATABASE {}", world.database),
        ],
    )?;

    step("NATS: three machines, found through <prefix>-nats.internal");
    let nats_app = world.fly.app("nats");
    for index in 0..NATS_NODES {
        let mut env = world.fly.nats_env();
        // Where docker/Dockerfile.nats puts the file, here the file itself.
        let conf = world.root.join("docker/nats/nats.conf");
        env.push(("NATS_CONFIG".into(), conf.to_string_lossy().into_owned()));
        let entrypoint = world.root.join("docker/nats/entrypoint.sh");
        let machine = world.start_machine(
            &format!("nats{index}"),
            &["sh", &entrypoint.to_string_lossy()],
            &env,
        )?;
        world.nats.push(machine);
    }
    let nats_addresses: Vec<Ipv6Addr> = world.nats.iter().map(|m| m.address).collect();
    let region = world.fly.region().to_owned();
    world
        .dns()
        .set(&format!("{nats_app}.internal"), &nats_addresses)?;
    world
        .dns()
        .set(&format!("{region}.{nats_app}.internal"), &nats_addresses)?;
    for address in &nats_addresses {
        let routes = format!("http://[{address}]:8222/routez");
        wait_for(
            &format!("NATS on {address} routing to its peers"),
            || async {
                get_json(&routes).await.is_some_and(|routez| {
                    routez["num_routes"].as_u64() == Some((NATS_NODES - 1) as u64)
                })
            },
        )
        .await?;
    }
    proved("the NATS nodes listen on [::] and mesh through <region>.<prefix>-nats.internal");

    step("The release command, then two api machines behind <prefix>-api.flycast");
    let api_env = world.fly.app_env("api")?;
    let api_bin = world.api_bin.to_string_lossy().into_owned();
    let mut release = world.start_machine("release", &[&api_bin, "migrate", "run"], &api_env)?;
    let status = tokio::time::timeout(STEP, release.child.wait())
        .await
        .context("the release command did not finish")??;
    if !status.success() {
        bail!("the release command failed: see .artifacts/fly-net/release.log");
    }
    world.network.remove_machine(&release.namespace)?;
    for index in 1..=2 {
        let machine =
            world.start_machine(&format!("api{index}"), &[&api_bin, "serve"], &api_env)?;
        world.apis.push(machine);
    }
    world.network.add_host_address(FLYCAST[0])?;
    world.relays.push(
        proxy::start(
            SocketAddr::new(FLYCAST[0].into(), 80),
            world.flycast.clone(),
        )
        .await?,
    );
    let api_app = world.fly.app("api");
    publish_api_machines(world)?;
    world
        .dns()
        .set(&format!("{api_app}.flycast"), &[FLYCAST[0]])?;
    for machine in &world.apis {
        let ready = format!("http://[{}]:8080/api/ready", machine.address);
        wait_for(&format!("the api on {} ready", machine.address), || async {
            status_of(&ready).await == Some(200)
        })
        .await?;
    }
    proved(
        "the api binds [::]: reachable on its fdaa: address alone, and ready (Postgres, Redis, NATS)",
    );

    step("The worker and the web machine; a client that reaches only the web");
    let worker_env = world.fly.app_env("worker")?;
    let worker_bin = world.worker_bin.to_string_lossy().into_owned();
    let worker = world.start_machine("worker", &[&worker_bin], &worker_env)?;
    let worker_ready = format!("http://[{}]:9092/ready", worker.address);
    world.worker = Some(worker);
    wait_for("the worker ready", || async {
        status_of(&worker_ready).await == Some(200)
    })
    .await?;
    let nginx_dir = world.dir.join("nginx");
    world.fly.render_nginx(&world.root, &nginx_dir)?;
    let nginx_conf = nginx_dir.join("nginx.conf").to_string_lossy().into_owned();
    let nginx_prefix = nginx_dir.to_string_lossy().into_owned();
    let web = world.start_machine(
        "web",
        &["nginx", "-p", &nginx_prefix, "-c", &nginx_conf],
        &[],
    )?;
    let client_ns = world.network.add_client(&web.namespace)?;
    world.web = Some(web);
    world.client = Some(client_ns.clone());

    let user = User::new(&client_ns);
    wait_for("/api/ready through nginx, from the client", || {
        let user = user.clone();
        async move { user.status("/api/ready").await == Some(200) }
    })
    .await?;
    proved(
        "the client reaches the web machine; nginx reaches the api through <prefix>-api.flycast and [fdaa::3]",
    );
    if user
        .reaches(SocketAddr::new(world.apis[0].address.into(), 8080))
        .await
    {
        bail!("the client reaches an api machine directly; it must see the web machine only");
    }
    proved("the client cannot reach an api machine: only the web machine is on its link");
    let api_ns = world.apis[0].namespace.clone();
    let internal = net::in_ns(
        &api_ns,
        &["getent", "ahostsv6", &format!("{api_app}.internal")],
    )?;
    let answered = String::from_utf8_lossy(&internal.stdout);
    if world
        .apis
        .iter()
        .any(|m| !answered.contains(&m.address.to_string()))
    {
        bail!("{api_app}.internal does not answer every api machine: {answered}");
    }
    if net::in_ns(&api_ns, &["getent", "hosts", "example.com"]).is_ok() {
        bail!("[fdaa::3] answered a name it was not given");
    }
    proved(&format!(
        "[fdaa::3] answers {api_app}.internal with every api machine, and no other name"
    ));

    step("A user's journey through nginx: the skeleton's contract, then each area's");
    // Private addresses of this network: the api machine's, and [fdaa::3].
    let inside = vec![
        format!("http://[{}]:8080/api/health", world.apis[0].address),
        format!("http://[{}]/", net::DNS),
    ];
    user.journey(inside).await?;

    step("Replace an api machine: a new one on a new address");
    let old = world.apis.remove(1);
    let old_address = old.address;
    drop_machine(world, old).await?;
    let machine = world.start_machine("api3", &[&api_bin, "serve"], &api_env)?;
    let new_address = machine.address;
    world.apis.push(machine);
    publish_api_machines(world)?;
    let ready = format!("http://[{new_address}]:8080/api/ready");
    wait_for("the new api machine ready", || async {
        status_of(&ready).await == Some(200)
    })
    .await?;
    // Only the new machine is left to serve: the first one goes too.
    let first = world.apis.remove(0);
    drop_machine(world, first).await?;
    publish_api_machines(world)?;
    wait_for("/api/ready through nginx on the new machine alone", || {
        let user = user.clone();
        async move { user.status("/api/ready").await == Some(200) }
    })
    .await?;
    if status_of(&format!("http://[{old_address}]:8080/api/health"))
        .await
        .is_some()
    {
        bail!("the replaced machine's address still answers");
    }
    proved(&format!(
        "requests reach the new machine [{new_address}]; the old address [{old_address}] is gone"
    ));

    step("Move the api's Flycast address: nginx resolves it per request");
    world.network.add_host_address(FLYCAST[1])?;
    world.relays.push(
        proxy::start(
            SocketAddr::new(FLYCAST[1].into(), 80),
            world.flycast.clone(),
        )
        .await?,
    );
    world
        .dns()
        .set(&format!("{api_app}.flycast"), &[FLYCAST[1]])?;
    world.network.remove_host_address(FLYCAST[0])?;
    world.relays.remove(1);
    wait_for(
        "/api/ready through nginx at the new Flycast address",
        || {
            let user = user.clone();
            async move { user.status("/api/ready").await == Some(200) }
        },
    )
    .await?;
    proved(&format!(
        "nginx follows {api_app}.flycast to [{}] without a reload",
        FLYCAST[1]
    ));
    Ok(())
}

/// Tells DNS (`<prefix>-api.internal`) and the Flycast relay which api
/// machines are live.
fn publish_api_machines(world: &mut World) -> anyhow::Result<()> {
    let addresses: Vec<Ipv6Addr> = world.apis.iter().map(|m| m.address).collect();
    world.flycast.set(
        addresses
            .iter()
            .map(|a| SocketAddr::new((*a).into(), 8080))
            .collect(),
    );
    let app = world.fly.app("api");
    world.dns().set(&format!("{app}.internal"), &addresses)
}

/// A machine stopped and gone, as Fly replaces one.
async fn drop_machine(world: &mut World, mut machine: Machine) -> anyhow::Result<()> {
    stop(&mut machine.child).await;
    world.network.remove_machine(&machine.namespace)
}

/// SIGTERM, as Fly stops a machine, then SIGKILL if it is still there
/// after a while. Never SIGKILL first: nginx's master would leave its
/// workers running, holding the deleted namespace.
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

async fn wait_for<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        if check().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("timed out after {STEP:?} waiting for {what} (logs in .artifacts/fly-net/)")
}

/// From the host's namespace, which is on the bridge as [fdaa::1].
async fn status_of(url: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn get_json(url: &str) -> Option<Value> {
    reqwest::get(url).await.ok()?.json().await.ok()
}
