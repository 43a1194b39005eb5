//! `shipit schema`: ci.toml's JSON Schema, for editors. Needs no repository.

use crate::{Error, Finished};

pub fn run() -> Result<Finished, Error> {
    super::write_stdout(crate::schema::json().as_bytes())
}
