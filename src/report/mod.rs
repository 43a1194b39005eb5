//! Rendering: human text, JSON, and GitHub Actions. Library code never prints; this module does.

pub mod affected;
pub mod github;
pub mod json;
pub mod junit;
pub mod plan;
pub mod release;
pub mod retain;

use std::io::IsTerminal;

use crate::env_vars;
use crate::github::Env;

/// Whether to colour output written to a stream: only on a terminal, never with NO_COLOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn for_stdout(env: &Env) -> Style {
        Style::decide(env, std::io::stdout().is_terminal())
    }

    pub fn for_stderr(env: &Env) -> Style {
        Style::decide(env, std::io::stderr().is_terminal())
    }

    fn decide(env: &Env, terminal: bool) -> Style {
        let color = if env.get(env_vars::NO_COLOR).is_some() {
            false
        } else if env.get(env_vars::CLICOLOR_FORCE).is_some_and(|v| v != "0") {
            true
        } else {
            terminal
        };
        Style { color }
    }

    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
}

/// Writes `text` to stdout, secrets redacted. A closed pipe or a full disk is an error to return,
/// never a panic.
pub fn stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(crate::redact::text(text).as_bytes())?;
    out.flush()
}

/// Writes `text` to stderr, secrets redacted; a stderr that cannot be written is ignored (there is
/// nowhere left to say so).
pub fn stderr(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(crate::redact::text(text).as_bytes());
    let _ = err.flush();
}

/// Writes `text` to a file (created or truncated, or appended to), secrets redacted.
pub fn write_file(path: &std::path::Path, text: &str, append: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)?;
    file.write_all(crate::redact::text(text).as_bytes())
}

/// Registers a credential with the redaction layer and, under GitHub Actions, has the runner mask
/// each of its lines too (`::add-mask::` masks one line).
pub fn secret(env: &Env, secret: &str) {
    for part in crate::redact::add(secret) {
        if env.in_actions() && !part.contains(['\n', '\r']) {
            // Not through `stderr`: the redaction layer would hide the very value to mask.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "::add-mask::{part}");
        }
    }
}

/// Registers every credential the environment holds (see [`crate::redact::SECRET_VARS`]).
pub fn environment_secrets(env: &Env) {
    for name in crate::redact::SECRET_VARS {
        if let Some(value) = env.get(name) {
            secret(env, value);
        }
    }
}

/// A warning for people: an annotation under GitHub Actions, a `warning:` line elsewhere.
pub fn warn(env: &Env, message: &str) {
    if env.in_actions() {
        stderr(&format!(
            "::warning title=shipit::{}\n",
            github::escape_data(message)
        ));
    } else {
        let style = Style::for_stderr(env);
        stderr(&format!("{} {message}\n", style.yellow("warning:")));
    }
}

/// Prints an error the way every command does: one clear message, with help where the user can act.
pub fn print_error(err: &crate::Error, env: &Env) {
    stderr(&render_error(err, env));
}

/// The text [`print_error`] prints (under GitHub Actions, the annotations are printed as made).
pub fn render_error(err: &crate::Error, env: &Env) -> String {
    let style = Style::for_stderr(env);
    let handler = miette::GraphicalReportHandler::new_themed(if style.color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    })
    .with_width(100);
    let mut out = String::new();
    let rendered = match err {
        // Every problem in ci.toml gets its own snippet, then a count.
        crate::Error::Config(crate::config::ConfigError::Invalid(problems)) => {
            let mut ok = true;
            for (i, p) in problems.each().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                if env.in_actions() {
                    stderr(&format!(
                        "::error title=shipit::{}\n",
                        github::escape_data(&p.to_string())
                    ));
                }
                ok &= handler.render_report(&mut out, &p).is_ok();
            }
            let n = problems.problems.len();
            if n > 1 {
                out.push_str(&format!("{n} problems in {}\n", problems.source.name()));
            }
            ok
        }
        _ => {
            if env.in_actions() {
                stderr(&format!(
                    "::error title=shipit::{}\n",
                    github::escape_data(&err.to_string())
                ));
            }
            handler.render_report(&mut out, err).is_ok()
        }
    };
    if !rendered {
        out = err.to_string();
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_is_decided_by_the_env_read_at_the_top() {
        let terminal = true;
        let no_color = Env::from_pairs([(env_vars::NO_COLOR, "1")]);
        assert!(!Style::decide(&no_color, terminal).color);
        let empty = Env::from_pairs([(env_vars::NO_COLOR, "")]);
        assert!(Style::decide(&empty, terminal).color);
        let forced = Env::from_pairs([(env_vars::CLICOLOR_FORCE, "1")]);
        assert!(Style::decide(&forced, false).color);
    }
}
