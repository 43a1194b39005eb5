//! The action and every workflow (the project's own and the examples users copy) pass the offline
//! linters users run.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every workflow file of a folder under the repository root.
fn workflows(folder: &str) -> Vec<String> {
    let dir = Path::new(ROOT).join(folder);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yml") || p.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflows in {}", dir.display());
    files
}

fn all_workflows() -> Vec<String> {
    let mut files = workflows(".github/workflows");
    files.extend(workflows("examples/workflows"));
    files
}

fn action() -> String {
    Path::new(ROOT).join("action.yml").display().to_string()
}

fn lint(program: &str, args: &[String]) {
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
    args.extend(all_workflows());
    lint("check-jsonschema", &args);
}

#[test]
fn the_action_matches_the_github_schema() {
    lint(
        "check-jsonschema",
        &[
            "--builtin-schema".into(),
            "vendor.github-actions".into(),
            action(),
        ],
    );
}

#[test]
fn the_action_and_the_workflows_have_no_zizmor_findings() {
    let mut args = vec!["--offline".to_string(), action()];
    args.extend(all_workflows());
    lint("zizmor", &args);
}
