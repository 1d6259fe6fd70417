//! The deployment files checked against the code they deploy.
//!
//! Nothing here builds an image or talks to Fly.io: the fly.toml files, the
//! compose file, the Dockerfiles and `fly/apps` (the apps, addresses and
//! secrets `scripts/deploy-fly.sh` deploys) are read as data and held against
//! the real configuration loaders, command line, routes and defaults of the
//! api and the worker: each binary is built with exactly the variables a
//! machine gets (its connections are lazy, so nothing is
//! reached). A port, a route or a variable that drifts in one place fails
//! here, not on the first deploy.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use api::{
    cli::{Cli, Command},
    server::{ApiServer, ApiServerSettings},
};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use clap::Parser;
use platform::{
    config::{AppEnv, ConfigError, Env},
    migrate::MigrateAction,
    service::Service,
};
use serde_yaml_ng::Value as Yaml;
use toml::{Table, Value as Toml};
use tower::ServiceExt;
use worker::server::{Worker, WorkerSettings};
use xtask::fly_apps::{self, FlyApp, SecretKind};

// --- reading the files ------------------------------------------------------------

use xtask::repo_root;

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn fly_toml(app: &str) -> Table {
    let file = format!("fly/fly.{app}.toml");
    read(&file)
        .parse()
        .unwrap_or_else(|e| panic!("{file} is not valid TOML: {e}"))
}

fn compose() -> Yaml {
    let mut doc: Yaml = serde_yaml_ng::from_str(&read("docker/docker-compose.yml"))
        .expect("docker/docker-compose.yml is valid YAML");
    doc.apply_merge().expect("YAML merge keys resolve");
    doc
}

/// A dotted path into a TOML table, e.g. `"http_service.internal_port"`.
fn get<'a>(table: &'a Table, path: &str) -> &'a Toml {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let mut value = table
        .get(first)
        .unwrap_or_else(|| panic!("missing `{path}`"));
    for part in parts {
        value = value
            .get(part)
            .unwrap_or_else(|| panic!("missing `{path}`"));
    }
    value
}

