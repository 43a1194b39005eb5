//! serde's messages about ci.toml's types, said in ci.toml's words. serde names the Rust type it
//! wanted (`expected struct RawEnvironment`, `RawServiceEnvironment with 7 elements`, `i64`);
//! a user wrote keys and tables. So the key the error points at is found in the document (its
//! path, `environments.stage`) and the message says what that key must be:
//! `[environments.stage] must be a table, not a string`.

use std::ops::Range;

use toml_edit::{Item, Table, Value};

/// The message for a TOML error `message` at `span` of `text`.
pub fn rewrite(message: &str, text: &str, span: Option<Range<usize>>) -> String {
    let message = message.trim_end_matches('\n');
    let path = span
        .as_ref()
        .and_then(|span| key_path(text, span.start))
        .filter(|p| !p.is_empty());
    // An array (or `[[array of tables]]`) where ci.toml has a table: serde reads the array as
    // the table's fields in order and complains about the first.
    if let Some(path) = &path
        && let Some(at) = path.iter().position(|k| k.parse::<usize>().is_ok())
        && at > 0
        && !ARRAY_KEYS.contains(&path[at - 1].as_str())
    {
        return must_be(Some(&path[..at]), "a table", "an array");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let key = rest.trim_matches('`');
        return match &path {
            Some(path) => format!("{} has no `{key}`, which it must have", shown(path, true)),
            None => format!("ci.toml has no `{key}`, which it must have"),
        };
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // `invalid type: string "x", expected struct RawEnvironment`
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return must_be(
                path.as_deref(),
                &expected_words(expected),
                &found_words(found),
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        // An array where a table was wanted: `invalid length 0, expected struct RawX with 7 elements`.
        if let Some((_, expected)) = rest.split_once(", expected ")
            && expected.starts_with("struct ")
        {
            return must_be(path.as_deref(), "a table", "an array");
        }
    }
    let message = message.replace("unknown field", "unknown key");
    let message = generic_words(&message);
    match path {
        Some(path) if !message.contains('`') => {
            format!("{}: {message}", shown(&path, false))
        }
        _ => message,
    }
}

/// The keys of ci.toml whose values are arrays.
const ARRAY_KEYS: [&str; 6] = [
    "clusters",
    "include",
    "exclude",
    "depends_on",
    "triggers",
    "ignore",
];

fn must_be(path: Option<&[String]>, expected: &str, found: &str) -> String {
    let table = expected == "a table";
    match path {
        Some(path) => format!("{} must be {expected}, not {found}", shown(path, table)),
        None => format!("expected {expected}, not {found}"),
    }
}

/// `[environments.stage]` for a table, `` `project.retain` `` for a value.
fn shown(path: &[String], table: bool) -> String {
    let mut joined = String::new();
    for (i, k) in path.iter().enumerate() {
        if i > 0 && k.parse::<usize>().is_ok() {
            joined.push_str(&format!("[{k}]"));
            continue;
        }
        if i > 0 {
            joined.push('.');
        }
        joined.push_str(&key_words(k));
    }
    if table {
        format!("[{joined}]")
    } else {
        format!("`{joined}`")
    }
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
fn key_words(k: &str) -> String {
    let bare = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// What serde expected, in TOML's words.
fn expected_words(expected: &str) -> String {
    if expected.starts_with("struct ") || expected.contains("map") {
        return "a table".to_string();
    }
    match expected {
        "i64" | "u64" | "i32" | "u32" | "usize" | "an integer" => "an integer".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a string" | "string" => "a string".into(),
        "a sequence" | "sequence" => "an array".into(),
        other => generic_words(other),
    }
}

/// What serde found, in TOML's words: `string "x"` → `a string ("x")`.
fn found_words(found: &str) -> String {
    let (kind, value) = match found.split_once(' ') {
        Some((k, v)) => (k, Some(v)),
        None => (found, None),
    };
    let kind = match kind {
        "string" => "a string",
        "integer" => "an integer",
        "boolean" => "a boolean",
        "floating" => "a number",
        "sequence" => "an array",
        "map" => "a table",
        "unit" => "nothing",
        other => other,
    };
    // A float says `floating point `1.5``.
    match value.map(|v| v.strip_prefix("point ").unwrap_or(v)) {
        Some(v) => format!("{kind} ({})", short(v)),
        None => kind.to_string(),
    }
}

/// A value quoted in a message, cut to 60 characters.
fn short(v: &str) -> String {
    let mut out: String = v.chars().take(60).collect();
    if out.len() < v.len() {
        out.push('…');
    }
    out
}

/// Type names serde may still use, in TOML's words; a Rust struct's name never reaches the user.
fn generic_words(message: &str) -> String {
    let mut out = message
        .replace("a sequence", "an array")
        .replace("sequence", "array")
        .replace("a map", "a table")
        .replace("i64", "an integer")
        .replace("u64", "an integer");
    // `struct RawX with N elements`, `struct RawX`: a table.
    while let Some(at) = out.find("struct Raw") {
        let rest = &out[at + "struct ".len()..];
        let mut end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        if let Some(tail) = rest[end..].strip_prefix(" with ") {
            let digits = tail
                .find(" elements")
                .filter(|n| *n > 0 && tail[..*n].bytes().all(|b| b.is_ascii_digit()));
            if let Some(n) = digits {
                end += " with ".len() + n + " elements".len();
            }
        }
        out = format!("{}a table{}", &out[..at], &rest[end..]);
    }
    out
}

/// The path of keys to the deepest key or value at `offset` in the document, when it parses.
fn key_path(text: &str, offset: usize) -> Option<Vec<String>> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut path = Vec::new();
    in_table(doc.as_table(), offset, &mut path).then_some(path)
}

fn contains(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && (offset < s.end || s.is_empty() && offset == s.start))
}

fn in_table(table: &Table, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, item) in table.iter() {
        path.push(key.to_string());
        let key_here = table.key(key).is_some_and(|k| contains(k.span(), offset));
        let found = key_here
            || match item {
                Item::Value(v) => in_value(v, offset, path),
                // The keys inside first: a table's own span covers them.
                Item::Table(t) => in_table(t, offset, path) || contains(t.span(), offset),
                Item::ArrayOfTables(a) => a.iter().enumerate().any(|(i, t)| {
                    path.push(i.to_string());
                    let hit = in_table(t, offset, path) || contains(t.span(), offset);
                    if !hit {
                        path.pop();
                    }
                    hit
                }),
                Item::None => false,
            };
        if found {
            return true;
        }
        path.pop();
    }
    false
}

