//! ci.toml's JSON Schema, generated from the types that read it ([`crate::config::raw`]), for
//! editors: Taplo (Even Better TOML) reads it from a `#:schema` line at the top of ci.toml.
//! `shipit schema` prints it; the repository keeps a copy in `ci.schema.json` that a test keeps
//! equal to this.

use crate::config::raw::RawConfig;

/// The line that points an editor at the schema, first in the reference ci.toml and in `init`'s.
pub const DIRECTIVE: &str = "#:schema ./ci.schema.json";

/// The file name the schema is kept under, next to ci.toml.
pub const FILE_NAME: &str = "ci.schema.json";

/// The schema as pretty JSON (draft-07, which every TOML editor's validator knows), with a newline.
pub fn json() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<RawConfig>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