fn get_str<'a>(table: &'a Table, path: &str) -> &'a str {
    get(table, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{path}` is not a string"))
}

fn get_port(table: &Table, path: &str) -> u16 {
    let value = get(table, path)
        .as_integer()
        .unwrap_or_else(|| panic!("`{path}` is not a number"));
    u16::try_from(value).unwrap_or_else(|_| panic!("`{path}` = {value} is not a port"))
}

/// `[env]` of a fly.toml as name/value pairs.
fn fly_env(table: &Table) -> BTreeMap<String, String> {
    table
        .get("env")
        .and_then(Toml::as_table)
        .map(|env| {
            env.iter()
                .map(|(k, v)| {
                    let value = v
                        .as_str()
                        .unwrap_or_else(|| panic!("[env] {k} must be a string"));
                    (k.clone(), value.to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Fly durations: a number of seconds or a string like "30s" or "5m".
fn duration(value: &Toml) -> Duration {
    if let Some(secs) = value.as_integer() {
        return Duration::from_secs(u64::try_from(secs).expect("a positive duration"));
    }
    compose_duration(value.as_str().expect("a duration"))
}

fn compose_duration(text: &str) -> Duration {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("bad duration {text}"));
    match unit {
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        "ms" => Duration::from_millis(number),
        _ => panic!("unsupported duration unit in {text}"),
    }
}

/// An app's line of fly/apps: where it is reached and the secrets the
/// deploy script sets on it.
fn fly_app(name: &str) -> FlyApp {
    let apps = fly_apps::read(&repo_root()).expect("fly/apps reads");
    fly_apps::find(&apps, name).expect("the app").clone()
}

/// The app prefix fly/fly.api.toml is written for (`<prefix>-api`).
fn toml_prefix() -> String {
    get_str(&fly_toml("api"), "app")
        .strip_suffix("-api")
        .expect("fly.api.toml's app is <prefix>-api")
        .to_owned()
}

/// A realistic value for each secret the deploy script sets, shaped like what
/// Fly's Managed Postgres, Upstash and the script itself produce.
fn sample_secret(name: &str) -> String {
    match name {
        "DATABASE_URL" => "postgresql://fly-user:pw@pgbouncer.c1.flympg.net/fly-db".into(),
        "MIGRATION_DATABASE_URL" => "postgresql://fly-user:pw@direct.c1.flympg.net/fly-db".into(),
        "REDIS_URL" => "redis://default:pw@fly-beacon-redis.upstash.io:6379".into(),
        "NATS_URL" => sample_nats_url("api"),
        // What `openssl rand -hex 32` prints, as the deploy script does.
        "JWT_SECRET" => "8c1d0f5e3b7a92c4e6f1d8b3a5c7e9f20d4b6a8c1e3f5a7b9d2c4e6f8a0b1c3d".into(),
        other => panic!("fly/secrets gives an app the secret {other}: give it a sample value here"),
    }
}

/// NATS_URL as the deploy script builds it for `service` (api or worker):
/// its user of password generation 1.
fn sample_nats_url(service: &str) -> String {
    let address = fly_app("nats")
        .reached_at_for("beacon")
        .expect("fly/apps: where nats is reached");
    format!(
        "nats://{service}-1:5e3b7a92c4e6f1d8b3a5c7e9f20d4b6a8c1e3f5a7b9d2c4e6f8a0b1c3d8c1d0f@{address}"
    )
}

/// What a machine of `app` sees: fly.toml `[env]` plus the secrets the
/// deploy script sets on it (fly/apps). Nothing else, no development defaults.
fn fly_machine_env(app: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = fly_env(&fly_toml(app)).into_iter().collect();
    for secret in fly_app(app).secrets {
        let name = secret.name.clone();
        assert!(
            !env.iter().any(|(k, _)| *k == name),
            "{name} is a secret: it must not be in fly/fly.{app}.toml [env]"
        );
        let value = match secret.kind {
            // Only its owner has the real one; the code must start with any.
            SecretKind::Yours => format!("sample-{}", name.to_lowercase()),
            _ => sample_secret(&name),
        };
        env.push((name, value));
    }
    env
}

fn env_of(pairs: &[(String, String)]) -> Env {
    pairs.iter().cloned().collect()
}

fn api_config(env: &[(String, String)]) -> ApiServerSettings {
    ApiServerSettings::from_env(&env_of(env))
        .unwrap_or_else(|e| panic!("the api does not start with {env:?}: {e}"))
}

fn worker_config(env: &[(String, String)]) -> WorkerSettings {
    WorkerSettings::from_env(&env_of(env))
        .unwrap_or_else(|e| panic!("the worker does not start with {env:?}: {e}"))
}

/// The api built with exactly these variables, every area mounted (ports
/// moved to 0 so tests can run side by side).
async fn api_build(env: &[(String, String)]) -> anyhow::Result<ApiServer> {
    ApiServer::build(env_of(env).with("PORT", "0").with("METRICS_PORT", "0")).await
}

async fn api_starts(env: &[(String, String)]) -> ApiServer {
    api_build(env)
        .await
        .unwrap_or_else(|e| panic!("the api does not start with {env:?}: {e:#}"))
}

/// The worker built with exactly these variables, every job registered.
async fn worker_build(env: &[(String, String)]) -> anyhow::Result<Worker> {
    Worker::build(env_of(env).with("WORKER_PORT", "0")).await
}

async fn worker_starts(env: &[(String, String)]) -> Worker {
    worker_build(env)
        .await
        .unwrap_or_else(|e| panic!("the worker does not start with {env:?}: {e:#}"))
}

/// The setting a failed start names.
fn config_error(result: anyhow::Result<impl Sized>) -> ConfigError {
    match result {
        Ok(_) => panic!("started without a required setting"),
        Err(e) => e
            .downcast::<ConfigError>()
            .unwrap_or_else(|e| panic!("not a configuration error: {e:#}")),
    }
}

fn without(env: &[(String, String)], name: &str) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| k != name).cloned().collect()
}

/// The shell-style words of a command line (no quoting needed in ours).
fn words(command: &str) -> Vec<&str> {
    command.split_whitespace().collect()
}

fn parse_api_command(args: &[&str]) -> Command {
    let cli = Cli::try_parse_from(args)
        .unwrap_or_else(|e| panic!("`{}` is not an api command: {e}", args.join(" ")));
    cli.command.unwrap_or(Command::Serve)
}

async fn api_route_exists(path: &str) -> bool {
    api::server::openapi()
        .await
        .expect("the OpenAPI document")
        .paths
        .paths
        .get(path)
        .is_some_and(|item| item.get.is_some())
}

async fn get_status(router: Router, path: &str) -> StatusCode {
    let request = Request::get(path).body(Body::empty()).expect("a request");
    router.oneshot(request).await.expect("infallible").status()
}

struct Dockerfile {
    text: String,
}

impl Dockerfile {
    fn read(relative: &str) -> Self {
        Self {
            text: read(relative),
        }
    }

    /// Instructions with continuation lines joined, comments dropped.
    fn instructions(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        for line in self.text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(head) => {
                    current.push_str(head);
                    current.push(' ');
                }
                None => {
                    current.push_str(trimmed);
                    out.push(std::mem::take(&mut current));
                }
            }
        }
        out
    }

    fn with(&self, keyword: &str) -> Vec<String> {
        let prefix = format!("{keyword} ");
        self.instructions()
            .into_iter()
            .filter(|i| i.starts_with(&prefix))
            .map(|i| i[prefix.len()..].trim().to_owned())
            .collect()
    }

    /// The image of every stage, in order.
    fn images(&self) -> Vec<String> {
        self.with("FROM")
            .iter()
            .map(|f| f.split_whitespace().next().unwrap_or_default().to_owned())
            .collect()
    }

    /// CMD in exec form.
    fn cmd(&self) -> Vec<String> {
        let cmd = self.with("CMD");
        let last = cmd.last().expect("a CMD");
        serde_json::from_str(last).expect("CMD in exec (JSON) form")
    }

    /// `ENV A=1 B=2` values (quotes removed).
    fn env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for line in self.with("ENV") {
            let mut rest = line.as_str();
            while let Some(eq) = rest.find('=') {
                let name = rest[..eq].trim().to_owned();
                let after = &rest[eq + 1..];
                let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
                    let end = quoted.find('"').expect("closing quote");
                    (quoted[..end].replace("\\$", "$"), &quoted[end + 1..])
                } else {
                    let end = after.find(' ').unwrap_or(after.len());
                    (after[..end].to_owned(), &after[end..])
                };
                env.insert(name, value);
                rest = tail.trim_start();
            }
        }
        env
    }
}

const DEBIAN_RELEASES: &[&str] = &["bullseye", "bookworm", "trixie", "forky"];

fn debian_release(image: &str) -> &'static str {
    DEBIAN_RELEASES
        .iter()
        .find(|release| image.contains(*release))
        .unwrap_or_else(|| panic!("{image} names no Debian release: pin one"))
}

fn assert_pinned(image: &str) {
    let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("");
    assert!(
        !tag.is_empty() && !tag.contains("latest") && tag.chars().any(|c| c.is_ascii_digit()),
        "{image} is not pinned to a version"
    );
}

// --- the api on Fly ------------------------------------------------------------------

#[tokio::test]
async fn the_api_machine_starts_with_fly_env_and_the_deploy_scripts_secrets() {
    let env = fly_machine_env("api");
    let config = api_config(&env);
    assert!(
        config.platform.is_production(),
        "fly/fly.api.toml must set APP_ENV=production"
    );
    api_starts(&env).await;

    // Not vacuous: without any one required secret, production refuses.
    for required in ["DATABASE_URL", "REDIS_URL", "NATS_URL", "JWT_SECRET"] {
        let err = config_error(api_build(&without(&env, required)).await);
        assert_eq!(err.var, required);
    }
}

#[tokio::test]
async fn the_api_listens_where_fly_sends_traffic_and_metrics() {
    let fly = fly_toml("api");
    let env = fly_machine_env("api");
    let config = api_config(&env);

    assert_eq!(
        get_port(&fly, "http_service.internal_port"),
        config.http.port
    );
    assert_eq!(get_port(&fly, "metrics.port"), config.http.metrics_port);
    let metrics_path = get_str(&fly, "metrics.path");
    let api = api_starts(&env).await;
    assert_eq!(
        get_status(api.metrics_router(), metrics_path).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_api_health_checks_are_real_routes() {
    let fly = fly_toml("api");
    let checks = get(&fly, "http_service.checks")
        .as_array()
        .expect("[[http_service.checks]]");
    assert!(!checks.is_empty(), "the api needs a health check");
    for check in checks {
        let path = check
            .get("path")
            .and_then(Toml::as_str)
            .expect("a check path");
        assert!(
            api_route_exists(path).await,
            "{path} is not a GET route of the api (see /api/openapi.json)"
        );
        // Liveness, so a dependency blip never takes every machine out of routing.
        assert_eq!(path, "/api/health");
    }
}

#[test]
fn the_api_is_private_and_plain_http_on_flycast() {
    let fly = fly_toml("api");
    assert_eq!(get(&fly, "http_service.force_https").as_bool(), Some(false));
    assert!(
        fly.get("services").is_none(),
        "the api is served by [http_service] only"
    );
}

#[test]
fn the_release_command_runs_the_migrations() {
    let fly = fly_toml("api");
    let command = words(get_str(&fly, "deploy.release_command"));
    assert!(
        matches!(
            parse_api_command(&command),
            Command::Migrate {
                action: MigrateAction::Run
            }
        ),
        "release_command must be `api migrate run`"
    );
}

#[test]
fn fly_waits_longer_than_the_apps_drain() {
    let api = api_config(&fly_machine_env("api"));
    let worker = worker_config(&fly_machine_env("worker"));
    for (app, drain) in [
        ("api", api.platform.shutdown_timeout),
        ("worker", worker.platform.shutdown_timeout),
    ] {
        let fly = fly_toml(app);
        assert_eq!(get_str(&fly, "kill_signal"), "SIGTERM", "{app}");
        let kill_timeout = duration(get(&fly, "kill_timeout"));
        assert!(
            kill_timeout > drain,
            "{app}: kill_timeout {kill_timeout:?} must exceed the drain ({drain:?})"
        );
    }
}

// --- the worker on Fly ---------------------------------------------------------------

#[tokio::test]
async fn the_worker_machine_starts_with_fly_env_and_the_deploy_scripts_secrets() {
    let env = fly_machine_env("worker");
    let config = worker_config(&env);
    assert_eq!(config.platform.app_env, AppEnv::Production);
    let policy = platform::outbound::policy_from_env(&env_of(&env), AppEnv::Production)
        .expect("the outbound policy");
    assert!(!policy.allow_private);
    assert!(
        !env.iter().any(|(k, _)| k == "ALLOW_PRIVATE_TARGETS"),
        "ALLOW_PRIVATE_TARGETS must never be set on Fly"
    );
    worker_starts(&env).await;
    for required in ["DATABASE_URL", "REDIS_URL", "NATS_URL"] {
        let err = config_error(worker_build(&without(&env, required)).await);
        assert_eq!(err.var, required);
    }
}

#[test]
fn the_worker_has_no_services_and_always_restarts() {
    let fly = fly_toml("worker");
    assert!(
        fly.get("services").is_none(),
        "the worker must not have [[services]]"
    );
    assert!(
        fly.get("http_service").is_none(),
        "the worker must not have [http_service]"
    );
    let restart = get(&fly, "restart").as_array().expect("[[restart]]");
    assert!(
        restart
            .iter()
            .any(|r| r.get("policy").and_then(Toml::as_str) == Some("always")),
        "the worker needs a [[restart]] policy of always"
    );
}

#[tokio::test]
async fn the_worker_checks_and_metrics_hit_its_real_port_and_routes() {
    let fly = fly_toml("worker");
    let env = fly_machine_env("worker");
    let config = worker_config(&env);
    let checks = get(&fly, "checks").as_table().expect("top-level [checks]");
    assert!(!checks.is_empty(), "the worker needs machine checks");

    let router = worker_starts(&env).await.router();
    for (name, check) in checks {
        let check = check.as_table().expect("a check table");
        assert_eq!(get_port(check, "port"), config.port, "[checks.{name}] port");
        let path = get_str(check, "path");
        assert_eq!(
            get_status(router.clone(), path).await,
            StatusCode::OK,
            "[checks.{name}] {path}"
        );
    }

    assert_eq!(get_port(&fly, "metrics.port"), config.port);
    let metrics_path = get_str(&fly, "metrics.path");
    assert_eq!(
        get_status(router.clone(), metrics_path).await,
        StatusCode::OK
    );
    // The router tells real routes from others, so the checks above mean something.
    assert_eq!(
        get_status(router, "/no-such-route").await,
        StatusCode::NOT_FOUND
    );
}

// --- web and NATS on Fly ---------------------------------------------------------------

#[test]
fn the_web_front_reaches_the_api_over_flycast() {
    let web = fly_toml("frontend");
    let api = fly_toml("api");
    let env = fly_env(&web);

    // Flycast goes through Fly's proxy to the api's http_service, which
    // exposes port 80 (plain HTTP, as force_https is off).
    let upstream = &env["API_UPSTREAM"];
    assert_eq!(*upstream, format!("{}.flycast:80", get_str(&api, "app")));
    assert_eq!(
        fly_app("api").reached_at_for(&toml_prefix()).as_deref(),
        Some(upstream.as_str()),
        "fly/apps: where the api is reached, the deploy script's API_UPSTREAM"
    );
    assert_eq!(env["NGINX_RESOLVER"], "[fdaa::3]");
    // Behind Fly's proxy $remote_addr is the proxy: every client would share
    // one address and its per-address limits.
    assert_eq!(env["NGINX_CLIENT_IP"], "$http_fly_client_ip");

    let port: u16 = env["PORT"].parse().expect("PORT is a number");
    assert_eq!(get_port(&web, "http_service.internal_port"), port);
    assert_eq!(get(&web, "http_service.force_https").as_bool(), Some(true));
}

#[test]
fn apps_with_health_checks_deploy_blue_green_and_the_worker_rolls() {
    for app in ["api", "frontend"] {
        let fly = fly_toml(app);
        assert_eq!(get_str(&fly, "deploy.strategy"), "bluegreen", "{app}");
        // flyctl refuses bluegreen for machines without any check.
        let checks = get(&fly, "http_service.checks").as_array();
        assert!(
            checks.is_some_and(|c| !c.is_empty()),
            "{app}: bluegreen needs checks"
        );
    }
    assert_eq!(get_str(&fly_toml("worker"), "deploy.strategy"), "rolling");
}

#[test]
fn the_web_health_check_is_answered_by_nginx() {
    let web = fly_toml("frontend");
    let template = read("docker/nginx/default.conf.template");
    let checks = get(&web, "http_service.checks")
        .as_array()
        .expect("[[http_service.checks]]");
    assert!(!checks.is_empty());
    for check in checks {
        let path = check
            .get("path")
            .and_then(Toml::as_str)
            .expect("a check path");
        assert!(
            template.contains(&format!("location = {path} {{")),
            "default.conf.template has no `location = {path}`"
        );
    }
    assert!(template.contains("listen ${PORT};") && template.contains("listen [::]:${PORT};"));
}

#[test]
fn nginx_names_the_api_by_its_own_name_and_sets_the_headers_the_api_trusts() {
    let proxy = read("docker/nginx/api-proxy.conf");
    let set: Vec<Vec<&str>> = proxy
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| line.trim().strip_prefix("proxy_set_header "))
        .map(|rest| rest.trim_end_matches(';').split_whitespace().collect())
        .collect();
    for expected in [
        // Over Flycast, Host is the api's Flycast name (API_UPSTREAM), never
        // the public one a browser used.
        ["Host", "$proxy_host"],
        ["X-Forwarded-Host", "$host"],
        // Overwritten, so a client cannot choose its own address.
        ["X-Client-IP", "$beacon_client_ip"],
    ] {
        assert!(
            set.iter().any(|header| header == &expected),
            "api-proxy.conf lacks `proxy_set_header {}`",
            expected.join(" ")
        );
    }
    let headers: Vec<&str> = set.iter().map(|header| header[0]).collect();
    let mut unique = headers.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        headers.len(),
        "a header set twice: {headers:?}"
    );
}

/// `docker/nginx/resolver.envsh`, sourced as the image's entrypoint does,
/// against a resolv.conf of the test's own.
fn resolver_for(resolv_conf: &str, resolver: &str) -> std::process::Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("beacon-resolv-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("resolv.conf");
    std::fs::write(&file, resolv_conf).expect("resolv.conf");
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            ". docker/nginx/resolver.envsh && printf '%s' \"$NGINX_RESOLVER\"",
        ])
        .current_dir(repo_root())
        .env("NGINX_RESOLVER", resolver)
        .env("RESOLV_CONF", &file)
        .output()
        .expect("sh");
    let _ = std::fs::remove_dir_all(&dir);
    output
}

#[test]
fn compose_nginx_finds_its_dns_server_under_docker_and_podman() {
    let stdout = |o: std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    // Docker's embedded DNS.
    assert_eq!(
        stdout(resolver_for(
            "nameserver 127.0.0.11\noptions ndots:0\n",
            "local"
        )),
        "127.0.0.11"
    );
    // Podman (aardvark-dns on the network's gateway), IPv4 and IPv6.
    assert_eq!(
        stdout(resolver_for(
            "search dns.podman\nnameserver 10.89.0.1\nnameserver fd00::1\n",
            "local"
        )),
        "10.89.0.1 [fd00::1]"
    );
    // Anything but `local` is left as set (Fly's [fdaa::3]).
    assert_eq!(
        stdout(resolver_for("nameserver 10.0.0.1\n", "[fdaa::3]")),
        "[fdaa::3]"
    );
    // No nameserver: one line naming the variable, and a failure.
    let none = resolver_for("options ndots:0\n", "local");
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("NGINX_RESOLVER"));
}

/// `docker/nats/nats.conf`'s value for a top-level or nested key, as
/// written (`listen: "[::]:4222"` gives `[::]:4222`); the first match.
fn nats_conf_value(key: &str) -> String {
    let conf = read("docker/nats/nats.conf");
    let prefix = format!("{key}:");
    conf.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("docker/nats/nats.conf has no `{key}:`"))
}

#[test]
fn nats_is_a_private_cluster_on_the_ports_the_apps_use() {
    let nats = fly_toml("nats");
    // Every listener on [::]: Fly's private network is IPv6 only. The
    // first `listen:` is the clients', the second the cluster's.
    let conf = read("docker/nats/nats.conf");
    let listens: Vec<&str> = conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("listen:"))
        .map(|v| v.trim().trim_matches('"'))
        .collect();
    assert_eq!(listens, ["[::]:4222", "[::]:6222"], "clients, then routes");
    assert_eq!(nats_conf_value("http"), "[::]:8222");
    assert!(
        read("docker/nats/entrypoint.sh").contains(":6222\""),
        "the route URL names the cluster port"
    );

    // Nothing goes through Fly's proxy: no services, so no public or
    // Flycast port and no auto-stop; clients dial <prefix>-nats.internal.
    assert!(
        nats.get("services").is_none() && nats.get("http_service").is_none(),
        "NATS takes no traffic through Fly's proxy"
    );
    for user in ["api", "worker"] {
        let url = url::Url::parse(&sample_nats_url(user)).expect("NATS_URL is a URL");
        assert!(
            url.host_str()
                .is_some_and(|h| h.ends_with("-nats.internal"))
        );
        assert_eq!(url.port(), Some(4222));
        assert_eq!(
            url.username(),
            format!("{user}-1"),
            "each service has its own NATS user"
        );
    }

    // The health check is nats-server's own, on its monitoring port.
    assert_eq!(get_port(&nats, "checks.healthz.port"), 8222);
    assert_eq!(get_str(&nats, "checks.healthz.path"), "/healthz");

    // Node by node, and each node leaves in lame duck mode (SIGUSR2) before
    // Fly kills it.
    assert_eq!(get_str(&nats, "deploy.strategy"), "rolling");
    assert_eq!(get(&nats, "deploy.max_unavailable").as_integer(), Some(1));
    assert_eq!(get_str(&nats, "kill_signal"), "SIGUSR2");
    let lame_duck = compose_duration(&nats_conf_value("lame_duck_duration"))
        + compose_duration(&nats_conf_value("lame_duck_grace_period"));
    assert!(
        duration(get(&nats, "kill_timeout")) > lame_duck,
        "kill_timeout must outlast lame duck mode ({lame_duck:?})"
    );

    // The official image, pinned, run as a user without privileges.
    let dockerfile = Dockerfile::read("docker/Dockerfile.nats");
    let images = dockerfile.images();
    assert_eq!(images.len(), 1);
    assert!(images[0].starts_with("nats:"));
    assert_pinned(&images[0]);
    assert_eq!(dockerfile.with("USER"), ["65534:65534"], "alpine's nobody");

    // The users may use exactly the subjects the services use.
    assert!(conf.contains(&format!("\"{}\"", platform::live::all_users_subject())));
}

#[test]
fn every_secret_is_made_documented_and_given_to_compose() {
    let compose = compose();
    let read = |file: &str| std::fs::read_to_string(repo_root().join(file)).expect(file);
    let (runbook, script) = (read("docs/RUNBOOK.md"), read("scripts/deploy-fly.sh"));
    for app in fly_apps::read(&repo_root()).expect("fly/apps and fly/secrets read") {
        for secret in &app.secrets {
            let name = &secret.name;
            if secret.kind != SecretKind::Yours {
                assert!(
                    script.contains(&format!("\n        {name})")),
                    "fly/secrets says the deploy script makes {name}: its ensure_secrets has no case for it"
                );
            }
            let row = runbook
                .lines()
                .find(|line| line.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("docs/RUNBOOK.md's secrets table has no row for {name}"));
            let apps = row.split('|').nth(2).unwrap_or_default();
            assert!(
                apps.contains(&app.name),
                "docs/RUNBOOK.md gives {name} to `{apps}`, fly/secrets to {}",
                app.name
            );
            // Compose migrates in a service of its own, with DATABASE_URL:
            // without a PgBouncer, the direct URL is the same.
            if name != "MIGRATION_DATABASE_URL" && matches!(app.name.as_str(), "api" | "worker") {
                assert!(
                    compose_env(&compose, &app.name)
                        .iter()
                        .any(|(k, _)| k == name),
                    "docker/docker-compose.yml gives the {} no {name}",
                    app.name
                );
            }
        }
    }
}

#[test]
fn every_fly_toml_builds_from_files_that_exist() {
    let fly_dir = repo_root().join("fly");
    for app in ["api", "worker", "frontend", "nats"] {
        let fly = fly_toml(app);
        // flyctl resolves these against the fly.toml's own folder.
        for key in ["build.dockerfile", "build.ignorefile"] {
            let path = fly_dir.join(get_str(&fly, key));
            assert!(
                path.is_file(),
                "fly/fly.{app}.toml {key} = {} does not exist",
                path.display()
            );
        }
    }
}

#[test]
fn every_app_in_fly_apps_is_deployed_from_its_fly_toml() {
    let prefix = toml_prefix();
    let mut configured = Vec::new();
    for app in fly_apps::read(&repo_root()).expect("fly/apps reads") {
        // As the deploy script picks the config: web's is fly.frontend.toml.
        let config = if app.name == "web" {
            "frontend"
        } else {
            app.name.as_str()
        };
        assert_eq!(
            get_str(&fly_toml(config), "app"),
            format!("{prefix}-{}", app.name),
            "fly/fly.{config}.toml deploys {}",
            app.name
        );
        configured.push(format!("fly.{config}.toml"));
    }
    // And no fly.toml is left out of the deploy.
    let mut tomls: Vec<String> = std::fs::read_dir(repo_root().join("fly"))
        .expect("fly/")
        .map(|entry| {
            entry
                .expect("an entry of fly/")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".toml"))
        .collect();
    tomls.sort();
    configured.sort();
    assert_eq!(configured, tomls);
    assert_eq!(
        fly_app("web").reached_at_for(&prefix),
        Some(format!("https://{prefix}-web.fly.dev")),
        "the deploy is verified through the web app's public URL"
    );
}

// --- images ------------------------------------------------------------------------------

#[test]
fn rust_images_build_and_run_on_the_same_debian_release() {
    for file in ["docker/Dockerfile.api", "docker/Dockerfile.worker"] {
        let images = Dockerfile::read(file).images();
        let builder = images.first().expect("a builder stage");
        let runtime = images.last().expect("a runtime stage");
        assert!(
            builder.starts_with("lukemathwalker/cargo-chef:"),
            "{file}: cargo-chef builder"
        );
        assert!(runtime.starts_with("debian:"), "{file}: Debian runtime");
        assert_eq!(
            debian_release(builder),
            debian_release(runtime),
            "{file}: {builder} vs {runtime}"
        );
    }
}

#[test]
fn every_image_is_pinned_runs_as_non_root_and_uses_cmd() {
    for file in [
        "docker/Dockerfile.api",
        "docker/Dockerfile.worker",
        "docker/Dockerfile.frontend",
    ] {
        let dockerfile = Dockerfile::read(file);
        for image in dockerfile.images().iter().filter(|i| i.contains(':')) {
            assert_pinned(image);
        }
        assert!(
            dockerfile.with("ENTRYPOINT").is_empty(),
            "{file}: Fly replaces CMD, not ENTRYPOINT"
        );
        let user = dockerfile
            .with("USER")
            .pop()
            .unwrap_or_else(|| panic!("{file}: no USER"));
        assert!(
            !matches!(user.as_str(), "root" | "0" | "0:0"),
            "{file}: runs as root"
        );
    }
}

#[test]
fn the_api_image_serves_and_has_the_release_command_on_path() {
    let dockerfile = Dockerfile::read("docker/Dockerfile.api");
    let cmd = dockerfile.cmd();
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    assert!(matches!(parse_api_command(&args), Command::Serve));
    assert!(
        dockerfile.text.contains("/usr/local/bin/api"),
        "api must be on PATH for release_command"
    );
    assert_eq!(
        dockerfile.env().get("SQLX_OFFLINE").map(String::as_str),
        Some("true")
    );

    let worker = Dockerfile::read("docker/Dockerfile.worker");
    assert_eq!(worker.cmd(), ["worker"]);
    assert_eq!(
        worker.env().get("SQLX_OFFLINE").map(String::as_str),
        Some("true")
    );
}

#[test]
fn the_web_image_fills_exactly_the_templates_variables() {
    let dockerfile = Dockerfile::read("docker/Dockerfile.frontend");
    let env = dockerfile.env();
    let template = read("docker/nginx/default.conf.template");
    let needed: BTreeSet<String> = template
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect();

    // envsubst touches only these names, so nginx's own $variables survive.
    let filter = env
        .get("NGINX_ENVSUBST_FILTER")
        .expect("NGINX_ENVSUBST_FILTER");
    let filtered: BTreeSet<String> = filter
        .trim_start_matches("^(")
        .trim_end_matches(")$")
        .split('|')
        .map(str::to_owned)
        .collect();
    assert_eq!(
        filtered, needed,
        "NGINX_ENVSUBST_FILTER vs the template's ${{...}}"
    );

    // Every variable has a value: from the image or from fly.toml [env].
    let fly_env = fly_env(&fly_toml("frontend"));
    for name in &needed {
        assert!(
            env.contains_key(name) || fly_env.contains_key(name),
            "{name} is set nowhere on Fly"
        );
    }
    if let Some(port) = fly_env.get("PORT") {
        assert_eq!(
            env.get("PORT"),
            Some(port),
            "the image's PORT vs fly.frontend.toml"
        );
    }

    let copies = dockerfile.with("COPY");
    let copied_to = |source: &str| {
        copies
            .iter()
            .find(|c| c.contains(source))
            .and_then(|c| c.split_whitespace().last())
            .unwrap_or_else(|| panic!("no COPY of {source}"))
            .to_owned()
    };
    assert_eq!(
        copied_to("default.conf.template"),
        "/etc/nginx/templates/default.conf.template"
    );
    assert_eq!(
        copied_to("api-proxy.conf").trim_end_matches('/'),
        env["NGINX_SNIPPETS"]
    );
    assert_eq!(
        copied_to("/app/frontend/dist").trim_end_matches('/'),
        env["STATIC_ROOT"]
    );
}

#[test]
fn the_build_context_keeps_what_the_builds_need() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/').to_owned())
        .collect();
    let workspace: Table = read("Cargo.toml").parse().expect("Cargo.toml");
    let members: Vec<String> = get(&workspace, "workspace.members")
        .as_array()
        .expect("workspace members")
        .iter()
        .filter_map(Toml::as_str)
        .map(str::to_owned)
        .collect();
    // cargo needs every member's manifest and sources to build any of them.
    let needed = [
        "migrations",
        ".sqlx",
        "Cargo.toml",
        "Cargo.lock",
        "frontend",
        "docker",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(members);
    for needed in needed {
        assert!(!ignored.contains(&needed), ".dockerignore drops {needed}");
    }
    assert!(
        ignored.iter().any(|i| i == "target"),
        ".dockerignore must drop target/"
    );
}

// --- docker compose ------------------------------------------------------------------------

fn service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
    compose
        .get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("compose has no service {name}"))
}

fn yaml_str(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$`, with
/// the variables a user exports.
fn interpolate(text: &str, exported: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').expect("closing brace");
            let expr = &body[..end];
            let (name, op) = match expr.find([':', '-', '?']) {
                Some(i) => (&expr[..i], &expr[i..]),
                None => (expr, ""),
            };
            let value = exported
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned());
            let resolved = match (value, op) {
                (Some(v), _) => v,
                (None, op) if op.starts_with(":-") => op[2..].to_owned(),
                (None, op) if op.starts_with(":?") || op.starts_with('?') => {
                    panic!("compose requires {name}: {op}")
                }
                (None, _) => String::new(),
            };
            out.push_str(&resolved);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// What JWT_SECRET=... docker compose up passes to a service.
fn compose_env(compose: &Yaml, name: &str) -> Vec<(String, String)> {
    let exported = [(
        "JWT_SECRET",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )];
    service(compose, name)
        .get("environment")
        .and_then(Yaml::as_mapping)
        .unwrap_or_else(|| panic!("{name}: environment as a mapping"))
        .iter()
        .map(|(k, v)| (yaml_str(k), interpolate(&yaml_str(v), &exported)))
        .collect()
}

/// `CMD bash -c '... /dev/tcp/127.0.0.1/PORT ... GET PATH HTTP/1.0 ...'`.
fn compose_health_probe(compose: &Yaml, name: &str) -> (u16, String) {
    let test = service(compose, name)
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .and_then(Yaml::as_sequence)
        .unwrap_or_else(|| panic!("{name}: healthcheck.test as a list"));
    let script = yaml_str(test.last().expect("a probe"));
    let port = script
        .split("/dev/tcp/127.0.0.1/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name}: no /dev/tcp/127.0.0.1/PORT in {script}"));
    let path = script
        .split("GET ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{name}: no GET in {script}"))
        .to_owned();
    (port, path)
}

