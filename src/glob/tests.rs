use super::*;
use test_case::test_case;

fn matches(pattern: &str, path: &str) -> bool {
    let m = Matcher::new([(pattern.to_string(), ())]).unwrap();
    let mut hit = false;
    m.for_each_match(path, &mut Scratch::default(), |_| hit = true);
    hit
}

/// The matcher as it was before matching by folder: every glob in one set. The reference the
/// folder-first matcher must agree with.
fn reference<T: Clone>(patterns: &[(String, T)], path: &str) -> Vec<T> {
    let mut builder = GlobSetBuilder::new();
    let mut owner = Vec::new();
    for (i, (pattern, _)) in patterns.iter().enumerate() {
        for glob in expand(pattern) {
            builder.add(compile(&glob).unwrap());
            owner.push(i);
        }
    }
    let mut hits: Vec<usize> = builder
        .build()
        .unwrap()
        .matches(path)
        .into_iter()
        .map(|g| owner[g])
        .collect();
    hits.dedup();
    hits.into_iter().map(|i| patterns[i].1.clone()).collect()
}

fn all_matches<T: Clone>(patterns: &[(String, T)], path: &str) -> Vec<T> {
    let m = Matcher::new(patterns.to_vec()).unwrap();
    let mut seen = Vec::new();
    m.for_each_match(path, &mut Scratch::default(), |t| seen.push(t.clone()));
    seen
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
#[test_case("docs", "docs/intro.txt", true; "bare directory name at the root")]
#[test_case("**/docs", "docs", true; "leading double star matches no folder")]
#[test_case("*.md", "notes.md/a.txt", true; "everything under a folder named like the pattern")]
#[test_case("*.md", "notes.mdx/a.txt", false; "the folder's whole name must match")]
#[test_case("*/docs/**", "docs/a", false; "a floating star needs a folder")]
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
    m.for_each_match("a/b.rs", &mut Scratch::default(), |t| seen.push(*t));
    seen.sort();
    assert_eq!(seen, vec![1, 2, 3]);
}

// Edge cases of matching by folder first: where a pattern is filed, and that each place
// answers as the whole-set matcher did.
#[test_case("/services/a\\[1\\]", "services/a[1]/x", true; "escaped glob characters in a folder are literal")]
#[test_case("/services/a\\[1\\]", "services/a1/x", false; "an escaped class is not a class")]
#[test_case("services/x/src/*/*.txt", "services/x/src/gen/a.txt", true; "wildcard tail under a literal folder")]
#[test_case("services/x/src/*/*.txt", "services/x/src/a.txt", false; "tail needs its folder depth")]
#[test_case("services/x/src/*/*.txt", "services/x/src/gen/a.txt/b", true; "a match names everything under it")]
#[test_case("services/x/src/*/*.txt", "services/x/src/gen/deep/a.txt", false; "a tail star stays in its folder")]
#[test_case("services/x/src/*/*.txt", "services/x/src", false; "the folder itself is not the tail")]
#[test_case("services/x/src/*/*.txt", "services/y/src/gen/a.txt", false; "another folder")]
#[test_case("services/x/**/*.txt", "services/x/a.txt", true; "double star tail may be empty")]
#[test_case("services/x/**/*.txt", "services/x/a/b/c.txt", true; "double star tail crosses folders")]
#[test_case("proto/*/visits.proto", "proto/v1/visits.proto", true; "literal end after a wildcard")]
#[test_case("proto/*/visits.proto", "proto/v1/billing.proto", false; "literal end differs")]
#[test_case("proto/*/visits.proto", "proto/v1/visits.proto/x", true; "literal end of a folder")]
#[test_case("services/x/{a,b}/**", "services/x/b/c", true; "alternation after a folder")]
#[test_case("services/x/[ab]c", "services/x/bc", true; "class after a folder")]
#[test_case("*/docs/**", "services/docs/a", true; "wildcard first component floats")]
#[test_case("*/docs/**", "services/x/docs/a", false; "a floating star still stays in its folder")]
#[test_case("**/gen/*.rs", "a/b/gen/x.rs", true; "explicit double star prefix")]
#[test_case("services/x", "services/x/", true; "trailing slash on the path")]
#[test_case("./a", "a/b", false; "dot component is literal")]
#[test_case("a\\*b", "a*b", true; "escaped star is literal")]
#[test_case("a\\*b", "axb", false; "escaped star is not a wildcard")]
#[test_case("ünï/*.txt", "ünï/x.txt", true; "non-ASCII folder")]
#[test_case("a/?/b", "a/ü/b", false; "question mark is one byte, as in globset")]
#[test_case("a/??/b", "a/ü/b", true; "two question marks take a two-byte character")]
#[test_case("a/*/**", "a/b", false; "a trailing double star needs a component")]
#[test_case("a/*/**", "a/b/c", true; "a trailing double star takes one")]
#[test_case("a/**/**/b", "a/b", true; "double stars in a row")]
#[test_case("a/x**y", "a/xzzy", true; "double star inside a component is a star")]
#[test_case("a/x**y", "a/x/y", false; "double star inside a component stays in it")]
#[test_case("**/**", "a", true; "double star twice, unanchored")]
#[test_case("a/**/**", "a/b", true; "double star twice at the end")]
#[test_case("a/**/**", "a", false; "double star twice at the end needs a component")]
#[test_case("a/*b*c*", "a/xbyczc", true; "stars backtrack")]
#[test_case("a/*b*c", "a/xbycz", false; "stars backtrack and fail")]
fn folder_first_edge_cases(pattern: &str, path: &str, expected: bool) {
    let patterns = [(pattern.to_string(), ())];
    assert_eq!(
        reference(&patterns, path).len(),
        usize::from(expected),
        "reference: {pattern:?} against {path:?}"
    );
    assert_eq!(
        matches(pattern, path),
        expected,
        "{pattern:?} against {path:?}"
    );
}

