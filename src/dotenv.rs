//! `build_args_file`: a dotenv file (compose's `.env`) read as `NAME=value` pairs. The subset that
//! compose and the dotenv tools agree on: `NAME=value`, an optional `export `, `#` comments on their
//! own line or after a space in an unquoted value, and values in single quotes (taken as written)
//! or double quotes (`\n`, `\"`, `\\` unescaped). No variable substitution.

use std::collections::BTreeMap;

/// The pairs of a dotenv text, later lines winning, or the first line that is not one, with why.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((name, value)) = line.split_once('=') else {
            return Err((i + 1, "not `NAME=value`".to_string()));
        };
        let name = name.trim();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err((i + 1, format!("`{name}` is not a variable name")));
        }
        out.insert(
            name.to_string(),
            value_of(value.trim()).map_err(|w| (i + 1, w))?,
        );
    }
    Ok(out)
}

fn value_of(v: &str) -> Result<String, String> {
    let unclosed = |q: char| format!("the value's {q} quote is not closed on its line");
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
            Err((2, "not `NAME=value`".into()))
        );
        assert_eq!(
            parse("1A=x"),
            Err((1, "`1A` is not a variable name".into()))
        );
        assert_eq!(
            parse("A=\"open"),
            Err((1, "the value's \" quote is not closed on its line".into()))
        );
    }
}
