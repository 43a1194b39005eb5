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
        &vec![toml::Value::from("/ci.toml"), "/Cargo.lock".into()],
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

/// The written ci.toml, its services table, after `init` and `validate` both succeeded.
fn init_and_validate(repo: &TestRepo, args: &[&str]) -> (String, toml::Table) {
    let mut all = vec!["init"];
    all.extend(args);
    let r = shipit_run(&repo.dir, &all);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let text = std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap();
    let v = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(v.code, 0, "{}\n{text}", v.transcript());
    let toml: toml::Table = text.parse().unwrap();
    let services = toml["services"].as_table().unwrap().clone();
    (text, services)
}

fn affected(repo: &TestRepo) -> Vec<String> {
    names(&shipit_run(
        &repo.dir,
        &["affected", "--base", "HEAD~1", "--format", "names"],
    ))
}

fn value(services: &toml::Table, service: &str, key: &str) -> Option<String> {
    services[service]
        .get(key)
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
}

/// The shape of a repository whose images all build from the root (`compose.yaml`: `context: ./`,
/// `dockerfile: ${X_DOCKERFILE}` from `.env`), one with its Dockerfile in `x/src`, protoc and test
/// runner Dockerfiles beside them.
#[test]
fn compose_root_contexts_and_dockerfiles_are_read_and_tools_left_out() {
    let repo = TestRepo::new();
    repo.write(
        ".env",
        "API_DOCKERFILE=./src/api/Dockerfile\nCART_DOCKERFILE=./src/cart/src/Dockerfile\nGO_VERSION=1.22\n",
    );
    repo.write(
        "compose.yaml",
        "x-logging: &logging\n  driver: json-file\nservices:\n  api:\n    build:\n      context: ./\n      dockerfile: ${API_DOCKERFILE}\n      args:\n        GO_VERSION: ${GO_VERSION}\n    logging: *logging\n    command: [\n      \"serve\"\n    ]\n  cart:\n    build:\n      context: ./\n      dockerfile: ${CART_DOCKERFILE}\n  redis:\n    image: redis\n",
    );
    repo.write(
        "src/api/Dockerfile",
        "FROM golang\nCOPY ./src/api/ /app\nCOPY ./pb/ /app/pb\n",
    );
    repo.write("src/api/main.go", "package main\n");
    repo.write("src/api/genproto/Dockerfile", "FROM golang\nCOPY x /\n");
    repo.write(
        "src/cart/src/Dockerfile",
        "FROM dotnet\nCOPY ./src/cart/ /app\n",
    );
    repo.write("src/cart/cart.sln", "Test\n");
    repo.write(
        "src/cart/tests/CartTests.csproj",
        "<Project><PackageReference Include=\"xunit\" /></Project>\n",
    );
    repo.write("src/web/Dockerfile", "FROM node\nCOPY . .\n");
    repo.write("src/web/Dockerfile.cypress", "FROM cypress\nCOPY . .\n");
    repo.write("pb/demo.proto", "syntax = \"proto3\";\n");
    // An APK builder nothing publishes, and a template a build tool fills in per module.
    repo.write("mobile/Dockerfile.android", "FROM android\nCOPY . .\n");
    repo.write(
        "docker/Dockerfile",
        "FROM jre\nARG ARTIFACT_NAME\nCOPY ${ARTIFACT_NAME}.jar app.jar\n",
    );

    let (text, services) = init_and_validate(&repo, &[]);
    let keys: Vec<&String> = services.keys().collect();
    assert_eq!(keys, ["api", "cart", "web"], "{text}");
    assert_eq!(value(&services, "api", "path").as_deref(), Some("src/api"));
    assert_eq!(value(&services, "api", "context").as_deref(), Some("../.."));
    assert_eq!(
        value(&services, "cart", "path").as_deref(),
        Some("src/cart")
    );
    assert_eq!(
        value(&services, "cart", "dockerfile").as_deref(),
        Some("src/Dockerfile")
    );
    assert_eq!(
        value(&services, "cart", "context").as_deref(),
        Some("../..")
    );
    assert_eq!(
        value(&services, "cart", "test").as_deref(),
        Some("dotnet test")
    );
    assert_eq!(
        services["api"]["build_args"]["GO_VERSION"].as_str(),
        Some("1.22")
    );
    assert_eq!(value(&services, "web", "context"), None, "{text}");
    // Every guess says where it came from; what is left out is listed.
    assert!(
        text.contains("# Found in compose.yaml (service `api`)."),
        "{text}"
    );
    assert!(
        text.contains("#   src/api/genproto/Dockerfile (a tool image"),
        "{text}"
    );
    assert!(
        text.contains("#   mobile/Dockerfile.android (a variant that no compose file"),
        "{text}"
    );
    assert!(
        text.contains("#   docker/Dockerfile (a template:"),
        "{text}"
    );
    assert!(
        text.contains("#   src/web/Dockerfile.cypress (a test runner)"),
        "{text}"
    );
    // The root context is what makes a change to the shared protos reach the api.
    repo.commit("initial import");
    repo.write("pb/demo.proto", "syntax = \"proto3\";\npackage demo;\n");
    repo.commit("feat(pb): a package");
    assert_eq!(affected(&repo), ["api"]);
}

