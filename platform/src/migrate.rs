//! `migrate run | status | revert`: the migrations embedded in the binary,
//! applied by the binary, so Fly's `release_command` needs nothing but the image.
//!
//! `run` takes sqlx's Postgres advisory lock, so two machines running it at
//! once apply each migration once; the second waits and finds nothing to do.
//! That lock is session-level: point `MIGRATION_DATABASE_URL` at a direct
//! connection when `DATABASE_URL` goes through PgBouncer in transaction mode.

use std::{collections::BTreeSet, fmt, io::Write, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Subcommand;
use sqlx::{
    Connection, PgConnection,
    migrate::{Migrate, Migration, Migrator},
    postgres::PgConnectOptions,
};

use crate::config::{AppEnv, ConfigError, DEV_DATABASE_URL, Env, Secret};

#[derive(Debug, Clone, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration. Idempotent and safe to run concurrently.
    Run,
    /// List every migration as applied, pending, changed, failed or unknown.
    Status {
        /// Exit with 1 when anything is pending, changed or failed.
        #[arg(long)]
        check: bool,
    },
    /// Undo the last applied migration, or every migration above --to.
    Revert {
        /// Revert down to this version (0 reverts everything).
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
    },
}

/// What `api migrate` reads: the database, and how long to wait for it.
pub struct MigrateSettings {
    pub url: Secret,
    pub connect_wait: Duration,
}

impl MigrateSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            url: database_url(env)?,
            connect_wait: env
                .var(
                    "MIGRATE_CONNECT_WAIT_SECS",
                    "how long `api migrate` keeps trying to reach a Postgres that is not up yet",
                )
                .secs(30, 0..=600)?,
        })
    }
}

/// Migrations need only the database: `MIGRATION_DATABASE_URL` (a direct
/// connection, when `DATABASE_URL` goes through PgBouncer) or `DATABASE_URL`.
fn database_url(env: &Env) -> Result<Secret, ConfigError> {
    let app_env = env
        .var("APP_ENV", "`development` or `production`")
        .choice(AppEnv::Development)?;
    let postgres = ["postgres", "postgresql"];
    let direct = env
        .var(
            "MIGRATION_DATABASE_URL",
            "direct Postgres connection for `api migrate` (`DATABASE_URL` when unset)",
        )
        .optional_url(&postgres)?;
    match direct {
        Some(url) => Ok(url),
        None => env
            .var("DATABASE_URL", "Postgres")
            .url(&postgres, DEV_DATABASE_URL, app_env),
    }
}

/// Runs one `migrate` action against `migrator` and prints what it did.
pub async fn command(action: MigrateAction, migrator: &Migrator, env: &Env) -> ExitCode {
    let settings = MigrateSettings::from_env(env).unwrap_or_else(|e| e.exit());
    let mut out = std::io::stdout();
    let result = async {
        let mut conn = connect_within(&settings.url, settings.connect_wait).await?;
        match action {
            MigrateAction::Run => run(migrator, &mut conn, &mut out).await.map(|()| true),
            MigrateAction::Status { check } => {
                print_status(migrator, &mut conn, check, &mut out).await
            }
            MigrateAction::Revert { to } => revert(migrator, &mut conn, to, &mut out)
                .await
                .map(|()| true),
        }
    }
    .await;
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where one migration stands against the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationState {
    Applied,
    Pending,
    /// Applied, but the file changed since (checksum mismatch).
    Changed,
    /// Applied to the database, unknown to this binary (a newer release ran it).
    Unknown,
    /// Started and failed; the database needs a look by hand.
    Failed,
}

impl fmt::Display for MigrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Applied => "applied",
            Self::Pending => "pending",
            Self::Changed => "changed",
            Self::Unknown => "unknown",
            Self::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub state: MigrationState,
}

/// The up migrations this binary carries, in order.
fn known(migrator: &Migrator) -> impl Iterator<Item = &Migration> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
}

