//! What can be wrong with ci.toml, each problem pointing at the key or value (file:line:col).

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use thiserror::Error;

use super::snippet::Snippet;

#[derive(Debug, Error, Diagnostic)]
pub enum ConfigError {
    #[error("no ci.toml at {}", path.display())]
    #[diagnostic(
        code(shipit::config::missing),
        help(
            "create ci.toml at the repository root (see the reference ci.toml in shipit's README), or pass --config PATH"
        )
    )]
    Missing { path: PathBuf },

    #[error("could not read {}: {source}", path.display())]
    #[diagnostic(code(shipit::config::read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("refusing to read {}: {why}", path.display())]
    #[diagnostic(
        code(shipit::config::not_a_file),
        help("ci.toml must be a regular file inside the repository")
    )]
    NotAFile { path: PathBuf, why: NotAFile },

    #[error("refusing to read {}: it is larger than {limit}", path.display())]
    #[diagnostic(
        code(shipit::config::too_large),
        help("ci.toml is read whole into memory; shipit reads at most {limit} of it")
    )]
    TooLarge { path: PathBuf, limit: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(Box<Problems>),
}

/// One thing wrong in ci.toml, at a place in it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub message: String,
    pub span: Range<usize>,
    pub label: String,
    pub help: Option<String>,
    /// Another place that explains this one (the first use of a repeated value).
    pub also: Option<(Range<usize>, String)>,
}

impl Problem {
    pub fn new(message: impl Into<String>, span: Range<usize>, label: impl Into<String>) -> Self {
        Problem {
            message: shorten_quoted(&message.into()),
            span,
            label: label.into(),
            help: None,
            also: None,
        }
    }

    pub fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.also = Some((span, label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The longest value a message quotes whole (between backticks); a longer one keeps its start and
/// its end around `…`. ci.toml may hold a value of megabytes; the snippet points at all of it.
const QUOTED: usize = 120;

fn shorten_quoted(message: &str) -> String {
    if message.len() <= QUOTED {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len().min(4 * QUOTED));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let chars = part.chars().count();
        if i % 2 == 1 && chars > QUOTED {
            out.extend(part.chars().take(QUOTED - 20));
            out.push('…');
            out.extend(part.chars().skip(chars - 19));
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Every problem found in one ci.toml. As a diagnostic it is the first problem; the report layer
/// renders each of [`Problems::each`] in turn, so that every one gets its own snippet.
#[derive(Debug)]
pub struct Problems {
    pub source: NamedSource<Arc<String>>,
    pub problems: Vec<Problem>,
    /// The first problem as shown, made when first rendered.
    first_shown: std::sync::OnceLock<Shown>,
}

impl Problems {
    pub fn new(name: &str, text: Arc<String>, problems: Vec<Problem>) -> Self {
        debug_assert!(!problems.is_empty());
        Problems {
            source: NamedSource::new(name, text),
            problems,
            first_shown: std::sync::OnceLock::new(),
        }
    }

    /// One diagnostic per problem, each with the part of the source its snippet shows (long
    /// lines cut to a window: see [`Snippet`]).
    pub fn each(&self) -> impl Iterator<Item = Shown> + '_ {
        self.problems.iter().map(|p| {
            let mut spans = vec![p.span.clone()];
            spans.extend(p.also.iter().map(|(span, _)| span.clone()));
            let (source, spans) = Snippet::new(self.source.name(), self.source.inner(), &spans);
            let mut problem = p.clone();
            problem.span = spans[0].clone();
            if let Some((span, _)) = &mut problem.also {
                *span = spans[1].clone();
            }
            Shown { source, problem }
        })
    }

    fn first(&self) -> &Problem {
        &self.problems[0]
    }

    fn first_shown(&self) -> &Shown {
        self.first_shown
            .get_or_init(|| self.each().next().expect("at least one problem"))
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.first().message)
    }
}

impl std::error::Error for Problems {}

/// One problem of ci.toml as it is shown: its snippet and its spans in it.
#[derive(Debug)]
pub struct Shown {
    source: Snippet,
    problem: Problem,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for Shown {}

impl Diagnostic for Shown {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("shipit::config"))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        labels(&self.problem)
    }
}

fn labels(problem: &Problem) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
    let primary =
        LabeledSpan::new_primary_with_span(Some(problem.label.clone()), problem.span.clone());
    let also = problem
        .also
        .iter()
        .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), span.clone()));
    Some(Box::new(std::iter::once(primary).chain(also)))
}

impl Diagnostic for Problems {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("shipit::config"))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.first()
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.first_shown().source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.first_shown().labels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_quoted_value_keeps_its_start_and_end() {
        let value = format!("start{}end", "é".repeat(10_000));
        let p = Problem::new(format!("`{value}` does not exist"), 0..1, "here");
        assert!(p.message.chars().count() < 160, "{}", p.message);
        assert!(p.message.starts_with("`startééé"));
        assert!(p.message.ends_with("ééend` does not exist"));
        let short = Problem::new("`a` and `b`", 0..1, "here");
        assert_eq!(short.message, "`a` and `b`");
    }
}

/// Why ci.toml is not read: it is not a regular file inside the repository.
#[derive(Debug, Error)]
pub enum NotAFile {
    #[error("it is a symlink that cannot be followed ({0})")]
    BrokenLink(std::io::Error),
    #[error("it is a symlink to {}, outside the repository", .0.display())]
    LinkOutside(PathBuf),
    #[error("it is not a regular file")]
    NotRegular,
}
