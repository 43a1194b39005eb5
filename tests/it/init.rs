//! `shipit init`: on the example monorepo (its ci.toml removed) it writes a ci.toml that validates
//! and selects what the hand-written one selects; it reads Cargo, npm, pnpm and Python workspaces;
//! it never overwrites without --force; the workflow passes the linters; and `--from-ecs` writes a
//! running service's definitions (from moto) and the keys that point at them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::ecs::MotoEcs;
use crate::support::git::TestRepo;
use crate::support::shipit::{Run, shipit_run};
use crate::support::{moto, unique};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn lint(program: &str, args: &[&str], file: &Path) {
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} could not run ({e}): run the tests through scripts/test")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn names(r: &Run) -> Vec<String> {
    assert_eq!(r.code, 0, "{}", r.transcript());
    r.stdout.lines().map(str::to_string).collect()
}

#[test]
fn on_the_example_it_selects_what_the_hand_written_ci_toml_selects() {
    let repo = TestRepo::new();
    copy_dir(&Path::new(ROOT).join("examples/monorepo"), &repo.dir);
    std::fs::remove_file(repo.dir.join("ci.toml")).unwrap();
    let hand_written: PathBuf = Path::new(ROOT).join("examples/monorepo/ci.toml");

    let r = shipit_run(&repo.dir, &["init"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("common   libs/common  (a Python project)"),
        "{}",
        r.stdout
    );
    let written = std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap();
    assert!(
        written.starts_with("#:schema ./ci.schema.json\n"),
        "{written}"
    );
    let v = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(v.code, 0, "{}\n{written}", v.transcript());
    // The schema it points at is there, and the file matches it; the workflow passes the linters.
    lint(
        "check-jsonschema",
        &[
            "--schemafile",
            repo.dir.join("ci.schema.json").to_str().unwrap(),
        ],
        &repo.dir.join("ci.toml"),
    );
    let workflow = repo.dir.join(".github/workflows/release.yml");
    lint(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        &workflow,
    );
    lint("zizmor", &["--offline"], &workflow);

    // The demo's history: main, then develop three commits ahead.
    repo.commit("chore: import the example monorepo");
    repo.git(&["switch", "-q", "-c", "develop"]);
    repo.write(
        "services/visits/src/reminders.py",
        "def reminder_time(visit):\n    pass\n",
    );
    repo.commit("feat(visits): remind patients the day before a visit");
    let money = std::fs::read_to_string(repo.dir.join("libs/common/common/money.py")).unwrap();
    repo.write(
        "libs/common/common/money.py",
        &money.replace("{currency}\"", "{currency.upper()}\""),
    );
    repo.commit("fix(common): print currency codes in upper case");
    let readme = std::fs::read_to_string(repo.dir.join("services/visits/README.md")).unwrap();
    repo.write(
        "services/visits/README.md",
        &format!("{readme}\nSee docs/runbook.txt when visits cannot be booked.\n"),
    );
    repo.commit("docs: point to the visits runbook");

    let hand = hand_written.to_str().unwrap();
    for (base, head) in [
        ("main", "develop"),
        ("HEAD~1", "HEAD"),
        ("HEAD~2", "HEAD~1"),
    ] {
        let ours = names(&shipit_run(
            &repo.dir,
            &[
                "affected", "--base", base, "--head", head, "--format", "names",
            ],
        ));
        let theirs = names(&shipit_run(
            &repo.dir,
            &[
                "--config", hand, "affected", "--base", base, "--head", head, "--format", "names",
            ],
        ));
        assert_eq!(ours, theirs, "{base}..{head}");
    }
    let develop = names(&shipit_run(
        &repo.dir,
        &[
            "affected", "--base", "main", "--head", "develop", "--format", "names",
        ],
    ));
    assert_eq!(develop, ["billing", "common", "visits"]);
}

#[test]
fn it_never_overwrites_without_force() {
    let repo = TestRepo::new();
    repo.write("services/api/Dockerfile", "FROM scratch\n");
    repo.write("ci.toml", "# mine\n");
    let r = shipit_run(&repo.dir, &["init"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("nothing written: ci.toml already exists"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap(),
        "# mine\n"
    );
    assert!(!repo.dir.join(".github/workflows/release.yml").exists());
    assert!(!repo.dir.join("ci.schema.json").exists());
    let r = shipit_run(&repo.dir, &["init", "--force"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let written = std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap();
    assert!(written.contains("[services.api]"), "{written}");
}

#[test]
fn it_reads_cargo_npm_pnpm_and_python_workspaces() {
    let repo = TestRepo::new();
    // A Cargo workspace: a library, and a service that uses it through [workspace.dependencies].
    repo.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/*\"]\n\n[workspace.dependencies]\ncore-lib = { path = \"crates/core\" }\n",
    );
    repo.write("Cargo.lock", "");
    repo.write(
        "crates/core/Cargo.toml",
        "[package]\nname = \"core-lib\"\nversion = \"0.1.0\"\n",
    );
    repo.write(
        "crates/api/Cargo.toml",
        "[package]\nname = \"api\"\nversion = \"2.0.0\"\n\n[dependencies]\ncore-lib = { workspace = true }\nserde = \"1\"\n",
    );
    repo.write("crates/api/Dockerfile", "FROM scratch\n");
    // A pnpm workspace: a UI library and a web app with a Dockerfile that depends on it.
    repo.write("package.json", "{\"name\": \"root\", \"private\": true}\n");
    repo.write(
        "pnpm-workspace.yaml",
        "packages:\n  - 'packages/*'\n  - 'apps/*'\n",
    );
    repo.write(
        "packages/ui/package.json",
        "{\"name\": \"@acme/ui\", \"scripts\": {\"test\": \"vitest run\"}}\n",
    );
    repo.write(
        "apps/web/package.json",
        "{\"name\": \"web\", \"scripts\": {\"test\": \"vitest run\"}, \"dependencies\": {\"@acme/ui\": \"workspace:*\", \"react\": \"^18\"}}\n",
    );
    repo.write("apps/web/Dockerfile", "FROM scratch\n");
    // A Python project with pytest, depending on nothing here; and a folder with nothing to find.
    repo.write(
        "tools/report/pyproject.toml",
        "[project]\nname = \"report\"\nversion = \"0.1.0\"\ndependencies = [\"requests>=2\"]\n\n[dependency-groups]\ndev = [\"pytest\"]\n",
    );
    repo.write("docs/index.txt", "docs");
    // Dependencies are never searched.
    repo.write("apps/web/node_modules/x/Dockerfile", "FROM scratch\n");

    let r = shipit_run(&repo.dir, &["init"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let text = std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap();
    let v = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(v.code, 0, "{}\n{text}", v.transcript());
    let toml: toml::Table = text.parse().unwrap();
    let services = toml["services"].as_table().unwrap();
    let keys: Vec<&String> = services.keys().collect();
    assert_eq!(keys, ["api", "core", "report", "ui", "web"], "{text}");
    let get = |s: &str, k: &str| services[s].get(k).cloned();
    assert_eq!(
        get("api", "depends_on"),
        Some(toml::Value::Array(vec!["core".into()])),
        "{text}"
    );
    assert_eq!(get("api", "test"), Some("cargo test".into()));
    assert_eq!(get("api", "version_file"), Some("Cargo.toml".into()));
    assert_eq!(get("core", "image"), Some(false.into()));
    assert_eq!(
        get("web", "depends_on"),
        Some(toml::Value::Array(vec!["ui".into()])),
        "{text}"
    );
    assert_eq!(get("web", "test"), Some("pnpm test".into()));
    assert_eq!(get("ui", "image"), Some(false.into()));
    assert_eq!(get("report", "test"), Some("python -m pytest".into()));
    assert_eq!(get("report", "image"), Some(false.into()));
    let triggers = toml["global"]["triggers"].as_array().unwrap();
    assert_eq!(
        triggers,
        &vec![toml::Value::from("ci.toml"), "/Cargo.lock".into()],
        "the root's lockfile alone: `Cargo.lock` would be every one at any depth"
    );
    assert!(text.contains("# Its Cargo.toml depends on these"), "{text}");
    // What it says is what a change selects: the library's change reaches the service.
    repo.commit("initial import");
    repo.write("crates/core/src/lib.rs", "pub fn f() {}\n");
    repo.commit("feat(core): f");
    let r = shipit_run(
        &repo.dir,
        &["affected", "--base", "HEAD~1", "--format", "names"],
    );
    assert_eq!(names(&r), ["api", "core"]);
}

#[test]
fn from_ecs_writes_the_running_services_definitions_and_the_keys() {
    let cluster = unique("init-ecs");
    let ecs = MotoEcs::new(&moto());
    let arn = ecs.run(
        &cluster,
        "visits-svc",
        "visits",
        "registry.example/visits:stage-1.0.0",
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(
        ecs.client
            .tag_resource()
            .resource_arn(&arn)
            .tags(
                aws_sdk_ecs::types::Tag::builder()
                    .key("team")
                    .value("clinic")
                    .build(),
            )
            .send(),
    )
    .unwrap();

    let original = "#:schema ./ci.schema.json\n# Our services.\n[services.visits]\npath = \"services/visits\" # the API\n\n[services.lib]\npath = \"libs/lib\"\nimage = false\n";
    let repo = TestRepo::with_config(original, &["services/visits", "libs/lib"]);
    repo.write("services/visits/Dockerfile", "FROM scratch\n");
    let from_ecs = |args: &[&str]| {
        let mut cmd = crate::support::shipit::shipit(&repo.dir);
        cmd.arg("init")
            .args(args)
            .env("AWS_ENDPOINT_URL", moto())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        crate::support::shipit::run(cmd)
    };
    let target = format!("{cluster}/visits-svc");
    let r = from_ecs(&["--from-ecs", &target, "--service", "visits"]);
    assert_eq!(r.code, 0, "{}", r.transcript());

    let read = |f: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(repo.dir.join("services/visits").join(f)).unwrap(),
        )
        .unwrap()
    };
    let td = read("deploy/task-definition.json");
    assert_eq!(td["family"], json!(format!("{cluster}-visits-svc")));
    assert_eq!(
        td["containerDefinitions"][0]["image"],
        json!("registry.example/visits:stage-1.0.0")
    );
    assert_eq!(
        td["tags"],
        json!([{"key": "team", "value": "clinic"}]),
        "{td}"
    );
    for describe_only in ["taskDefinitionArn", "revision", "status", "registeredAt"] {
        assert!(td.get(describe_only).is_none(), "{describe_only} in {td}");
    }
    let sd = read("deploy/service-definition.json");
    assert_eq!(sd["serviceName"], json!("visits-svc"));
    assert_eq!(sd["desiredCount"], json!(1));
    for state in [
        "serviceArn",
        "deployments",
        "events",
        "runningCount",
        "taskDefinition",
    ] {
        assert!(sd.get(state).is_none(), "{state} in {sd}");
    }
    // The keys, with the file's comments kept; and the result validates (the task definition
    // file is read).
    let ci = std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap();
    assert!(
        ci.starts_with("#:schema ./ci.schema.json\n# Our services.\n"),
        "{ci}"
    );
    assert!(ci.contains("path = \"services/visits\" # the API"), "{ci}");
    assert!(
        ci.contains("task_definition = \"deploy/task-definition.json\""),
        "{ci}"
    );
    assert!(ci.contains("ecs_service = \"visits-svc\""), "{ci}");
    let v = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(v.code, 0, "{}\n{ci}", v.transcript());

    // Not again without --force; a missing ECS service and a library are named.
    let again = from_ecs(&["--from-ecs", &target, "--service", "visits"]);
    assert_eq!(again.code, 2, "{}", again.transcript());
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let missing = from_ecs(&[
        "--from-ecs",
        &format!("{cluster}/nope"),
        "--service",
        "visits",
        "--force",
    ]);
    assert_eq!(missing.code, 2, "{}", missing.transcript());
    assert!(
        missing.stderr.contains("no service `nope`"),
        "{}",
        missing.stderr
    );
    let library = from_ecs(&["--from-ecs", &target, "--service", "lib"]);
    assert_eq!(library.code, 2);
    assert!(
        library.stderr.contains("is a library"),
        "{}",
        library.stderr
    );
    let unknown = from_ecs(&["--from-ecs", &target, "--service", "vists"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("the services are: lib, visits"),
        "{}",
        unknown.stderr
    );
}
