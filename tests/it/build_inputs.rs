//! What a service's build reads is an input of the service: `shipit affected`, its `--explain`, the
//! fingerprint of `shipit plan`, and `shipit validate`'s refusal of a Dockerfile that copies what git
//! ignores. The repository has the shape of the well-known demo monorepos: services under `src/`,
//! built from the repository root (`context = "../.."`), copying a shared `pb/` folder and an
//! attribution file; a `.dockerignore` at the root.

use serde_json::{Value, json};

use crate::support::git::TestRepo;
use crate::support::shipit::{Run, run, shipit, shipit_run};

const CONFIG: &str = r#"
[global]
ignore = ["**/*.md"]

[services.checkout]
path = "src/checkout"
context = "../.."

[services.cart]
path = "src/cart"

[services.frontend]
path = "src/frontend"
context = "../.."
"#;

/// The checkout service copies the shared protos and the attribution file from the root context
/// and builds in a stage of its own; the frontend only takes the builder stage's output; the cart
/// copies its own folder.
const CHECKOUT: &str = "\
FROM scratch AS builder
COPY pb/ ./pb
COPY src/checkout/ ./
FROM scratch
COPY --from=builder /app /app
COPY ATTRIBUTION.md /
";

const FRONTEND: &str = "\
FROM scratch AS build
COPY src/frontend/ /src
FROM scratch
COPY --from=build /pb /pb
";

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("ci.toml", CONFIG);
    repo.write("src/checkout/Dockerfile", CHECKOUT);
    repo.write("src/checkout/main.go", "package main");
    repo.write("src/cart/Dockerfile", "FROM scratch\nCOPY . /app\n");
    repo.write("src/cart/cart.cs", "class Cart {}");
    repo.write("src/frontend/Dockerfile", FRONTEND);
    repo.write("src/frontend/main.go", "package main");
    repo.write("pb/demo.proto", "syntax = \"proto3\";");
    repo.write("pb/notes.txt", "notes");
    repo.write("ATTRIBUTION.md", "thanks");
    repo.write(".dockerignore", "pb/**/*.txt\n");
    repo.commit("initial import");
    repo
}

