//! What a user sees: every output format of `shipit affected`, and every error message about bad
//! input, as snapshots of exit code, stdout and stderr.

use insta::assert_snapshot;

use crate::support::git::TestRepo;
use crate::support::shipit::{Run, redact, shipit_run};

const CONFIG: &str = r#"[global]
triggers = ["/ci.toml"]
ignore = ["*.md"]

[services.visits]
path = "services/visits"
include = ["proto/visits/**"]
depends_on = ["common"]

[services.billing]
path = "services/billing"
depends_on = ["common"]

[services.web]
path = "services/web"

[services.common]
path = "libs/common"
image = false
"#;

const DIRS: &[&str] = &[
    "services/visits",
    "services/billing",
    "services/web",
    "libs/common",
    "proto/visits",
];

/// The example history: a fix in the shared library, a feature in visits, a docs-only change.
fn history() -> (TestRepo, String) {
    let repo = TestRepo::with_config(CONFIG, DIRS);
    let base = repo.head();
    repo.change(
        "libs/common/money.rs",
        "pub fn cents() {}",
        "fix(common): round cents",
    );
    repo.change(
        "proto/visits/v1.proto",
        "syntax = \"proto3\";",
        "feat(visits): v1 proto",
    );
    repo.change("services/web/README.md", "docs", "docs(web): readme");
    (repo, base)
}

fn transcript(repo: &TestRepo, run: &Run) -> String {
    redact(&run.transcript(), &[repo.dir.parent().unwrap()])
}

fn affected(args: &[&str]) -> String {
    let (repo, base) = history();
    let mut all = vec!["affected", "--base", &base];
    all.extend_from_slice(args);
    transcript(&repo, &shipit_run(&repo.dir, &all))
}

#[test]
fn format_text() {
    assert_snapshot!(affected(&[]));
}

#[test]
fn format_text_explain() {
    assert_snapshot!(affected(&["--explain"]));
}

#[test]
fn format_json() {
    assert_snapshot!(affected(&["--format", "json"]));
}

#[test]
fn format_matrix() {
    assert_snapshot!(affected(&["--format", "matrix"]));
}

#[test]
fn format_names() {
    assert_snapshot!(affected(&["--format", "names"]));
}

#[test]
fn nothing_affected_by_a_docs_only_change() {
    let (repo, _) = history();
    assert_snapshot!(transcript(
        &repo,
        &shipit_run(&repo.dir, &["affected", "--base", "HEAD~1"])
    ));
}

/// A file whose content changed is one changed file: the diff listed it once per side.
#[test]
fn a_modified_file_is_one_changed_file() {
    let repo = TestRepo::with_config(CONFIG, DIRS);
    repo.change("tools/lint.sh", "echo 1", "tools: lint");
    let base = repo.head();
    repo.change("tools/lint.sh", "echo 2", "tools: lint more");
    let run = shipit_run(&repo.dir, &["affected", "--base", &base]);
    assert!(
        run.stdout
            .starts_with("No services affected: 1 changed file but none under a service\n"),
        "{}",
        run.transcript()
    );
}

#[test]
fn more_than_ten_files_are_summarised_in_explain() {
    let repo = TestRepo::with_config(CONFIG, DIRS);
    let base = repo.head();
    for i in 0..13 {
        repo.write(&format!("services/web/src/{i:02}.js"), "x");
    }
    repo.commit("many files");
    assert_snapshot!(transcript(
        &repo,
        &shipit_run(&repo.dir, &["affected", "--base", &base, "--explain"])
    ));
}

// --- bad input: one clear message, exit 2 ---------------------------------------------------------

/// `shipit ARGS` in a repository whose ci.toml is `toml`, with the usual directories.
/// Every service has its Dockerfile, so that each test shows only the problem it is about.
fn with_config(toml: &str, args: &[&str]) -> String {
    let repo = TestRepo::with_config(toml, DIRS);
    for d in ["services/visits", "services/billing", "services/web"] {
        repo.write(&format!("{d}/Dockerfile"), "FROM scratch\n");
    }
    repo.commit("dockerfiles");
    transcript(&repo, &shipit_run(&repo.dir, args))
}

#[test]
fn error_unknown_key() {
    let toml = CONFIG.replace(
        "depends_on = [\"common\"]\n\n[services.web]",
        "depends_on = [\"common\"]\n\n[services.web]\ndockerfil = \"Dockerfile\"",
    );
    assert_snapshot!(with_config(&toml, &["affected"]));
}

#[test]
fn error_toml_syntax() {
    assert_snapshot!(with_config(
        "[services.web\npath = \"services/web\"\n",
        &["affected"]
    ));
}

