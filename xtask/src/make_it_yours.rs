//! `cargo xtask make-it-yours`: turns a checkout of Beacon into your own
//! project. It renames `beacon` everywhere it names the project (crates'
//! docs, the database, queues, NATS subjects, metrics, the session cookie,
//! the image user, the Fly apps, the docs) and, with `--strip-example`,
//! removes the example product (the uptime monitor) and leaves the skeleton:
//! accounts, health, a worker with one job, the same deployment.
//!
//! What belongs to the example is marked in the tree, so the same marks guide
//! anyone who removes it by hand:
//! - whole folders: [`EXAMPLE_DIRS`];
//! - a line that exists only for the example ends in a comment that says
//!   just "example" (`// example`, `# example`, `<!-- example -->`);
//! - a block runs from a comment line "example:begin" to one "example:end".

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail, ensure};

/// The example's own folders, removed whole.
pub const EXAMPLE_DIRS: &[&str] = &["uptime", "frontend/src/uptime", "frontend/e2e/uptime"];

/// This file: its marks and names are its test data, never its own.
const THIS_FILE: &str = "xtask/src/make_it_yours.rs";

/// Folders never read: build output, installed tools, dependencies, git.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    ".tools",
    ".artifacts",
    "dist",
];

/// What to do, and where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The repository to change, in place.
    pub root: PathBuf,
    /// The new name, when renaming.
    pub to: Option<Name>,
    pub strip_example: bool,
    /// Print what would change; write nothing.
    pub dry_run: bool,
}

/// A project name in every spelling the tree uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// `acme-status`: app names, images, npm, anything DNS-like.
    pub kebab: String,
    /// `acme_status`: the database, metrics, cookies, identifiers.
    pub snake: String,
    /// `Acme Status`: prose and titles.
    pub title: String,
}

impl Name {
    /// [`Name::parse`], for the command line.
    fn parse_arg(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }

    /// Lowercase letters, digits and single dashes, starting with a letter:
    /// it becomes part of Fly app names and DNS labels.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let valid = (2..=30).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && !raw.ends_with('-')
            && !raw.contains("--")
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ensure!(
            valid,
            "`{raw}` cannot be a project name: use 2 to 30 lowercase letters, digits and single dashes, starting with a letter (e.g. acme-status)"
        );
        let title = raw
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            kebab: raw.to_owned(),
            snake: raw.replace('-', "_"),
            title,
        })
    }
}

/// The name a checkout calls itself by: its api's Fly app, `<name>-api`.
pub fn current_name(root: &Path) -> anyhow::Result<Name> {
    let fly =
        fs::read_to_string(root.join("fly/fly.api.toml")).context("reading fly/fly.api.toml")?;
    let app = fly
        .lines()
        .find_map(|line| line.trim().strip_prefix("app = \""))
        .and_then(|rest| rest.strip_suffix("-api\""))
        .context("fly/fly.api.toml has no `app = \"<name>-api\"`")?;
    Name::parse(app)
}

