//! `cargo xtask make-it-yours`: turns a checkout of Beacon into your own
//! project. It renames `beacon` everywhere it names the project (crates'
//! docs, the database, queues, NATS subjects, metrics, the session cookie,
//! the image user, the Fly apps, the docs) and, with `--strip-example`,
//! removes the example product (the uptime monitor) and leaves the skeleton:
//! accounts, health, a worker with one job, the same deployment.
//!
//! What belongs to the example is marked in the tree, so the same marks guide
//! anyone who removes it by hand:
//! - whole folders: [`EXAMPLE_PATHS`];
//! - a line that exists only for the example ends in a comment that says
//!   just "example" (`// example`, `# example`, `<!-- example -->`), or is
//!   that comment alone;
//! - a block runs from a comment line "example:begin" to one "example:end".

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, ensure};

/// The example's own folders (and files), removed whole.
pub const EXAMPLE_PATHS: &[&str] = &[
    "uptime",
    "frontend/src/uptime",
    "frontend/e2e/uptime",
    "xtask/src/bench/uptime",
];

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
    /// Change a checkout with uncommitted changes (they would be mixed with
    /// the tool's).
    pub allow_dirty: bool,
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
    /// Change it even with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Print what each file would become (its changed lines) and change
    /// nothing.
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
        allow_dirty: options.allow_dirty,
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

/// Carries out the plan; what it changed (or, under `--dry-run`, would
/// change), a line per file, each changed file's lines under it.
pub fn apply(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let root = &plan.root;
    ensure!(
        root.join("Cargo.toml").is_file() && root.join("platform").is_dir(),
        "{} is not a checkout of this template",
        root.display()
    );
    if !plan.allow_dirty {
        let dirty = uncommitted(root)?;
        ensure!(
            dirty.is_empty(),
            "{} has uncommitted changes ({}): commit them first, so the tool's changes stand alone \
             in `git diff`, or pass --allow-dirty",
            root.display(),
            dirty.join(", ")
        );
    }
    let from = current_name(root)?;
    if let Some(to) = &plan.to {
        ensure!(*to != from, "the project is called {} already", to.kebab);
    }
    let mut changes = Vec::new();
    let strip = plan.strip_example && has_example(root)?;
    if plan.strip_example && !strip {
        changes.push("nothing to strip: the example was removed already".to_owned());
    }

    // Every file's new text, worked out before anything is written.
    let mut removed = Vec::new();
    if strip {
        removed.extend(
            EXAMPLE_PATHS
                .iter()
                .filter(|p| root.join(p).exists())
                .map(|p| (*p).to_owned()),
        );
    }
    let mut edits = Vec::new();
    for path in files(root)? {
        let rel = relative(root, &path);
        if strip && in_example_dir(&rel) {
            continue;
        }
        let Ok(old) = fs::read_to_string(&path) else {
            continue; // not text
        };
        let kept = if strip {
            strip_marks(&old)
        } else {
            old.clone()
        };
        let new = match &plan.to {
            Some(to) => rename_text(&kept, &from, to),
            None => kept.clone(),
        };
        if new != old {
            edits.push(Edit {
                rel,
                old,
                kept,
                new,
            });
        }
    }
    if strip {
        removed.extend(stale_query_cache(root, &edits)?);
    }

    for rel in &removed {
        changes.push(format!("remove {rel}"));
    }
    for edit in &edits {
        changes.push(format!("change {}", edit.rel));
        if plan.dry_run {
            changes.extend(changed_lines(
                &edit.old,
                &edit.kept,
                &edit.new,
                PREVIEW_LINES,
            ));
        }
    }
    changes.push("then format the code (cargo fmt --all)".to_owned());
    if strip {
        changes.push(
            "and drop the example's crate from Cargo.lock (cargo update --workspace)".to_owned(),
        );
    }
    if plan.dry_run {
        return Ok(changes);
    }

    for rel in &removed {
        let path = root.join(rel);
        if path.is_dir() {
            fs::remove_dir_all(&path).with_context(|| format!("removing {rel}"))?;
        } else {
            fs::remove_file(&path).with_context(|| format!("removing {rel}"))?;
        }
    }
    for edit in &edits {
        fs::write(root.join(&edit.rel), &edit.new)
            .with_context(|| format!("writing {}", edit.rel))?;
    }
    // Cargo.lock without the example's crate, nothing else re-resolved;
    // then the code where lines went or names changed length, formatted.
    let mut finish: Vec<&[&str]> = Vec::new();
    if strip {
        finish.push(&["update", "--workspace", "--offline", "--quiet"]);
    }
    finish.push(&["fmt", "--all"]);
    for args in finish {
        let status = crate::cmd::cargo()
            .args(args)
            .current_dir(root)
            .status()
            .with_context(|| format!("running cargo {}", args.join(" ")))?;
        ensure!(status.success(), "cargo {} failed", args.join(" "));
    }
    Ok(changes)
}

