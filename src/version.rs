//! Versions: `<env>-X.Y.Z` tags, Conventional Commits bumps, version files as a floor.
//! Pure functions over strings; the registry and git feed them.

use semver::Version;
use serde::Serialize;

/// How far a release moves the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Patch,
    Minor,
    Major,
}

/// The version in an environment tag: `stage-1.2.3` → 1.2.3 for `stage`. Anything else (`latest`,
/// `stage-1.2`, `stage-1.2.3-rc.1`, `prod-1.2.3` for stage, leading zeros) is not a version of `env`.
pub fn parse_tag(env: &str, tag: &str) -> Option<Version> {
    let rest = tag.strip_prefix(env)?.strip_prefix('-')?;
    let mut parts = rest.split('.');
    let mut next = || -> Option<u64> {
        let p = parts.next()?;
        let canonical = !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        // u64::MAX parses, but no version can follow it: not a version shipit can bump.
        canonical
            .then(|| p.parse().ok())
            .flatten()
            .filter(|n| *n < u64::MAX)
    };
    let (major, minor, patch) = (next()?, next()?, next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(Version::new(major, minor, patch))
}

/// The tag of a version in an environment.
pub fn tag(env: &str, version: &Version) -> String {
    format!("{env}-{version}")
}

/// The highest version of `env` among `tags`, by semver (not by push time).
pub fn highest<'a>(env: &str, tags: impl IntoIterator<Item = &'a str>) -> Option<Version> {
    tags.into_iter().filter_map(|t| parse_tag(env, t)).max()
}

/// The bump a commit message asks for, by Conventional Commits: `feat` → minor; `!` after the type
/// or a `BREAKING CHANGE:` footer → major; anything else (fix, chore, a free-form message) → patch.
pub fn bump_of(message: &str) -> Bump {
    let header = message.lines().next().unwrap_or("").trim();
    let breaking_footer = message.lines().skip(1).any(|l| {
        let l = l.trim_start();
        l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:")
    });
    let Some((kind, _)) = header.split_once(':') else {
        return if breaking_footer {
            Bump::Major
        } else {
            Bump::Patch
        };
    };
    let bang = kind.ends_with('!');
    let kind = kind.trim_end_matches('!');
    let kind = kind
        .split_once('(')
        .map_or(kind, |(k, scope)| if scope.ends_with(')') { k } else { "" });
    if !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || kind.is_empty() {
        return if breaking_footer {
            Bump::Major
        } else {
            Bump::Patch
        };
    }
    if bang || breaking_footer {
        Bump::Major
    } else if kind.eq_ignore_ascii_case("feat") {
        Bump::Minor
    } else {
        Bump::Patch
    }
}

pub fn apply(version: &Version, bump: Bump) -> Version {
    match bump {
        Bump::Major => Version::new(version.major.saturating_add(1), 0, 0),
        Bump::Minor => Version::new(version.major, version.minor.saturating_add(1), 0),
        Bump::Patch => Version::new(
            version.major,
            version.minor,
            version.patch.saturating_add(1),
        ),
    }
}

/// The next version: the highest existing one bumped, or the initial version when there is none;
/// a version file's version wins when it is higher.
pub fn next(
    highest: Option<&Version>,
    bump: Bump,
    initial: &Version,
    floor: Option<&Version>,
) -> Version {
    let computed = match highest {
        Some(h) => apply(h, bump),
        None => initial.clone(),
    };
    match floor {
        Some(f) if *f > computed => Version::new(f.major, f.minor, f.patch),
        _ => computed,
    }
}

/// Why a version file holds no version.
#[derive(Debug, thiserror::Error)]
pub enum VersionFileError {
    #[error("not TOML: {0}")]
    NotToml(toml::de::Error),
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("package.version is inherited from the workspace or not a string")]
    NotAString,
    /// The key (or keys) that should hold the version, as the message names them.
    #[error("no {key}")]
    NoKey { key: &'static str },
    #[error("`{text}` is not a version: {cause}")]
    NotAVersion { text: String, cause: semver::Error },
}

