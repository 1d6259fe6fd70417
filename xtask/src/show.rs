//! How every `cargo xtask` task prints: a `==> step` header for each long
//! step, lines of progress inside it, and each command as `set -x` would
//! print it, quoted so it can be pasted back into a shell.

use std::process::Command;

/// Prints a step's header: the long output of a run stays easy to scan for
/// the step that failed. Progress goes to stderr, so stdout stays usable.
pub fn step(title: &str) {
    eprintln!("\n==> {title}");
}

/// One line of progress inside a step.
pub fn progress(line: &str) {
    eprintln!("{line}");
}

/// `command` as `set -x` would print it: its environment changes, the
/// program and its arguments, each quoted only when it needs to be. The
/// value of a variable named like a secret is never printed.
pub fn shown(command: &Command) -> String {
    let mut words = Vec::new();
    let envs: Vec<String> = command
        .get_envs()
        .filter_map(|(name, value)| {
            let name = name.to_string_lossy();
            let secret = ["SECRET", "PASSWORD", "TOKEN"]
                .iter()
                .any(|word| name.contains(word));
            value.map(|v| match secret {
                true => format!("{name}=<secret>"),
                false => format!("{name}={}", v.to_string_lossy()),
            })
        })
        .collect();
    if !envs.is_empty() {
        words.push("env".to_owned());
        words.extend(envs);
    }
    words.push(command.get_program().to_string_lossy().into_owned());
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
    format!("+ {}", quoted.join(" "))
}

/// Single quotes unless the word is made only of characters a shell leaves alone.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_would_change_them() {
        assert_eq!(quote("target/debug/api"), "target/debug/api");
        assert_eq!(quote("PORT=8080"), "PORT=8080");
        assert_eq!(quote("two words"), "'two words'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn a_shown_command_names_its_environment_first() {
        let mut command = Command::new("api");
        command.args(["migrate", "run"]);
        command.env("DATABASE_URL", "postgres://x/y z");
        command.env("JWT_SECRET", "hunter2");
        assert_eq!(
            shown(&command),
            "+ env 'DATABASE_URL=postgres://x/y z' 'JWT_SECRET=<secret>' api migrate run"
        );
    }
}