/// skaffold artifacts, a Dockerfile whose COPY sources only resolve at the root, folders with the
/// same name in two places, and folder names that are no valid image names.
#[test]
fn skaffold_and_dockerfile_contexts_and_names_that_are_valid_and_consistent() {
    let repo = TestRepo::new();
    repo.write(
        "skaffold.yaml",
        "apiVersion: skaffold/v4beta1\nkind: Config\nbuild:\n  artifacts:\n  - image: shop\n    context: apps/shop\n    docker:\n      dockerfile: docker/Dockerfile\n      target: runtime\n---\napiVersion: skaffold/v4beta1\nkind: Config\nbuild:\n  artifacts:\n  - image: jib-one\n    context: apps/jib\n    jib: {}\n",
    );
    repo.write(
        "apps/shop/docker/Dockerfile",
        "FROM x AS runtime\nCOPY app.py /\n",
    );
    repo.write("apps/shop/app.py", "\n");
    repo.write(
        "api/users/Dockerfile",
        "FROM python\nCOPY libs/common /common\nCOPY api/users /app\n",
    );
    repo.write("admin/users/Dockerfile", "FROM python\nCOPY main.py /\n");
    repo.write("admin/users/main.py", "\n");
    repo.write("libs/common/x.py", "\n");
    repo.write("ünï/Dockerfile", "FROM scratch\n");
    repo.write("x..y/Dockerfile", "FROM scratch\n");

    let (text, services) = init_and_validate(&repo, &[]);
    let keys: Vec<&String> = services.keys().collect();
    assert_eq!(
        keys,
        ["admin-users", "api-users", "n", "shop", "x-y"],
        "{text}"
    );
    assert_eq!(
        value(&services, "shop", "path").as_deref(),
        Some("apps/shop")
    );
    assert_eq!(
        value(&services, "shop", "dockerfile").as_deref(),
        Some("docker/Dockerfile")
    );
    assert_eq!(value(&services, "shop", "context"), None, "{text}");
    assert_eq!(
        value(&services, "shop", "target").as_deref(),
        Some("runtime")
    );
    assert_eq!(
        value(&services, "api-users", "context").as_deref(),
        Some("../..")
    );
    assert!(
        text.contains("every COPY source is there, not all in the Dockerfile's folder"),
        "{text}"
    );
    assert_eq!(value(&services, "admin-users", "context"), None, "{text}");
    repo.commit("initial import");
    repo.write("libs/common/x.py", "print(1)\n");
    repo.commit("fix(common): print");
    assert_eq!(affected(&repo), ["api-users"]);
}

