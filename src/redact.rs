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

/// `text` with every registered secret replaced by [`MASK`], except where the secret's text sits
/// inside an identifier whose grammar shipit checks (see [`identifiers`]): a digest or a commit
/// that happens to contain a short secret is left whole, never turned into `sha256:55f5****a864`.
pub fn text(text: &str) -> Cow<'_, str> {
    let secrets = match SECRETS.read() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let protected = identifiers(text);
    // Where each secret occurs in `text`, outside the identifiers; overlapping occurrences become
    // one mask.
    let mut masks: Vec<std::ops::Range<usize>> = Vec::new();
    for s in secrets.iter() {
        for (start, found) in text.match_indices(s.as_str()) {
            let range = start..start + found.len();
            let inside = protected
                .iter()
                .any(|p| p.start <= range.start && range.end <= p.end && range.len() < p.len());
            if !inside {
                masks.push(range);
            }
        }
    }
    if masks.is_empty() {
        return Cow::Borrowed(text);
    }
    masks.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for m in masks {
        if m.end <= at {
            continue; // within a mask already written
        }
        if m.start >= at {
            out.push_str(&text[at..m.start]);
            out.push_str(MASK);
        }
        // An occurrence overlapping the last mask extends it.
        at = m.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// The spans of `text` that are identifiers with a fixed grammar, which redaction never rewrites
/// inside: a digest (`sha256:` and its hex, whole or shortened to 12 or more), and a run of exactly
/// 40 or 64 lowercase hex digits standing alone (a commit, a fingerprint, an image id). A secret
/// equal to such an identifier as a whole is still masked.
fn identifiers(text: &str) -> Vec<std::ops::Range<usize>> {
    const DIGEST: &str = "sha256:";
    let bytes = text.as_bytes();
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !hex(bytes[i]) || (i > 0 && word(bytes[i - 1]) && !text[..i].ends_with(DIGEST)) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && hex(bytes[i]) {
            i += 1;
        }
        if i < bytes.len() && word(bytes[i]) {
            continue; // part of a longer word: not an identifier
        }
        let run = i - start;
        if text[..start].ends_with(DIGEST) && run >= 12 {
            spans.push(start - DIGEST.len()..i);
        } else if run == 40 || run == 64 {
            spans.push(start..i);
        }
    }
    spans
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
    fn a_secret_inside_a_digest_or_a_commit_leaves_it_whole() {
        let digest = "sha256:55f5c0ffee12a864d0c3b9e1f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6a864";
        let commit = "0123456789abcdef0123c0ffee12456789abcdef";
        add("c0ffee12");
        let json =
            format!(r#"{{"digest":"{digest}","short":"sha256:55f5c0ffee12","head":"{commit}"}}"#);
        assert_eq!(text(&json), json);
        let output = format!("released={{\"api\":\"{digest}\"}}\nfp-{commit}");
        assert_eq!(text(&output), output);
        // Anywhere else it is masked, next to a digest too.
        assert_eq!(
            text(&format!("token c0ffee12, {digest}:c0ffee12")),
            format!("token ****, {digest}:****")
        );
        assert_eq!(text("xc0ffee12abc"), "x****abc");
        // A secret that is a whole hex identifier is masked all the same.
        let whole = "feedfacefeedfacefeedfacefeedfacefeedface";
        add(whole);
        assert_eq!(text(&format!("key={whole}")), "key=****");
    }

    #[test]
    fn overlapping_secrets_become_one_mask() {
        add("overlap-AAAA-BBBB");
        add("BBBB-overlap-CCCC");
        assert_eq!(text("x overlap-AAAA-BBBB-overlap-CCCC y"), "x **** y");
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
