//! One redaction layer for every output: the terminal, log files, `--report`, `GITHUB_OUTPUT`, the
//! step summary, annotations and error snippets all pass their text through [`text`] first.
//!
//! Every credential shipit learns (from the environment, from ci.toml, from ECR's token service) is
//! registered with [`add`]; a multi-line secret is registered line by line, so that a line of it
//! printed on its own is hidden too.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret becomes in output.
pub const MASK: &str = "****";

/// Secrets, and lines of a multi-line one, shorter than this are not masked: a one-letter line of a
/// PEM file, or the `test` that emulators take as a key, would mask that word in every output.
const MIN_LINE: usize = 6;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The environment variables whose values are credentials, wherever shipit runs.
pub const SECRET_VARS: &[&str] = &[
    crate::env_vars::SHIPIT_REGISTRY_PASSWORD,
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];

/// Registers a secret; returns the strings newly hidden (the secret and each of its lines), which
/// GitHub Actions must be told to mask too.
pub fn add(secret: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    if secret.trim().len() >= MIN_LINE {
        parts.push(secret.to_string());
    }
    for line in secret.lines() {
        let line = line.trim();
        if line.len() >= MIN_LINE && line != secret {
            parts.push(line.to_string());
        }
    }
    // The forms the secret takes in JSON (`--report`, `GITHUB_OUTPUT`) and in workflow commands.
    for p in parts.clone() {
        if let Ok(json) = serde_json::to_string(&p) {
            let inner = json.trim_matches('"');
            if inner != p {
                parts.push(inner.to_string());
            }
        }
        let escaped = crate::github::escape_data(&p);
        if escaped != p {
            parts.push(escaped);
        }
    }
    let mut secrets = match SECRETS.write() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut added = Vec::new();
    for p in parts {
        if !secrets.contains(&p) {
            secrets.push(p.clone());
            added.push(p);
        }
    }
    // Longest first, so that a secret containing another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    added
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn text(text: &str) -> Cow<'_, str> {
    let secrets = match SECRETS.read() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// The credentials in a URL (`scheme://user:password@host`): registers the password (and the
/// `user:password` pair) and returns the URL without them, or `None` when it is not a URL.
pub fn strip_url(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    if let Some(password) = parsed.password() {
        let password = percent_decode(password);
        add(&password);
        add(&format!("{}:{password}", percent_decode(parsed.username())));
    }
    if parsed.username().is_empty() && parsed.password().is_none() {
        return Some(url.to_string());
    }
    // Both calls fail only for URLs that cannot have credentials, which these then do not.
    let _ = parsed.set_password(None);
    let _ = parsed.set_username("");
    Some(parsed.to_string())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_a_multi_line_secret_is_hidden() {
        add("first-line-AAA\nsecond-line-BBB\n");
        let out = text("x first-line-AAA y\nsecond-line-BBB alone");
        assert!(!out.contains("first-line-AAA"), "{out}");
        assert!(!out.contains("second-line-BBB"), "{out}");
    }

    #[test]
    fn a_secret_is_hidden_in_json_and_workflow_commands_too() {
        add("quo\"te-back\\slash-100%");
        let json = serde_json::to_string("x quo\"te-back\\slash-100% y").unwrap();
        assert!(!text(&json).contains("te-back"), "{}", text(&json));
        let command = crate::github::escape_data("quo\"te-back\\slash-100%");
        assert_eq!(text(&command), MASK);
    }

    #[test]
    fn short_values_are_not_secrets_to_mask() {
        add("test");
        assert_eq!(text("tests only"), "tests only");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            strip_url("https://user:tok-en-CCC@example.com").as_deref(),
            Some("https://example.com/")
        );
        assert_eq!(
            strip_url("https://x-access-token:tok-DDD@github.com/o/r.git").as_deref(),
            Some("https://github.com/o/r.git")
        );
        assert!(!text("oci://user:tok-DDD@h").contains("tok-DDD"));
        assert_eq!(
            strip_url("https://github.com/o/r").as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(strip_url("git@github.com:o/r.git"), None);
    }
}
