//! Why a stage of one service failed: one variant per way a stage can fail, with the service and
//! what the stage was working on (command, image, repository, clusters) as fields.
//!
//! A [`StageError`] travels in [`super::Outcome::Failed`] to every report: its `Display` is the
//! line people read (the terminal, the log group, the annotation), its fields are what
//! `--format json` and `--report` carry next to that line (`kind` names the variant). A stage
//! that failed always ends the release with exit status 1; bad input never gets this far (it is
//! refused before anything runs, see [`crate::Error`]).

use serde::Serialize;
use thiserror::Error;

use crate::ecs::rollout::Ended;

/// The error a stage met, kept as the error it is (its type, its fields, its causes: code can ask
/// with [`Cause::downcast_ref`]); shown, compared and serialised as its message, so that a
/// [`StageError`] stays a plain value that every report can carry.
#[derive(Debug, Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause(std::sync::Arc::new(error))
    }

    /// The error, when it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

impl Serialize for Cause {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a test command could not be run to its end.
#[derive(Debug, Error)]
pub enum NotRun {
    #[error("could not start `sh -c {command}` in {}: {cause}", dir.display())]
    Start {
        command: String,
        dir: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("could not read the output of `{command}`")]
    NoOutput { command: String },
    #[error("`{command}` has no process id")]
    NoProcessId { command: String },
    #[error("waiting for `{command}`: {cause}")]
    Wait {
        command: String,
        cause: std::io::Error,
    },
}

/// How the rollouts of one service ended, as [`crate::ecs::rollout::describe`] tells it (or why
/// none could start): the rollout stage's own account.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct RolloutEnded(pub String);

/// Why no rollout of an environment ran at all: the same for every service it would have rolled
/// out.
#[derive(Debug, Clone, Error)]
pub enum RolloutNotRun {
    /// The release has no ECS client (the plan rolls out, ECS was not connected).
    #[error("ECS is not available")]
    NoEcs { environment: String },
    /// ECS refused before any deployment started (bad credentials, an unreadable file, …).
    #[error("{cause}")]
    Refused {
        environment: String,
        cause: std::sync::Arc<crate::ecs::EcsError>,
    },
    /// `verify`: an image was refused (or could not be checked) before anything was registered
    /// (a `pipeline::verify::VerifyError`).
    #[error("{cause}")]
    Unverified { environment: String, cause: Cause },
}

/// How a test command ended when it did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum TestFailure {
    /// It exited with a status other than 0.
    #[error("`{command}` failed with exit status {code}{}", tail_text(.tail))]
    Exit {
        command: String,
        code: i32,
        /// Its last lines of output.
        tail: Vec<String>,
    },
    /// A signal ended it.
    #[error("`{command}` failed with signal {signal}{}", tail_text(.tail))]
    Signal {
        command: String,
        signal: i32,
        tail: Vec<String>,
    },
    /// It ran past the service's `test_timeout` and was stopped.
    #[error("`{command}` ran longer than {seconds}s and was stopped")]
    Timeout { command: String, seconds: u64 },
    /// It could not be started or waited for.
    #[error("{why}")]
    NotRun { command: String, why: Cause },
}

fn tail_text(tail: &[String]) -> String {
    match tail.is_empty() {
        true => String::new(),
        false => format!(":\n{}", tail.join("\n")),
    }
}