fn in_value(value: &Value, offset: usize, path: &mut Vec<String>) -> bool {
    if !contains(value.span(), offset) {
        return false;
    }
    match value {
        Value::InlineTable(t) => {
            for (key, v) in t.iter() {
                path.push(key.to_string());
                let key_here = t.key(key).is_some_and(|k| contains(k.span(), offset));
                if key_here || in_value(v, offset, path) {
                    return true;
                }
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(i.to_string());
                if in_value(v, offset, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_path_is_found_at_an_offset() {
        let text = "[project]\nretain = \"x\"\n\n[environments.stage]\nbranch = 1\n";
        let at = text.find("\"x\"").unwrap();
        assert_eq!(key_path(text, at).unwrap(), ["project", "retain"]);
        let at = text.find('1').unwrap();
        assert_eq!(
            key_path(text, at).unwrap(),
            ["environments", "stage", "branch"]
        );
        let text = "services = { api = { path = [\"a\", 2] } }";
        let at = text.find('2').unwrap();
        assert_eq!(
            key_path(text, at).unwrap(),
            ["services", "api", "path", "1"]
        );
    }

    #[test]
    fn struct_names_become_tables() {
        assert_eq!(
            generic_words("expected struct RawServiceEnvironment with 7 elements here"),
            "expected a table here"
        );
        assert_eq!(found_words("floating point `1.5`"), "a number (`1.5`)");
        assert_eq!(found_words("string \"x\""), "a string (\"x\")");
    }

    /// Every table and every kind of key of ci.toml, given a value of the wrong type: the
    /// message names the key as ci.toml writes it and never a Rust type.
    #[test]
    fn every_wrong_type_is_told_in_ci_toml_s_words() {
        let cases = [
            ("project = \"x\"", "[project] must be a table, not a string"),
            ("project = [1]", "[project] must be a table, not an array"),
            ("[[project]]", "[project] must be a table, not an array"),
            (
                "[project]\nretain = \"x\"",
                "`project.retain` must be an integer",
            ),
            (
                "[project]\nretain = 1.5",
                "`project.retain` must be an integer, not a number (`1.5`)",
            ),
            (
                "[project]\nscan_on_push = \"x\"",
                "`project.scan_on_push` must be true or false",
            ),
            (
                "[project]\nregistry = 1",
                "`project.registry` must be a string, not an integer (`1`)",
            ),
            (
                "[project]\nrepository = []",
                "`project.repository` must be a string, not an array",
            ),
            (
                "environments = []",
                "[environments] must be a table, not an array",
            ),
            (
                "environments = { stage = \"x\" }",
                "[environments.stage] must be a table",
            ),
            (
                "environments = { stage = [1, 2] }",
                "[environments.stage] must be a table, not an array",
            ),
            (
                "[[environments.stage]]",
                "[environments.stage] must be a table, not an array",
            ),
            (
                "[environments.stage]\nlatest = true",
                "[environments.stage] has no `branch`",
            ),
            (
                "[environments.stage]\nbranch = 1",
                "`environments.stage.branch` must be a string",
            ),
            (
                "[environments.stage]\nbranch = \"d\"\nclusters = \"c\"",
                "`environments.stage.clusters` must be an array",
            ),
            (
                "[environments.stage]\nbranch = \"d\"\nclusters = [1]",
                "`environments.stage.clusters[0]` must be a string",
            ),
            (
                "[environments.stage]\nbranch = \"d\"\nbuild_args = \"x\"",
                "[environments.stage.build_args] must be a table",
            ),
            (
                "[environments.stage]\nbranch = \"d\"\nsecrets = { A = 1 }",
                "`environments.stage.secrets.A` must be a string",
            ),
            ("global = \"x\"", "[global] must be a table"),
            (
                "[global]\ntriggers = [1]",
                "`global.triggers[0]` must be a string",
            ),
            (
                "[global]\nignore = {}",
                "`global.ignore` must be an array, not a table",
            ),
            ("services = []", "[services] must be a table, not an array"),
            (
                "services = { api = [] }",
                "[services.api] must be a table, not an array",
            ),
            (
                "[[services.api]]",
                "[services.api] must be a table, not an array",
            ),
            (
                "[services.api]\nimage = false",
                "[services.api] has no `path`",
            ),
            (
                "[services.api]\npath = 1",
                "`services.api.path` must be a string",
            ),
            (
                "[services.api]\npath = \"a\"\nimage = \"yes\"",
                "`services.api.image` must be true or false",
            ),
            (
                "[services.api]\npath = \"a\"\ninclude = [1.5]",
                "`services.api.include[0]` must be a string, not a number",
            ),
            (
                "[services.api]\npath = \"a\"\ndepends_on = [true]",
                "`services.api.depends_on[0]` must be a string, not a boolean",
            ),
            (
                "[services.api]\npath = \"a\"\nbuild_args = []",
                "[services.api.build_args] must be a table, not an array",
            ),
            (
                "[services.api]\npath = \"a\"\nenvironments = { stage = \"x\" }",
                "[services.api.environments.stage] must be a table",
            ),
            (
                "[services.api]\npath = \"a\"\nenvironments = { stage = [1] }",
                "[services.api.environments.stage] must be a table, not an array",
            ),
            (
                "[[services.api.environments.stage]]",
                "[services.api.environments.stage] must be a table, not an array",
            ),
            (
                "[services.api]\npath = \"a\"\n[services.api.environments.stage]\ntarget = 1",
                "`services.api.environments.stage.target` must be a string",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        for (toml, expected) in cases {
            let err = crate::config::Config::parse(
                toml,
                "ci.toml",
                std::path::Path::new("ci.toml"),
                dir.path(),
                crate::config::Checks::Load,
            )
            .expect_err(toml);
            let message = match err {
                crate::config::ConfigError::Invalid(p) => p.problems[0].message.clone(),
                other => other.to_string(),
            };
            assert!(message.contains(expected), "{toml:?}: {message:?}");
            for internal in ["Raw", "struct ", "elements", "i64", "sequence", " map"] {
                assert!(!message.contains(internal), "{toml:?}: {message:?}");
            }
        }
    }
}
