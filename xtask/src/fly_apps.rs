//! `fly/apps` and `fly/secrets`: Beacon's apps on Fly in deploy order, where
//! the other apps reach each one, and the secrets each gets with who makes
//! them.
//!
//! `scripts/deploy-fly.sh` reads the files line by line to deploy; this
//! module reads the same lines for the deployment tests and
//! `cargo xtask fly-net`, so the apps they start are the apps Fly runs. It is
//! the stricter reader of the two: a line the script would misread is an
//! error here, naming the file and the line.

use std::{fmt, path::Path};

use anyhow::Context;

/// The apps' file, relative to the repository's root.
pub const PATH: &str = "fly/apps";

/// The secrets' file, relative to the repository's root.
pub const SECRETS_PATH: &str = "fly/secrets";

/// What stands for the app prefix (`APP_PREFIX`) in a `reached at` column.
pub const PREFIX_PLACEHOLDER: &str = "<prefix>";

/// What a column holds when it has nothing.
const NONE: &str = "-";

/// One line of `fly/apps`, with its secrets from `fly/secrets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlyApp {
    /// The short name: the app is `<prefix>-<name>` on Fly.
    pub name: String,
    /// Where the other apps reach it (for web, the public URL the deploy is
    /// verified through), with [`PREFIX_PLACEHOLDER`] for the app prefix;
    /// `None` for an app nothing reaches, such as the worker.
    pub reached_at: Option<String>,
    /// The secrets it gets, in the order `fly/secrets` lists them.
    pub secrets: Vec<Secret>,
}

/// One line of `fly/secrets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub name: String,
    pub kind: SecretKind,
    /// The apps that get it.
    pub apps: Vec<String>,
}

/// Who makes a secret's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The deploy script.
    Generated,
    /// flyctl, when the deploy script attaches a managed service.
    Attached,
    /// Only the project's owner: the deploy script stops until it is set.
    Yours,
}

impl SecretKind {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "generated" => Some(Self::Generated),
            "attached" => Some(Self::Attached),
            "yours" => Some(Self::Yours),
            _ => None,
        }
    }
}

impl FlyApp {
    /// Where the other apps reach it in the environment with this prefix.
    pub fn reached_at_for(&self, prefix: &str) -> Option<String> {
        self.reached_at
            .as_ref()
            .map(|address| address.replace(PREFIX_PLACEHOLDER, prefix))
    }

    /// The names of its secrets.
    pub fn secret_names(&self) -> Vec<&str> {
        self.secrets.iter().map(|s| s.name.as_str()).collect()
    }
}

/// A line of `fly/apps` or `fly/secrets` that does not read as one.
#[derive(Debug, PartialEq, Eq)]
pub struct MalformedLine {
    pub file: &'static str,
    /// 1-based, as an editor counts.
    pub line: usize,
    pub text: String,
    pub problem: String,
}

impl fmt::Display for MalformedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = if self.file == PATH {
            "a line is `app reached-at`, \"-\" for none"
        } else {
            "a line is `SECRET kind app…`, the kind generated, attached or yours"
        };
        write!(
            f,
            "{}:{}: {} in `{}` ({shape})",
            self.file, self.line, self.problem, self.text
        )
    }
}

impl std::error::Error for MalformedLine {}

/// Every app in `fly/apps` under the repository's `root`, in deploy order,
/// each with its secrets from `fly/secrets`.
pub fn read(root: &Path) -> anyhow::Result<Vec<FlyApp>> {
    let read = |file: &str| {
        let path = root.join(file);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let mut apps = parse(&read(PATH)?)?;
    for secret in parse_secrets(&read(SECRETS_PATH)?, &apps)? {
        for app in apps
            .iter_mut()
            .filter(|app| secret.apps.contains(&app.name))
        {
            app.secrets.push(secret.clone());
        }
    }
    Ok(apps)
}

/// The app called `name` among `apps`.
pub fn find<'a>(apps: &'a [FlyApp], name: &str) -> anyhow::Result<&'a FlyApp> {
    apps.iter()
        .find(|app| app.name == name)
        .with_context(|| format!("{PATH} has no app `{name}`"))
}