fn affected(repo: &TestRepo, base: &str) -> Value {
    let run = shipit_run(
        &repo.dir,
        &[
            "affected", "--base", base, "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    run.json()
}

fn names(v: &Value) -> Vec<String> {
    v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn plan(repo: &TestRepo) -> Value {
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "plan",
        "--format",
        "json",
        "--branch",
        "develop",
        "--all",
        "--offline",
    ]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    r.json()
}

fn fingerprint(plan: &Value, name: &str) -> String {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["fingerprint"].as_str())
        .unwrap_or_else(|| panic!("no fingerprint for {name} in {plan}"))
        .to_string()
}

#[test]
fn a_shared_folder_copied_from_a_root_context_affects_the_service_and_its_fingerprint() {
    let repo = repo();
    let base = repo.head();
    let before = plan(&repo);
    repo.change("pb/demo.proto", "syntax = \"proto3\"; // v2", "proto");
    let a = affected(&repo, &base);
    assert_eq!(names(&a), vec!["checkout"], "{a}");
    assert_eq!(
        a["services"][0]["reasons"],
        json!([{"kind": "build", "file": "pb/demo.proto", "dockerfile": "src/checkout/Dockerfile", "line": 2}])
    );
    let after = plan(&repo);
    assert_ne!(
        fingerprint(&before, "checkout"),
        fingerprint(&after, "checkout")
    );
    for unchanged in ["cart", "frontend"] {
        assert_eq!(
            fingerprint(&before, unchanged),
            fingerprint(&after, unchanged),
            "{unchanged}"
        );
    }
}

#[test]
fn a_file_under_global_ignore_that_a_dockerfile_copies_is_an_input() {
    let repo = repo();
    let base = repo.head();
    let before = plan(&repo);
    repo.change("ATTRIBUTION.md", "thanks, everyone", "docs: attribution");
    repo.change("src/cart/NOTES.md", "a note", "docs: cart notes");
    let a = affected(&repo, &base);
    // The cart copies its whole folder (`COPY . /app`): its markdown goes into its image too.
    assert_eq!(names(&a), vec!["cart", "checkout"], "{a}");
    assert_eq!(
        a["services"][1]["reasons"][0],
        json!({"kind": "build", "file": "ATTRIBUTION.md", "dockerfile": "src/checkout/Dockerfile", "line": 6})
    );
    assert_eq!(
        a["services"][0]["reasons"][0],
        json!({"kind": "build", "file": "src/cart/NOTES.md", "dockerfile": "src/cart/Dockerfile", "line": 2})
    );
    let after = plan(&repo);
    assert_ne!(
        fingerprint(&before, "checkout"),
        fingerprint(&after, "checkout")
    );
}

#[test]
fn a_copy_from_another_stage_reads_nothing_from_the_context() {
    let repo = repo();
    let base = repo.head();
    // The checkout's `COPY pb/ ./pb` reads pb/ of the context; the frontend's
    // `COPY --from=build /pb /pb` copies from its build stage, not from the context.
    repo.change("pb/demo.proto", "changed", "proto");
    assert_eq!(names(&affected(&repo, &base)), vec!["checkout"]);
}

#[test]
fn dockerignore_excludes_what_a_copy_would_read() {
    let repo = repo();
    let base = repo.head();
    repo.change("pb/notes.txt", "changed notes", "notes");
    let a = affected(&repo, &base);
    assert!(names(&a).is_empty(), "{a}");
    // The .dockerignore itself is read by every build from that context.
    repo.change(".dockerignore", "pb/**/*.txt\n*.log\n", "ignore logs");
    assert_eq!(names(&affected(&repo, &base)), vec!["checkout", "frontend"]);
}

#[test]
fn explain_names_the_dockerfile_line() {
    let repo = repo();
    let base = repo.head();
    repo.change("pb/demo.proto", "changed", "proto");
    let run = shipit_run(&repo.dir, &["affected", "--base", &base, "--explain"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("pb/demo.proto (read by src/checkout/Dockerfile:2)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_per_environment_dockerfile_is_read_too() {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        "[services.api]\npath = \"api\"\ncontext = \"..\"\n[services.api.environments.prod]\ndockerfile = \"Dockerfile.prod\"\n",
    );
    repo.write("api/Dockerfile", "FROM scratch\nCOPY api/ /api\n");
    repo.write(
        "api/Dockerfile.prod",
        "FROM scratch\nCOPY api/ /api\nCOPY certs/ /certs\n",
    );
    repo.write("certs/ca.pem", "x");
    repo.commit("initial import");
    let base = repo.head();
    repo.change("certs/ca.pem", "y", "certs");
    let a = affected(&repo, &base);
    assert_eq!(
        a["services"][0]["reasons"],
        json!([{"kind": "build", "file": "certs/ca.pem", "dockerfile": "api/Dockerfile.prod", "line": 3}])
    );
}

fn validate(repo: &TestRepo, args: &[&str]) -> Run {
    let mut cmd = shipit(&repo.dir);
    cmd.arg("validate").args(args);
    run(cmd)
}

#[test]
fn validate_refuses_a_gitignored_copy_unless_it_is_a_declared_artifact() {
    let repo = TestRepo::new();
    let config = "[services.api]\npath = \"services/api\"\ntest = \"mkdir -p target && echo jar > target/app.jar\"\n";
    repo.write("ci.toml", config);
    repo.write(".gitignore", "target/\n");
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\n# the jar the tests build\nCOPY target/app.jar /app.jar\n",
    );
    repo.commit("initial import");
    let r = validate(&repo, &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("services/api/Dockerfile:3")
            && r.stderr.contains("target/app.jar")
            // (miette wraps the help after a `/`)
            && r.stderr.contains("artifacts = [\"target/")
            && r.stderr.contains("app.jar\"]"),
        "{}",
        r.stderr
    );
    let r = validate(&repo, &["--format", "json"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert_eq!(r.json()["valid"], json!(false), "{}", r.stdout);

    repo.write(
        "ci.toml",
        &format!("{config}artifacts = [\"target/*.jar\"]\n"),
    );
    repo.commit("declare the jar");
    let r = validate(&repo, &[]);
    assert_eq!(r.code, 0, "{}", r.transcript());
}

/// The engine builds from the committed tree plus the declared artifacts the tests wrote: the
/// pushed image holds the test step's output.
#[test]
fn a_declared_artifact_of_the_tests_is_in_the_built_image() {
    use crate::support::registry::Oci;
    use crate::support::{registry, unique};
    let prefix = unique("artifacts");
    let oci = Oci::new(&registry(), None);
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            r#"[project]
registry = "oci://{}/{prefix}"

[services.api]
path = "services/api"
test = "mkdir -p target && echo built by the tests > target/app.jar && echo stray > target/other.txt"
artifacts = ["target/*.jar"]
"#,
            registry()
        ),
    );
    repo.write(".gitignore", "target/\n");
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY app.txt /app.txt\nCOPY target/ /target/\n",
    );
    repo.write("services/api/app.txt", "committed\n");
    repo.commit("initial import");
    let r = validate(&repo, &[]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "main", "--all"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let files = oci.files(&format!("{prefix}/api"), "prod-0.1.0");
    assert_eq!(files["app.txt"], b"committed\n", "{:?}", files.keys());
    assert_eq!(
        files["target/app.jar"],
        b"built by the tests\n",
        "{:?}",
        files.keys()
    );
    assert!(
        !files.contains_key("target/other.txt"),
        "only what `artifacts` declares: {:?}",
        files.keys()
    );
}

/// A `feat:` commit that changes only what a Dockerfile copies bumps that service's minor version:
/// the commits that count are those that affect it, its build's reads included.
#[test]
fn a_feature_in_a_copied_shared_folder_bumps_the_service() {
    use crate::support::registry::Oci;
    use crate::support::{registry, unique};
    let prefix = unique("build-bump");
    let repo = repo();
    let toml = format!(
        "[project]\nregistry = \"oci://{}/{prefix}\"\n{CONFIG}",
        registry()
    );
    repo.change("ci.toml", &toml, "chore: registry");
    Oci::new(&registry(), None).push(&format!("{prefix}/checkout"), "old", &["stage-1.2.0"]);
    let base = repo.head();
    repo.change("pb/demo.proto", "message Order {}", "feat(pb): orders");
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "plan", "--format", "json", "--branch", "develop", "--base", &base,
    ]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let plan = r.json();
    let checkout = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "checkout")
        .unwrap_or_else(|| panic!("checkout not planned: {plan}"));
    assert_eq!(checkout["next_version"], json!("1.3.0"), "{plan}");
}

