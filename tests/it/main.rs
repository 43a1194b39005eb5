//! The one integration test binary. Tests that need the local services read their addresses from the
//! environment that `scripts/test` sets up (see `support`).

mod action;
mod affected;
mod attest;
mod attestations;
mod build_inputs;
mod cli;
mod deadlines;
mod demo;
mod e2e;
mod ecr;
mod ecs_files;
mod failures;
mod help;
mod init;
mod invariants;
mod json;
mod junit;
mod keyless;
mod outside_input;
mod panics;
mod parsers;
mod plan;
mod platforms;
mod processes;
mod provenance;
mod release;
mod retain;
mod retain_index;
mod rollout;
mod secrets;
mod service_deployments;
mod support;
mod tags;
mod verify;
mod workflows;