/// Reads the version out of a version file, by its name: `Cargo.toml` (`package.version`),
/// `package.json` (`version`), `pyproject.toml` (`project.version` or `tool.poetry.version`), or a
/// `VERSION` file holding just the version (an optional leading `v`).
pub fn read_version_file(file_name: &str, text: &str) -> Result<Version, VersionFileError> {
    let raw: String = match file_name {
        "Cargo.toml" => {
            let doc: toml::Table = text.parse().map_err(VersionFileError::NotToml)?;
            let v = doc.get("package").and_then(|p| p.get("version"));
            match v {
                Some(toml::Value::String(s)) => s.clone(),
                Some(_) => return Err(VersionFileError::NotAString),
                None => {
                    return Err(VersionFileError::NoKey {
                        key: "package.version",
                    });
                }
            }
        }
        "pyproject.toml" => {
            let doc: toml::Table = text.parse().map_err(VersionFileError::NotToml)?;
            let project = doc.get("project").and_then(|p| p.get("version"));
            let poetry = doc
                .get("tool")
                .and_then(|t| t.get("poetry"))
                .and_then(|p| p.get("version"));
            project
                .or(poetry)
                .and_then(|v| v.as_str())
                .ok_or(VersionFileError::NoKey {
                    key: "project.version or tool.poetry.version",
                })?
                .to_string()
        }
        "package.json" => {
            let doc: serde_json::Value =
                serde_json::from_str(text).map_err(VersionFileError::NotJson)?;
            doc.get("version")
                .and_then(|v| v.as_str())
                .ok_or(VersionFileError::NoKey { key: "\"version\"" })?
                .to_string()
        }
        _ => text.trim().to_string(),
    };
    let raw = raw.trim();
    let raw = raw.strip_prefix('v').unwrap_or(raw);
    Version::parse(raw).map_err(|cause| VersionFileError::NotAVersion {
        text: raw.to_string(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use test_case::test_case;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test_case("stage-1.2.3", Some("1.2.3"); "plain")]
    #[test_case("stage-0.0.0", Some("0.0.0"); "zeros")]
    #[test_case("stage-10.20.30", Some("10.20.30"); "several digits")]
    #[test_case("stage-1.2", None; "two parts")]
    #[test_case("stage-1.2.3.4", None; "four parts")]
    #[test_case("stage-01.2.3", None; "leading zero")]
    #[test_case("stage-1.2.3-rc.1", None; "pre-release")]
    #[test_case("prod-1.2.3", None; "another environment")]
    #[test_case("stage1.2.3", None; "no dash")]
    #[test_case("staged-1.2.3", None; "longer prefix")]
    #[test_case("latest", None; "latest")]
    #[test_case("fp-0123", None; "fingerprint")]
    fn tags(tag: &str, expected: Option<&str>) {
        assert_eq!(parse_tag("stage", tag), expected.map(v));
    }

    #[test]
    fn highest_is_by_semver_not_by_order_or_text() {
        let tags = [
            "stage-1.10.0",
            "stage-1.9.0",
            "stage-1.2.3",
            "latest",
            "prod-9.9.9",
            "stage-2.0.0-rc.1",
        ];
        assert_eq!(highest("stage", tags), Some(v("1.10.0")));
        assert_eq!(highest("dev", tags), None);
    }

    #[test_case("feat: add visits", Bump::Minor; "feat")]
    #[test_case("feat(visits): add", Bump::Minor; "feat with scope")]
    #[test_case("FEAT: shout", Bump::Minor; "case")]
    #[test_case("fix: typo", Bump::Patch; "fix")]
    #[test_case("chore(deps): bump", Bump::Patch; "chore")]
    #[test_case("feat!: drop v1", Bump::Major; "bang")]
    #[test_case("fix(api)!: rename", Bump::Major; "bang with scope")]
    #[test_case("feat: x\n\nBREAKING CHANGE: y", Bump::Major; "footer")]
    #[test_case("refactor: x\n\nBREAKING-CHANGE: y", Bump::Major; "dashed footer")]
    #[test_case("Merge branch 'feature'", Bump::Patch; "merge")]
    #[test_case("Update README.md", Bump::Patch; "free form")]
    #[test_case("feat add without colon", Bump::Patch; "no colon")]
    #[test_case("see: feat (x): y", Bump::Patch; "not a type")]
    #[test_case("", Bump::Patch; "empty")]
    fn bumps(message: &str, expected: Bump) {
        assert_eq!(bump_of(message), expected);
    }

    #[test_case(None, Bump::Major, None, "0.1.0"; "first release is the initial version")]
    #[test_case(Some("1.2.3"), Bump::Patch, None, "1.2.4"; "patch")]
    #[test_case(Some("1.2.3"), Bump::Minor, None, "1.3.0"; "minor")]
    #[test_case(Some("1.2.3"), Bump::Major, None, "2.0.0"; "major")]
    #[test_case(Some("1.2.3"), Bump::Patch, Some("2.0.0"), "2.0.0"; "a higher floor wins")]
    #[test_case(Some("1.2.3"), Bump::Patch, Some("1.0.0"), "1.2.4"; "a lower floor does not")]
    #[test_case(None, Bump::Patch, Some("3.1.0"), "3.1.0"; "floor over initial")]
    #[test_case(Some("1.2.3"), Bump::Patch, Some("1.2.4"), "1.2.4"; "equal floor")]
    fn next_versions(highest: Option<&str>, bump: Bump, floor: Option<&str>, expected: &str) {
        let h = highest.map(v);
        let f = floor.map(v);
        assert_eq!(next(h.as_ref(), bump, &v("0.1.0"), f.as_ref()), v(expected));
    }

    #[test_case("Cargo.toml", "[package]\nname = \"x\"\nversion = \"1.4.0\"\n", Ok("1.4.0"); "cargo")]
    #[test_case("Cargo.toml", "[package]\nversion.workspace = true\n", Err("inherited"); "cargo workspace")]
    #[test_case("package.json", "{\"name\":\"x\",\"version\":\"2.0.1\"}", Ok("2.0.1"); "npm")]
    #[test_case("pyproject.toml", "[project]\nversion = \"0.3.0\"\n", Ok("0.3.0"); "pep 621")]
    #[test_case("pyproject.toml", "[tool.poetry]\nversion = \"0.4.0\"\n", Ok("0.4.0"); "poetry")]
    #[test_case("VERSION", "v1.2.3\n", Ok("1.2.3"); "plain file")]
    #[test_case("VERSION", "one point two\n", Err("is not a version"); "garbage")]
    #[test_case("package.json", "{", Err("not JSON"); "broken json")]
    fn version_files(name: &str, text: &str, expected: Result<&str, &str>) {
        match (read_version_file(name, text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, v(want)),
            (Err(got), Err(want)) => assert!(got.to_string().contains(want), "{got}"),
            (got, want) => panic!("{got:?} vs {want:?}"),
        }
    }

    #[test]
    fn the_last_u64_is_no_version() {
        assert_eq!(parse_tag("env", "env-18446744073709551615.0.0"), None);
        assert_eq!(
            parse_tag("env", "env-18446744073709551614.0.0"),
            Some(Version::new(u64::MAX - 1, 0, 0))
        );
    }

    proptest! {
        #[test]
        fn any_tag_parses_without_panic_and_can_be_bumped(tag in "\\PC*") {
            if let Some(v) = parse_tag("prod", &tag) {
                for bump in [Bump::Patch, Bump::Minor, Bump::Major] {
                    prop_assert!(next(Some(&v), bump, &Version::new(0, 1, 0), None) > v);
                }
            }
        }

        #[test]
        fn huge_tags_parse_without_panic_and_can_be_bumped(
            major in proptest::num::u64::ANY, minor in proptest::num::u64::ANY, patch in proptest::num::u64::ANY,
        ) {
            let tag = format!("prod-{major}.{minor}.{patch}");
            if let Some(v) = parse_tag("prod", &tag) {
                for bump in [Bump::Patch, Bump::Minor, Bump::Major] {
                    prop_assert!(next(Some(&v), bump, &Version::new(0, 1, 0), None) > v);
                }
            }
        }

        #[test]
        fn a_tag_round_trips(major in 0u64..10_000, minor in 0u64..10_000, patch in 0u64..10_000) {
            let version = Version::new(major, minor, patch);
            prop_assert_eq!(parse_tag("prod", &tag("prod", &version)), Some(version));
        }

        #[test]
        fn next_is_always_above_the_highest(
            major in 0u64..100, minor in 0u64..100, patch in 0u64..100,
            bump in prop_oneof![Just(Bump::Patch), Just(Bump::Minor), Just(Bump::Major)],
            floor in proptest::option::of((0u64..100, 0u64..100, 0u64..100)),
        ) {
            let highest = Version::new(major, minor, patch);
            let floor = floor.map(|(a, b, c)| Version::new(a, b, c));
            let n = next(Some(&highest), bump, &Version::new(0, 1, 0), floor.as_ref());
            prop_assert!(n > highest);
            if let Some(f) = floor { prop_assert!(n >= f); }
        }

        #[test]
        fn the_highest_tag_is_the_semver_maximum(versions in proptest::collection::vec((0u64..50, 0u64..50, 0u64..50), 1..40)) {
            let tags: Vec<String> = versions.iter().map(|(a, b, c)| format!("stage-{a}.{b}.{c}")).collect();
            let expected = versions.iter().map(|(a, b, c)| Version::new(*a, *b, *c)).max();
            prop_assert_eq!(highest("stage", tags.iter().map(String::as_str)), expected);
        }
    }
}
