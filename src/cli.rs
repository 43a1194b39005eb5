//! Argument parsing and dispatch (being written).
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "shipit", version)]
pub struct Args {}

impl Args {
    pub fn try_parse_args() -> Result<Self, clap::Error> {
        Args::try_parse()
    }
}

pub fn run(_args: Args) -> Result<crate::ExitStatus, crate::Error> {
    Ok(crate::ExitStatus::Success)
}
