//! `scripts/deploy-fly.sh` run against a fake flyctl and a fake curl
//! (`tests/fixtures/deploy_fly/`) that record every call and keep what they
//! "created" in the test's own directory, a Fly organisation of its own:
//!
//! - a first deploy runs the right commands in the right order, and a second
//!   run creates nothing (it only deploys and verifies);
//! - secret values never reach the output, although the fake prints them
//!   where flyctl does (mpg create, redis create, mpg attach);
//!   MIGRATION_DATABASE_URL is the direct (non-PgBouncer) URL; JWT_SECRET and
//!   the NATS passwords are 64 random hex characters, and each client's
//!   NATS_URL carries its NATS user and the password the NATS app has for it;
//! - the runbook's rotations: a NATS client without NATS_URL gets a new
//!   generation on both sides, NATS then the client are deployed, then the
//!   older generation is removed and NATS deployed again; a new route
//!   password restarts a running cluster all at once; a new database user is
//!   attached to both apps;
//! - NATS is deployed as one machine, then scaled to a cluster of three once;
//! - every question flyctl would ask is answered by a flag: the fake fails a
//!   question without a terminal, as flyctl does (redis create: eviction,
//!   ProdPack);
//! - an unknown environment, a missing prefix, bad arguments, a missing or
//!   logged-out flyctl are refused before anything changes;
//! - `--dry-run` changes nothing; `--only` keeps the deploy order, and in an
//!   environment that was never fully deployed deploys every app;
//! - production needs `--yes` without a terminal;
//! - a failed deploy stops the run; an unhealthy environment fails it;
//! - rollback redeploys the previous images of web, worker, api and nats,
//!   skipping newer releases of the image already running.
//!
//! Needs bash and jq. `KEEP_WORK=1` keeps each test's directory (its calls,
//! state and outputs) and prints where it is.

