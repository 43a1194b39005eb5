//! registry adapter (being written).

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum RegistryError {
    #[error("not implemented yet")]
    NotImplemented,
}

impl RegistryError {
    /// True when the user can fix this (credentials, names, files): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        false
    }
}
