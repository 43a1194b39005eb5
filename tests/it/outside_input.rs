//! Outside input of any size or shape is an answer, never a panic, a hang or a machine's memory:
//! a ci.toml error far along a line, reports nested deep or grown huge, a registry that pages
//! forever, and messages in ci.toml's words.

use crate::support::git::TestRepo;
use crate::support::shipit::shipit_run;

fn no_panic(r: &crate::support::shipit::Run) {
    assert_ne!(r.code, 101, "panicked: {}", r.transcript());
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_ci_toml_error_past_column_65535_is_rendered_by_every_command() {
    // One line of 70 KB: the error is at column 70,008, past what miette can pad to.
    let config = format!("x = \"{}\" y\n", "a".repeat(70_000));
    let repo = TestRepo::with_config(&config, &[]);
    for args in [
        &["validate"][..],
        &["validate", "--format", "json"],
        &["affected", "--all"],
        &["affected", "--all", "--format", "json"],
        &["plan", "--branch", "develop"],
        &["plan", "--branch", "develop", "--format", "json"],
        &["release", "--branch", "develop", "--dry-run"],
        &[
            "release",
            "--branch",
            "develop",
            "--dry-run",
            "--format",
            "json",
        ],
    ] {
        let r = shipit_run(&repo.dir, args);
        no_panic(&r);
        assert_eq!(r.code, 2, "{args:?}: {}", r.transcript());
        assert!(
            r.stderr.contains("[ci.toml:1:70008]"),
            "{args:?}: the place as written: {}",
            r.stderr
        );
        assert!(r.stderr.contains("…aaaa"), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.len() < 2_000,
            "{args:?}: a window of the line, not all of it: {} bytes",
            r.stderr.len()
        );
    }
    let r = shipit_run(&repo.dir, &["validate", "--format", "json"]);
    assert_eq!(r.json()["errors"][0]["column"], 70_008, "{}", r.stdout);
}

#[test]
fn a_ci_toml_problem_on_a_long_line_of_wide_characters_is_shown_cut() {
    // A resolve-time problem (a path that does not exist) whose value is a line of 80 KB of
    // two-byte characters, then a second problem past it on the same line.
    let value = "é".repeat(40_000);
    let config = format!(
        "services = {{ api = {{ path = \"{value}\" }}, web = {{ path = \"services/web\", depends_on = [\"nope\"] }} }}\n"
    );
    let repo = TestRepo::with_config(&config, &["services/web"]);
    let r = shipit_run(&repo.dir, &["validate"]);
    no_panic(&r);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("[ci.toml:1:29]"), "{}", r.stderr);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}