#[test]
fn error_bad_glob() {
    let toml = CONFIG.replace("proto/visits/**", "proto/[visits");
    assert_snapshot!(with_config(&toml, &["affected"]));
}

#[test]
fn error_unknown_dependency_with_a_suggestion() {
    let toml = CONFIG.replace(
        "[services.billing]\npath = \"services/billing\"\ndepends_on = [\"common\"]",
        "[services.billing]\npath = \"services/billing\"\ndepends_on = [\"comon\"]",
    );
    assert_snapshot!(with_config(&toml, &["affected"]));
}

#[test]
fn error_dependency_cycle() {
    let toml = CONFIG.replace(
        "path = \"libs/common\"\n",
        "path = \"libs/common\"\ndepends_on = [\"visits\"]\n",
    );
    assert_snapshot!(with_config(&toml, &["validate"]));
}

#[test]
fn error_two_environments_on_one_branch() {
    let toml = format!(
        "{CONFIG}\n[environments.prod]\nbranch = \"main\"\nlatest = true\n\n[environments.stage]\nbranch = \"main\"\n"
    );
    assert_snapshot!(with_config(&toml, &["validate"]));
}

#[test]
fn error_path_that_does_not_exist() {
    let toml = CONFIG.replace("services/web\"", "services/wbe\"");
    assert_snapshot!(with_config(&toml, &["affected"]));
}

#[test]
fn error_several_problems_are_reported_together() {
    let toml = format!(
        "[project]\nregistry = \"docker.io\"\nretain = 0\n\n[environments.prod]\nbranch = \"main\"\nrollout_timeout = \"soon\"\n\n{}",
        CONFIG.replace("services/web\"", "services/wbe\"")
    );
    assert_snapshot!(with_config(&toml, &["validate"]));
}

#[test]
fn error_unknown_environment_in_a_service_override() {
    let toml = format!(
        "{CONFIG}\n[services.web.environments.production]\ndockerfile = \"Dockerfile.prod\"\n"
    );
    assert_snapshot!(with_config(&toml, &["validate"]));
}

#[test]
fn error_missing_ci_toml() {
    let repo = TestRepo::new();
    repo.change("a.txt", "a", "init");
    assert_snapshot!(transcript(&repo, &shipit_run(&repo.dir, &["affected"])));
}

#[test]
fn error_not_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let run = shipit_run(dir.path(), &["affected"]);
    assert_snapshot!(redact(&run.transcript(), &[dir.path()]));
}

#[test]
fn error_unknown_revision() {
    assert_snapshot!(with_config(
        CONFIG,
        &["affected", "--base", "no-such-branch"]
    ));
}

#[test]
fn error_unknown_format() {
    assert_snapshot!(with_config(CONFIG, &["affected", "--format", "yaml"]));
}