use std::{
    ffi::OsString,
    fs::{self, File},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

const PREFIX: &str = "bt-staging";
const ORG: &str = "acme";
const STAGING: [&str; 7] = [
    "staging", "--prefix", PREFIX, "--org", ORG, "--region", "ams",
];

const FAKE_FLY: &str = include_str!("fixtures/deploy_fly/fly");
const FAKE_CURL: &str = include_str!("fixtures/deploy_fly/curl");

/// The look-ups among the recorded calls: everything else changes something.
const LOOKUPS: [&str; 10] = [
    "auth whoami",
    "apps list",
    "ips list",
    "secrets list",
    "machines list",
    "mpg list",
    "redis list",
    "redis status",
    "releases",
    "curl",
];

use xtask::repo_root;

// --- the harness -------------------------------------------------------------------

/// An empty Fly organisation of the test's own: the fakes, their state and
/// their call log in one directory, removed when the test ends.
struct FlyOrg {
    dir: PathBuf,
    bin: PathBuf,
    state: PathBuf,
    log: PathBuf,
    /// The checkout the deploy script runs from: this one, or a copy of its
    /// scripts and fly files with a change.
    checkout: PathBuf,
}

/// One run of the deploy script.
struct Run {
    /// None when a signal ended it.
    status: Option<i32>,
    /// stdout and stderr, interleaved as a terminal shows them.
    output: String,
}

impl FlyOrg {
    fn new(case: &str) -> Self {
        assert!(
            system_path().iter().any(|dir| dir.join("jq").is_file()),
            "the deploy script and the fake flyctl need jq: apt-get install jq"
        );
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "beacon-deploy-fly-{case}-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("remove a leftover test directory");
        }
        let org = Self {
            bin: dir.join("bin"),
            state: dir.join("state"),
            log: dir.join("calls"),
            checkout: repo_root(),
            dir,
        };
        fs::create_dir_all(&org.bin).expect("create bin/");
        fs::create_dir_all(&org.state).expect("create state/");
        write_executable(&org.bin.join("fly"), FAKE_FLY);
        write_executable(&org.bin.join("curl"), FAKE_CURL);
        org.clear_calls();
        org
    }

    /// An empty organisation, deployed to from a checkout whose fly/secrets
    /// has `line` too.
    fn with_secret(case: &str, line: &str) -> Self {
        let mut org = Self::new(case);
        org.checkout = org.dir.join("checkout");
        for folder in ["scripts", "fly"] {
            let to = org.checkout.join(folder);
            fs::create_dir_all(&to).expect("create the copy's folder");
            for entry in fs::read_dir(repo_root().join(folder)).expect("read the folder") {
                let path = entry.expect("an entry").path();
                fs::copy(&path, to.join(path.file_name().expect("a name"))).expect("copy a file");
            }
        }
        let secrets = org.checkout.join("fly/secrets");
        let text = fs::read_to_string(&secrets).expect("read fly/secrets");
        fs::write(&secrets, format!("{text}{line}\n")).expect("write fly/secrets");
        org
    }

    /// A secret set by hand, as `fly secrets import` would.
    fn set_secret(&self, app: &str, name: &str, value: &str) {
        let path = self.secret_path(app, name);
        fs::create_dir_all(path.parent().expect("the app's folder")).expect("create it");
        fs::write(path, value).expect("set the secret");
    }

    /// An organisation where staging was deployed once, its calls forgotten.
    fn deployed(case: &str) -> Self {
        let org = Self::new(case);
        org.deploy(&STAGING).assert_status(0);
        org.clear_calls();
        org
    }

    /// The deploy script with the fakes first on PATH.
    fn deploy(&self, args: &[&str]) -> Run {
        self.deploy_with(args, &[])
    }

    /// The deploy script with the fakes first on PATH and these variables.
    fn deploy_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut path = vec![self.bin.clone()];
        path.extend(system_path());
        self.run(args, path, env)
    }

    /// The deploy script on a PATH without any fly or flyctl: only the fake
    /// curl and the system's tools.
    fn deploy_without_flyctl(&self, args: &[&str]) -> Run {
        let no_fly = self.dir.join("no-fly");
        fs::create_dir_all(&no_fly).expect("create no-fly/");
        write_executable(&no_fly.join("curl"), FAKE_CURL);
        let mut path = vec![no_fly];
        path.extend(
            system_path()
                .into_iter()
                .filter(|dir| !dir.join("fly").exists() && !dir.join("flyctl").exists()),
        );
        self.run(args, path, &[])
    }

    fn run(&self, args: &[&str], path: Vec<PathBuf>, env: &[(&str, &str)]) -> Run {
        let output_file = self.dir.join("output");
        let output = File::create(&output_file).expect("create the output file");
        let mut command = Command::new("bash");
        command
            .arg(self.checkout.join("scripts/deploy-fly.sh"))
            .args(args)
            // Whatever the caller's shell has set must not reach the script:
            // its defaults are part of what is tested.
            .env_remove("APP_PREFIX")
            .env_remove("FLY_ORG")
            .env_remove("FLY_REGION")
            .env_remove("FLY_API_TOKEN")
            .env_remove("DATABASE_USER")
            .env_remove("DRY_RUN")
            .env("PATH", std::env::join_paths(path).expect("a PATH"))
            .env("FAKE_STATE", &self.state)
            .env("FAKE_LOG", &self.log)
            .env(
                "FAKE_DECOYS",
                format!("{PREFIX}-api-old {PREFIX}-db-old {PREFIX}-redis-old"),
            )
            .env("VERIFY_ATTEMPTS", "2")
            .env("VERIFY_DELAY_SECS", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("share the output file"))
            .stderr(output);
        let status = command.status().expect("run bash scripts/deploy-fly.sh");
        Run {
            status: status.code(),
            output: fs::read_to_string(&output_file).expect("read the output"),
        }
    }

    /// Every recorded call, in order: fly's arguments, or `curl URL`.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .expect("read the call log")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The calls that change something, in order (look-ups and curl left out).
    fn changes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|call| {
                !LOOKUPS
                    .iter()
                    .any(|lookup| call == lookup || call.starts_with(&format!("{lookup} ")))
            })
            .collect()
    }

    fn clear_calls(&self) {
        fs::write(&self.log, "").expect("clear the call log");
    }

    fn assert_changes(&self, expected: &[String]) {
        assert_eq!(self.changes(), expected, "the calls that change something");
    }

    fn assert_no_calls(&self) {
        assert_eq!(self.calls(), Vec::<String>::new(), "no fly or curl call");
    }

    /// A secret as the fake holds it, or "" when the app has none by that name.
    fn secret(&self, app: &str, name: &str) -> String {
        fs::read_to_string(self.secret_path(app, name)).unwrap_or_default()
    }

    /// A secret the script generates: 64 random hex characters, as
    /// `openssl rand -hex 32` prints them.
    fn generated_secret(&self, app: &str, name: &str) -> String {
        let value = self.secret(app, name);
        assert!(
            value.len() == 64 && value.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{name} of {app} is not 64 random hex characters: `{value}`"
        );
        value
    }

    fn secret_path(&self, app: &str, name: &str) -> PathBuf {
        self.state.join("secrets").join(app).join(name)
    }

    /// `fly secrets unset` behind the script's back, as the runbook does.
    fn unset_secret(&self, app: &str, name: &str) {
        fs::remove_file(self.secret_path(app, name))
            .unwrap_or_else(|e| panic!("{app} has no secret {name} to unset: {e}"));
    }

    /// A file in the fake's state that steers it (`logged-out`, `unhealthy`,
    /// `fail-deploy-<app>`).
    fn set(&self, flag: &str) {
        fs::write(self.state.join(flag), "").expect("set a flag for the fakes");
    }
}