fn depends_on_condition(compose: &Yaml, name: &str, on: &str) -> String {
    service(compose, name)
        .get("depends_on")
        .and_then(|d| d.get(on))
        .and_then(|d| d.get("condition"))
        .map(yaml_str)
        .unwrap_or_else(|| panic!("{name} must depend on {on} with a condition"))
}

fn compose_command(compose: &Yaml, name: &str) -> Vec<String> {
    service(compose, name)
        .get("command")
        .and_then(Yaml::as_sequence)
        .unwrap_or_else(|| panic!("{name}: command as a list"))
        .iter()
        .map(yaml_str)
        .collect()
}

#[test]
fn compose_builds_from_files_that_exist() {
    let compose = compose();
    let docker_dir = repo_root().join("docker");
    for name in ["migrate", "api", "worker", "web"] {
        let build = service(&compose, name)
            .get("build")
            .unwrap_or_else(|| panic!("{name}: build"));
        // Relative to the compose file's folder, as Compose resolves it.
        let context = docker_dir.join(yaml_str(build.get("context").expect("context")));
        let dockerfile = context.join(yaml_str(build.get("dockerfile").expect("dockerfile")));
        assert!(
            dockerfile.is_file(),
            "{name}: {} does not exist",
            dockerfile.display()
        );
        assert_eq!(
            context.canonicalize().ok(),
            repo_root().canonicalize().ok(),
            "{name}: context is the repository root"
        );
    }
}

