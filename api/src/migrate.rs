//! `api migrate run | status | revert`: the migrations embedded in the binary,
//! applied by the binary, so Fly's `release_command` needs nothing but the image.
//!
//! `run` takes sqlx's Postgres advisory lock, so two machines running it at
//! once apply each migration once; the second waits and finds nothing to do.
//! That lock is session-level: point `MIGRATION_DATABASE_URL` at a direct
//! connection when `DATABASE_URL` goes through PgBouncer in transaction mode.

use std::{collections::BTreeSet, fmt, io::Write, time::Duration};

use anyhow::Context;
use common::{config::Secret, db::MIGRATOR};
use sqlx::{
    Connection, PgConnection,
    migrate::{Migrate, Migration, Migrator},
    postgres::PgConnectOptions,
};

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
fn known() -> impl Iterator<Item = &'static Migration> {
    MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
}

pub async fn connect(url: &Secret) -> anyhow::Result<PgConnection> {
    let options: PgConnectOptions = url
        .expose()
        .parse()
        .context("the database URL is not a valid Postgres URL")?;
    tokio::time::timeout(
        Duration::from_secs(30),
        PgConnection::connect_with(&options),
    )
    .await
    .context("timed out connecting to Postgres")?
    .context("cannot connect to Postgres")
}

pub async fn status(conn: &mut PgConnection) -> anyhow::Result<Vec<MigrationStatus>> {
    let table = MIGRATOR.table_name.as_ref();
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .context("cannot read the migrations table")?;
    if !exists {
        return Ok(known()
            .map(|m| row(m.version, &m.description, MigrationState::Pending))
            .collect());
    }
    let failed = conn.dirty_version(table).await?;
    let applied = conn.list_applied_migrations(table).await?;

    let mut rows: Vec<MigrationStatus> = known()
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
    let known_versions: BTreeSet<i64> = known().map(|m| m.version).collect();
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

fn describe(version: i64) -> String {
    let description = known()
        .find(|m| m.version == version)
        .map_or("", |m| m.description.as_ref());
    format!("{version:04} {description}")
}

/// `api migrate status`: a table, then a summary. With `check`, any pending,
/// changed or failed migration makes the return value false (exit 1).
pub async fn print_status(
    conn: &mut PgConnection,
    check: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let rows = status(conn).await?;
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
pub async fn run(conn: &mut PgConnection, out: &mut impl Write) -> anyhow::Result<()> {
    // Hold the migrator's advisory lock around the before/after snapshots too,
    // so a machine that waited reports "up to date" rather than the other's
    // work. Postgres advisory locks nest within a session.
    conn.lock().await?;
    let result = run_locked(conn, out).await;
    conn.unlock().await?;
    result
}

async fn run_locked(conn: &mut PgConnection, out: &mut impl Write) -> anyhow::Result<()> {
    let before = applied_versions(&status(conn).await?);
    // A rolled-back release runs an older binary against a newer schema:
    // migrations it does not know are reported, not fatal.
    let mut migrator = Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
    migrator.set_ignore_missing(true);
    migrator
        .run(&mut *conn)
        .await
        .context("applying migrations failed; nothing after the failed one was applied")?;
    let after = status(conn).await?;
    let newly: Vec<i64> = applied_versions(&after)
        .difference(&before)
        .copied()
        .collect();
    for version in &newly {
        writeln!(out, "applied {}", describe(*version))?;
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
    conn: &mut PgConnection,
    to: Option<i64>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Some(version) = to
        && version != 0
        && !known().any(|m| m.version == version)
    {
        anyhow::bail!(
            "--to {version} is not a migration of this build; choose 0 or one of: {}",
            known()
                .map(|m| m.version.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let before = applied_versions(&status(conn).await?);
    let Some(&last) = before.last() else {
        writeln!(out, "nothing to revert: no migration is applied")?;
        return Ok(());
    };
    let target = to.unwrap_or_else(|| before.range(..last).next_back().copied().unwrap_or(0));
    if target >= last {
        writeln!(
            out,
            "nothing to revert: {} is the latest applied migration",
            describe(last)
        )?;
        return Ok(());
    }
    MIGRATOR
        .undo(&mut *conn, target)
        .await
        .context("reverting failed")?;
    let after = applied_versions(&status(conn).await?);
    let reverted: Vec<i64> = before.difference(&after).copied().collect();
    for version in reverted.iter().rev() {
        writeln!(out, "reverted {}", describe(*version))?;
    }
    Ok(())
}