impl Drop for FlyOrg {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_WORK").is_some() {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Run {
    fn assert_status(&self, expected: i32) {
        assert_eq!(
            self.status,
            Some(expected),
            "exit status; output:\n{}",
            self.output
        );
    }

    /// A refusal or a failure: this status, and a message saying why.
    fn assert_fails(&self, status: i32, why: &str) {
        self.assert_status(status);
        self.assert_output(why);
    }

    fn assert_output(&self, text: &str) {
        assert!(
            self.output.contains(text),
            "the output lacks `{text}`:\n{}",
            self.output
        );
    }
}

fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("make {} executable: {e}", path.display()));
}

fn system_path() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path).collect()
}

fn app(name: &str) -> String {
    format!("{PREFIX}-{name}")
}

fn args<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

/// NATS_URL as the NATS app accepts it: the client's user of a password
/// generation, at every NATS machine.
fn nats_url(role: &str, generation: u32, password: &str) -> String {
    format!(
        "nats://{role}-{generation}:{password}@{}.internal:4222",
        app("nats")
    )
}

// --- the expected calls --------------------------------------------------------------

const DEPLOY_FLAGS: &str = "--primary-region ams --remote-only";

fn deploy_nats(extra: &str) -> String {
    format!(
        "deploy --config fly/fly.nats.toml --app {} {DEPLOY_FLAGS} --no-public-ips --ha=false{extra}",
        app("nats")
    )
}

fn deploy_api(ha: bool) -> String {
    format!(
        "deploy --config fly/fly.api.toml --app {} {DEPLOY_FLAGS} --no-public-ips --ha={ha}",
        app("api")
    )
}

fn deploy_worker() -> String {
    format!(
        "deploy --config fly/fly.worker.toml --app {} {DEPLOY_FLAGS} --no-public-ips --ha=false",
        app("worker")
    )
}

fn deploy_web() -> String {
    format!(
        "deploy --config fly/fly.frontend.toml --app {} {DEPLOY_FLAGS} --ha=false --env API_UPSTREAM={}.flycast:80",
        app("web"),
        app("api")
    )
}

fn scale_nats() -> String {
    format!("scale count 3 --app {} --region ams --yes", app("nats"))
}