#[tokio::test]
async fn compose_runs_the_api_as_fly_does() {
    let compose = compose();
    let env = compose_env(&compose, "api");
    let config = api_config(&env);
    assert!(
        config.platform.is_production(),
        "compose mirrors Fly: APP_ENV=production"
    );
    api_starts(&env).await;

    let (port, path) = compose_health_probe(&compose, "api");
    assert_eq!(port, config.http.port);
    assert!(api_route_exists(&path).await, "{path} is not an api route");

    // Migrations first, once, then the api.
    assert!(matches!(
        parse_api_command(
            &compose_command(&compose, "migrate")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        ),
        Command::Migrate {
            action: MigrateAction::Run
        }
    ));
    assert_eq!(
        depends_on_condition(&compose, "api", "migrate"),
        "service_completed_successfully"
    );
    assert_eq!(
        depends_on_condition(&compose, "migrate", "postgres"),
        "service_healthy"
    );
    // Healthy means reachable over TCP: the image's first start initialises
    // the database with a server on its Unix socket only.
    let probe: Vec<String> = service(&compose, "postgres")
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .and_then(Yaml::as_sequence)
        .expect("postgres healthcheck.test")
        .iter()
        .map(yaml_str)
        .collect();
    assert!(
        probe
            .windows(2)
            .any(|w| w[0] == "-h" && w[1] == "127.0.0.1"),
        "pg_isready must ask over TCP: {probe:?}"
    );

    // The migrate service needs only the database.
    let migrate_env = compose_env(&compose, "migrate");
    assert!(migrate_env.iter().any(|(k, _)| k == "DATABASE_URL"));

    let grace = compose_duration(&yaml_str(
        service(&compose, "api")
            .get("stop_grace_period")
            .expect("stop_grace_period"),
    ));
    assert!(
        grace > config.platform.shutdown_timeout,
        "stop_grace_period must exceed the api's drain"
    );
}

