//! Rendering: human text, JSON, and GitHub Actions. Library code never prints; this module does.

/// Prints an error the way every command does: one clear message, with help where the user can act.
pub fn print_error(err: &crate::Error) {
    eprintln!("{:?}", miette::Report::msg(err.to_string()));
}