fn first_deploy() -> Vec<String> {
    let (nats, api, worker, web) = (app("nats"), app("api"), app("worker"), app("web"));
    vec![
        format!("apps create {nats} --org {ORG}"),
        format!("apps create {api} --org {ORG}"),
        format!("apps create {worker} --org {ORG}"),
        format!("apps create {web} --org {ORG}"),
        format!("ips allocate-v6 --private --app {api}"),
        format!("mpg create --name {PREFIX}-db --org {ORG} --region ams --plan basic"),
        format!(
            "redis create --name {PREFIX}-redis --org {ORG} --region ams --no-replicas --disable-eviction --enable-prodpack=false"
        ),
        format!("secrets import --stage --app {api} <<< NATS_URL"),
        format!("secrets import --stage --app {worker} <<< NATS_URL"),
        format!(
            "secrets import --stage --app {nats} <<< NATS_API_PASSWORD_1 NATS_WORKER_PASSWORD_1 NATS_ROUTE_PASSWORD"
        ),
        format!("mpg attach id-{PREFIX}-db --app {api}"),
        format!(
            "secrets import --stage --app {api} <<< MIGRATION_DATABASE_URL REDIS_URL JWT_SECRET"
        ),
        format!("mpg attach id-{PREFIX}-db --app {worker}"),
        format!("secrets import --stage --app {worker} <<< REDIS_URL"),
        deploy_nats(""),
        scale_nats(),
        deploy_api(false),
        deploy_worker(),
        deploy_web(),
    ]
}

fn redeploy() -> Vec<String> {
    vec![
        deploy_nats(""),
        deploy_api(false),
        deploy_worker(),
        deploy_web(),
    ]
}

// --- deploying --------------------------------------------------------------------------

#[test]
fn a_first_deploy_creates_everything_in_order_and_a_second_only_deploys() {
    let org = FlyOrg::new("first-and-second-run");
    let run = org.deploy(&STAGING);
    run.assert_status(0);
    org.assert_changes(&first_deploy());
    let calls = org.calls();
    for path in ["/health", "/api/ready"] {
        let check = format!("curl https://{}.fly.dev{path}", app("web"));
        assert!(calls.contains(&check), "did not check {path}: {calls:?}");
    }

    assert_eq!(
        org.secret(&app("api"), "MIGRATION_DATABASE_URL"),
        format!("postgresql://fly-user:pg-password-123@direct.id-{PREFIX}-db.flympg.net/fly-db"),
        "MIGRATION_DATABASE_URL is the direct URL"
    );
    let mut nats_passwords = Vec::new();
    for (role, name) in [
        ("api", "NATS_API_PASSWORD_1"),
        ("worker", "NATS_WORKER_PASSWORD_1"),
    ] {
        let password = org.generated_secret(&app("nats"), name);
        assert_eq!(
            org.secret(&app(role), "NATS_URL"),
            nats_url(role, 1, &password),
            "NATS_URL of {role} is its NATS user and the password NATS has for it"
        );
        nats_passwords.push(password);
    }
    assert_ne!(
        nats_passwords[0], nats_passwords[1],
        "api and worker share a NATS password"
    );
    let route_password = org.generated_secret(&app("nats"), "NATS_ROUTE_PASSWORD");
    assert_eq!(
        org.secret(&app("worker"), "REDIS_URL"),
        format!("redis://default:redis-password-456@fly-{PREFIX}-redis.upstash.io:6379"),
        "REDIS_URL is the one fly redis status shows"
    );
    let jwt = org.generated_secret(&app("api"), "JWT_SECRET");
    let secrets = [
        "pg-password-123",
        "redis-password-456",
        &jwt,
        &nats_passwords[0],
        &nats_passwords[1],
        &route_password,
    ];
    for value in secrets {
        assert!(
            !run.output.contains(value),
            "a secret value reached the output:\n{}",
            run.output
        );
    }

    // Same organisation again: everything exists now.
    org.clear_calls();
    org.deploy(&STAGING).assert_status(0);
    org.assert_changes(&redeploy());
    assert_eq!(
        org.secret(&app("api"), "JWT_SECRET"),
        jwt,
        "JWT_SECRET was generated again"
    );
    assert_eq!(
        org.secret(&app("nats"), "NATS_API_PASSWORD_1"),
        nats_passwords[0],
        "a NATS password was generated again"
    );
}

