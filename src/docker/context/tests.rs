use super::*;
use test_case::test_case;

#[test_case("*.log", "a.log", true; "star at the root")]
#[test_case("*.log", "dir/a.log", false; "star stays at its level")]
#[test_case("**/*.log", "dir/sub/a.log", true; "double star")]
#[test_case("node_modules", "node_modules/x/y.js", true; "a directory excludes its contents")]
#[test_case("/build", "build/out", true; "leading slash is dropped")]
#[test_case("./build", "build/out", true; "leading dot slash is dropped")]
#[test_case("docs/*.md", "docs/a.md", true; "segment star")]
#[test_case("docs/*.md", "docs/sub/a.md", false; "segment star does not cross")]
#[test_case("?.txt", "a.txt", true; "question mark")]
#[test_case("# a comment", "# a comment", false; "comments are not patterns")]
fn single_patterns(pattern: &str, path: &str, excluded: bool) {
    assert_eq!(
        DockerIgnore::parse(pattern).unwrap().excludes(path),
        excluded,
        "{pattern} / {path}"
    );
}

/// A plain pattern is compared as text; it must say what the glob it stands for says.
#[test]
fn plain_patterns_match_as_their_globs_do() {
    let paths = [
        "docs",
        "docs/a.md",
        "docs2",
        "docs2/a",
        "doc",
        "a/docs",
        "src/gen",
        "src/gen/x.rs",
        "src/generated",
        "src",
        "README.md",
        "README.mdx",
        "x/README.md",
        "",
    ];
    for pattern in ["docs", "src/gen", "README.md", "a b", "dir.d/x"] {
        let plain = DockerIgnore::parse(pattern).unwrap();
        assert!(
            matches!(plain.rules[0].pattern, Pattern::Plain(_)),
            "{pattern}"
        );
        let glob = Pattern::Glob {
            matcher: compile(pattern).unwrap(),
            under: compile(&format!("{pattern}/**")).unwrap(),
        };
        for path in paths {
            assert_eq!(
                plain.excludes(path),
                glob.is_match(path),
                "{pattern} / {path}"
            );
        }
    }
    let wild = DockerIgnore::parse("src/{a,b}").unwrap();
    assert!(matches!(wild.rules[0].pattern, Pattern::Glob { .. }));
}

#[test]
fn the_last_matching_pattern_wins() {
    let ignore = DockerIgnore::parse("*.md\n!README.md\nREADME.md\n!docs/README.md").unwrap();
    assert!(ignore.excludes("CHANGES.md"));
    assert!(ignore.excludes("README.md"));
    let ignore = DockerIgnore::parse("*.md\n!README.md").unwrap();
    assert!(!ignore.excludes("README.md"));
}

#[test]
fn exceptions_inside_an_excluded_directory() {
    let ignore = DockerIgnore::parse("assets\n!assets/keep.txt").unwrap();
    assert!(ignore.excludes("assets/drop.txt"));
    assert!(!ignore.excludes("assets/keep.txt"));
}

#[test]
fn a_bad_pattern_names_its_line() {
    let err = DockerIgnore::parse("ok\n[bad").unwrap_err();
    assert_eq!((err.line, err.text.as_str()), (2, "[bad"));
    assert!(err.to_string().starts_with("line 2"), "{err}");
}

fn names(ctx: &Context) -> Vec<String> {
    let mut archive = tar::Archive::new(&ctx.tar[..]);
    let mut out: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn packing_honours_dockerignore_and_keeps_the_dockerfile() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (p, c) in [
        ("Dockerfile", "FROM scratch"),
        (
            ".dockerignore",
            "# ignore these\nDockerfile\n*.log\nassets\n!assets/keep.txt\n",
        ),
        ("app.bin", "x"),
        ("debug.log", "x"),
        ("assets/keep.txt", "x"),
        ("assets/drop.txt", "x"),
    ] {
        std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
        std::fs::write(root.join(p), c).unwrap();
    }
    let ctx = pack(root, &root.join("Dockerfile")).unwrap();
    assert_eq!(ctx.dockerfile, "Dockerfile");
    assert_eq!(
        names(&ctx),
        vec![".dockerignore", "Dockerfile", "app.bin", "assets/keep.txt"]
    );
}

#[test]
fn a_committed_tree_packs_with_dockerignore_and_fixed_times() {
    use crate::git::CommittedFile;
    let f = |path: &str, mode: u32, data: &str| CommittedFile {
        path: path.into(),
        mode,
        data: data.as_bytes().to_vec(),
    };
    let files = vec![
        f(".dockerignore", 0o100644, "*.log\n"),
        f("Dockerfile", 0o100644, "FROM scratch"),
        f("bin", 0o040000, ""),
        f("bin/run", 0o100755, "#!/bin/sh"),
        f("debug.log", 0o100644, "x"),
        f("link", 0o120000, "bin/run"),
    ];
    let inside = CommittedDockerfile::Inside("Dockerfile".into());
    let ctx = pack_committed(&files, &inside, 1_700_000_000).unwrap();
    assert_eq!(
        names(&ctx),
        vec![".dockerignore", "Dockerfile", "bin", "bin/run", "link"]
    );
    let mut archive = tar::Archive::new(&ctx.tar[..]);
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
        if e.path().unwrap().to_string_lossy() == "bin/run" {
            assert_eq!(e.header().mode().unwrap(), 0o755);
        }
        if e.path().unwrap().to_string_lossy() == "link" {
            assert_eq!(e.link_name().unwrap().unwrap().to_string_lossy(), "bin/run");
        }
    }
    let again = pack_committed(&files, &inside, 1_700_000_000).unwrap();
    assert_eq!(
        ctx.tar, again.tar,
        "the same commit packs to the same bytes"
    );
    let outside = CommittedDockerfile::Outside(b"FROM scratch".to_vec());
    let ctx = pack_committed(&files[2..4], &outside, 0).unwrap();
    assert_eq!(ctx.dockerfile, OUTSIDE_DOCKERFILE);
}

#[test]
fn git_lfs_files_take_the_checked_out_content_only_when_it_is_the_committed_one() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let content = b"big binary".to_vec();
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
        hex::encode(Sha256::digest(&content)),
        content.len()
    );
    let path = dir.path().join("asset.bin");
    assert!(
        lfs_content(&pointer.clone().into_bytes(), &path).is_err(),
        "not checked out"
    );
    std::fs::write(&path, &content).unwrap();
    assert_eq!(
        lfs_content(pointer.as_bytes(), &path).unwrap(),
        Some(content.clone())
    );
    std::fs::write(&path, b"edited binary").unwrap();
    assert!(
        lfs_content(pointer.as_bytes(), &path).is_err(),
        "an edit is not the commit"
    );
    assert_eq!(lfs_content(b"plain file", &path).unwrap(), None);
}

#[test]
fn a_dockerfile_outside_the_context_is_added() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
    std::fs::write(dir.path().join("ctx/a"), "a").unwrap();
    std::fs::write(dir.path().join("Dockerfile.prod"), "FROM scratch").unwrap();
    let ctx = pack(&dir.path().join("ctx"), &dir.path().join("Dockerfile.prod")).unwrap();
    assert_eq!(ctx.dockerfile, OUTSIDE_DOCKERFILE);
    assert_eq!(
        names(&ctx),
        vec![OUTSIDE_DOCKERFILE.to_string(), "a".to_string()]
    );
}
