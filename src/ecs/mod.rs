//! ecs adapter (being written).

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum EcsError {
    #[error("not implemented yet")]
    NotImplemented,
}

impl EcsError {
    /// True when the user can fix this (credentials, names, files): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        false
    }
}