/// A workflow that publishes images from a matrix (a cypress image among them), one with a
/// `docker build` line, and paths filters that watch more than the service's folder.
#[test]
fn workflows_name_published_images_and_paths_filters_become_includes() {
    let repo = TestRepo::new();
    repo.write(
        ".github/workflows/images.yml",
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        file_tag:\n          - file: ./web/Dockerfile.cypress\n            context: ./web\n          - file: ./web/Dockerfile\n            context: ./web\n    steps:\n      - uses: dorny/paths-filter@v3\n        with:\n          filters: |\n            worker:\n              - 'worker/**'\n              - 'shared/queue/**'\n      - uses: docker/build-push-action@v6\n        with:\n          context: ${{ matrix.file_tag.context }}\n          file: ${{ matrix.file_tag.file }}\n  other:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          docker build -t worker:dev -f worker/build/Dockerfile .\n",
    );
    repo.write("web/Dockerfile", "FROM node\nCOPY . .\n");
    repo.write("web/Dockerfile.cypress", "FROM cypress\nCOPY . .\n");
    repo.write("worker/build/Dockerfile", "FROM go\nCOPY worker /w\n");
    repo.write("shared/queue/q.go", "package queue\n");

    let (text, services) = init_and_validate(&repo, &[]);
    let keys: Vec<&String> = services.keys().collect();
    assert_eq!(keys, ["web", "web-cypress", "worker"], "{text}");
    assert_eq!(
        value(&services, "web-cypress", "dockerfile").as_deref(),
        Some("Dockerfile.cypress")
    );
    assert_eq!(
        value(&services, "worker", "path").as_deref(),
        Some("worker")
    );
    assert_eq!(value(&services, "worker", "context").as_deref(), Some(".."));
    assert_eq!(
        services["worker"]["include"].as_array().unwrap(),
        &vec![toml::Value::from("shared/queue/**")],
        "{text}"
    );
    assert!(
        text.contains("# Also affected by what the `worker` paths filter"),
        "{text}"
    );
    repo.commit("initial import");
    repo.write("shared/queue/q.go", "package queue\n\nvar X = 1\n");
    repo.commit("feat(queue): X");
    assert_eq!(affected(&repo), ["worker"]);
}

/// Test commands from the build tools: wrappers, `dotnet test`, uv, go.work members; a script that
/// is `exit 0` is none; .NET projects that reference each other are libraries with `depends_on`.
#[test]
fn test_commands_and_libraries_come_from_the_build_tools() {
    let repo = TestRepo::new();
    repo.write("orders/Dockerfile", "FROM maven\nCOPY . .\n");
    repo.write(
        "orders/pom.xml",
        "<project><artifactId>orders</artifactId></project>\n",
    );
    repo.write("orders/mvnw", "#!/bin/sh\n");
    repo.write("ads/Dockerfile", "FROM gradle\nCOPY . .\n");
    repo.write("ads/build.gradle", "plugins {}\n");
    repo.write("ads/gradlew", "#!/bin/sh\n");
    repo.write("py/Dockerfile", "FROM python\nCOPY . .\n");
    repo.write(
        "py/pyproject.toml",
        "[project]\nname = \"py\"\n[dependency-groups]\ndev = [\"pytest\"]\n",
    );
    repo.write("py/uv.lock", "\n");
    repo.write("ui/Dockerfile", "FROM node\nCOPY . .\n");
    repo.write(
        "ui/package.json",
        "{\"name\": \"ui\", \"scripts\": {\"test\": \"echo \\\"no tests\\\" && exit 0\"}}\n",
    );
    repo.write("go.work", "go 1.22\n\nuse (\n\t./svc\n\t./libs/log\n)\n");
    repo.write("svc/Dockerfile", "FROM go\nCOPY . .\n");
    repo.write("svc/go.mod", "module example.com/svc\n");
    repo.write("libs/log/go.mod", "module example.com/log\n");
    repo.write("Basket.API/Dockerfile", "FROM dotnet\nCOPY . .\n");
    repo.write(
        "Basket.API/Basket.API.csproj",
        "<Project><ItemGroup><ProjectReference Include=\"..\\EventBus\\EventBus.csproj\" /></ItemGroup></Project>\n",
    );
    repo.write("EventBus/EventBus.csproj", "<Project></Project>\n");

    let (text, services) = init_and_validate(&repo, &[]);
    let keys: Vec<&String> = services.keys().collect();
    assert_eq!(
        keys,
        [
            "ads",
            "basket.api",
            "eventbus",
            "log",
            "orders",
            "py",
            "svc",
            "ui"
        ],
        "{text}"
    );
    assert_eq!(
        value(&services, "orders", "test").as_deref(),
        Some("./mvnw test")
    );
    assert_eq!(
        value(&services, "ads", "test").as_deref(),
        Some("./gradlew test")
    );
    assert_eq!(
        value(&services, "py", "test").as_deref(),
        Some("uv run pytest")
    );
    assert_eq!(value(&services, "ui", "test"), None, "{text}");
    assert_eq!(
        value(&services, "svc", "test").as_deref(),
        Some("go test ./...")
    );
    assert_eq!(value(&services, "log", "image").as_deref(), Some("false"));
    assert_eq!(
        value(&services, "eventbus", "image").as_deref(),
        Some("false")
    );
    assert_eq!(
        services["basket.api"]["depends_on"].as_array().unwrap(),
        &vec![toml::Value::from("eventbus")],
        "{text}"
    );
}