/// One file's change: its text before, without the example's lines, and
/// after the rename too.
struct Edit {
    rel: String,
    old: String,
    kept: String,
    new: String,
}

/// Changed lines shown per file under `--dry-run`.
const PREVIEW_LINES: usize = 8;

/// `new` against `old` as `-`/`+` lines, at most `limit` of them. `kept`
/// is `old` without the example's lines, and `new` is `kept` renamed line
/// for line (a name holds no line break), so the lines pair up in one pass.
fn changed_lines(old: &str, kept: &str, new: &str, limit: usize) -> Vec<String> {
    let mut shown = Vec::new();
    let mut pairs = kept.lines().zip(new.lines()).peekable();
    for line in old.lines() {
        match pairs.peek() {
            Some((kept, renamed)) if *kept == line => {
                if renamed != kept {
                    shown.push(format!("    - {line}"));
                    shown.push(format!("    + {renamed}"));
                }
                pairs.next();
            }
            _ => shown.push(format!("    - {line}")),
        }
    }
    let total = shown.len();
    if total > limit {
        shown.truncate(limit);
        shown.push(format!("    … and {} more changed lines", total - limit));
    }
    shown
}

/// What `git status` reports as uncommitted in `root` (nothing when `root`
/// is not a git checkout: there is nothing to compare with).
fn uncommitted(root: &Path) -> anyhow::Result<Vec<String>> {
    let inside = std::process::Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(root)
        .output();
    if !inside.is_ok_and(|o| o.status.success()) {
        return Ok(Vec::new());
    }
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(root)
        .output()
        .context("running git status")?;
    ensure!(
        status.status.success(),
        "git status failed in {}",
        root.display()
    );
    Ok(String::from_utf8_lossy(&status.stdout)
        .lines()
        .map(|line| line.get(3..).unwrap_or(line).to_owned())
        .collect())
}

/// Whether any of the example is left: its folders, or a mark.
pub fn has_example(root: &Path) -> anyhow::Result<bool> {
    Ok(EXAMPLE_PATHS.iter().any(|p| root.join(p).exists()) || !marked_files(root)?.is_empty())
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
    EXAMPLE_PATHS
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
            || bare.ends_with(" <!-- example -->")
            || is_comment(line, "example");
        if !in_block && !marked {
            kept.push(line);
        }
    }
    kept.concat()
}

