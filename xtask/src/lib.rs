//! Beacon's repository tooling, run as `cargo xtask …` (`src/main.rs`):
//! making the template yours, proving the result works, and running Beacon
//! on a Fly-like private network (`fly_net`).

pub mod bench;
pub mod cmd;
pub mod compose_smoke;
pub mod dev;
pub mod e2e;
pub mod fly_apps;
pub mod fly_net;
pub mod journey;
pub mod lint;
pub mod make_it_yours;
pub mod modules;
pub mod nginx;
pub mod processes;
pub mod show;
pub mod skeleton_check;
pub mod test;

/// The repository this tooling belongs to: the folder above `xtask/`.
pub fn repo_root() -> std::path::PathBuf {
    let xtask = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// The package names of the workspace at `root`: each member's `[package]
/// name`, from the root `Cargo.toml`'s `[workspace] members`.
pub fn workspace_packages(root: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let read = |path: std::path::PathBuf| -> anyhow::Result<toml::Table> {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        text.parse()
            .with_context(|| format!("parsing {}", path.display()))
    };
    let manifest = read(root.join("Cargo.toml"))?;
    let members = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array)
        .context("Cargo.toml has no [workspace] members")?;
    let mut packages = Vec::new();
    for member in members.iter().filter_map(toml::Value::as_str) {
        let package = read(root.join(member).join("Cargo.toml"))?;
        let name = package
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            .with_context(|| format!("{member}/Cargo.toml has no package name"))?;
        packages.push(name.to_owned());
    }
    Ok(packages)
}
