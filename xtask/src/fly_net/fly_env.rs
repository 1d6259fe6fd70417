//! What each process gets on Fly, read from the files that decide it:
//! `[env]` of `fly/fly.<app>.toml`, the secrets `scripts/deploy-fly.sh`
//! sets (each app's in `fly/secrets`, shaped as the script shapes them), and
//! what Fly itself sets (`FLY_APP_NAME`, `FLY_REGION`, `FLY_MACHINE_ID`).
//! A secret of your own (kind `yours`) gets a stand-in value; one the deploy
//! script makes that this file cannot fails the run.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, bail};

use crate::{
    fly_apps::{self, FlyApp, SecretKind},
    nginx,
};

/// The managed services' names, shaped like Fly's; [fdaa::3] answers them
/// with the host's address on the bridge, where they listen.
pub const POSTGRES_POOLED: &str = "pgbouncer.flynet.flympg.net";
pub const POSTGRES_DIRECT: &str = "direct.flynet.flympg.net";
pub const REDIS: &str = "fly-flynet-redis.upstash.io";

pub struct FlyEnv {
    prefix: String,
    region: String,
    tomls: BTreeMap<&'static str, toml::Table>,
    apps: Vec<FlyApp>,
    nats_address: String,
    api_upstream: String,
    database: String,
    jwt_secret: String,
    nats_passwords: BTreeMap<&'static str, String>,
    route_password: String,
}

fn hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

impl FlyEnv {
    pub fn read(root: &Path, database: &str) -> anyhow::Result<Self> {
        let mut tomls = BTreeMap::new();
        for (app, file) in [
            ("api", "fly.api.toml"),
            ("worker", "fly.worker.toml"),
            ("web", "fly.frontend.toml"),
            ("nats", "fly.nats.toml"),
        ] {
            let path = root.join("fly").join(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            tomls.insert(app, text.parse::<toml::Table>()?);
        }
        let api_app = tomls["api"]["app"].as_str().context("fly.api.toml: app")?;
        let prefix = api_app
            .strip_suffix("-api")
            .context("fly.api.toml: app is <prefix>-api")?
            .to_owned();
        let region = tomls["api"]["primary_region"]
            .as_str()
            .context("fly.api.toml: primary_region")?
            .to_owned();
        let apps = fly_apps::read(root)?;
        let reached_at = |app: &str| {
            fly_apps::find(&apps, app)?
                .reached_at_for(&prefix)
                .with_context(|| format!("{}: {app} has no address", fly_apps::PATH))
        };
        Ok(Self {
            nats_address: reached_at("nats")?,
            api_upstream: reached_at("api")?,
            prefix,
            region,
            tomls,
            apps,
            database: database.to_owned(),
            jwt_secret: hex(32),
            nats_passwords: BTreeMap::from([("api", hex(32)), ("worker", hex(32))]),
            route_password: hex(32),
        })
    }

    /// `<prefix>-<app>`, as the deploy script names the apps.
    pub fn app(&self, app: &str) -> String {
        format!("{}-{app}", self.prefix)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn toml_env(&self, app: &str) -> Vec<(String, String)> {
        self.tomls[app]
            .get("env")
            .and_then(toml::Value::as_table)
            .map(|env| {
                env.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn fly_vars(&self, app: &str) -> Vec<(String, String)> {
        vec![
            ("FLY_APP_NAME".into(), self.app(app)),
            ("FLY_REGION".into(), self.region.clone()),
        ]
    }

    /// The api's or the worker's environment on Fly.
    pub fn app_env(&self, app: &'static str) -> anyhow::Result<Vec<(String, String)>> {
        let mut env = self.toml_env(app);
        env.extend(self.fly_vars(app));
        for secret in &fly_apps::find(&self.apps, app)?.secrets {
            let name = &secret.name;
            let value = match name.as_str() {
                "DATABASE_URL" => {
                    format!(
                        "postgres://postgres@{POSTGRES_POOLED}:5432/{}",
                        self.database
                    )
                }
                "MIGRATION_DATABASE_URL" => {
                    format!(
                        "postgres://postgres@{POSTGRES_DIRECT}:5432/{}",
                        self.database
                    )
                }
                "REDIS_URL" => format!("redis://{REDIS}:6379"),
                // Generation 1 of the service's NATS password.
                "NATS_URL" => format!(
                    "nats://{app}-1:{}@{}",
                    self.nats_passwords[app], self.nats_address
                ),
                "JWT_SECRET" => self.jwt_secret.clone(),
                // Only its owner has the real one; the code must start with any.
                _ if secret.kind == SecretKind::Yours => format!("fly-net-{}", name.to_lowercase()),
                other => bail!(
                    "{} gives {app} the secret {other}, made by the deploy script: teach \
                     xtask/src/fly_net/fly_env.rs to make it as the script does",
                    fly_apps::SECRETS_PATH
                ),
            };
            env.push((name.clone(), value));
        }
        Ok(env)
    }

    /// A NATS machine's environment: the secrets the deploy script sets on
    /// the NATS app, the image's config path, and Fly's own variables.
    pub fn nats_env(&self) -> Vec<(String, String)> {
        let mut env = self.toml_env("nats");
        env.extend(self.fly_vars("nats"));
        env.extend([
            (
                "NATS_API_PASSWORD_1".into(),
                self.nats_passwords["api"].clone(),
            ),
            (
                "NATS_WORKER_PASSWORD_1".into(),
                self.nats_passwords["worker"].clone(),
            ),
            ("NATS_ROUTE_PASSWORD".into(), self.route_password.clone()),
        ]);
        env
    }

    /// The web machine's nginx: docker/nginx/default.conf.template rendered
    /// with fly.frontend.toml's `[env]`, the deploy script's `API_UPSTREAM`
    /// and the image's own paths, as the image's entrypoint renders it.
    pub fn render_nginx(&self, root: &Path, dir: &Path) -> anyhow::Result<()> {
        let static_root = root.join("frontend/dist");
        let static_root = if static_root.is_dir() {
            static_root
        } else {
            std::fs::create_dir_all(dir.join("html"))?;
            dir.join("html")
        };
        let mut vars: BTreeMap<String, String> = self.toml_env("web").into_iter().collect();
        vars.insert("API_UPSTREAM".into(), self.api_upstream.clone());
        vars.insert("STATIC_ROOT".into(), static_root.display().to_string());
        nginx::render(root, dir, &vars)
    }
}