/// A data line of `file`: its place, its text and its fields.
struct DataLine {
    file: &'static str,
    /// 1-based.
    line: usize,
    text: String,
    fields: Vec<String>,
}

impl DataLine {
    fn malformed(&self, problem: String) -> MalformedLine {
        MalformedLine {
            file: self.file,
            line: self.line,
            text: self.text.clone(),
            problem,
        }
    }
}

/// The data lines of a file: blank lines and comment lines skipped, a
/// comment after data refused.
fn data_lines(file: &'static str, text: &str) -> Result<Vec<DataLine>, MalformedLine> {
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        match fields.first() {
            None => continue,
            Some(first) if first.starts_with('#') => continue,
            Some(_) => {}
        }
        if let Some(comment) = fields.iter().find(|field| field.starts_with('#')) {
            return Err(MalformedLine {
                file,
                line: index + 1,
                text: line.trim().to_owned(),
                problem: format!("`{comment}`: a comment takes a line of its own"),
            });
        }
        lines.push(DataLine {
            file,
            line: index + 1,
            text: line.trim().to_owned(),
            fields,
        });
    }
    Ok(lines)
}

/// The apps in the text of `fly/apps`, without their secrets.
pub fn parse(text: &str) -> Result<Vec<FlyApp>, MalformedLine> {
    let mut apps: Vec<FlyApp> = Vec::new();
    for line in data_lines(PATH, text)? {
        let malformed = |problem: String| line.malformed(problem);
        let [name, reached_at] = line.fields.as_slice() else {
            return Err(malformed(format!(
                "{} column(s) where two are expected",
                line.fields.len()
            )));
        };
        if !is_app_name(name) {
            return Err(malformed(format!(
                "app `{name}`: lowercase letters, digits and dashes, as in a Fly app name"
            )));
        }
        if apps.iter().any(|app| app.name == *name) {
            return Err(malformed(format!("app `{name}` is listed twice")));
        }
        apps.push(FlyApp {
            name: name.clone(),
            reached_at: (reached_at != NONE).then(|| reached_at.clone()),
            secrets: Vec::new(),
        });
    }
    Ok(apps)
}

/// The secrets in the text of `fly/secrets`, each given to apps of `apps`.
pub fn parse_secrets(text: &str, apps: &[FlyApp]) -> Result<Vec<Secret>, MalformedLine> {
    let mut secrets: Vec<Secret> = Vec::new();
    for line in data_lines(SECRETS_PATH, text)? {
        let malformed = |problem: String| line.malformed(problem);
        let [name, kind, given_to @ ..] = line.fields.as_slice() else {
            return Err(malformed("one column where three are expected".into()));
        };
        if !is_variable_name(name) {
            return Err(malformed(format!(
                "secret `{name}`: an environment variable name (A-Z, 0-9, _)"
            )));
        }
        if secrets.iter().any(|s| s.name == *name) {
            return Err(malformed(format!("secret `{name}` is listed twice")));
        }
        let kind = SecretKind::parse(kind)
            .ok_or_else(|| malformed(format!("kind `{kind}`: generated, attached or yours")))?;
        if given_to.is_empty() {
            return Err(malformed(format!("`{name}` goes to no app")));
        }
        if let Some(unknown) = given_to
            .iter()
            .find(|a| !apps.iter().any(|app| app.name == **a))
        {
            return Err(malformed(format!("app `{unknown}` is not in {PATH}")));
        }
        secrets.push(Secret {
            name: name.clone(),
            kind,
            apps: given_to.to_vec(),
        });
    }
    Ok(secrets)
}

fn is_app_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# the apps
#   reached at  where

nats   <prefix>-nats.internal:4222
  # an indented comment
api    <prefix>-api.flycast:80
worker -
";

    const SECRETS: &str = "\
# secret    kind       apps
DATABASE_URL generated api worker

