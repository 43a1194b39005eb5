use super::*;
use crate::config::Checks;
use std::path::Path;

const CONFIG: &str = r#"
[global]
ignore = ["**/*.md"]

[services.checkout]
path = "src/checkout"
context = "../.."

[services.cart]
path = "src/cart"

[services.web]
path = "src/web"
[services.web.environments.prod]
dockerfile = "Dockerfile.prod"

[services.docs]
path = "docs"
image = false
"#;

fn config() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    for p in ["src/checkout", "src/cart", "src/web", "docs"] {
        std::fs::create_dir_all(dir.path().join(p)).unwrap();
    }
    let c = Config::parse(
        CONFIG,
        "ci.toml",
        Path::new("ci.toml"),
        dir.path(),
        Checks::Load,
    )
    .unwrap();
    (dir, c)
}

fn inputs(config: &Config, files: &[(&str, &str)]) -> BuildInputs {
    let all: Vec<usize> = (0..config.services.len()).collect();
    BuildInputs::new(config, &all, |names| {
        Ok::<_, ()>(
            names
                .iter()
                .map(|n| {
                    files
                        .iter()
                        .find(|(p, _)| p == n)
                        .map(|(_, c)| c.as_bytes().to_vec())
                })
                .collect(),
        )
    })
    .unwrap()
}

fn readers(config: &Config, inputs: &BuildInputs, path: &str) -> Vec<(String, Option<u32>)> {
    let mut out = Vec::new();
    inputs.for_each(path, &mut glob::Scratch::default(), |r| {
        out.push((config.services[r.service].name.clone(), r.line));
    });
    out.sort();
    out
}

#[test]
fn a_root_context_reads_the_shared_folder_and_the_dockerignore_applies() {
    let (_d, config) = config();
    let inputs = inputs(
        &config,
        &[
            (
                "src/checkout/Dockerfile",
                "FROM golang AS build\nCOPY pb/ ./pb\nCOPY src/checkout/ ./\nFROM scratch\nCOPY --from=build /app /app\nCOPY ATTRIBUTION.md /",
            ),
            (".dockerignore", "pb/**/*.txt\n"),
            ("src/cart/Dockerfile", "FROM scratch\nCOPY . ."),
            ("src/web/Dockerfile", "FROM scratch\nCOPY app /app"),
            (
                "src/web/Dockerfile.prod",
                "FROM scratch\nCOPY app /app\nCOPY prod.conf /",
            ),
        ],
    );
    let checkout = |l| vec![("checkout".to_string(), Some(l))];
    assert_eq!(readers(&config, &inputs, "pb/demo.proto"), checkout(2));
    assert_eq!(readers(&config, &inputs, "pb/sub/x.proto"), checkout(2));
    assert_eq!(readers(&config, &inputs, "ATTRIBUTION.md"), checkout(6));
    assert!(
        readers(&config, &inputs, "pb/notes.txt").is_empty(),
        "dockerignored"
    );
    assert!(readers(&config, &inputs, "src/frontend/x.go").is_empty());
    assert_eq!(
        readers(&config, &inputs, ".dockerignore"),
        vec![("checkout".to_string(), None)]
    );
    assert_eq!(
        readers(&config, &inputs, "src/cart/any/file.md"),
        vec![("cart".to_string(), Some(2))]
    );
    assert_eq!(
        readers(&config, &inputs, "src/web/prod.conf"),
        vec![("web".to_string(), Some(3))],
        "the prod Dockerfile's source"
    );
    assert_eq!(
        readers(&config, &inputs, "src/web/Dockerfile.prod"),
        vec![("web".to_string(), None)]
    );
    assert!(
        readers(&config, &inputs, "docs/x").is_empty(),
        "a library builds nothing"
    );
}

#[test]
fn an_unknown_variable_reads_the_whole_context_with_a_warning() {
    let (_d, config) = config();
    let inputs = inputs(
        &config,
        &[("src/cart/Dockerfile", "FROM scratch\nARG SRC\nCOPY $SRC /x")],
    );
    assert_eq!(
        readers(&config, &inputs, "src/cart/deep/x"),
        vec![("cart".to_string(), Some(3))]
    );
    assert!(readers(&config, &inputs, "src/web/x").is_empty());
    assert_eq!(inputs.warnings.len(), 1, "{:?}", inputs.warnings);
    assert!(inputs.warnings[0].starts_with("src/cart/Dockerfile line 3:"));
}

#[test]
fn only_services_whose_context_holds_a_change_are_touched() {
    let (_d, config) = config();
    let names = |changed: &[&str]| -> Vec<String> {
        touched(&config, changed)
            .into_iter()
            .map(|i| config.services[i].name.clone())
            .collect()
    };
    // checkout's context is the root: every change touches it.
    assert_eq!(names(&["src/cart/a"]), vec!["cart", "checkout"]);
    assert_eq!(names(&["src/cartridge/a"]), vec!["checkout"]);
    assert_eq!(names(&["src/web/Dockerfile.prod"]), vec!["checkout", "web"]);
    assert!(names(&[]).is_empty());
}

#[test]
fn globs_keep_their_context_literal() {
    assert_eq!(source_glob("a[1]", Some("*.go")), "/a\\[1\\]/*.go");
    assert_eq!(source_glob(".", Some("{x}")), "/\\{x\\}");
    assert_eq!(source_glob(".", None), "**");
    assert_eq!(source_glob("svc", None), "/svc");
}
