//! What can be wrong with ci.toml, each problem pointing at the key or value (file:line:col).

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum ConfigError {
    #[error("no ci.toml at {}", path.display())]
    #[diagnostic(
        code(shipit::config::missing),
        help("create ci.toml at the repository root (see the reference ci.toml in shipit's README), or pass --config PATH")
    )]
    Missing { path: PathBuf },

    #[error("could not read {}: {source}", path.display())]
    #[diagnostic(code(shipit::config::read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

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
}

impl Problem {
    pub fn new(message: impl Into<String>, span: Range<usize>, label: impl Into<String>) -> Self {
        Problem { message: message.into(), span, label: label.into(), help: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one ci.toml: the first is the error, the others are shown after it.
#[derive(Debug)]
pub struct Problems {
    pub source: NamedSource<Arc<String>>,
    pub problems: Vec<Problem>,
    related: Vec<Related>,
}

impl Problems {
    pub fn new(name: &str, text: Arc<String>, problems: Vec<Problem>) -> Self {
        debug_assert!(!problems.is_empty());
        let source = NamedSource::new(name, text);
        let related = problems
            .iter()
            .skip(1)
            .map(|p| Related { problem: p.clone(), source: source.clone() })
            .collect();
        Problems { source, problems, related }
    }

    fn first(&self) -> &Problem {
        &self.problems[0]
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.first().message)
    }
}

impl std::error::Error for Problems {}

fn labels(problem: &Problem) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
    Some(Box::new(std::iter::once(LabeledSpan::new_primary_with_span(
        Some(problem.label.clone()),
        problem.span.clone(),
    ))))
}

impl Diagnostic for Problems {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("shipit::config"))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.first().help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        labels(self.first())
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
    }
}

/// A further problem, carrying its own copy of the source so that it renders with a snippet.
#[derive(Debug)]
struct Related {
    problem: Problem,
    source: NamedSource<Arc<String>>,
}

impl fmt::Display for Related {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for Related {}

impl Diagnostic for Related {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        labels(&self.problem)
    }
}