#[test]
fn a_secret_of_yours_stops_the_deploy_until_you_set_it() {
    let org = FlyOrg::with_secret("yours", "STRIPE_KEY yours api");
    let api = app("api");
    let run = org.deploy(&STAGING);
    run.assert_fails(
        1,
        &format!(
            "{api} needs the secret STRIPE_KEY, which only you have (fly/secrets): \
             printf 'STRIPE_KEY=%s\\n' VALUE | fly secrets import --stage --app {api}; then run this again"
        ),
    );
    let changes = org.changes();
    assert!(
        !changes
            .iter()
            .any(|c| c.starts_with("deploy ") || c.starts_with("mpg attach")),
        "nothing deployed and no database attached before it stopped: {changes:?}"
    );

    org.set_secret(&api, "STRIPE_KEY", "sk_test_0123");
    org.clear_calls();
    org.deploy(&STAGING).assert_status(0);
    assert!(
        org.changes()
            .iter()
            .any(|c| c.starts_with(&format!("deploy --config fly/fly.api.toml --app {api}"))),
        "then the api deploys: {:?}",
        org.changes()
    );
    assert_eq!(
        org.secret(&api, "STRIPE_KEY"),
        "sk_test_0123",
        "left as you set it"
    );
}

#[test]
fn production_asks_for_yes_and_deploys_with_a_spare_machine() {
    let org = FlyOrg::new("production-needs-confirmation");
    let production = ["production", "--prefix", PREFIX, "--org", ORG];
    let run = org.deploy(&production);
    run.assert_fails(1, "pass --yes");
    org.assert_changes(&[]);

    org.deploy(&args(&production, &["--yes"])).assert_status(0);
    let changes = org.changes();
    for expected in [
        format!("mpg create --name {PREFIX}-db --org {ORG} --region ams --plan starter"),
        deploy_api(true),
        // NATS starts from one machine and is scaled to a cluster.
        deploy_nats(""),
        scale_nats(),
    ] {
        assert!(
            changes.contains(&expected),
            "production lacks `{expected}`: {changes:#?}"
        );
    }
}

#[test]
fn a_dry_run_changes_nothing() {
    let org = FlyOrg::new("dry-run");
    let run = org.deploy(&args(&STAGING, &["--dry-run"]));
    run.assert_status(0);
    org.assert_changes(&[]);
    run.assert_output(&format!("+ fly apps create {} --org {ORG}", app("api")));
    run.assert_output(&format!(
        "+ fly deploy --config fly/fly.api.toml --app {}",
        app("api")
    ));
    run.assert_output("dry run: nothing was changed");
}

#[test]
fn a_dry_run_without_flyctl_shows_a_first_deploy() {
    let org = FlyOrg::new("dry-run-without-flyctl");
    let run = org.deploy_without_flyctl(&args(&STAGING, &["--dry-run"]));
    run.assert_status(0);
    run.assert_output("flyctl is not installed");
    run.assert_output(&format!("+ fly mpg create --name {PREFIX}-db"));
}

// --- --only -----------------------------------------------------------------------------

#[test]
fn only_keeps_the_deploy_order() {
    let org = FlyOrg::deployed("only-keeps-order");
    org.deploy(&args(&STAGING, &["--only", "web,api"]))
        .assert_status(0);
    org.assert_changes(&[deploy_api(false), deploy_web()]);
}

/// What CI's first push to an empty organisation does: --only the app whose
/// files changed. Half a stack would not work; all of it is deployed.
#[test]
fn only_in_an_empty_organisation_deploys_everything() {
    let org = FlyOrg::new("only-in-an-empty-org");
    let run = org.deploy(&args(&STAGING, &["--only", "api"]));
    run.assert_status(0);
    run.assert_output("was never fully deployed, so every app is deployed, not only api");
    org.assert_changes(&first_deploy());
}

// --- rotations --------------------------------------------------------------------------