/// [`connect`], tried again every second for up to `wait`: a release
/// command or a compose stack can start while Postgres (or the proxy in
/// front of it) is still coming up, and one refused connection must not
/// fail the deploy.
pub async fn connect_within(url: &Secret, wait: Duration) -> anyhow::Result<PgConnection> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match connect(url).await {
            Ok(conn) => return Ok(conn),
            // Postgres answered: waiting will not create the database.
            Err(e) if is_missing_database(&e) => return Err(e),
            Err(e) if tokio::time::Instant::now() + Duration::from_secs(1) <= deadline => {
                eprintln!("waiting for Postgres: {e:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

pub async fn connect(url: &Secret) -> anyhow::Result<PgConnection> {
    let options: PgConnectOptions = url
        .expose()
        .parse()
        .context("the database URL is not a valid Postgres URL")?;
    let connected = tokio::time::timeout(
        Duration::from_secs(30),
        PgConnection::connect_with(&options),
    )
    .await
    .context("timed out connecting to Postgres")?;
    match connected {
        Err(e) if database_code(&e).as_deref() == Some(MISSING_DATABASE) => {
            let name = options.get_database().unwrap_or("postgres");
            Err(anyhow::Error::new(e).context(format!(
                "the database `{name}` does not exist on {}:{}: create it first \
                 (`sqlx database create` with the same DATABASE_URL, or `createdb {name}`; \
                 scripts/dev.sh creates the local one)",
                options.get_host(),
                options.get_port()
            )))
        }
        other => other.context("cannot connect to Postgres"),
    }
}

/// Postgres' SQLSTATE for "database does not exist" (invalid_catalog_name).
const MISSING_DATABASE: &str = "3D000";

fn database_code(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|code| code.into_owned())
}

fn is_missing_database(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .any(|e| database_code(e).as_deref() == Some(MISSING_DATABASE))
}

pub async fn status(
    migrator: &Migrator,
    conn: &mut PgConnection,
) -> anyhow::Result<Vec<MigrationStatus>> {
    let table = migrator.table_name.as_ref();
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .context("cannot read the migrations table")?;
    if !exists {
        return Ok(known(migrator)
            .map(|m| row(m.version, &m.description, MigrationState::Pending))
            .collect());
    }
    let failed = conn.dirty_version(table).await?;
    let applied = conn.list_applied_migrations(table).await?;

    let mut rows: Vec<MigrationStatus> = known(migrator)
        .map(|m| {
            let state = match applied.iter().find(|a| a.version == m.version) {
                _ if failed == Some(m.version) => MigrationState::Failed,
                Some(a) if a.checksum == m.checksum => MigrationState::Applied,
                Some(_) => MigrationState::Changed,
                None => MigrationState::Pending,
            };
            row(m.version, &m.description, state)
        })
        .collect();
    let known_versions: BTreeSet<i64> = known(migrator).map(|m| m.version).collect();
    rows.extend(
        applied
            .iter()
            .filter(|a| !known_versions.contains(&a.version))
            .map(|a| row(a.version, "(not in this build)", MigrationState::Unknown)),
    );
    rows.sort_by_key(|r| r.version);
    Ok(rows)
}

fn row(version: i64, description: &str, state: MigrationState) -> MigrationStatus {
    MigrationStatus {
        version,
        description: description.to_owned(),
        state,
    }
}

fn applied_versions(rows: &[MigrationStatus]) -> BTreeSet<i64> {
    rows.iter()
        .filter(|r| {
            matches!(
                r.state,
                MigrationState::Applied | MigrationState::Changed | MigrationState::Unknown
            )
        })
        .map(|r| r.version)
        .collect()
}

fn describe(migrator: &Migrator, version: i64) -> String {
    let description = known(migrator)
        .find(|m| m.version == version)
        .map_or("", |m| m.description.as_ref());
    format!("{version:04} {description}")
}

/// `api migrate status`: a table, then a summary. With `check`, any pending,
/// changed or failed migration makes the return value false (exit 1).
pub async fn print_status(
    migrator: &Migrator,
    conn: &mut PgConnection,
    check: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let rows = status(migrator, conn).await?;
    writeln!(out, "{:<8} {:<9} DESCRIPTION", "VERSION", "STATE")?;
    for r in &rows {
        writeln!(
            out,
            "{:<8} {:<9} {}",
            format!("{:04}", r.version),
            r.state.to_string(),
            r.description
        )?;
    }
    let count = |state| rows.iter().filter(|r| r.state == state).count();
    let (pending, changed, failed) = (
        count(MigrationState::Pending),
        count(MigrationState::Changed),
        count(MigrationState::Failed),
    );
    writeln!(
        out,
        "{} migrations: {} applied, {pending} pending, {changed} changed, {failed} failed, {} unknown",
        rows.len(),
        count(MigrationState::Applied),
        count(MigrationState::Unknown),
    )?;
    let clean = pending + changed + failed == 0;
    if check && !clean {
        writeln!(
            out,
            "not up to date: run `api migrate run` (a changed migration must be restored, not edited)"
        )?;
    }
    Ok(clean || !check)
}

/// `api migrate run`: applies what is pending and says what it applied.
pub async fn run(
    migrator: &Migrator,
    conn: &mut PgConnection,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    // Hold the migrator's advisory lock around the before/after snapshots too,
    // so a machine that waited reports "up to date" rather than the other's
    // work. Postgres advisory locks nest within a session.
    conn.lock().await?;
    let result = run_locked(migrator, conn, out).await;
    conn.unlock().await?;
    result
}

async fn run_locked(
    migrator: &Migrator,
    conn: &mut PgConnection,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let before = applied_versions(&status(migrator, conn).await?);
    // A rolled-back release runs an older binary against a newer schema:
    // migrations it does not know are reported, not fatal.
    let mut lenient = Migrator::with_migrations(migrator.iter().cloned().collect());
    lenient.set_ignore_missing(true);
    lenient
        .run(&mut *conn)
        .await
        .context("applying migrations failed; nothing after the failed one was applied")?;
    let after = status(migrator, conn).await?;
    let newly: Vec<i64> = applied_versions(&after)
        .difference(&before)
        .copied()
        .collect();
    for version in &newly {
        writeln!(out, "applied {}", describe(migrator, *version))?;
    }
    let unknown = after
        .iter()
        .filter(|r| r.state == MigrationState::Unknown)
        .count();
    if unknown > 0 {
        writeln!(
            out,
            "note: the database has {unknown} migration(s) newer than this build"
        )?;
    }
    if newly.is_empty() {
        writeln!(
            out,
            "database is up to date ({} migrations applied)",
            applied_versions(&after).len()
        )?;
    }
    Ok(())
}

/// `api migrate revert [--to VERSION]`: undoes the last applied migration, or
/// every migration above `to` (`--to 0` undoes them all).
pub async fn revert(
    migrator: &Migrator,
    conn: &mut PgConnection,
    to: Option<i64>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Some(version) = to
        && version != 0
        && !known(migrator).any(|m| m.version == version)
    {
        anyhow::bail!(
            "--to {version} is not a migration of this build; choose 0 or one of: {}",
            known(migrator)
                .map(|m| m.version.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let before = applied_versions(&status(migrator, conn).await?);
    let Some(&last) = before.last() else {
        writeln!(out, "nothing to revert: no migration is applied")?;
        return Ok(());
    };
    let target = to.unwrap_or_else(|| before.range(..last).next_back().copied().unwrap_or(0));
    if target >= last {
        writeln!(
            out,
            "nothing to revert: {} is the latest applied migration",
            describe(migrator, last)
        )?;
        return Ok(());
    }
    migrator
        .undo(&mut *conn, target)
        .await
        .context("reverting failed")?;
    let after = applied_versions(&status(migrator, conn).await?);
    let reverted: Vec<i64> = before.difference(&after).copied().collect();
    for version in reverted.iter().rev() {
        writeln!(out, "reverted {}", describe(migrator, *version))?;
    }
    Ok(())
}
