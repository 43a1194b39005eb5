//! git (being written).
use miette::Diagnostic;
use thiserror::Error;
#[derive(Debug, Error, Diagnostic)]
pub enum GitError {
    #[error("not implemented yet")]
    NotImplemented,
}
