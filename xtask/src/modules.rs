//! The module graph of a crate: which of its top-level modules uses which
//! (`crate::name` paths, `use crate::{…}` groups included), and the cycles
//! in it. A crate whose modules use each other in a circle has no order to
//! be read in, and no module of it can be understood (or moved) alone;
//! `xtask/tests/modules.rs` holds every crate of the workspace to none.
//!
//! It reads the source as text: comments are dropped, a submodule's file
//! counts for its top-level module (`src/jobs/host.rs` is `jobs`), and the
//! crate root (`lib.rs`, `main.rs`) is no module.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use anyhow::Context;

/// Top-level module → the top-level modules it uses.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The graph of the crate whose sources are in `src`.
pub fn graph(src: &Path) -> anyhow::Result<Graph> {
    let mut graph = Graph::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path);
            let Some(module) = top_module(relative) else {
                continue;
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let used = graph.entry(module.clone()).or_default();
            used.extend(uses(&text).into_iter().filter(|used| *used != module));
        }
    }
    Ok(graph)
}

/// `jobs/host.rs` → `jobs`, `app.rs` → `app`; the crate root → `None`.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The top-level modules `text` names through `crate::`.
pub fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each item.
            let mut depth = 0;
            let mut item_start = true;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[index..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphabetic() || c == '_') => {
                        found.insert(identifier(&group[index..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = identifier(rest);
            if !name.is_empty() && name != "self" {
                found.insert(name);
            }
        }
    }
    found.remove("self");
    found
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every set of modules that use each other in a circle (the graph's
/// strongly connected components of more than one module), each sorted.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&str> = vec![from];
        while let Some(module) = pending.pop() {
            for next in graph.get(module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    pending.push(next);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&str, BTreeSet<String>> =
        graph.keys().map(|m| (m.as_str(), reaches(m))).collect();
    let mut cycles: Vec<Vec<String>> = Vec::new();
    for module in graph.keys() {
        if cycles.iter().any(|cycle| cycle.contains(module)) {
            continue;
        }
        let cycle: Vec<String> = graph
            .keys()
            .filter(|other| {
                *other == module
                    || (reach[module.as_str()].contains(*other)
                        && reach[other.as_str()].contains(module))
            })
            .cloned()
            .collect();
        if cycle.len() > 1 {
            cycles.push(cycle);
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(edges: &[(&str, &[&str])]) -> Graph {
        edges
            .iter()
            .map(|(module, uses)| {
                (
                    (*module).to_owned(),
                    uses.iter().map(|u| (*u).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn every_way_of_naming_a_module_is_a_use() {
        let text = "
use crate::{
    app::App,
    config::{Env, PlatformConfig},
    db, http::{self, ApiError},
};
use crate::live::EventHub;
fn f() { crate::queue::depth(); let _ = crate::time::serialize; }
// crate::commented::Out is no use
use super::sibling;
";
        assert_eq!(
            uses(text),
            ["app", "config", "db", "http", "live", "queue", "time"]
                .map(str::to_owned)
                .into()
        );
    }

    #[test]
    fn a_layered_graph_has_no_cycle() {
        let graph = graph_of(&[
            ("config", &[]),
            ("http", &["config"]),
            ("app", &["config", "http"]),
            ("health", &["app", "http"]),
        ]);
        assert!(cycles(&graph).is_empty());
    }

    #[test]
    fn a_cycle_is_found_with_every_module_in_it() {
        let graph = graph_of(&[
            ("config", &[]),
            ("connections", &["config", "health"]),
            ("health", &["http"]),
            ("http", &["connections"]),
            ("session", &["http", "live"]),
            ("live", &["session"]),
        ]);
        assert_eq!(
            cycles(&graph),
            vec![
                vec!["connections", "health", "http"],
                vec!["live", "session"]
            ]
        );
    }

    #[test]
    fn submodules_count_for_their_top_level_module() {
        assert_eq!(
            top_module(Path::new("jobs/host.rs")).as_deref(),
            Some("jobs")
        );
        assert_eq!(top_module(Path::new("app.rs")).as_deref(), Some("app"));
        assert_eq!(top_module(Path::new("lib.rs")), None);
    }
}