/// The runbook's rotation of the worker's NATS password: its NATS_URL unset
/// (staged), then a deploy, even of only the api, makes generation 2, deploys
/// NATS (accepting 1 and 2) and the worker on 2, then forgets 1.
#[test]
fn a_client_without_nats_url_rolls_onto_a_new_nats_password() {
    let org = FlyOrg::deployed("rotate-nats-password");
    let api_url = org.secret(&app("api"), "NATS_URL");
    org.unset_secret(&app("worker"), "NATS_URL");

    let run = org.deploy(&args(&STAGING, &["--only", "api"]));
    run.assert_status(0);
    org.assert_changes(&[
        format!(
            "secrets import --stage --app {} <<< NATS_URL",
            app("worker")
        ),
        format!(
            "secrets import --stage --app {} <<< NATS_WORKER_PASSWORD_2",
            app("nats")
        ),
        deploy_nats(""),
        deploy_api(false),
        deploy_worker(),
        format!(
            "secrets unset NATS_WORKER_PASSWORD_1 --stage --app {}",
            app("nats")
        ),
        deploy_nats(""),
    ]);
    let new_password = org.generated_secret(&app("nats"), "NATS_WORKER_PASSWORD_2");
    assert_eq!(
        org.secret(&app("worker"), "NATS_URL"),
        nats_url("worker", 2, &new_password),
        "the worker's NATS_URL names generation 2"
    );
    assert_eq!(
        org.secret(&app("nats"), "NATS_WORKER_PASSWORD_1"),
        "",
        "generation 1 was not removed after the worker moved"
    );
    assert_eq!(
        org.secret(&app("api"), "NATS_URL"),
        api_url,
        "the api's NATS password was touched"
    );
    assert!(
        !run.output.contains(&new_password),
        "the new NATS password reached the output"
    );
}

/// A new route password cannot roll: old and new nodes would not route to
/// each other. A running cluster restarts all at once.
#[test]
fn a_new_route_password_restarts_the_cluster_at_once() {
    let org = FlyOrg::deployed("rotate-nats-route-password");
    let old_route = org.secret(&app("nats"), "NATS_ROUTE_PASSWORD");
    org.unset_secret(&app("nats"), "NATS_ROUTE_PASSWORD");

    org.deploy(&args(&STAGING, &["--only", "nats"]))
        .assert_status(0);
    org.assert_changes(&[
        format!(
            "secrets import --stage --app {} <<< NATS_ROUTE_PASSWORD",
            app("nats")
        ),
        deploy_nats(" --strategy immediate"),
    ]);
    let new_route = org.generated_secret(&app("nats"), "NATS_ROUTE_PASSWORD");
    assert_ne!(new_route, old_route, "the route password did not change");
}

/// The runbook's rotation: a new Postgres user, the old URLs unset (staged),
/// then the script attaches the new user to both apps and deploys them.
#[test]
fn a_new_database_user_is_attached_to_the_api_and_the_worker() {
    let org = FlyOrg::deployed("rotate-database-user");
    org.unset_secret(&app("api"), "DATABASE_URL");
    org.unset_secret(&app("api"), "MIGRATION_DATABASE_URL");
    org.unset_secret(&app("worker"), "DATABASE_URL");

    org.deploy_with(
        &args(&STAGING, &["--only", "api,worker"]),
        &[("DATABASE_USER", "beacon_2")],
    )
    .assert_status(0);
    org.assert_changes(&[
        format!(
            "mpg attach id-{PREFIX}-db --app {} --username beacon_2",
            app("api")
        ),
        format!(
            "secrets import --stage --app {} <<< MIGRATION_DATABASE_URL",
            app("api")
        ),
        format!(
            "mpg attach id-{PREFIX}-db --app {} --username beacon_2",
            app("worker")
        ),
        deploy_api(false),
        deploy_worker(),
    ]);
    for (service, name) in [
        ("api", "DATABASE_URL"),
        ("api", "MIGRATION_DATABASE_URL"),
        ("worker", "DATABASE_URL"),
    ] {
        let value = org.secret(&app(service), name);
        assert!(
            value.starts_with("postgresql://beacon_2:"),
            "{name} of {service} is not the new user's: {value}"
        );
    }
}

// --- refusals and failures ------------------------------------------------------------

#[test]
fn a_missing_flyctl_is_refused() {
    let org = FlyOrg::new("missing-flyctl");
    let run = org.deploy_without_flyctl(&STAGING);
    run.assert_fails(1, "flyctl is not installed");
}