/// Why a stage of one service failed.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StageError {
    /// test: the service's test command did not pass.
    #[error("{failure}")]
    Test {
        service: String,
        #[serde(flatten)]
        failure: TestFailure,
    },

    /// build: the release has no engine to build with (the plan builds, the engine was not
    /// connected).
    #[error("no Docker engine")]
    NoEngine { service: String },

    /// build: a build secret's environment variable is not set.
    #[error(
        "the build secret `{id}` comes from the environment variable {var}, which is not set: set it \
         (under Actions: `env: {var}: ${{{{ secrets.{var} }}}}`)"
    )]
    BuildSecret {
        service: String,
        id: String,
        var: String,
    },

    /// build: the engine could not build the image (a failing step, a context it refused, …).
    #[error("{why}")]
    Build {
        service: String,
        /// The repository the image was to be pushed to.
        image: String,
        why: Cause,
    },

    /// push: there is no registry to push to.
    #[error("no registry to push to")]
    NoRegistry { service: String },

    /// push: the engine's push or a registry call failed.
    #[error("{why}")]
    Push {
        service: String,
        /// The repository pushed to (`host/name`).
        image: String,
        why: Cause,
    },

    /// push: another release wrote this version tag first, on another image. Nothing of this run
    /// is rolled out.
    #[error(
        "{reference} already exists and is another image ({existing}, not {wanted}): shipit never \
         pushes over a version (another release wrote it first; nothing of this run is rolled out){}",
        .restored.as_ref().map(|r| format!("; {r}")).unwrap_or_default()
    )]
    TagTaken {
        service: String,
        /// The version tag lost (`repository:tag`).
        reference: String,
        existing: String,
        wanted: String,
        /// What shipit put back after losing (the fingerprint tag on the winner's image).
        restored: Option<String>,
    },

    /// push: `release --assemble` found no recorded image of these platforms (their
    /// `release --platform P` jobs did not push one for this fingerprint).
    #[error(
        "no image of {} was pushed for these inputs: run `shipit release --platform P` for each \
         of them first (the matrix's jobs), then `--assemble`",
        .platforms.join(", ")
    )]
    LegsMissing {
        service: String,
        platforms: Vec<String>,
    },

    /// push: a promotion without the image to promote (the plan names none).
    #[error("the plan names no image to promote")]
    NothingToPromote { service: String },

    /// retain: the repository could not be read or pruned; nothing more was removed.
    #[error("{why}")]
    Retain {
        service: String,
        repository: String,
        why: Cause,
    },

    /// retain: the registry refused some of the removals.
    #[error("not removed: {}", .not_done.join("; "))]
    NotRemoved {
        service: String,
        repository: String,
        not_done: Vec<String>,
    },

    /// rollout: the rollout did not end with the new image running alone in every cluster (per
    /// cluster, why; each one was finished or rolled back).
    #[error("{why}")]
    Rollout {
        service: String,
        /// The image rolled out (`repository:tag`).
        image: String,
        /// The clusters where it did not end well.
        clusters: Vec<String>,
        why: Cause,
    },
}

impl StageError {
    /// The service of ci.toml whose stage failed.
    pub fn service(&self) -> &str {
        match self {
            StageError::Test { service, .. }
            | StageError::NoEngine { service }
            | StageError::BuildSecret { service, .. }
            | StageError::Build { service, .. }
            | StageError::NoRegistry { service }
            | StageError::Push { service, .. }
            | StageError::TagTaken { service, .. }
            | StageError::NothingToPromote { service }
            | StageError::LegsMissing { service, .. }
            | StageError::Retain { service, .. }
            | StageError::NotRemoved { service, .. }
            | StageError::Rollout { service, .. } => service,
        }
    }

    /// A rollout that did not end well in `ended`'s failed clusters, described as `describe` does.
    pub fn rollout(service: &str, image: &str, ended: &[(String, Ended)], why: Cause) -> Self {
        StageError::Rollout {
            service: service.to_string(),
            image: image.to_string(),
            clusters: ended
                .iter()
                .filter(|(_, e)| !e.is_success())
                .map(|(c, _)| c.clone())
                .collect(),
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_test_says_the_command_the_status_and_its_last_lines() {
        let e = StageError::Test {
            service: "api".into(),
            failure: TestFailure::Exit {
                command: "make test".into(),
                code: 3,
                tail: vec!["one".into(), "two".into()],
            },
        };
        assert_eq!(
            e.to_string(),
            "`make test` failed with exit status 3:\none\ntwo"
        );
        assert_eq!(e.service(), "api");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "test");
        assert_eq!(json["reason"], "exit");
        assert_eq!(json["service"], "api");
        assert_eq!(json["command"], "make test");
        assert_eq!(json["code"], 3);
    }

    #[test]
    fn a_lost_tag_names_the_image_the_tag_and_both_digests() {
        let e = StageError::TagTaken {
            service: "api".into(),
            reference: "reg/team/api:stage-1.0.0".into(),
            existing: "sha256:aaa".into(),
            wanted: "sha256:bbb".into(),
            restored: Some("fp-1 names sha256:aaa again".into()),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("reg/team/api:stage-1.0.0 already exists"),
            "{text}"
        );
        assert!(text.ends_with("; fp-1 names sha256:aaa again"), "{text}");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "tag_taken");
        assert_eq!(json["reference"], "reg/team/api:stage-1.0.0");
        assert_eq!(json["existing"], "sha256:aaa");
    }

    #[test]
    fn a_rollout_failure_names_only_the_clusters_that_failed() {
        let ended = vec![
            (
                "a".to_string(),
                Ended::Done {
                    task_definition: "td:2".into(),
                    polls: 1,
                },
            ),
            (
                "b".to_string(),
                Ended::Failed {
                    why: "tasks stopped".into(),
                    events: Vec::new(),
                    rollback: crate::ecs::rollout::Rollback::NotNeeded,
                },
            ),
        ];
        let e = StageError::rollout(
            "api",
            "reg/api:stage-1.0.0",
            &ended,
            Cause::new(RolloutEnded("b: tasks stopped".into())),
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "rollout");
        assert_eq!(json["clusters"], serde_json::json!(["b"]));
        assert_eq!(json["image"], "reg/api:stage-1.0.0");
    }
}
