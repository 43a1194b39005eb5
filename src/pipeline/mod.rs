//! Executes a [`Plan`]: per service, the stages `test → build → push` (retention and rollout slot
//! in after push). Services run in parallel, bounded; a service starts once the services it depends
//! on have finished, and a failure stops it and everything that depends on it while the others go
//! on. Nothing here prints: progress goes out as [`Event`]s.

pub mod architecture;
mod attest;
mod context;
mod events;
pub mod failure;
mod platforms;
pub mod preflight;
mod publish;
pub mod retain;
pub mod rollout;
mod schedule;
mod service;
mod signatures;
mod stage_rollout;
pub mod stop;
pub mod test;
pub mod verify;

pub use context::{Context, Legs, Options};
pub use events::{Event, Outcome, ServiceResult, Stage, StageRecord, Status};
pub use failure::{StageError, TestFailure};
pub use publish::short_digest;
pub use schedule::execute;