/// The `.sqlx` entries of queries no source file holds once the `edits`
/// are made (the example's folders gone), so `cargo sqlx prepare --check`
/// passes without a database at hand.
fn stale_query_cache(root: &Path, edits: &[Edit]) -> anyhow::Result<Vec<String>> {
    let cache = root.join(".sqlx");
    if !cache.is_dir() {
        return Ok(Vec::new());
    }
    let mut sources = String::new();
    for path in files(root)? {
        let rel = relative(root, &path);
        if path.extension().is_some_and(|e| e == "rs") && !in_example_dir(&rel) {
            match edits.iter().find(|edit| edit.rel == rel) {
                Some(edit) => sources.push_str(&edit.new),
                None => sources.push_str(&fs::read_to_string(&path)?),
            }
        }
    }
    let mut stale = Vec::new();
    for entry in fs::read_dir(&cache)? {
        let path = entry?.path();
        let text = fs::read_to_string(&path)?;
        let query = query_of(&text).with_context(|| format!("{} has no query", path.display()))?;
        if !sources.contains(&query) {
            stale.push(relative(root, &path));
        }
    }
    stale.sort();
    Ok(stale)
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
            ("beacon-staging", "acme-status-staging"),
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
| `uptime/` | the example | <!-- example -->
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

    /// A checkout of the template's shape, committed: a marked line, an
    /// example folder, the name in the api's fly.toml.
    fn fake_checkout(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("make-it-yours-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (file, text) in [
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"platform\", \"uptime\"] # example\n",
            ),
            ("platform/src/lib.rs", "//! The beacon platform.\n"),
            ("uptime/src/lib.rs", "//! The example.\n"),
            ("fly/fly.api.toml", "app = \"beacon-api\"\n"),
        ] {
            fs::create_dir_all(root.join(file).parent().expect("a folder")).expect("a folder");
            fs::write(root.join(file), text).expect("written");
        }
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
                .args(args)
                .current_dir(&root)
                .output()
                .expect("git runs");
            assert!(status.status.success(), "git {args:?}: {status:?}");
        };
        git(&["init", "--quiet"]);
        git(&["add", "--all"]);
        git(&["commit", "--quiet", "-m", "template"]);
        root
    }

    /// The fake checkout as [`fake_checkout`] made it; then removed.
    fn assert_untouched_and_remove(root: &Path) {
        assert!(root.join("uptime").is_dir(), "nothing was removed");
        assert_eq!(
            fs::read_to_string(root.join("fly/fly.api.toml")).expect("read"),
            "app = \"beacon-api\"\n",
            "nothing was renamed"
        );
        fs::remove_dir_all(root).expect("cleaned up");
    }

    fn plan(root: &Path, dry_run: bool) -> Plan {
        Plan {
            root: root.to_path_buf(),
            to: Some(name("acme-status")),
            strip_example: true,
            allow_dirty: false,
            dry_run,
        }
    }

    #[test]
    fn a_checkout_with_uncommitted_changes_is_refused_and_left_alone() {
        let root = fake_checkout("dirty");
        fs::write(
            root.join("platform/src/lib.rs"),
            "//! Mine, not committed.\n",
        )
        .expect("written");
        let error = apply(&plan(&root, false)).expect_err("refused").to_string();
        assert!(
            error.contains("uncommitted changes (platform/src/lib.rs)"),
            "{error}"
        );
        assert!(error.contains("--allow-dirty"), "{error}");
        assert_untouched_and_remove(&root);
    }

    #[test]
    fn a_dry_run_shows_each_files_changed_lines_and_writes_nothing() {
        let root = fake_checkout("dry");
        let changes = apply(&plan(&root, true)).expect("planned").join("\n");
        for expected in [
            "remove uptime",
            "change Cargo.toml\n    - members = [\"platform\", \"uptime\"] # example",
            "change fly/fly.api.toml\n    - app = \"beacon-api\"\n    + app = \"acme-status-api\"",
            "change platform/src/lib.rs\n    - //! The beacon platform.\n    + //! The acme_status platform.",
        ] {
            assert!(changes.contains(expected), "{expected:?} in:\n{changes}");
        }
        assert_untouched_and_remove(&root);
    }

    #[test]
    fn a_stripped_checkout_has_nothing_left_to_strip() {
        let root = fake_checkout("stripped");
        assert!(has_example(&root).expect("looked"));
        fs::remove_dir_all(root.join("uptime")).expect("removed");
        fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"platform\"]\n",
        )
        .expect("written");
        assert!(!has_example(&root).expect("looked"));
        let mut plan = plan(&root, true);
        plan.allow_dirty = true;
        let changes = apply(&plan).expect("planned");
        assert_eq!(
            changes[0], "nothing to strip: the example was removed already",
            "{changes:?}"
        );
        fs::remove_dir_all(&root).expect("cleaned up");
    }

    #[test]
    fn long_changes_are_cut_short_in_the_preview() {
        let old = (0..20).map(|i| format!("beacon {i}\n")).collect::<String>();
        let new = old.replace("beacon", "acme");
        let shown = changed_lines(&old, &old, &new, 4);
        assert_eq!(shown.len(), 5, "{shown:?}");
        assert_eq!(shown[0], "    - beacon 0");
        assert_eq!(shown[1], "    + acme 0");
        assert_eq!(shown[4], "    … and 36 more changed lines");
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
