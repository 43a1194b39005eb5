//! `shipit man`: shipit's man page (roff), with a section per command. Needs no repository.

use std::io::Write;

use crate::{Error, Finished};

/// What `shipit man` renders.
#[derive(Debug)]
pub struct Options {
    /// The whole command line as the parser defines it
    pub command: clap::Command,
}

pub fn run(options: Options) -> Result<Finished, Error> {
    super::write_stdout(&man_page(options.command)?)
}

/// The man page (roff): shipit's, with a section per command.
pub fn man_page(command: clap::Command) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    // Every command with its own options, as SUBCOMMAND sections.
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        writeln!(out, ".SH \"SHIPIT {}\"", name.to_uppercase())?;
        let sub = sub.clone().bin_name(format!("shipit {name}"));
        let man = clap_mangen::Man::new(sub);
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section)?;
        man.render_description_section(&mut section)?;
        man.render_options_section(&mut section)?;
        // The sub-page's own headers become sub-headings.
        let section = String::from_utf8_lossy(&section).replace(".SH ", ".SS ");
        out.extend_from_slice(section.as_bytes());
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}
