//! What helps people write ci.toml and type shipit commands: the JSON Schema (checked in, equal to
//! the generated one, and accepting the reference and example ci.toml), shell completions and the
//! man page. None of them needs a git repository.

use std::path::Path;
use std::process::Command;

use crate::support::shipit::{Run, run, shipit};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// shipit in a directory that is not a git repository.
fn outside_repo(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = shipit(dir.path());
    cmd.args(args);
    run(cmd)
}

fn check_jsonschema(schema: &Path, instances: &[&Path]) -> std::process::Output {
    Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(schema)
        .args(instances)
        .output()
        .unwrap_or_else(|e| {
            panic!("check-jsonschema could not run ({e}): run the tests through scripts/test, which installs it")
        })
}

#[test]
fn the_checked_in_schema_is_the_generated_one() {
    let r = outside_repo(&["schema"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let checked_in = std::fs::read_to_string(Path::new(ROOT).join("ci.schema.json")).unwrap();
    assert!(
        r.stdout == checked_in,
        "ci.schema.json is out of date: regenerate it with `cargo run -- schema > ci.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown keys are errors"
    );
    // Every key has a description (its doc comment in the config types): editors show it.
    let mut tables = vec![("ci.toml", &schema)];
    for (name, def) in schema["definitions"].as_object().unwrap() {
        tables.push((name.as_str(), def));
    }
    let mut keys = 0;
    for (table, def) in tables {
        for (key, field) in def["properties"].as_object().unwrap() {
            let description = field["description"].as_str().unwrap_or("");
            assert!(!description.is_empty(), "{table}.{key} has no description");
            keys += 1;
        }
    }
    assert!(keys > 40, "{keys} keys");
    for key in [
        "path",
        "depends_on",
        "test",
        "test_report",
        "task_definition",
    ] {
        assert!(
            schema["definitions"]["RawService"]["properties"][key].is_object(),
            "{key}"
        );
    }
}

#[test]
fn the_reference_and_the_example_ci_toml_match_the_schema_and_point_at_it() {
    let root = Path::new(ROOT);
    let reference = root.join("ci.toml");
    let example = root.join("examples/monorepo/ci.toml");
    for (file, directive) in [
        (&reference, "#:schema ./ci.schema.json"),
        (&example, "#:schema ../../ci.schema.json"),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(text.lines().next(), Some(directive), "{}", file.display());
    }
    let out = check_jsonschema(&root.join("ci.schema.json"), &[&reference, &example]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_schema_rejects_what_shipit_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ci.toml");
    std::fs::write(
        &bad,
        "[project]\nretian = 3\n\n[services.api]\npath = 1\nimage = \"no\"\n",
    )
    .unwrap();
    let out = check_jsonschema(&Path::new(ROOT).join("ci.schema.json"), &[&bad]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("'retian' was unexpected"), "{text}");
    assert!(text.contains("$.services.api.path"), "{text}");
    assert!(text.contains("$.services.api.image"), "{text}");
    // A service without its required path.
    std::fs::write(&bad, "[services.api]\ntest = \"true\"\n").unwrap();
    let out = check_jsonschema(&Path::new(ROOT).join("ci.schema.json"), &[&bad]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("'path' is a required property"), "{text}");
}

#[test]
fn completions_for_every_shell_name_the_commands_and_their_flags() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = outside_repo(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.transcript());
        for word in [
            "release",
            "retain",
            "dry-run",
            "fail-fast",
            "validate",
            "completions",
        ] {
            assert!(r.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    // bash can load it, and completes a subcommand from its prefix.
    let script = outside_repo(&["completions", "bash"]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shipit.bash");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {} && COMP_WORDS=(shipit rel) COMP_CWORD=1 && _shipit shipit rel shipit && echo \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "release");
    // An unknown shell is bad input.
    assert_eq!(outside_repo(&["completions", "tcsh"]).code, 2);
}

#[test]
fn the_man_page_documents_every_command_and_renders() {
    let r = outside_repo(&["man"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(r.stdout.starts_with(".ie") || r.stdout.contains(".TH shipit 1"));
    for command in [
        "AFFECTED", "PLAN", "RELEASE", "RETAIN", "DEPLOY", "VALIDATE",
    ] {
        assert!(
            r.stdout.contains(&format!(".SH \"SHIPIT {command}\"")),
            "no section for {command}"
        );
    }
    assert!(
        r.stdout.contains("\\-\\-dry\\-run"),
        "release's flags are there"
    );
}

#[test]
fn every_help_text_describes_what_the_command_does_now() {
    let top = outside_repo(&["--help"]);
    assert_eq!(top.code, 0);
    // release runs every stage today: no "later".
    let release = outside_repo(&["release", "--help"]).stdout;
    assert!(!release.contains("later"), "{release}");
    assert!(
        release.starts_with(
            "Release a branch: test, build, push, prune and roll out every affected service"
        ),
        "{release}"
    );
    for flag in ["--format", "--report", "--junit", "--skip", "--dry-run"] {
        assert!(release.contains(flag), "release --help lacks {flag}");
    }
    for (command, flags) in [
        ("retain", &["--apply", "--format", "--report"][..]),
        (
            "deploy",
            &[
                "--force",
                "--continue",
                "--rollback",
                "--format",
                "--report",
            ][..],
        ),
        ("validate", &["--format"][..]),
        ("completions", &["bash", "powershell"][..]),
    ] {
        let help = outside_repo(&[command, "--help"]);
        assert_eq!(help.code, 0, "{command}: {}", help.transcript());
        for flag in flags {
            assert!(help.stdout.contains(flag), "{command} --help lacks {flag}");
        }
        assert!(!help.stdout.contains("later"), "{command}: {}", help.stdout);
    }
    // validate has no --report: its JSON help does not send people to one.
    let validate = outside_repo(&["validate", "--help"]).stdout;
    assert!(!validate.contains("--report"), "{validate}");
    for command in [
        "affected",
        "plan",
        "release",
        "retain",
        "deploy",
        "validate",
        "schema",
        "completions",
        "man",
    ] {
        assert!(
            top.stdout.contains(&format!("  {command} ")),
            "shipit --help lacks {command}"
        );
    }
}
