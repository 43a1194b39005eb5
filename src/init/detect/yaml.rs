//! YAML as init reads it (compose files, skaffold.yaml, workflows): whole documents, untyped, with
//! guards against what a hostile file could do to the loader.

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

/// A file larger than this is not read: no compose file, skaffold.yaml or workflow is this large.
const MAX_BYTES: u64 = 1 << 20;
/// Aliases are expanded by copying, so a few nested ones can multiply a small file into gigabytes
/// ("billion laughs"); real compose files use a handful.
const MAX_ALIASES: usize = 64;
/// Each level of block nesting takes at least one column, and dropping a node recurses per level.
const MAX_INDENT: usize = 512;

/// Why a YAML file was not read (said in init's notes, after the file's name).
#[derive(Debug, thiserror::Error)]
pub(crate) enum YamlError {
    #[error("{0}")]
    Read(#[from] std::io::Error),
    #[error("it is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("it has more than {MAX_ALIASES} aliases")]
    TooManyAliases,
    #[error("it is indented more than {MAX_INDENT} columns")]
    TooDeep,
    #[error("{0}")]
    Syntax(#[from] yaml_rust2::ScanError),
}

/// The documents of the YAML file at `path`, or why they were not read.
pub(super) fn load(path: &Path) -> Result<Vec<Yaml>, YamlError> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_BYTES {
        return Err(YamlError::TooLarge);
    }
    let text = std::fs::read_to_string(path)?;
    parse(&text)
}

pub(crate) fn parse(text: &str) -> Result<Vec<Yaml>, YamlError> {
    let aliases = text
        .as_bytes()
        .windows(2)
        .filter(|w| matches!(w[0], b' ' | b'\t' | b'[' | b',' | b'{' | b'\n') && w[1] == b'*')
        .count();
    if aliases > MAX_ALIASES {
        return Err(YamlError::TooManyAliases);
    }
    if text
        .lines()
        .any(|l| l.len() - l.trim_start().len() > MAX_INDENT)
    {
        return Err(YamlError::TooDeep);
    }
    YamlLoader::load_from_str(text).or_else(|e| {
        // yaml-rust2 refuses a flow collection closed at its key's indentation (`command: [` …
        // `    ]`), which compose, PyYAML and Go's yaml accept: the same text with such closing
        // lines indented as the line before them.
        let mut fixed = String::with_capacity(text.len());
        let mut previous = 0;
        for line in text.lines() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if trimmed.starts_with([']', '}']) && indent < previous {
                fixed.push_str(&" ".repeat(previous));
                fixed.push_str(trimmed);
            } else {
                fixed.push_str(line);
                if !trimmed.is_empty() && !trimmed.starts_with('#') {
                    previous = indent;
                }
            }
            fixed.push('\n');
        }
        YamlLoader::load_from_str(&fixed).map_err(|_| YamlError::Syntax(e))
    })
}

/// A scalar as text: strings, and numbers and booleans as written.
pub(super) fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `key: value` pairs of a mapping, or `KEY=value` items of a list (compose's two forms of
/// `args`); a key without a value is left out.
pub(super) fn pairs(y: &Yaml) -> Vec<(String, String)> {
    match y {
        Yaml::Hash(h) => h
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        Yaml::Array(a) => a
            .iter()
            .filter_map(|i| {
                let s = text(i)?;
                let (k, v) = s.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The strings of a list, or a single string as a list of one.
pub(super) fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}
