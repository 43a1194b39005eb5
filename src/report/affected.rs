//! The four renderings of `shipit affected`.

use crate::affected::Affected;
use crate::graph::Reason;

use super::Style;

/// How many changed files `--explain` lists per service before it summarises the rest.
const EXPLAIN_FILES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: a summary line and one aligned line per service.
    Text,
    /// One JSON object: base, head, all, services with their reasons, warnings.
    Json,
    /// `{"include":[{"service","path"}]}`, for `fromJSON` in a GitHub Actions matrix.
    Matrix,
    /// One service name a line.
    Names,
}

pub fn render(affected: &Affected, format: Format, explain: bool, style: Style) -> String {
    match format {
        Format::Json => json(affected),
        Format::Matrix => format!("{}\n", affected.matrix()),
        Format::Names => affected
            .services
            .iter()
            .map(|s| format!("{}\n", s.name))
            .collect(),
        Format::Text => text(affected, explain, style),
    }
}

/// The JSON object and a newline, written once into a buffer of about its size: grown by doubling
/// and then copied, the 330 KB answer of a thousand-service monorepo touched three times its size.
fn json(affected: &Affected) -> String {
    let files: usize = affected
        .services
        .iter()
        .flat_map(|s| &s.reasons)
        .map(|r| match r {
            Reason::File { file, .. } | Reason::Trigger { file } => file.len() + 32,
            Reason::Dependency { service } => service.len() + 32,
            Reason::All { why } => why.len() + 32,
            Reason::Build {
                file, dockerfile, ..
            } => file.len() + dockerfile.len() + 64,
        })
        .sum();
    let mut out = Vec::with_capacity(files + affected.services.len() * 96 + 512);
    // Serialising plain strings, numbers and booleans into memory cannot fail.
    let _ = serde_json::to_writer(&mut out, affected);
    out.push(b'\n');
    String::from_utf8(out).unwrap_or_default()
}

fn short(sha: &str) -> &str {
    // Twelve characters, not bytes: `before` comes from an event payload and may be anything.
    sha.char_indices().nth(12).map_or(sha, |(i, _)| &sha[..i])
}

fn text(affected: &Affected, explain: bool, style: Style) -> String {
    let mut out = String::new();
    let range = match &affected.base {
        Some(base) => format!(
            "{}..{} ({})",
            short(base),
            short(&affected.head),
            affected.base_source
        ),
        None => format!("head {} ({})", short(&affected.head), affected.base_source),
    };
    if let Some(why) = affected.why_none() {
        out.push_str(&format!("{} {why}\n", style.bold("No services affected:")));
        out.push_str(&format!("{}\n", style.dim(&range)));
        return out;
    }
    let n = affected.services.len();
    let heading = format!(
        "{n} of {} service{} affected",
        affected.counts.services,
        plural(affected.counts.services)
    );
    out.push_str(&format!("{} {}\n", style.bold(&heading), style.dim(&range)));
    let width = affected
        .services
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    let path_width = affected
        .services
        .iter()
        .map(|s| s.path.len())
        .max()
        .unwrap_or(0);
    for s in &affected.services {
        let kind = if s.image { "" } else { "library" };
        let line = format!(
            "  {:width$}  {:path_width$}  {}",
            s.name,
            s.path,
            style.dim(kind)
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if explain {
            explain_reasons(&mut out, &s.reasons, style);
        }
    }
    out
}

fn explain_reasons(out: &mut String, reasons: &[Reason], style: Style) {
    let files = reasons
        .iter()
        .filter(|r| matches!(r, Reason::File { .. } | Reason::Build { .. }))
        .count();
    let triggers = reasons
        .iter()
        .filter(|r| matches!(r, Reason::Trigger { .. }))
        .count();
    let (mut shown_files, mut shown_triggers) = (0, 0);
    for r in reasons {
        let build;
        let (rule, what) = match r {
            Reason::File { file, include } => {
                shown_files += 1;
                if shown_files > EXPLAIN_FILES {
                    continue;
                }
                match include {
                    Some(pattern) => {
                        build = format!("{file} (include `{pattern}`)");
                        ("changed", build.as_str())
                    }
                    None => ("changed", file.as_str()),
                }
            }
            Reason::Build {
                file,
                dockerfile,
                line,
            } => {
                shown_files += 1;
                if shown_files > EXPLAIN_FILES {
                    continue;
                }
                build = match line {
                    Some(line) => {
                        format!("{} (read by {}:{line})", visible(file), visible(dockerfile))
                    }
                    None if file == dockerfile => {
                        format!("{} (a Dockerfile of the service)", visible(file))
                    }
                    None if file.ends_with(".dockerignore") => format!(
                        "{} (the .dockerignore of the context of {})",
                        visible(file),
                        visible(dockerfile)
                    ),
                    None => format!(
                        "{} (the build_args_file of {})",
                        visible(file),
                        visible(dockerfile)
                    ),
                };
                ("changed", build.as_str())
            }
            Reason::Trigger { file } => {
                shown_triggers += 1;
                if shown_triggers > EXPLAIN_FILES {
                    continue;
                }
                ("trigger", file.as_str())
            }
            Reason::Dependency { service } => ("depends on", service.as_str()),
            Reason::All { why } => ("all", why.as_str()),
        };
        out.push_str(&format!(
            "      {} {}\n",
            style.dim(&format!("{rule:<10}")),
            visible(what)
        ));
    }
    for (count, label) in [(files, "changed files"), (triggers, "triggers")] {
        if count > EXPLAIN_FILES {
            out.push_str(&format!(
                "      {}\n",
                style.dim(&format!("… and {} more {label}", count - EXPLAIN_FILES))
            ));
        }
    }
}

/// A file name as a line of output: control characters (a newline, a carriage return, an escape)
/// written as escapes, so that a name cannot start a line of its own, such as a workflow command
/// (`::error::…`) that GitHub Actions would obey.
fn visible(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
