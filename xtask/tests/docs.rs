//! The README against the code: its configuration tables list exactly the
//! settings the binaries declare, each with the default and meaning the code
//! gives it (`platform::config::Env::var`), so a default lives in one place.

use std::collections::BTreeMap;

use platform::{
    config::{Env, SettingDoc},
    service::Service,
};

use xtask::repo_root;

/// One README row: `| `NAME` | default | meaning |`.
fn row(doc: &SettingDoc) -> String {
    format!("| `{}` | {} | {} |", doc.name, doc.default, doc.meaning)
}

/// Every setting the api (with every area mounted), the worker (with every
/// job registered) and `api migrate` declare, built from development
/// defaults with lazy connections: nothing is reached.
async fn declared() -> Vec<SettingDoc> {
    let env = Env::from_pairs(&[("PORT", "0"), ("METRICS_PORT", "0"), ("WORKER_PORT", "0")]);
    api::server::ApiServer::build(env.clone())
        .await
        .expect("the api builds from development defaults");
    worker::server::Worker::build(env.clone())
        .await
        .expect("the worker builds from development defaults");
    platform::migrate::MigrateSettings::from_env(&env).expect("the migration settings");
    env.declared()
}

/// The rows of every table under `## Configuration`, by setting name.
fn readme_rows() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## Configuration")
        .nth(1)
        .expect("a `## Configuration` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let name = line
                .trim_start_matches("| `")
                .split('`')
                .next()
                .unwrap_or_default()
                .to_owned();
            (name, line.trim_end().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_readme_lists_every_setting_with_its_default_and_meaning() {
    let declared = declared().await;
    assert!(
        declared.len() > 20,
        "the settings were not collected: {declared:?}"
    );
    let documented = readme_rows();
    let mut problems = Vec::new();
    for doc in &declared {
        let expected = row(doc);
        match documented.get(doc.name) {
            None => problems.push(format!("missing from README.md:\n{expected}")),
            Some(found) if *found != expected => {
                problems.push(format!("README.md has\n{found}\nthe code says\n{expected}"));
            }
            Some(_) => {}
        }
    }
    for name in documented.keys() {
        if !declared.iter().any(|d| d.name == name) {
            problems.push(format!("README.md lists `{name}`, which nothing reads"));
        }
    }
    assert!(
        problems.is_empty(),
        "the configuration tables drifted from the code:\n\n{}\n\nevery row, in the order the code declares them:\n{}",
        problems.join("\n\n"),
        declared.iter().map(row).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_readme_names_every_file_the_example_touches_outside_its_folders() {
    let marked = xtask::make_it_yours::marked_files(&repo_root()).expect("the tree");
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    // A project whose example was removed lists nothing, and has nothing marked.
    let list = readme
        .split("<!-- example-files:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- example-files:end -->").next())
        .unwrap_or_default();
    let named: Vec<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|path| path.contains('.') || path.contains('/'))
        .map(str::to_owned)
        .collect();
    let mut named_sorted = named.clone();
    named_sorted.sort();
    named_sorted.dedup();
    assert_eq!(named_sorted, marked, "README lists {named:?}");
    assert!(
        marked.len() <= 10,
        "removing the example by hand touches {} files: {marked:?}",
        marked.len()
    );
}
