//! The top-level error, how a command that ran to its end went, and the one place where either
//! becomes an exit status ([`exit_status`]).
//!
//! Exit status 2 means bad input: shipit stopped before it built, pushed, removed or deployed
//! anything, because of something the user can fix (arguments, ci.toml, git state, a missing file
//! or variable, credentials, an address that does not answer). Exit status 1 means a stage that
//! ran failed (test, build, push, retain, rollout), or that a service answered wrongly while
//! shipit worked. Each module's error type says which of the two it is (`is_bad_input`); the
//! match in [`exit_status`] names every variant, so a new one cannot slip through unclassified.

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
    /// SIGINT stopped a release (128 + 2, as a shell reports it).
    Interrupted = 130,
    /// SIGTERM stopped a release (128 + 15).
    Terminated = 143,
}

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Every stage it ran succeeded (or there was nothing to do).
    Success,
    /// At least one stage failed; its report says which, where and why.
    StagesFailed,
    /// The input was checked and refused, and the command's report said why (`validate --format
    /// json` prints its problems as JSON, and exits 2 all the same).
    Refused,
    /// A signal stopped it; its report says what was interrupted.
    Interrupted(crate::pipeline::stop::Signal),
}

impl Finished {
    pub fn failed_if(any_failed: bool) -> Finished {
        match any_failed {
            true => Finished::StagesFailed,
            false => Finished::Success,
        }
    }
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

    /// Input shipit refuses, said in one line with what to do about it.
    #[error("{message}")]
    #[diagnostic(code(shipit::usage))]
    BadInput {
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

    /// `shipit deploy --continue` / `--rollback`: the paused deployment could not be acted on.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Deployment(#[from] crate::ecs::deployment::DeploymentError),

    /// `verify`: an image was refused before a rollout, or its trust anchor could not be had.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Verify(#[from] Box<crate::pipeline::verify::VerifyError>),

    /// `shipit retain`: the retention of one service's repository stopped.
    #[error("retention of {service}: {source}")]
    #[diagnostic(code(shipit::retain))]
    Retain {
        service: String,
        #[source]
        source: Box<crate::pipeline::retain::RetainError>,
    },
}

impl Error {
    pub fn bad_input(message: impl Into<String>, help: impl Into<Option<String>>) -> Self {
        Error::BadInput {
            message: message.into(),
            help: help.into(),
        }
    }

    /// Bad input (2) or a failure while working (1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Config(_) | Error::Git(_) | Error::Event(_) | Error::BadInput { .. } => true,
            Error::Io(_) => false,
            Error::Registry(e) => e.is_bad_input(),
            Error::Docker(e) => e.is_bad_input(),
            Error::Ecs(e) => e.is_bad_input(),
            Error::Deployment(e) => e.is_bad_input(),
            Error::Verify(e) => e.is_bad_input(),
            Error::Retain { source, .. } => source.is_bad_input(),
        }
    }
}

/// The exit status of a command: the one place where outcomes and errors become numbers.
pub fn exit_status(result: &Result<Finished, Error>) -> ExitStatus {
    match result {
        Ok(Finished::Success) => ExitStatus::Success,
        Ok(Finished::StagesFailed) => ExitStatus::StageFailed,
        Ok(Finished::Refused) => ExitStatus::BadInput,
        Ok(Finished::Interrupted(crate::pipeline::stop::Signal::Interrupt)) => {
            ExitStatus::Interrupted
        }
        Ok(Finished::Interrupted(crate::pipeline::stop::Signal::Terminate)) => {
            ExitStatus::Terminated
        }
        Err(e) if e.is_bad_input() => ExitStatus::BadInput,
        Err(_) => ExitStatus::StageFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::retain::RetainError;
    use crate::registry::RegistryError;

    #[test]
    fn a_registry_that_answers_wrongly_during_retention_is_a_failed_stage() {
        let answered = Error::Retain {
            service: "api".into(),
            source: Box::new(RetainError::Registry(RegistryError::Protocol {
                host: "reg".into(),
                exchange: crate::registry::Exchange::Status {
                    status: reqwest::StatusCode::INTERNAL_SERVER_ERROR,
                    to: crate::registry::Request::TagsList,
                },
                problem: crate::registry::Problem::NoDigestHeader,
            })),
        };
        assert_eq!(exit_status(&Err(answered)), ExitStatus::StageFailed);
        let unknown = Error::Retain {
            service: "api".into(),
            source: Box::new(RetainError::UnknownService {
                service: "api".into(),
            }),
        };
        assert_eq!(exit_status(&Err(unknown)), ExitStatus::BadInput);
    }

    #[test]
    fn finished_commands_exit_0_or_1() {
        assert_eq!(exit_status(&Ok(Finished::Success)), ExitStatus::Success);
        assert_eq!(
            exit_status(&Ok(Finished::failed_if(true))),
            ExitStatus::StageFailed
        );
        assert_eq!(
            exit_status(&Err(Error::bad_input("no", None))),
            ExitStatus::BadInput
        );
    }
}