#[tokio::test]
async fn compose_runs_the_worker_as_fly_does() {
    let compose = compose();
    let env = compose_env(&compose, "worker");
    let config = worker_config(&env);
    assert_eq!(config.platform.app_env, AppEnv::Production);
    assert!(!env.iter().any(|(k, _)| k == "ALLOW_PRIVATE_TARGETS"));

    let (port, path) = compose_health_probe(&compose, "worker");
    assert_eq!(port, config.port);
    assert_eq!(
        get_status(worker_starts(&env).await.router(), &path).await,
        StatusCode::OK
    );
    assert_eq!(
        depends_on_condition(&compose, "worker", "migrate"),
        "service_completed_successfully"
    );

    let grace = compose_duration(&yaml_str(
        service(&compose, "worker")
            .get("stop_grace_period")
            .expect("stop_grace_period"),
    ));
    assert!(
        grace > config.platform.shutdown_timeout,
        "stop_grace_period must exceed the worker's drain"
    );
}

#[test]
fn compose_wires_the_services_by_name() {
    let compose = compose();
    let api = api_config(&compose_env(&compose, "api"));
    for (var, host) in [
        (api.platform.database.url.expose(), "postgres"),
        (api.platform.redis_url.expose(), "redis"),
        (api.platform.nats_url.expose(), "nats"),
    ] {
        let url = url::Url::parse(var).expect("a URL");
        assert_eq!(url.host_str(), Some(host));
        service(&compose, host);
    }

    let web: BTreeMap<String, String> = compose_env(&compose, "web").into_iter().collect();
    assert_eq!(web["API_UPSTREAM"], format!("api:{}", api.http.port));
    assert_eq!(
        web["NGINX_RESOLVER"], "local",
        "read from the container's resolv.conf"
    );
    assert_eq!(
        web["NGINX_CLIENT_IP"], "$remote_addr",
        "compose unescapes $$"
    );
    let (probe_port, probe_path) = compose_health_probe(&compose, "web");
    assert_eq!(probe_port.to_string(), web["PORT"]);
    assert_eq!(probe_path, "/health");
    assert_eq!(
        depends_on_condition(&compose, "web", "api"),
        "service_healthy"
    );

    // The only published port is the web front's.
    let services = compose
        .get("services")
        .and_then(Yaml::as_mapping)
        .expect("services");
    for (name, svc) in services {
        let name = yaml_str(name);
        if name != "web" {
            assert!(
                svc.get("ports").is_none(),
                "{name} must not publish ports: only the web front is public"
            );
        }
    }
    let ports = service(&compose, "web")
        .get("ports")
        .and_then(Yaml::as_sequence)
        .expect("web ports");
    for mapping in ports {
        let mapping = interpolate(&yaml_str(mapping), &[]);
        let container_port = mapping.rsplit(':').next().unwrap_or_default();
        assert_eq!(container_port, web["PORT"], "web publishes {mapping}");
    }
}
