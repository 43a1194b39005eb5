//! The JSON objects of `release`, `retain`, `deploy` and `validate` (`--format json`, and the file
//! `--report FILE` writes): one object per run, each with `schema` (the version of its shape, bumped
//! on any incompatible change) and `command` (which command wrote it). The README documents them.

use serde::Serialize;

use crate::config::Config;
use crate::ecs::rollout::Ended;
use crate::pipeline::ServiceResult;
use crate::pipeline::retain::RepoRetention;
use crate::plan::Plan;
use crate::report::junit::ServiceReport;

/// The version of these objects' shapes.
pub const SCHEMA: u32 = 1;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON object on stdout, with `schema` and `command` (see the README's "JSON output").
    Json,
}

/// `shipit release`: the plan it followed and what became of every service.
#[derive(Debug, Serialize)]
pub struct Release<'a> {
    pub schema: u32,
    pub command: &'static str,
    /// False when any stage of any service failed.
    pub success: bool,
    pub plan: &'a Plan,
    pub results: &'a [ServiceResult],
    /// The test reports of the services that name a `test_report` (see `--junit`).
    pub tests: &'a [ServiceReport],
}

impl<'a> Release<'a> {
    pub fn new(
        plan: &'a Plan,
        results: &'a [ServiceResult],
        tests: &'a [ServiceReport],
        success: bool,
    ) -> Self {
        Release {
            schema: SCHEMA,
            command: "release",
            success,
            plan,
            results,
            tests,
        }
    }
}

/// `shipit retain`: per repository, every decision and what could not be done.
#[derive(Debug, Serialize)]
pub struct Retain<'a> {
    pub schema: u32,
    pub command: &'static str,
    /// False when something could not be done (`not_done` of a repository says what).
    pub success: bool,
    /// True with `--apply`: the removals were made, not only decided.
    pub applied: bool,
    pub repositories: &'a [RepoRetention],
}

impl<'a> Retain<'a> {
    pub fn new(repositories: &'a [RepoRetention], applied: bool) -> Self {
        Retain {
            schema: SCHEMA,
            command: "retain",
            success: repositories.iter().all(|r| r.not_done.is_empty()),
            applied,
            repositories,
        }
    }
}

/// `shipit deploy`: the image rolled out and how each cluster's rollout ended.
#[derive(Debug, Serialize)]
pub struct Deploy<'a> {
    pub schema: u32,
    pub command: &'static str,
    pub success: bool,
    pub environment: &'a str,
    pub service: &'a str,
    pub version: String,
    pub image: &'a str,
    pub clusters: Vec<ClusterRollout<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ClusterRollout<'a> {
    pub cluster: &'a str,
    /// `result` is `done`, `already_running` or `failed` (with `why`, `events`, `rollback`).
    #[serde(flatten)]
    pub ended: &'a Ended,
}

impl<'a> Deploy<'a> {
    pub fn new(
        environment: &'a str,
        service: &'a str,
        version: &semver::Version,
        image: &'a str,
        ended: &'a [(String, Ended)],
    ) -> Self {
        Deploy {
            schema: SCHEMA,
            command: "deploy",
            success: ended.iter().all(|(_, e)| e.is_success()),
            environment,
            service,
            version: version.to_string(),
            image,
            clusters: ended
                .iter()
                .map(|(cluster, ended)| ClusterRollout { cluster, ended })
                .collect(),
        }
    }
}

/// `shipit validate`: whether the file is valid, and what it configures.
#[derive(Debug, Serialize)]
pub struct Validate {
    pub schema: u32,
    pub command: &'static str,
    pub valid: bool,
    /// The file as shipit names it in messages.
    pub file: String,
    /// Why the file is not valid: every problem, where in the file it is when that is known.
    pub errors: Vec<Problem>,
    /// What a valid file probably does not mean (see `crate::lint`).
    pub warnings: Vec<String>,
    pub services: Vec<ValidService>,
    pub environments: Vec<ValidEnvironment>,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub message: String,
    /// 1-based, in `file`; null when the problem is not at one place in it.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub help: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ValidService {
    pub name: String,
    pub path: String,
    /// False for a library: tested, never built.
    pub image: bool,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ValidEnvironment {
    pub name: String,
    pub branch: String,
    pub latest: bool,
    pub clusters: Vec<String>,
}

impl Validate {
    pub fn valid(file: String, config: &Config, warnings: Vec<String>) -> Self {
        Validate {
            schema: SCHEMA,
            command: "validate",
            valid: true,
            file,
            errors: Vec::new(),
            warnings,
            services: config
                .services
                .iter()
                .map(|s| ValidService {
                    name: s.name.clone(),
                    path: s.path.clone(),
                    image: s.image,
                    depends_on: s.depends_on.clone(),
                })
                .collect(),
            environments: config
                .environments
                .iter()
                .map(|e| ValidEnvironment {
                    name: e.name.clone(),
                    branch: e.branch.clone(),
                    latest: e.latest,
                    clusters: e.clusters.clone(),
                })
                .collect(),
        }
    }

    pub fn invalid(file: String, error: &crate::Error) -> Self {
        Validate {
            schema: SCHEMA,
            command: "validate",
            valid: false,
            file,
            errors: problems(error),
            warnings: Vec::new(),
            services: Vec::new(),
            environments: Vec::new(),
        }
    }
}

/// What `--format json` prints on stdout when a command stops on an error before its result
/// (bad input, mostly): the command, and every problem as `validate` lists them. The error is
/// said on stderr too, and the exit status is the error's.
#[derive(Debug, Serialize)]
pub struct Failed {
    pub schema: u32,
    pub command: &'static str,
    pub success: bool,
    pub errors: Vec<Problem>,
}

/// `result` as it is; when it is an error and the format is JSON, its JSON object printed first.
pub fn on_error<T>(
    command: &'static str,
    format: Format,
    result: Result<T, crate::Error>,
) -> Result<T, crate::Error> {
    if let (Err(e), Format::Json) = (&result, format) {
        let failed = Failed {
            schema: SCHEMA,
            command,
            success: false,
            errors: problems(e),
        };
        // The error itself still goes to stderr and decides the exit status.
        let _ = super::stdout(&line(&failed));
    }
    result
}

/// Every problem of an error, where in ci.toml it is when that is known.
fn problems(error: &crate::Error) -> Vec<Problem> {
    {
        match error {
            crate::Error::Config(crate::config::ConfigError::Invalid(problems)) => {
                let text: &str = problems.source.inner();
                problems
                    .problems
                    .iter()
                    .map(|p| {
                        let (line, column) = line_column(text, p.span.start);
                        Problem {
                            message: p.message.clone(),
                            line: Some(line),
                            column: Some(column),
                            help: p.help.clone(),
                        }
                    })
                    .collect()
            }
            other => vec![Problem {
                message: other.to_string(),
                line: None,
                column: None,
                help: miette::Diagnostic::help(other).map(|h| h.to_string()),
            }],
        }
    }
}

/// 1-based line and column (in characters) of a byte offset; past the end → the end.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// One object on one line, then a newline.
pub fn line<T: Serialize>(value: &T) -> String {
    format!("{}\n", serde_json::to_string(value).unwrap_or_default())
}
