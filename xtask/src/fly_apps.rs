//! `fly/apps`: Beacon's apps on Fly in deploy order, where the other apps
//! reach each one and the secrets the deploy script sets on it.
//!
//! `scripts/deploy-fly.sh` reads the file line by line to deploy; this
//! module reads the same lines for the deployment tests and
//! `cargo xtask fly-net`, so the apps they start are the apps Fly runs. It is
//! the stricter reader of the two: a line the script would misread is an
//! error here, naming the line.

use std::{fmt, path::Path};

use anyhow::Context;

/// The file, relative to the repository's root.
pub const PATH: &str = "fly/apps";

/// What stands for the app prefix (`APP_PREFIX`) in a `reached at` column.
pub const PREFIX_PLACEHOLDER: &str = "<prefix>";

/// What a column holds when it has nothing.
const NONE: &str = "-";

/// One line of `fly/apps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlyApp {
    /// The short name: the app is `<prefix>-<name>` on Fly.
    pub name: String,
    /// Where the other apps reach it (for web, the public URL the deploy is
    /// verified through), with [`PREFIX_PLACEHOLDER`] for the app prefix;
    /// `None` for an app nothing reaches, such as the worker.
    pub reached_at: Option<String>,
    /// The secrets the deploy script sets on it, in the order it sets them.
    pub secrets: Vec<String>,
}

impl FlyApp {
    /// Where the other apps reach it in the environment with this prefix.
    pub fn reached_at_for(&self, prefix: &str) -> Option<String> {
        self.reached_at
            .as_ref()
            .map(|address| address.replace(PREFIX_PLACEHOLDER, prefix))
    }
}

/// A line of `fly/apps` that does not read as an app.
#[derive(Debug, PartialEq, Eq)]
pub struct MalformedLine {
    /// 1-based, as an editor counts.
    pub line: usize,
    pub text: String,
    pub problem: String,
}

impl fmt::Display for MalformedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PATH}:{}: {} in `{}` (a line is `app reached-at secrets…`, \"-\" for none)",
            self.line, self.problem, self.text
        )
    }
}

impl std::error::Error for MalformedLine {}

/// Every app in `fly/apps` under the repository's `root`, in deploy order.
pub fn read(root: &Path) -> anyhow::Result<Vec<FlyApp>> {
    let path = root.join(PATH);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse(&text)?)
}

/// The app called `name` among `apps`.
pub fn find<'a>(apps: &'a [FlyApp], name: &str) -> anyhow::Result<&'a FlyApp> {
    apps.iter()
        .find(|app| app.name == name)
        .with_context(|| format!("{PATH} has no app `{name}`"))
}

/// The apps in the text of `fly/apps`: blank lines and comment lines are
/// skipped, any other line is one app.
pub fn parse(text: &str) -> Result<Vec<FlyApp>, MalformedLine> {
    let mut apps: Vec<FlyApp> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(&name) = fields.first() else {
            continue;
        };
        if name.starts_with('#') {
            continue;
        }
        let malformed = |problem: String| MalformedLine {
            line: index + 1,
            text: line.trim().to_owned(),
            problem,
        };
        if let Some(comment) = fields.iter().find(|field| field.starts_with('#')) {
            return Err(malformed(format!(
                "`{comment}`: a comment takes a line of its own"
            )));
        }
        let [name, reached_at, secrets @ ..] = fields.as_slice() else {
            return Err(malformed("one column where three are expected".into()));
        };
        if secrets.is_empty() {
            return Err(malformed("no secrets column (write \"-\" for none)".into()));
        }
        if !is_app_name(name) {
            return Err(malformed(format!(
                "app `{name}`: lowercase letters, digits and dashes, as in a Fly app name"
            )));
        }
        if apps.iter().any(|app| app.name == *name) {
            return Err(malformed(format!("app `{name}` is listed twice")));
        }
        let secrets = match secrets {
            [NONE] => Vec::new(),
            names => {
                if let Some(bad) = names.iter().find(|n| !is_variable_name(n)) {
                    return Err(malformed(format!(
                        "secret `{bad}`: an environment variable name (A-Z, 0-9, _)"
                    )));
                }
                names.iter().map(|n| (*n).to_owned()).collect()
            }
        };
        apps.push(FlyApp {
            name: (*name).to_owned(),
            reached_at: (*reached_at != NONE).then(|| (*reached_at).to_owned()),
            secrets,
        });
    }
    Ok(apps)
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

nats   <prefix>-nats.internal:4222   -
  # an indented comment
api    <prefix>-api.flycast:80       DATABASE_URL   JWT_SECRET
worker -                             REDIS_URL
";

    fn malformed(text: &str) -> MalformedLine {
        parse(text).expect_err("a malformed line")
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
                secrets: vec!["DATABASE_URL".into(), "JWT_SECRET".into()],
            }
        );
    }

    #[test]
    fn a_dash_is_none() {
        let apps = parse(SAMPLE).expect("the sample parses");
        assert!(apps[0].secrets.is_empty());
        assert_eq!(apps[2].reached_at, None);
        assert_eq!(apps[2].reached_at_for("acme"), None);
        assert_eq!(apps[2].secrets, ["REDIS_URL"]);
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
        let error = malformed("nats - -\napi <prefix>-api.flycast:80\n");
        assert_eq!(error.line, 2);
        assert_eq!(error.text, "api <prefix>-api.flycast:80");
        let message = error.to_string();
        assert!(
            message.starts_with("fly/apps:2: no secrets column"),
            "{message}"
        );
        assert_eq!(malformed("\n\nweb\n").line, 3);
    }

    #[test]
    fn refuses_what_the_deploy_script_would_misread() {
        for (text, problem) in [
            (
                "api - JWT_SECRET # the session key",
                "a comment takes a line",
            ),
            ("Api - -", "app `Api`"),
            ("api - jwt_secret", "secret `jwt_secret`"),
            ("api - - JWT_SECRET", "secret `-`"),
            ("api - -\napi - -", "listed twice"),
        ] {
            let error = malformed(text);
            assert!(error.problem.contains(problem), "{text}: {error}");
        }
    }

    #[test]
    fn the_repository_file_lists_beacons_four_apps() {
        let root = &crate::repo_root();
        let apps = read(root).expect("fly/apps reads");
        let names: Vec<&str> = apps.iter().map(|app| app.name.as_str()).collect();
        assert_eq!(names, ["nats", "api", "worker", "web"]);
    }
}
