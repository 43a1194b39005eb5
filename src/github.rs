//! What GitHub Actions tells a step about the run: the event and its payload.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::env_vars;

/// The environment a command runs in, read once at the top so that nothing below reads `std::env`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process's environment. A variable whose name or value is not Unicode is left out (as
    /// if unset): `std::env::vars` would panic on it.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A variable's value, set even when empty (a build secret may be empty).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A variable's value when it is set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn in_actions(&self) -> bool {
        self.get(env_vars::GITHUB_ACTIONS) == Some("true")
    }
}

/// A GitHub Actions event: its name and its payload.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub payload: Value,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("could not read the GitHub event payload at {}: {cause}", path.display())]
#[diagnostic(
    code(shipit::github::event),
    help(
        "GITHUB_EVENT_PATH should name the JSON file the runner wrote; unset GITHUB_ACTIONS to run outside Actions"
    )
)]
pub struct EventError {
    pub path: PathBuf,
    pub cause: EventCause,
}

/// Why the event payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventCause {
    #[error("{0}")]
    Read(crate::limits::ReadError),
    #[error("{0}")]
    NotJson(serde_json::Error),
}

impl Event {
    /// The event of this run, when running under GitHub Actions.
    pub fn from_env(env: &Env) -> Result<Option<Event>, EventError> {
        if !env.in_actions() {
            return Ok(None);
        }
        let Some(name) = env.get(env_vars::GITHUB_EVENT_NAME) else {
            return Ok(None);
        };
        let payload = match env.get(env_vars::GITHUB_EVENT_PATH) {
            None => Value::Null,
            Some(path) => {
                let path = PathBuf::from(path);
                let text = crate::limits::read_to_string(&path, crate::limits::EVENT_PAYLOAD)
                    .map_err(|e| EventError {
                        path: path.clone(),
                        cause: EventCause::Read(e),
                    })?;
                serde_json::from_str(&text).map_err(|e| EventError {
                    path,
                    cause: EventCause::NotJson(e),
                })?
            }
        };
        Ok(Some(Event {
            name: name.to_string(),
            payload,
        }))
    }

    /// A string at a JSON pointer of the payload (`/pull_request/base/sha`).
    pub fn str(&self, pointer: &str) -> Option<&str> {
        self.payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn bool(&self, pointer: &str) -> bool {
        self.payload
            .pointer(pointer)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn default_branch(&self) -> Option<&str> {
        self.str("/repository/default_branch")
    }
}

/// Escapes a message for `::warning::` / `::error::` workflow commands.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}
