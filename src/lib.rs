//! shipit: find the services a push affects, then test, build, push and roll them out.
//!
//! The pipeline reads top to bottom: [`config`] → [`changes`] (git diff → paths) → [`graph`]
//! (affected services) → [`version`] → [`plan`] → [`pipeline`], with adapters at the edges:
//! [`git`], [`docker`], [`registry`], [`ecs`], and [`report`]. On top, [`cli`] parses the command
//! line and [`commands`] runs each command: its inputs, the library, then `report`.

pub mod affected;
pub mod attest;
pub mod aws;
pub mod base;
pub mod build_inputs;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod config;
pub mod docker;
pub mod dotenv;
pub mod ecs;
pub mod env_vars;
pub mod error;
pub mod fast;
pub mod fingerprint;
/// Entry points of the fuzz targets in `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod git;
pub mod github;
pub mod glob;
pub mod graph;
pub mod image;
pub mod init;
pub mod limits;
pub mod lint;
pub mod net;
pub mod pipeline;
pub mod plan;
pub mod provenance;
pub mod redact;
pub mod registry;
pub mod report;
pub mod retention;
pub mod schema;
pub mod sign;
pub mod version;

use std::process::ExitCode;

pub use error::{Error, ExitStatus, Finished, exit_status};

/// The whole program: parse arguments, run, map the outcome to an exit status in one place.
pub fn main() -> ExitCode {
    let args = match cli::Args::try_parse_args() {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                ExitStatus::BadInput as u8
            } else {
                0
            });
        }
    };
    install_tracing();
    // Read once here and passed down. (The AWS SDK reads its own variables.)
    let env = github::Env::from_process();
    let result = commands::run(args.into_invocation(), &env);
    match &result {
        // A reader that went away (`shipit affected | head`) is no news: exit quietly.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(err) => report::print_error(err, &env),
        Ok(_) => {}
    }
    ExitCode::from(exit_status(&result) as u8)
}

fn install_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env(env_vars::SHIPIT_LOG).unwrap_or_else(|_| EnvFilter::new("off"));
    // Each step that has a span (loading ci.toml, the diff, matching) says how long it took
    // when it ends: `SHIPIT_LOG=shipit=debug` is a profile of one run.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(|| RedactingStderr)
        .try_init();
}

/// Diagnostics go through the redaction layer like every other output (the fmt layer writes each
/// event whole, so a secret is never split across writes).
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        report::stderr(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
