//! No crate of the workspace has modules that use each other in a circle
//! (`xtask::modules`): each crate reads from its foundations up, and the
//! platform's layers are the ones `platform/src/lib.rs` lists.

use xtask::{modules, repo_root};

#[test]
fn no_crate_has_a_module_cycle() {
    let mut found = Vec::new();
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = manifest.parse().expect("Cargo.toml parses");
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("members");
    for member in members.iter().filter_map(toml::Value::as_str) {
        let graph = modules::graph(&repo_root().join(member).join("src")).expect("sources read");
        for cycle in modules::cycles(&graph) {
            found.push(format!("{member}: {}", cycle.join(" ↔ ")));
        }
    }
    assert!(
        found.is_empty(),
        "modules that use each other in a circle (move what both need into a module below them):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_platform_is_layered_as_its_crate_docs_say() {
    let graph = modules::graph(&repo_root().join("platform/src")).expect("sources read");
    // The leaves every layer builds on use nothing of the platform.
    for leaf in ["config", "time", "shutdown", "queue"] {
        assert!(graph[leaf].is_empty(), "{leaf} uses {:?}", graph[leaf]);
    }
    // http is the leaf handlers import: it knows only the settings.
    assert_eq!(
        graph["http"].iter().collect::<Vec<_>>(),
        ["config"],
        "http uses more than config"
    );
}
