//! What the executor tells the report layer while it runs ([`Event`]) and what it returns when it
//! is done ([`ServiceResult`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use super::failure::StageError;
use crate::plan::Action;

/// The stages of a release, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Test,
    Build,
    Push,
    Retain,
    Rollout,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Test => "test",
            Stage::Build => "build",
            Stage::Push => "push",
            Stage::Retain => "retain",
            Stage::Rollout => "rollout",
        }
    }
}

/// What the executor tells the report layer.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        service: String,
        stage: Stage,
    },
    /// One line of a test's or a build's output.
    Output {
        service: String,
        stage: Stage,
        line: String,
    },
    Finished {
        service: String,
        stage: Stage,
        status: Status,
        elapsed: Duration,
        detail: String,
    },
    /// A credential shipit holds (an ECR token's password): the report layer has it masked.
    Secret(String),
    /// One poll of a rollout in one cluster: where the ECS services of `services` stand.
    Progress {
        services: Vec<String>,
        line: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

/// How one service ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// Built and pushed, or promoted: the new tags are in the registry.
    Released,
    /// Its inputs were already released here.
    Unchanged,
    /// Tests only (a library, or a branch with no environment), and they passed.
    Tested,
    /// A stage failed: `error` is its message, the other fields say what failed where (see
    /// [`StageError`]).
    Failed {
        stage: Stage,
        #[serde(flatten, serialize_with = "failure_fields")]
        error: StageError,
    },
    /// Not run: a service it depends on failed.
    Blocked { by: String },
    /// Not run: `--fail-fast` stopped the release.
    Cancelled,
    /// SIGINT or SIGTERM stopped it: before it started (no `stage`), or during `stage` (or after
    /// it, when no stage was running), what that stage was doing abandoned. `left_running`: the
    /// clusters where a rollout that had begun was left to ECS, no longer watched.
    #[serde(rename = "cancelled")]
    Interrupted {
        signal: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        stage: Option<Stage>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        left_running: Vec<String>,
    },
}

/// A failure in the JSON objects: `error` (the message people read) beside the failure's fields.
fn failure_fields<S: serde::Serializer>(e: &StageError, s: S) -> Result<S::Ok, S::Error> {
    let mut fields = serde_json::to_value(e).map_err(serde::ser::Error::custom)?;
    if let serde_json::Value::Object(map) = &mut fields {
        map.insert("error".into(), e.to_string().into());
    }
    fields.serialize(s)
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed { .. }
                | Outcome::Blocked { .. }
                | Outcome::Cancelled
                | Outcome::Interrupted { .. }
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    pub stage: Stage,
    pub status: Status,
    pub seconds: f64,
    pub detail: String,
}

/// The result of one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceResult {
    pub name: String,
    pub action: Action,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub digest: Option<String>,
    pub tags: Vec<String>,
    pub repository: Option<crate::image::Repository>,
    /// The image of this release in the registry (`host/name:ENV-X.Y.Z`): what a rollout runs;
    /// after a rollout that `verify` pinned, `host/name@sha256:…`, the digest checked.
    pub image: Option<crate::image::ImageRef>,
    pub clusters: Vec<String>,
    /// The clusters whose native deployment shifted production traffic and that ECS bakes on
    /// after shipit stopped watching (`rollout_wait = "traffic-shifted"`): ECS may still roll
    /// them back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub baking: Vec<String>,
    pub outcome: Outcome,
    pub stages: Vec<StageRecord>,
    /// The file holding the service's test and build output.
    pub log: Option<PathBuf>,
    pub seconds: f64,
}

pub(super) type Sink = Arc<dyn Fn(Event) + Send + Sync>;