STRIPE_KEY  yours      api
";

    fn malformed(text: &str) -> MalformedLine {
        parse(text).expect_err("a malformed line")
    }

    fn malformed_secret(text: &str) -> MalformedLine {
        let apps = parse(SAMPLE).expect("the sample parses");
        parse_secrets(text, &apps).expect_err("a malformed line")
    }

    #[test]
    fn reads_the_apps_in_order_skipping_comments_and_blank_lines() {
        let apps = parse(SAMPLE).expect("the sample parses");
        let names: Vec<&str> = apps.iter().map(|app| app.name.as_str()).collect();
        assert_eq!(names, ["nats", "api", "worker"]);
        assert_eq!(
            apps[1],
            FlyApp {
                name: "api".into(),
                reached_at: Some("<prefix>-api.flycast:80".into()),
                secrets: Vec::new(),
            }
        );
    }

    #[test]
    fn each_secret_has_its_kind_and_apps() {
        let apps = parse(SAMPLE).expect("the sample parses");
        let secrets = parse_secrets(SECRETS, &apps).expect("the secrets parse");
        assert_eq!(
            secrets,
            [
                Secret {
                    name: "DATABASE_URL".into(),
                    kind: SecretKind::Generated,
                    apps: vec!["api".into(), "worker".into()],
                },
                Secret {
                    name: "STRIPE_KEY".into(),
                    kind: SecretKind::Yours,
                    apps: vec!["api".into()],
                },
            ]
        );
    }

    #[test]
    fn a_dash_is_none() {
        let apps = parse(SAMPLE).expect("the sample parses");
        assert_eq!(apps[2].reached_at, None);
        assert_eq!(apps[2].reached_at_for("acme"), None);
    }

    #[test]
    fn the_prefix_is_filled_in() {
        let apps = parse(SAMPLE).expect("the sample parses");
        let nats = find(&apps, "nats").expect("nats is listed");
        assert_eq!(
            nats.reached_at_for("beacon-staging").as_deref(),
            Some("beacon-staging-nats.internal:4222")
        );
        let missing = find(&apps, "web").expect_err("web is not listed");
        assert_eq!(missing.to_string(), "fly/apps has no app `web`");
    }

    #[test]
    fn a_malformed_line_is_named() {
        let error = malformed("nats -\napi\n");
        assert_eq!(error.line, 2);
        assert_eq!(error.text, "api");
        let message = error.to_string();
        assert!(
            message.starts_with("fly/apps:2: 1 column(s) where two are expected"),
            "{message}"
        );
        assert_eq!(malformed("\n\nweb\n").line, 3);
        let message = malformed_secret("\nJWT_SECRET random api\n").to_string();
        assert!(
            message.starts_with("fly/secrets:2: kind `random`: generated, attached or yours"),
            "{message}"
        );
    }

    #[test]
    fn refuses_what_the_deploy_script_would_misread() {
        for (text, problem) in [
            ("api - # the api", "a comment takes a line"),
            ("Api -", "app `Api`"),
            ("api - JWT_SECRET", "3 column(s)"),
            ("api -\napi -", "listed twice"),
        ] {
            let error = malformed(text);
            assert!(error.problem.contains(problem), "{text}: {error}");
        }
        for (text, problem) in [
            (
                "JWT_SECRET generated api # the key",
                "a comment takes a line",
            ),
            ("jwt_secret generated api", "secret `jwt_secret`"),
            ("JWT_SECRET generated", "goes to no app"),
            ("JWT_SECRET generated web", "app `web` is not in fly/apps"),
            ("A generated api\nA yours api", "listed twice"),
        ] {
            let error = malformed_secret(text);
            assert!(error.problem.contains(problem), "{text}: {error}");
        }
    }

    #[test]
    fn the_repository_files_list_beacons_four_apps_and_their_secrets() {
        let root = &crate::repo_root();
        let apps = read(root).expect("fly/apps and fly/secrets read");
        let names: Vec<&str> = apps.iter().map(|app| app.name.as_str()).collect();
        assert_eq!(names, ["nats", "api", "worker", "web"]);
        let api = find(&apps, "api").expect("the api");
        assert!(api.secret_names().contains(&"JWT_SECRET"), "{api:?}");
        assert!(find(&apps, "web").expect("web").secrets.is_empty());
    }
}
