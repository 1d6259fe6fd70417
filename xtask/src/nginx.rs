//! The web front as the image runs it, on this machine: the image's
//! entrypoint renders `docker/nginx/default.conf.template` with its
//! environment, and so does [`render`], plus a main `nginx.conf` that runs
//! unprivileged from one folder. Used by `cargo xtask dev`, `e2e` and
//! `fly-net`, so all three serve the config Fly runs.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::cmd;

/// The template's variables for a local run: nginx on `port` in front of
/// the api at `api_upstream` (`host:port`), serving the built dashboard.
pub fn local_site(root: &Path, port: u16, api_upstream: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("PORT".into(), port.to_string()),
        ("API_UPSTREAM".into(), api_upstream.into()),
        // Only asked when API_UPSTREAM is a name; locally it is an address.
        ("NGINX_RESOLVER".into(), "127.0.0.1".into()),
        ("NGINX_CLIENT_IP".into(), "$remote_addr".into()),
        (
            "STATIC_ROOT".into(),
            root.join("frontend/dist").display().to_string(),
        ),
    ])
}

/// Renders the site into `dir` (conf.d/, snippets/, tmp/, logs/ and
/// nginx.conf). `vars` are the template's variables except
/// `NGINX_SNIPPETS`, which is `dir/snippets`.
pub fn render(root: &Path, dir: &Path, vars: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for sub in ["conf.d", "snippets", "tmp", "logs"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    let snippets = dir.join("snippets");
    for file in ["security-headers.conf", "api-proxy.conf"] {
        std::fs::copy(root.join("docker/nginx").join(file), snippets.join(file))
            .with_context(|| format!("copying docker/nginx/{file}"))?;
    }
    let mut vars = vars.clone();
    vars.insert("NGINX_SNIPPETS".into(), snippets.display().to_string());
    let template = std::fs::read_to_string(root.join("docker/nginx/default.conf.template"))
        .context("reading docker/nginx/default.conf.template")?;
    std::fs::write(
        dir.join("conf.d/default.conf"),
        substitute(&template, &vars)?,
    )?;
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "# Rendered by cargo xtask for a local run; the server block is docker/nginx.\n\
             daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n\
             events {{ worker_connections 1024; }}\nhttp {{\n    include /etc/nginx/mime.types;\n    \
             default_type application/octet-stream;\n    access_log {d}/logs/access.log;\n    \
             client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n    \
             fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    \
             scgi_temp_path {d}/tmp/scgi;\n    include {d}/conf.d/*.conf;\n}}\n"
        ),
    )?;
    Ok(())
}

/// Replaces each `${NAME}` as envsubst does with a list of names: nginx's
/// own `$variables` stay. A name without a value is an error naming it.
pub fn substitute(template: &str, vars: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut text = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        text.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .context("an unclosed ${ in the template")?;
        let name = &rest[start + 2..end];
        let Some(value) = vars.get(name) else {
            bail!("the nginx template needs {name}, which is not set");
        };
        text.push_str(value);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    Ok(text)
}

/// The nginx binary (Debian installs it to /usr/sbin).
pub fn binary() -> anyhow::Result<PathBuf> {
    cmd::require_program("nginx", "scripts/dev.sh and scripts/test.sh install it")
}

/// nginx in the foreground, from the folder [`render`] filled.
pub fn command(dir: &Path) -> anyhow::Result<Command> {
    let mut command = Command::new(binary()?);
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("logs/error.log"));
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_variables_are_replaced() {
        let vars = BTreeMap::from([("PORT".to_owned(), "8080".to_owned())]);
        assert_eq!(
            substitute("listen ${PORT}; set $x $host;", &vars).expect("renders"),
            "listen 8080; set $x $host;"
        );
    }

    #[test]
    fn a_variable_without_a_value_is_named() {
        let error = substitute("root ${STATIC_ROOT};", &BTreeMap::new())
            .expect_err("STATIC_ROOT has no value");
        assert!(error.to_string().contains("STATIC_ROOT"), "{error}");
    }

    #[test]
    fn the_real_template_renders_and_nginx_accepts_it() {
        let root = crate::repo_root();
        let dir = std::env::temp_dir().join(format!("nginx-render-{}", std::process::id()));
        render(&root, &dir, &local_site(&root, 8000, "127.0.0.1:8080")).expect("renders");
        let conf = std::fs::read_to_string(dir.join("conf.d/default.conf")).expect("rendered");
        assert!(!conf.contains("${"), "{conf}");
        let output = command(&dir)
            .expect("nginx is installed")
            .arg("-t")
            .output()
            .expect("nginx runs");
        std::fs::remove_dir_all(&dir).ok();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