/// The speed tricks of `affected` (the root builds' Dockerfiles read while git diffs, the others
/// read while the rules are matched, …) change when things are done, never the answer: each
/// turned off, and all of them, give the same JSON.
#[test]
fn the_answer_is_the_same_with_any_speed_trick_turned_off() {
    let repo = repo();
    let base = repo.head();
    repo.write("pb/demo.proto", "syntax = \"proto3\"; // v2");
    repo.write("src/cart/cart.cs", "class Cart { int n; }");
    repo.write("ATTRIBUTION.md", "thanks again");
    repo.write("docs/guide.md", "ignored, and copied by no build");
    repo.commit("three services' inputs");
    let answer = |off: &str| {
        let mut cmd = shipit(&repo.dir);
        cmd.args([
            "affected", "--base", &base, "--head", "HEAD", "--format", "json",
        ]);
        cmd.env(shipit::env_vars::SHIPIT_TRICKS_OFF, off);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{off}: {}", r.transcript());
        r.json()
    };
    let all_on = answer("");
    assert_eq!(names(&all_on), vec!["cart", "checkout"], "{all_on}");
    let mut offs: Vec<&str> = shipit::fast::TRICKS.iter().map(|t| t.name).collect();
    offs.push("all");
    for off in offs {
        assert_eq!(answer(off), all_on, "with {off} off");
    }
}
