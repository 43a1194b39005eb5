//! The one integration test binary. Tests that need the local services read their addresses from the
//! environment that `scripts/test` sets up (see `support`).

mod action;
mod affected;
mod cli;
mod demo;
mod e2e;
mod help;
mod init;
mod json;
mod junit;
mod plan;
mod provenance;
mod release;
mod retain;
mod retain_index;
mod rollout;
mod support;
mod tags;
mod workflows;
