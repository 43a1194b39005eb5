//! The project's GitHub workflows (and, later, its action) pass the offline linters users run.

use std::path::Path;
use std::process::Command;

fn workflows() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yml") || p.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflows in {}", dir.display());
    files
}

fn run(program: &str, args: &[String]) {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program} could not run ({e}): run the tests through scripts/test, which installs it")
    });
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn workflows_match_the_github_schema() {
    let mut args = vec![
        "--builtin-schema".to_string(),
        "vendor.github-workflows".to_string(),
    ];
    args.extend(workflows());
    run("check-jsonschema", &args);
}

#[test]
fn workflows_have_no_zizmor_findings() {
    let mut args = vec!["--offline".to_string()];
    args.extend(workflows());
    run("zizmor", &args);
}
