//! What helps people use shipit rather than run a release: ci.toml's JSON Schema, shell completions
//! and the man page. None of them needs a repository.

use std::io::Write;

use crate::{Error, Finished};

pub fn schema() -> Result<Finished, Error> {
    write_stdout(crate::schema::json().as_bytes())
}

/// Completions for `command` (the parser's own definition, handed in by `cli`).
pub fn completions(
    shell: clap_complete::Shell,
    mut command: clap::Command,
) -> Result<Finished, Error> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "shipit", &mut out);
    write_stdout(&out)
}

pub fn man(command: clap::Command) -> Result<Finished, Error> {
    write_stdout(&man_page(command)?)
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

/// Writes everything to stdout; a closed stdout (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<Finished, Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(Finished::Success),
    }
}
