//! ci.toml (being written).
use miette::Diagnostic;
use thiserror::Error;
#[derive(Debug, Error, Diagnostic)]
pub enum ConfigError {
    #[error("not implemented yet")]
    NotImplemented,
}
