//! The top-level error and the exit statuses.

use miette::Diagnostic;
use thiserror::Error;

/// Exit statuses, as documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Everything asked for was done.
    Success = 0,
    /// A stage failed: test, build, push, retain or rollout.
    StageFailed = 1,
    /// Bad input: arguments, ci.toml, git state, credentials. Nothing was pushed or deployed.
    BadInput = 2,
}

/// Everything that can stop a command before or while it runs.
#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] crate::config::ConfigError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] crate::git::GitError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Event(#[from] crate::github::EventError),

    #[error("{message}")]
    #[diagnostic(code(shipit::usage))]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("could not write output")]
    Io(#[from] std::io::Error),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] crate::registry::RegistryError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] crate::docker::DockerError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Ecs(#[from] crate::ecs::EcsError),
}

impl Error {
    pub fn usage(message: impl Into<String>, help: impl Into<Option<String>>) -> Self {
        Error::Usage {
            message: message.into(),
            help: help.into(),
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Io(_) => ExitStatus::StageFailed,
            Error::Registry(e) if !e.is_bad_input() => ExitStatus::StageFailed,
            Error::Docker(e) if !e.is_bad_input() => ExitStatus::StageFailed,
            Error::Ecs(e) if !e.is_bad_input() => ExitStatus::StageFailed,
            _ => ExitStatus::BadInput,
        }
    }
}