#[test]
fn a_logged_out_flyctl_is_refused() {
    let org = FlyOrg::new("logged-out");
    org.set("logged-out");
    let run = org.deploy(&STAGING);
    run.assert_fails(1, "not logged in");
    org.assert_changes(&[]);
}

#[test]
fn an_unknown_environment_is_refused_before_any_call() {
    let org = FlyOrg::new("unknown-environment");
    let run = org.deploy(&["qa", "--prefix", PREFIX]);
    run.assert_fails(2, "unknown environment 'qa'");
    org.assert_no_calls();
}

#[test]
fn a_missing_prefix_is_refused_before_any_call() {
    let org = FlyOrg::new("missing-prefix");
    let run = org.deploy(&["staging"]);
    run.assert_fails(2, "no app prefix");
    org.assert_no_calls();
}

#[test]
fn bad_arguments_are_refused_before_any_call() {
    let org = FlyOrg::new("bad-arguments");
    org.deploy(&["staging", "--prefix", "Not_A_Name"])
        .assert_status(2);
    let run = org.deploy(&["staging", "--prefix", PREFIX, "--only", "api,db"]);
    run.assert_fails(2, "unknown app 'db' in --only: use nats, api, worker, web");
    org.deploy(&["staging", "--prefix", PREFIX, "--region", "amsterdam"])
        .assert_status(2);
    org.assert_no_calls();
}

#[test]
fn a_failed_deploy_stops_the_run() {
    let org = FlyOrg::new("failed-deploy-stops");
    org.set(&format!("fail-deploy-{}", app("api")));
    let run = org.deploy(&STAGING);
    run.assert_fails(1, &format!("deploying {} failed", app("api")));
    let calls = org.calls();
    assert!(
        calls.contains(&deploy_api(false)),
        "the api's deploy was not tried: {calls:#?}"
    );
    assert!(
        !calls
            .iter()
            .any(|call| call.starts_with("deploy --config fly/fly.worker.toml")),
        "the worker was deployed after the api failed"
    );
    assert!(
        !calls.iter().any(|call| call.starts_with("curl ")),
        "verified after a failed deploy"
    );
}

#[test]
fn an_unhealthy_environment_fails_the_run() {
    let org = FlyOrg::new("unhealthy-fails");
    org.set("unhealthy");
    let run = org.deploy(&STAGING);
    run.assert_fails(1, "unhealthy after 2 attempts");
    run.assert_output(r#""failed":["postgres"]"#);
}

// --- rollback -----------------------------------------------------------------------------

#[test]
fn rollback_redeploys_the_previous_images_in_reverse_order() {
    let org = FlyOrg::deployed("rollback");
    org.deploy(&STAGING).assert_status(0);
    // What `fly secrets deploy` or a restart leaves: a newer release with the
    // image already running. Rolling back must skip it.
    let releases = org.state.join("releases");
    for name in ["nats", "api", "worker", "web"] {
        fs::copy(
            releases.join(format!("{}.2", app(name))),
            releases.join(format!("{}.3", app(name))),
        )
        .expect("copy a release");
    }
    org.clear_calls();

    org.deploy(&[
        "staging", "rollback", "--prefix", PREFIX, "--org", ORG, "--region", "ams",
    ])
    .assert_status(0);
    let rollback = |name: &str, config: &str| {
        format!(
            "deploy --config fly/fly.{config}.toml --app {0} --image registry.fly.io/{0}:deployment-1",
            app(name)
        )
    };
    org.assert_changes(&[
        format!(
            "{} --env API_UPSTREAM={}.flycast:80",
            rollback("web", "frontend"),
            app("api")
        ),
        rollback("worker", "worker"),
        rollback("api", "api"),
        rollback("nats", "nats"),
    ]);
}

#[test]
fn rollback_without_an_earlier_release_fails() {
    let org = FlyOrg::deployed("rollback-without-history");
    let run = org.deploy(&[
        "staging", "rollback", "--prefix", PREFIX, "--org", ORG, "--only", "api",
    ]);
    run.assert_fails(1, "no earlier successful release");
}