/// Make the template your project: rename it, and remove the example
///
/// Renames the project's name everywhere it stands (crates' docs, the
/// database, queues, NATS subjects, metrics, the session cookie, the image
/// user, the Fly apps, the docs). With --strip-example, removes the example
/// product (the uptime monitor: its crate, migrations, frontend views and
/// tests, and the lines marked `// example` or `# example` elsewhere),
/// leaving accounts, health and a worker with one job. Changes the checkout
/// in place: commit first.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true))]
pub struct Options {
    /// The new name: lowercase letters, digits and dashes (acme-status).
    #[arg(long, value_name = "NAME", group = "what", value_parser = Name::parse_arg)]
    pub name: Option<Name>,
    /// Remove the example product.
    #[arg(long, group = "what")]
    pub strip_example: bool,
    /// The checkout to change [default: this one].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// List the files outside the example's folders that carry its marks: what
/// removing it by hand touches
#[derive(Debug, clap::Args)]
pub struct ExampleFiles {
    /// The checkout to look at [default: this one].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `cargo xtask make-it-yours`.
pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let plan = Plan {
        root: options.dir.clone().unwrap_or_else(|| root.to_path_buf()),
        to: options.name.clone(),
        strip_example: options.strip_example,
        dry_run: options.dry_run,
    };
    let changes = apply(&plan)?;
    for change in &changes {
        println!("{}{change}", if plan.dry_run { "would " } else { "" });
    }
    if !plan.dry_run {
        println!(
            "done: {} change(s). Next: scripts/test.sh, then commit.",
            changes.len()
        );
    }
    Ok(())
}

/// `cargo xtask example-files`.
pub fn list_example_files(root: &Path, options: &ExampleFiles) -> anyhow::Result<()> {
    for file in marked_files(options.dir.as_deref().unwrap_or(root))? {
        println!("{file}");
    }
    Ok(())
}

/// Carries out the plan; what it changed, one line per file.
pub fn apply(plan: &Plan) -> anyhow::Result<Vec<String>> {
    ensure!(
        plan.root.join("Cargo.toml").is_file() && plan.root.join("platform").is_dir(),
        "{} is not a checkout of this template",
        plan.root.display()
    );
    let from = current_name(&plan.root)?;
    let mut changes = Vec::new();
    if plan.strip_example {
        ensure!(
            plan.root.join("uptime").is_dir(),
            "the example is not there any more: nothing to strip"
        );
        changes.extend(strip_example(plan)?);
    }
    if let Some(to) = &plan.to {
        changes.extend(rename(plan, &from, to)?);
    }
    Ok(changes)
}

/// Every file below `root` the tool may change.
fn files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    pending.push(path);
                }
            } else if kind.is_file() && relative(root, &path) != THIS_FILE {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The files outside the example's folders that carry its marks: what
/// removing it by hand touches.
pub fn marked_files(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut marked = Vec::new();
    for path in files(root)? {
        let rel = relative(root, &path);
        if in_example_dir(&rel) {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        if strip_marks(&text) != text {
            marked.push(rel);
        }
    }
    Ok(marked)
}

fn in_example_dir(rel: &str) -> bool {
    EXAMPLE_DIRS
        .iter()
        .any(|dir| rel == *dir || rel.starts_with(&format!("{dir}/")))
}

/// A comment line that is only `word`, in any of the tree's comment styles.
fn is_comment(line: &str, word: &str) -> bool {
    let bare = line.trim();
    [
        format!("// {word}"),
        format!("# {word}"),
        format!("<!-- {word} -->"),
    ]
    .contains(&bare.to_owned())
}

/// `text` without the example's marked lines and blocks.
pub fn strip_marks(text: &str) -> String {
    let mut kept = Vec::new();
    let mut in_block = false;
    for line in text.split_inclusive('\n') {
        if is_comment(line, "example:begin") {
            in_block = true;
            continue;
        }
        if is_comment(line, "example:end") {
            in_block = false;
            continue;
        }
        let bare = line.trim_end();
        let marked = bare.ends_with(" // example")
            || bare.ends_with(" # example")
            || is_comment(line, "example");
        if !in_block && !marked {
            kept.push(line);
        }
    }
    kept.concat()
}

fn strip_example(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let root = &plan.root;
    let mut changes = Vec::new();
    for dir in EXAMPLE_DIRS {
        let path = root.join(dir);
        if path.exists() {
            changes.push(format!("remove {dir}/"));
            if !plan.dry_run {
                fs::remove_dir_all(&path).with_context(|| format!("removing {dir}"))?;
            }
        }
    }
    for rel in marked_files(root)? {
        let path = root.join(&rel);
        let text = fs::read_to_string(&path)?;
        changes.push(format!("strip the example's lines from {rel}"));
        if !plan.dry_run {
            fs::write(&path, strip_marks(&text))?;
        }
    }
    changes.extend(prune_query_cache(plan)?);
    if !plan.dry_run {
        // Cargo.lock without the example's crate, nothing else re-resolved;
        // then the code where lines went, formatted as rustfmt would.
        for args in [
            &["update", "--workspace", "--offline", "--quiet"][..],
            &["fmt", "--all"][..],
        ] {
            let status = crate::cmd::cargo()
                .args(args)
                .current_dir(root)
                .status()
                .with_context(|| format!("running cargo {}", args.join(" ")))?;
            ensure!(status.success(), "cargo {} failed", args.join(" "));
        }
    }
    changes.push("update Cargo.lock (cargo update --workspace) and cargo fmt".to_owned());
    Ok(changes)
}

/// Removes the `.sqlx` entries of queries no remaining source file holds, so
/// `cargo sqlx prepare --check` passes without a database at hand.
fn prune_query_cache(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let cache = plan.root.join(".sqlx");
    if !cache.is_dir() {
        return Ok(Vec::new());
    }
    let mut sources = String::new();
    for path in files(&plan.root)? {
        let rel = relative(&plan.root, &path);
        if path.extension().is_some_and(|e| e == "rs") && !in_example_dir(&rel) {
            let text = fs::read_to_string(&path)?;
            sources.push_str(&if plan.dry_run {
                strip_marks(&text)
            } else {
                text
            });
        }
    }
    let mut changes = Vec::new();
    for entry in fs::read_dir(&cache)? {
        let path = entry?.path();
        let text = fs::read_to_string(&path)?;
        let query = query_of(&text).with_context(|| format!("{} has no query", path.display()))?;
        if !sources.contains(&query) {
            changes.push(format!("remove {}", relative(&plan.root, &path)));
            if !plan.dry_run {
                fs::remove_file(&path)?;
            }
        }
    }
    Ok(changes)
}

/// The `"query"` of a `.sqlx` entry.
fn query_of(json: &str) -> Option<String> {
    let start = json.find("\"query\": \"")? + "\"query\": \"".len();
    let mut query = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(query),
            '\\' => match chars.next()? {
                'n' => query.push('\n'),
                't' => query.push('\t'),
                'r' => query.push('\r'),
                other => query.push(other),
            },
            c => query.push(c),
        }
    }
    None
}