#[test]
fn one_glob_shared_by_several_tags_reports_each_in_order() {
    let patterns: Vec<(String, u8)> = vec![
        ("services/x/*/*.txt".into(), 0),
        ("*.md".into(), 1),
        ("services/x/*/*.txt".into(), 2),
        ("/services/x".into(), 3),
        ("*.md".into(), 4),
        ("**".into(), 5),
        ("services/x/a/b.txt".into(), 6),
    ];
    assert_eq!(
        all_matches(&patterns, "services/x/a/b.txt"),
        [0, 2, 3, 5, 6]
    );
    assert_eq!(all_matches(&patterns, "services/x/a/b.md"), [1, 3, 4, 5]);
    assert_eq!(all_matches(&patterns, "other/c.md"), [1, 4, 5]);
}

#[test]
fn the_same_glob_twice_is_one_tail_with_both_patterns() {
    let patterns = [("a/*/x.txt", 1), ("a/*/x.txt", 2), ("*.md", 3), ("*.md", 4)];
    let m = Matcher::new(patterns.map(|(p, t)| (p.to_string(), t))).unwrap();
    let mut seen = Vec::new();
    m.for_each_match("a/b/x.txt", &mut Scratch::default(), |t| seen.push(*t));
    m.for_each_match("c/d.md", &mut Scratch::default(), |t| seen.push(*t));
    assert_eq!(seen, [1, 2, 3, 4]);
    // Each pattern is two globs: the thing itself and everything under it.
    assert_eq!(m.tails.len(), 4);
}

#[test]
fn a_tail_is_compiled_only_when_a_path_reaches_its_folder() {
    // A class needs globset; `*` and `?` alone never compile anything.
    let patterns = (0..100).flat_map(|i| {
        [
            (format!("services/s{i}/src/[ab]*/*.txt"), i),
            (format!("services/s{i}/src/*/*.rs"), i),
        ]
    });
    let m = Matcher::new(patterns).unwrap();
    let mut scratch = Scratch::default();
    m.for_each_match("services/s7/src/gen/a.txt", &mut scratch, |_| {});
    m.for_each_match("services/s8/README", &mut scratch, |_| {});
    let mut simple = 0;
    let mut compiled = Vec::new();
    for tail in &m.tails {
        match &tail.how {
            TailMatch::Simple(_) => simple += 1,
            TailMatch::Glob { glob, compiled: c } => {
                if c.get().is_some() {
                    compiled.push(glob.as_str());
                }
            }
        }
    }
    assert_eq!(simple, 200);
    // Of the pattern's two globs, the thing itself and everything under it, only the first
    // could match: no path holds `.txt/`.
    assert_eq!(compiled, ["services/s7/src/[ab]*/*.txt"]);
    m.for_each_match("services/s7/src/a.txt/x", &mut scratch, |_| {});
    let compiled = m.tails.iter().filter(|tail| match &tail.how {
        TailMatch::Glob { compiled, .. } => compiled.get().is_some(),
        TailMatch::Simple(_) => false,
    });
    assert_eq!(compiled.count(), 2);
}

