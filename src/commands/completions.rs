//! `shipit completions SHELL`: a completion script for a shell. Needs no repository.

use crate::{Error, Finished};

/// What `shipit completions` was asked for.
#[derive(Debug)]
pub struct Options {
    pub shell: clap_complete::Shell,
    /// The whole command line as the parser defines it
    pub command: clap::Command,
}

pub fn run(options: Options) -> Result<Finished, Error> {
    let mut command = options.command;
    let mut out = Vec::new();
    clap_complete::generate(options.shell, &mut command, "shipit", &mut out);
    super::write_stdout(&out)
}