/// `text` with the old name replaced in each spelling: next to a dash it is
/// kebab-case (`beacon-api`), capitalised it is the title (`Beacon`),
/// otherwise snake_case (`beacon_session`, `/beacon`, `beacon.events`).
pub fn rename_text(text: &str, from: &Name, to: &Name) -> String {
    let title = text.replace(&from.title, &to.title);
    let mut out = String::with_capacity(title.len());
    let mut rest = title.as_str();
    while let Some(at) = rest.find(&from.snake) {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let after_name = &after[from.snake.len()..];
        let dashed = out.ends_with('-') || after_name.starts_with('-');
        out.push_str(if dashed { &to.kebab } else { &to.snake });
        rest = after_name;
    }
    out.push_str(rest);
    out
}

fn rename(plan: &Plan, from: &Name, to: &Name) -> anyhow::Result<Vec<String>> {
    if to == from {
        bail!("the project is called {} already", to.kebab);
    }
    let mut changes = Vec::new();
    for path in files(&plan.root)? {
        let Ok(text) = fs::read_to_string(&path) else {
            continue; // not text
        };
        let renamed = rename_text(&text, from, to);
        if renamed != text {
            changes.push(format!("rename in {}", relative(&plan.root, &path)));
            if !plan.dry_run {
                fs::write(&path, renamed)?;
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> Name {
        Name::parse(raw).expect("a valid name")
    }

    #[test]
    fn names_come_in_every_spelling() {
        assert_eq!(
            name("acme-status"),
            Name {
                kebab: "acme-status".into(),
                snake: "acme_status".into(),
                title: "Acme Status".into(),
            }
        );
        for bad in [
            "",
            "a",
            "Acme",
            "1acme",
            "acme-",
            "ac--me",
            "acme_status",
            "acme status",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_use_of_the_name_gets_the_spelling_it_needs() {
        let (from, to) = (name("beacon"), name("acme-status"));
        let cases = [
            ("app = \"beacon-api\"", "app = \"acme-status-api\""),
            ("acme-beacon-staging", "acme-acme-status-staging"),
            (
                "COOKIE = \"beacon_session\"",
                "COOKIE = \"acme_status_session\"",
            ),
            ("127.0.0.1:5432/beacon", "127.0.0.1:5432/acme_status"),
            ("beacon.events.>", "acme_status.events.>"),
            ("beacon:checks", "acme_status:checks"),
            (
                "metrics: beacon_checks_total",
                "metrics: acme_status_checks_total",
            ),
            ("# Beacon on Fly.io", "# Acme Status on Fly.io"),
            ("nothing here", "nothing here"),
        ];
        for (text, expected) in cases {
            assert_eq!(rename_text(text, &from, &to), expected, "{text}");
        }
    }

    #[test]
    fn marked_lines_and_blocks_go_and_nothing_else() {
        let text = "\
keep
host.register(uptime.checks()?); // example
uptime = { path = \"uptime\" } # example
<!-- example -->
keep too
<!-- example:begin -->
all of this
<!-- example:end -->
    # example:begin
and this
    # example:end
the end
";
        assert_eq!(strip_marks(text), "keep\nkeep too\nthe end\n");
        for unmarked in [
            "an example of nothing\n",
            "a line that ends with `// example`.\n",
            "mentions example:begin in passing\n",
        ] {
            assert_eq!(strip_marks(unmarked), unmarked);
        }
    }

    #[test]
    fn queries_are_read_from_the_cache_entries() {
        let json = r#"{
  "db_name": "PostgreSQL",
  "query": "SELECT id\n  FROM \"users\" WHERE email = $1",
  "describe": {}
}"#;
        assert_eq!(
            query_of(json).as_deref(),
            Some("SELECT id\n  FROM \"users\" WHERE email = $1")
        );
    }
}