/// The project's own release.yml is left alone: the workflow goes to shipit.yml, or nowhere with
/// --no-workflow; the action is pinned to 40 zeros with a comment, never a SHA that looks real.
#[test]
fn an_existing_release_workflow_is_never_overwritten() {
    let repo = TestRepo::new();
    repo.write("api/Dockerfile", "FROM scratch\n");
    repo.write(".github/workflows/release.yml", "# the project's own\n");
    let r = shipit_run(&repo.dir, &["init", "--no-workflow"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains("(no workflow: --no-workflow)"),
        "{}",
        r.stdout
    );
    assert!(!repo.dir.join(".github/workflows/shipit.yml").exists());

    let r = shipit_run(&repo.dir, &["init", "--force"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("shipit's workflow is .github/workflows/shipit.yml"),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read_to_string(repo.dir.join(".github/workflows/release.yml")).unwrap(),
        "# the project's own\n"
    );
    let ours = repo.dir.join(".github/workflows/shipit.yml");
    let text = std::fs::read_to_string(&ours).unwrap();
    assert!(
        text.contains(&format!(
            "uses: shipit-dev/shipit@{} # vX.Y.Z",
            "0".repeat(40)
        )),
        "{text}"
    );
    assert!(text.contains("# REPLACE the zeros below"), "{text}");
    assert!(!text.contains("0123456789abcdef"), "{text}");
    lint(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        &ours,
    );
    lint("zizmor", &["--offline"], &ours);
}

/// A .NET solution with projects and no Dockerfile: init says what it found and writes nothing.
#[test]
fn with_no_service_it_says_what_it_found_and_writes_nothing() {
    let repo = TestRepo::new();
    repo.write("App.sln", "\n");
    repo.write("src/Core/Core.csproj", "<Project></Project>\n");
    repo.write("tools/genproto/Dockerfile", "FROM protoc\n");
    let r = shipit_run(&repo.dir, &["init"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("nothing written: no service to build here"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("core  src/core  (a .NET project)") || r.stderr.contains("src/Core"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("left out: tools/genproto/Dockerfile"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("Found 0 services"), "{}", r.stdout);
    for f in ["ci.toml", "ci.schema.json", ".github/workflows/release.yml"] {
        assert!(!repo.dir.join(f).exists(), "{f}");
    }
}

/// A task definition file that is not JSON is not pointed at (before, init failed with a snippet
/// of a ci.toml line it had never written).
#[test]
fn a_broken_task_definition_is_not_pointed_at_and_no_phantom_snippet_is_shown() {
    let repo = TestRepo::new();
    repo.write("api/Dockerfile", "FROM scratch\n");
    repo.write("api/deploy/task-definition.json", "{ not json");
    let r = shipit_run(&repo.dir, &["init"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(!r.stderr.contains("ci.toml:"), "{}", r.stderr);
    let text = std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap();
    assert!(!text.contains("task_definition ="), "{text}");
    // JSON that ECS would not take: init refuses, naming the file, with no snippet of a ci.toml
    // that does not exist, and writes nothing.
    let repo = TestRepo::new();
    repo.write("api/Dockerfile", "FROM scratch\n");
    repo.write(
        "api/deploy/task-definition.json",
        "{\"containerDefinitions\": 5}",
    );
    let r = shipit_run(&repo.dir, &["init"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("nothing written: the ci.toml init would write is not valid"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no `family`"), "{}", r.stderr);
    assert!(!r.stderr.contains("ci.toml:"), "{}", r.stderr);
    assert!(!repo.dir.join("ci.toml").exists());
}

fn triggers(text: &str) -> Vec<String> {
    let toml: toml::Table = text.parse().unwrap();
    toml["global"]["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// A root lockfile is a trigger only when the root workspace or manifest it locks holds a
/// service: not a root package.json that only holds a linter, nor a poetry.lock nothing builds
/// from; yes for an npm workspace with a service in it, and for a root go.mod that a service's
/// Dockerfile builds from the root.
#[test]
fn root_lockfiles_are_triggers_only_for_a_root_workspace_that_holds_services() {
    let lint_only = TestRepo::new();
    lint_only.write(
        "package.json",
        "{\"private\": true, \"devDependencies\": {\"markdownlint-cli\": \"^0.39\"}}\n",
    );
    lint_only.write("package-lock.json", "{}\n");
    lint_only.write("poetry.lock", "\n");
    lint_only.write("api/Dockerfile", "FROM node\nCOPY . .\n");
    lint_only.write("api/package.json", "{\"name\": \"api\"}\n");
    let (text, _) = init_and_validate(&lint_only, &[]);
    assert_eq!(triggers(&text), ["/ci.toml"], "{text}");

    let holds = TestRepo::new();
    holds.write(
        "package.json",
        "{\"private\": true, \"workspaces\": [\"apps/*\"]}\n",
    );
    holds.write("package-lock.json", "{}\n");
    holds.write("apps/web/package.json", "{\"name\": \"web\"}\n");
    holds.write("apps/web/Dockerfile", "FROM node\nCOPY . .\n");
    holds.write("go.mod", "module example.com/m\n\ngo 1.22\n");
    holds.write("go.sum", "\n");
    holds.write(
        "compose.yaml",
        "services:\n  pay:\n    build:\n      context: ./\n      dockerfile: ./pay/Dockerfile\n",
    );
    holds.write(
        "pay/Dockerfile",
        "FROM golang\nCOPY go.mod go.sum ./\nCOPY pay ./pay\n",
    );
    let (text, _) = init_and_validate(&holds, &[]);
    assert_eq!(
        triggers(&text),
        ["/ci.toml", "/package-lock.json", "/go.sum"],
        "{text}"
    );
}

/// A Cargo dependency resolves to the Cargo package of that name, never to a Python project
/// that happens to share it.
#[test]
fn depends_on_resolves_within_one_ecosystem() {
    let repo = TestRepo::new();
    repo.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"server\", \"rust\"]\n",
    );
    repo.write(
        "server/Cargo.toml",
        "[package]\nname = \"server\"\nversion = \"1.0.0\"\n\n[dependencies]\nsvix = { path = \"../rust\" }\n",
    );
    repo.write("server/Dockerfile", "FROM rust\nCOPY . .\n");
    repo.write(
        "rust/Cargo.toml",
        "[package]\nname = \"svix\"\nversion = \"1.0.0\"\n",
    );
    repo.write(
        "sdks/python/pyproject.toml",
        "[project]\nname = \"svix\"\nversion = \"1.0.0\"\n",
    );
    let (text, services) = init_and_validate(&repo, &[]);
    assert_eq!(
        services["server"]["depends_on"].as_array().unwrap(),
        &vec![toml::Value::from("rust")],
        "{text}"
    );
}

/// A paths filter named as the service gives it only the globs outside every other unit's folder
/// and outside the workflows; the rest, and a filter of another name that watches the service's
/// folder, are a comment.
#[test]
fn paths_filters_never_include_other_units_or_workflows() {
    let repo = TestRepo::new();
    repo.write(
        ".github/workflows/server.yml",
        "on: push\njobs:\n  changes:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: dorny/paths-filter@v3\n        with:\n          filters: |\n            server:\n              - 'server/**'\n              - 'rust/**'\n              - 'cli/**'\n              - '.github/workflows/server.yml'\n              - 'openapi/**'\n            javascript:\n              - 'javascript/**'\n              - 'server/openapi.json'\n",
    );
    repo.write("server/Dockerfile", "FROM rust\nCOPY . .\n");
    repo.write("cli/Dockerfile", "FROM rust\nCOPY . .\n");
    repo.write(
        "rust/Cargo.toml",
        "[package]\nname = \"sdk\"\nversion = \"1.0.0\"\n",
    );
    repo.write("Cargo.toml", "[workspace]\nmembers = [\"rust\"]\n");
    repo.write("openapi/spec.json", "{}\n");
    repo.write("javascript/package.json", "{\"name\": \"sdk-js\"}\n");
    let (text, services) = init_and_validate(&repo, &[]);
    assert_eq!(
        services["server"]["include"].as_array().unwrap(),
        &vec![toml::Value::from("openapi/**")],
        "{text}"
    );
    assert!(services["cli"].get("include").is_none(), "{text}");
    assert!(
        text.contains(
            "watches them (another unit's folder, a workflow, or a filter of another name): [\"rust/**\", \"cli/**\", \".github/workflows/server.yml\"]"
        ),
        "{text}"
    );
    assert!(text.contains("the `javascript` paths filter"), "{text}");
}

/// `global.ignore = ["**/*.md"]` is left out when a Dockerfile copies a .md file (validate would
/// warn on init's own output), and kept when none does.
#[test]
fn the_default_ignore_never_hides_what_a_dockerfile_copies() {
    let repo = TestRepo::new();
    repo.write("web/Dockerfile", "FROM node\nCOPY . .\n");
    repo.write("web/README.md", "# web\n");
    repo.write("api/Dockerfile", "FROM go\nCOPY main.go .\n");
    repo.write("api/main.go", "package main\n");
    repo.write("README.md", "# all\n");
    repo.commit("initial import");
    let (text, _) = init_and_validate(&repo, &[]);
    let toml: toml::Table = text.parse().unwrap();
    assert_eq!(
        toml["global"]["ignore"].as_array().unwrap(),
        &Vec::<toml::Value>::new(),
        "{text}"
    );
    assert!(text.contains("web/README.md"), "{text}");
    let v = shipit_run(&repo.dir, &["validate"]);
    assert!(!v.stderr.contains("warning"), "{}", v.transcript());

    let clean = TestRepo::new();
    clean.write("api/Dockerfile", "FROM go\nCOPY main.go .\n");
    clean.write("api/main.go", "package main\n");
    clean.write("api/README.md", "# api\n");
    clean.commit("initial import");
    let (text, _) = init_and_validate(&clean, &[]);
    assert!(text.contains("ignore = [\"**/*.md\"]"), "{text}");
    let v = shipit_run(&clean.dir, &["validate"]);
    assert!(!v.stderr.contains("warning"), "{}", v.transcript());
}