mod agrees_with_globset {
    use super::*;
    use proptest::prelude::*;

    /// Pieces of components, each with a text it matches, chosen so that random patterns and
    /// paths often meet.
    fn piece() -> impl Strategy<Value = (&'static str, &'static str)> {
        prop_oneof![
            Just(("a", "a")),
            Just(("b", "b")),
            Just(("src", "src")),
            Just(("x.txt", "x.txt")),
            Just(("y.md", "y.md")),
            Just(("*", "ab")),
            Just(("?", "c")),
            Just(("*.txt", "x.txt")),
            Just(("a*", "ab")),
            Just(("[ab]", "b")),
            Just(("[!a]", "c")),
            Just(("{a,src}", "src")),
            Just(("\\*", "*")),
            Just(("\\a", "a")),
            Just(("**", "a/b")),
            Just(("**", "")),
        ]
    }

    /// A pattern, and a path made to match it (which it may still not, where `**` met `/`).
    fn pattern() -> impl Strategy<Value = (String, String)> {
        (
            prop_oneof![Just(("", "")), Just(("/", "")), Just(("**/", "c/"))],
            prop::collection::vec(piece(), 1..5),
            prop_oneof![Just(("", "")), Just(("/", "")), Just(("/**", "/y.md"))],
            prop_oneof![Just(""), Just("/x.txt")],
        )
            .prop_map(|(lead, parts, tail, deeper)| {
                let text: Vec<&str> = parts.iter().map(|p| p.0).collect();
                let path: Vec<&str> = parts
                    .iter()
                    .map(|p| p.1)
                    .filter(|p| !p.is_empty())
                    .collect();
                let pattern = format!("{}{}{}", lead.0, text.join("/"), tail.0);
                let path = format!("{}{}{}{deeper}", lead.1, path.join("/"), tail.1);
                (pattern, path)
            })
            .prop_filter("a valid pattern", |(p, _)| check(p).is_ok())
    }

    fn path() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("a"),
            Just("b"),
            Just("src"),
            Just("x.txt"),
            Just("y.md"),
            Just("ab"),
            Just("*"),
            Just("a*"),
            Just("c"),
        ];
        prop::collection::vec(name, 1..6).prop_map(|parts| parts.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn on_random_patterns_and_paths(
            patterns in prop::collection::vec(pattern(), 1..6),
            random in prop::collection::vec(path(), 1..8),
        ) {
            let tagged: Vec<(String, usize)> =
                patterns.iter().enumerate().map(|(i, p)| (p.0.clone(), i)).collect();
            let made = patterns.iter().map(|p| p.1.clone());
            let m = Matcher::new(tagged.clone()).unwrap();
            let mut scratch = Scratch::default();
            for path in random.into_iter().chain(made) {
                let mut seen = Vec::new();
                m.for_each_match(&path, &mut scratch, |t| seen.push(*t));
                prop_assert_eq!(&seen, &reference(&tagged, &path), "path {:?} patterns {:?}", path, tagged);
            }
        }
    }
}

/// The quick check lets through only what globset would build: every expansion of a plain
/// pattern compiles.
#[test_case("services/x/**"; "folder")]
#[test_case("/Cargo.lock"; "anchored file")]
#[test_case("**/*.md"; "floating")]
#[test_case("services/x/src/*/*.txt"; "wildcard tail")]
#[test_case("a/**/b/**"; "two recursive")]
#[test_case("docs/"; "trailing slash")]
#[test_case("a?c/*"; "any")]
fn plain_patterns_compile(pattern: &str) {
    assert!(plain(pattern));
    for glob in expand(pattern) {
        compile(&glob).unwrap();
        assert!(Simple::parse(&glob).is_some(), "{glob}");
    }
}

#[test_case("a/**/**/b"; "recursive twice in a row")]
#[test_case("a**"; "recursive inside a component")]
#[test_case("[ab]/x"; "class")]
#[test_case("{a,b}"; "alternatives")]
#[test_case("a\\*"; "escape")]
fn other_patterns_take_the_full_check(pattern: &str) {
    assert!(!plain(pattern));
}

#[test_case("services/[a"; "unclosed class")]
#[test_case("  "; "blank")]
fn bad_patterns_are_rejected(pattern: &str) {
    assert!(check(pattern).is_err());
}
