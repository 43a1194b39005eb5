//! Globs with .gitignore semantics, compiled once into a single [`GlobSet`].
//!
//! - `*` and `?` never cross `/`; `**` does.
//! - A pattern with no `/` (other than a trailing one) matches at any depth: `*.md` is `**/*.md`.
//! - A leading `/` anchors a pattern at the repository root; other patterns with a `/` are anchored too.
//! - A pattern also matches everything under what it names: `libs/common` means `libs/common/**`.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// One pattern as written by the user, turned into the globs that implement its meaning.
fn expand(pattern: &str) -> Vec<String> {
    let trimmed = pattern.trim_end_matches('/');
    let (anchored, body) = match trimmed.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (trimmed.contains('/'), trimmed),
    };
    let base = if anchored || body.starts_with("**/") || body == "**" {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    if base.ends_with("/**") || base == "**" {
        vec![base]
    } else {
        vec![format!("{base}/**"), base]
    }
}

fn compile(glob: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// Checks one pattern, as the config loader does for every glob it reads.
pub fn check(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("an empty pattern matches nothing".to_string());
    }
    for glob in expand(pattern) {
        compile(&glob).map_err(|e| e.kind().to_string())?;
    }
    Ok(())
}

/// Many patterns, each tagged with a value of the caller's (which service, which rule), matched in one pass.
#[derive(Debug)]
pub struct Matcher<T> {
    set: GlobSet,
    /// For each compiled glob, the index of the tag it belongs to.
    owner: Vec<usize>,
    tags: Vec<T>,
}

impl<T> Matcher<T> {
    /// Compiles `(pattern, tag)` pairs. Patterns are expected to have passed [`check`].
    pub fn new(patterns: impl IntoIterator<Item = (String, T)>) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        let mut owner = Vec::new();
        let mut tags = Vec::new();
        for (pattern, tag) in patterns {
            for glob in expand(&pattern) {
                builder.add(compile(&glob)?);
                owner.push(tags.len());
            }
            tags.push(tag);
        }
        Ok(Matcher {
            set: builder.build()?,
            owner,
            tags,
        })
    }

    /// Calls `f` once for every tag whose pattern matches `path` (a repository-relative path).
    /// `scratch` is reused between calls to avoid allocating per path.
    pub fn for_each_match(&self, path: &str, scratch: &mut Vec<usize>, mut f: impl FnMut(&T)) {
        self.set.matches_into(path, scratch);
        let mut last = usize::MAX;
        for &glob in scratch.iter() {
            let tag = self.owner[glob];
            // A pattern compiles to at most two adjacent globs; report its tag once.
            if tag != last {
                f(&self.tags[tag]);
                last = tag;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn matches(pattern: &str, path: &str) -> bool {
        let m = Matcher::new([(pattern.to_string(), ())]).unwrap();
        let mut hit = false;
        m.for_each_match(path, &mut Vec::new(), |_| hit = true);
        hit
    }

    #[test_case("services/visits", "services/visits/src/main.rs", true; "path means everything under it")]
    #[test_case("services/visits", "services/visits", true; "path matches itself")]
    #[test_case("services/visits", "services/visits-old/main.rs", false; "path is not a string prefix")]
    #[test_case("services/visits/", "services/visits/a", true; "trailing slash")]
    #[test_case("*.md", "README.md", true; "no slash matches at the root")]
    #[test_case("*.md", "services/visits/docs/intro.md", true; "no slash matches at any depth")]
    #[test_case("docs", "services/visits/docs/intro.txt", true; "bare directory name at any depth")]
    #[test_case("services/*.rs", "services/a/b.rs", false; "star does not cross slash")]
    #[test_case("services/*/main.rs", "services/a/main.rs", true; "star within a segment")]
    #[test_case("services/**/main.rs", "services/a/b/main.rs", true; "double star crosses")]
    #[test_case("services/?.rs", "services/ab.rs", false; "question mark is one character")]
    #[test_case("/Cargo.lock", "Cargo.lock", true; "anchored at the root")]
    #[test_case("/Cargo.lock", "services/a/Cargo.lock", false; "anchored does not match deeper")]
    #[test_case("Cargo.lock", "services/a/Cargo.lock", true; "unanchored matches deeper")]
    #[test_case("proto/visits/**", "proto/visits/v1/visit.proto", true; "explicit recursive suffix")]
    #[test_case("proto/visits/**", "proto/visitsx/a", false; "recursive suffix needs the slash")]
    #[test_case("services/my app", "services/my app/ünïcode.txt", true; "spaces and non-ASCII")]
    #[test_case("**", "anything/at/all", true; "double star alone")]
    fn gitignore_semantics(pattern: &str, path: &str, expected: bool) {
        assert_eq!(
            matches(pattern, path),
            expected,
            "{pattern:?} against {path:?}"
        );
    }

    #[test]
    fn each_tag_is_reported_once() {
        let m = Matcher::new([
            ("a".to_string(), 1),
            ("a/**".to_string(), 2),
            ("*.rs".to_string(), 3),
        ])
        .unwrap();
        let mut seen = Vec::new();
        m.for_each_match("a/b.rs", &mut Vec::new(), |t| seen.push(*t));
        seen.sort();
        assert_eq!(seen, vec![1, 2, 3]);
    }

    #[test_case("services/[a"; "unclosed class")]
    #[test_case("  "; "blank")]
    fn bad_patterns_are_rejected(pattern: &str) {
        assert!(check(pattern).is_err());
    }
}
