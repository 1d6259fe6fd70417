//! The values `scripts/deploy-fly.sh` declares as `readonly NAME=(…)` and
//! `readonly NAME="…"`, read as it states them, for the deployment tests and
//! `cargo xtask fly-net`.

use anyhow::Context;

/// `readonly NAME=(A B C)`.
pub fn array(script: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let prefix = format!("readonly {name}=(");
    let line = script
        .lines()
        .find(|l| l.starts_with(&prefix))
        .with_context(|| format!("scripts/deploy-fly.sh has no `{prefix}…)`"))?;
    Ok(line[prefix.len()..]
        .trim_end_matches(')')
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// `readonly NAME="value"`, as written (`$PREFIX` left in).
pub fn value(script: &str, name: &str) -> anyhow::Result<String> {
    let prefix = format!("readonly {name}=\"");
    let line = script
        .lines()
        .find(|l| l.starts_with(&prefix))
        .with_context(|| format!("scripts/deploy-fly.sh has no `{prefix}…\"`"))?;
    Ok(line[prefix.len()..].trim_end_matches('"').to_owned())
}