#[test]
fn error_unreadable_event_payload() {
    let repo = TestRepo::with_config(CONFIG, DIRS);
    let mut cmd = crate::support::shipit::shipit(&repo.dir);
    cmd.args(["affected"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", repo.dir.join("missing-event.json"));
    let run = crate::support::shipit::run(cmd);
    assert_snapshot!(transcript(&repo, &run));
}

// --- validate ------------------------------------------------------------------------------------

#[test]
fn validate_passes_and_summarises() {
    let repo = TestRepo::with_config(CONFIG, DIRS);
    for d in ["services/visits", "services/billing", "services/web"] {
        repo.write(&format!("{d}/Dockerfile"), "FROM scratch\n");
    }
    repo.commit("dockerfiles");
    assert_snapshot!(transcript(&repo, &shipit_run(&repo.dir, &["validate"])));
}

#[test]
fn validate_names_a_missing_dockerfile() {
    let repo = TestRepo::with_config(CONFIG, DIRS);
    repo.write("services/visits/Dockerfile", "FROM scratch\n");
    repo.write("services/web/Dockerfile", "FROM scratch\n");
    repo.commit("dockerfiles");
    assert_snapshot!(transcript(&repo, &shipit_run(&repo.dir, &["validate"])));
}

#[test]
fn validate_refuses_a_service_whose_repository_name_a_registry_would_refuse() {
    for (name, rule) in [
        ("a..b", "`..` in `a..b` is not a separator"),
        ("a-.b", "`-.` in `a-.b` is not a separator"),
        ("a___b", "`___` in `a___b` is not a separator"),
        ("cart-", "`cart-` ends with a separator"),
    ] {
        let toml = format!(
            "[project]\nregistry = \"oci://registry.example.com/team\"\n\n[services.api]\npath = \"services/api\"\n\n[services.\"{name}\"]\npath = \"services/cart\"\ntest = \"touch ../../tested\"\n"
        );
        let repo = TestRepo::with_config(&toml, &["services/api", "services/cart"]);
        for args in [
            &["validate"][..],
            &["release", "--branch", "feature/x", "--all"][..],
        ] {
            let r = shipit_run(&repo.dir, args);
            assert_eq!(r.code, 2, "{name} {args:?}: {}", r.transcript());
            assert!(r.stderr.contains("[ci.toml:7:11]"), "{name}: {}", r.stderr);
            let flat = r
                .stderr
                .replace('│', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                flat.contains(&format!(
                    "service `{name}` would push to the image repository `team/{name}`, which is not a valid repository name: {rule}"
                )),
                "{name}: {}",
                r.stderr
            );
            assert!(!repo.dir.join("tested").exists(), "no test ran");
        }
    }
}

#[test]
fn the_reference_ci_toml_at_the_root_is_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = shipit_run(root, &["validate"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let example = root.join("examples/monorepo");
    let run = shipit_run(
        root,
        &[
            "validate",
            "--config",
            example.join("ci.toml").to_str().unwrap(),
        ],
    );
    // The example's paths are relative to its own root, not to this repository's: it is checked
    // by examples/demo.sh, which makes it a repository of its own.
    assert_eq!(run.code, 2, "{}", run.transcript());
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let (repo, base) = history();
    let run_with = |vars: &[(&str, &str)]| {
        let mut cmd = crate::support::shipit::shipit(&repo.dir);
        cmd.env_remove("NO_COLOR")
            .args(["affected", "--base", &base]);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        crate::support::shipit::run(cmd).stdout
    };
    // Not a terminal: plain.
    assert!(!run_with(&[]).contains('\x1b'));
    assert!(run_with(&[("CLICOLOR_FORCE", "1")]).contains("\x1b[1m"));
    assert!(!run_with(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
}

/// `validate` says "1 environment", and warns about a lockfile trigger that matches inside a
/// service and an ignore pattern that hides a file a Dockerfile copies (text and JSON).
#[test]
fn validate_warns_about_triggers_inside_services_and_ignored_copies() {
    let toml = CONFIG
        .replace(
            "triggers = [\"/ci.toml\"]",
            "triggers = [\"/ci.toml\", \"Cargo.lock\"]",
        )
        .replace(
            "ignore = [\"*.md\"]",
            "ignore = [\"*.md\"]\n\n[environments.prod]\nbranch = \"main\"",
        );
    let repo = TestRepo::with_config(&toml, DIRS);
    for d in ["services/visits", "services/billing", "services/web"] {
        repo.write(&format!("{d}/Dockerfile"), "FROM scratch\n");
    }
    repo.write(
        "services/web/Dockerfile",
        "FROM scratch\nCOPY ATTRIBUTION.md /\n",
    );
    repo.write("services/web/ATTRIBUTION.md", "licences");
    repo.write("services/billing/Cargo.lock", "# lock");
    repo.commit("dockerfiles");
    assert_snapshot!(transcript(&repo, &shipit_run(&repo.dir, &["validate"])));
    let json = shipit_run(&repo.dir, &["validate", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.transcript());
    assert_eq!(
        json.json()["warnings"].as_array().unwrap().len(),
        2,
        "{}",
        json.stdout
    );
}

/// A `!` pattern is refused, not silently taken as a pattern that means the opposite.
#[test]
fn error_negated_pattern() {
    let toml = CONFIG.replace(
        "ignore = [\"*.md\"]",
        "ignore = [\"*.md\", \"!ATTRIBUTION.md\"]",
    );
    assert_snapshot!(with_config(&toml, &["validate"]));
}

/// `--explain` names the include pattern that brought a file in; a trigger file that a service
/// excludes does not select it (`exclude` wins, as the README says).
#[test]
fn explain_names_the_include_and_exclude_wins_over_a_trigger() {
    let toml = CONFIG
        .replace(
            "triggers = [\"/ci.toml\"]",
            "triggers = [\"/ci.toml\", \"/go.work\"]",
        )
        .replace(
            "[services.web]\npath = \"services/web\"\n",
            "[services.web]\npath = \"services/web\"\nexclude = [\"/go.work\"]\n",
        );
    let repo = TestRepo::with_config(&toml, DIRS);
    let base = repo.head();
    repo.write("proto/visits/v1.proto", "syntax");
    repo.commit("proto");
    let explain = shipit_run(&repo.dir, &["affected", "--base", &base, "--explain"]);
    assert_snapshot!(transcript(&repo, &explain));
    let base = repo.head();
    repo.change("go.work", "go 1.22", "go: workspace");
    let names = shipit_run(
        &repo.dir,
        &["affected", "--base", &base, "--format", "names"],
    );
    assert_eq!(
        names.stdout,
        "billing\ncommon\nvisits\n",
        "{}",
        names.transcript()
    );
}
