//! ci.toml in two phases: [`raw`] types as written (unknown keys denied, spans kept), then the
//! validated, resolved [`Config`] that the rest of shipit reads. Every problem found on the way names
//! file:line:col; all of them are reported at once.

mod cycles;
mod error;
pub(crate) mod raw;
pub mod shared;

mod load;
mod model;
mod resolve;
mod signing;
mod snippet;
#[cfg(test)]
mod tests;
mod validate;
mod values;
mod words;

pub use error::{ConfigError, Problem, Problems};
pub use load::{Checks, DefinitionCheck, FILE_NAME, Later, display_name};
pub use model::{
    Build, Config, Environment, Global, Project, Registry, Service, ServiceEnvironment,
};
pub use raw::RolloutWait;
use resolve::Resolver;
pub use signing::{
    FULCIO, GITHUB_ISSUER, IdentityAnchor, Policy, REKOR, Signing, TrustAnchor, Verification,
};
pub use values::parse_duration;
/// The rules a service name and an image repository name follow, for what init proposes.
#[cfg(test)]
pub(crate) use values::{repository_problem, valid_service_name};
