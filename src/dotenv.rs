//! `build_args_file`: a dotenv file (compose's `.env`) read as `NAME=value` pairs. The subset that
//! compose and the dotenv tools agree on: `NAME=value`, an optional `export `, `#` comments on their
//! own line or after a space in an unquoted value, and values in single quotes (taken as written)
//! or double quotes (`\n`, `\"`, `\\` unescaped). No variable substitution.

use std::collections::BTreeMap;

/// A line of a dotenv file that is not a pair, with its number (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct DotenvError {
    pub line: usize,
    pub kind: BadLine,
}

/// Why a line is not `NAME=value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadLine {
    #[error("not `NAME=value`")]
    NotAPair,
    #[error("`{0}` is not a variable name")]
    BadName(String),
    #[error("the value's {0} quote is not closed on its line")]
    Unclosed(char),
}

/// The pairs of a dotenv text, later lines winning, or the first line that is not one, with why.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, DotenvError> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((name, value)) = line.split_once('=') else {
            return Err(DotenvError {
                line: i + 1,
                kind: BadLine::NotAPair,
            });
        };
        let name = name.trim();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(DotenvError {
                line: i + 1,
                kind: BadLine::BadName(name.to_string()),
            });
        }
        out.insert(
            name.to_string(),
            value_of(value.trim()).map_err(|kind| DotenvError { line: i + 1, kind })?,
        );
    }
    Ok(out)
}

fn value_of(v: &str) -> Result<String, BadLine> {
    let unclosed = BadLine::Unclosed;
    if let Some(rest) = v.strip_prefix('\'') {
        return match rest.find('\'') {
            Some(end) => Ok(rest[..end].to_string()),
            None => Err(unclosed('\'')),
        };
    }
    if let Some(rest) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err(unclosed('"'));
    }
    // Unquoted: a ` #` starts a comment.
    let end = v.find(" #").unwrap_or(v.len());
    Ok(v[..end].trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_env_files_are_read() {
        let text = "# build settings\nexport API_URL=https://api.example\nEMPTY=\nQUOTED=\"a \\\"b\\\"\\nc\" # note\nSINGLE='x $y'\nPLAIN=v # comment\nPLAIN=w\n";
        let got = parse(text).unwrap();
        let want: BTreeMap<String, String> = [
            ("API_URL", "https://api.example"),
            ("EMPTY", ""),
            ("QUOTED", "a \"b\"\nc"),
            ("SINGLE", "x $y"),
            ("PLAIN", "w"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_line_that_is_not_a_pair_is_named() {
        assert_eq!(
            parse("A=1\njust words\n"),
            Err(DotenvError {
                line: 2,
                kind: BadLine::NotAPair
            })
        );
        assert_eq!(
            parse("1A=x"),
            Err(DotenvError {
                line: 1,
                kind: BadLine::BadName("1A".into())
            })
        );
        assert_eq!(
            parse("A=\"open"),
            Err(DotenvError {
                line: 1,
                kind: BadLine::Unclosed('"')
            })
        );
    }
}
