//! `--format json` of `release`, `retain`, `deploy` and `validate`: one object on stdout, with
//! `schema` and `command`, equal to what `--report FILE` writes; against the real engine, registry
//! and the ECS double.

use serde_json::{Value, json};

use crate::support::ecs_double::{EcsDouble, Script};
use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{run, shipit};
use crate::support::{busybox, registry, unique};

/// The one JSON object of stdout (and nothing else there).
fn object(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line of JSON on stdout: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn image_repo(registry: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            r#"[project]
registry = "{registry}"

[services.api]
path = "services/api"
test = "true"

[services.common]
path = "libs/common"
image = false
test = "true"
"#
        ),
    );
    // The image is built from the committed tree: busybox is committed with it.
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY app.txt /app.txt\n",
    );
    repo.write("services/api/app.txt", "api");
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.write("libs/common/lib.txt", "common");
    repo.commit("initial import");
    repo
}

#[test]
fn release_prints_one_object_equal_to_its_report() {
    let prefix = unique("json-release");
    let repo = image_repo(&format!("oci://{}/{prefix}", registry()));
    repo.git(&["switch", "-q", "-c", "develop"]);
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "release", "--all", "--branch", "develop", "--format", "json", "--report",
    ])
    .arg(&report);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let out = object(&r.stdout);
    assert_eq!(out, read_json(&report), "stdout and --report agree");
    assert_eq!(out["schema"], json!(1));
    assert_eq!(out["command"], json!("release"));
    assert_eq!(out["success"], json!(true));
    assert_eq!(out["plan"]["environment"], json!("stage"));
    let results = out["results"].as_array().unwrap();
    let api = results.iter().find(|s| s["name"] == "api").unwrap();
    assert_eq!(api["outcome"]["result"], json!("released"), "{api}");
    assert_eq!(api["version"], json!("0.1.0"));
    let digest = api["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{api}");
    // What the object says is in the registry is there.
    let tags = Oci::new(&registry(), None).tags(&format!("{prefix}/api"));
    assert!(tags.contains(&"stage-0.1.0".to_string()), "{tags:?}");
    // Progress stays on stderr.
    assert!(r.stderr.contains("api"), "{}", r.stderr);

    // A rerun: the same object shape, nothing released.
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "release", "--all", "--branch", "develop", "--format", "json",
    ]);
    let again = object(&run(cmd).stdout);
    let api = again["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api")
        .unwrap()
        .clone();
    assert_eq!(api["outcome"]["result"], json!("unchanged"), "{api}");
    assert_eq!(api["digest"].as_str(), Some(digest));
}

#[test]
fn retain_prints_one_object_equal_to_its_report() {
    let prefix = unique("json-retain");
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    for i in 0..3 {
        oci.push(&name, &format!("image-{i}"), &[&format!("stage-1.0.{i}")]);
    }
    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{}/{prefix}\"\nretain = 2\n\n[services.api]\npath = \"services/api\"\n",
            registry()
        ),
        &["services/api"],
    );
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("retain.json");
    let mut cmd = shipit(&repo.dir);
    cmd.args(["retain", "--format", "json", "--report"])
        .arg(&report);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let out = object(&r.stdout);
    assert_eq!(out, read_json(&report));
    assert_eq!(out["schema"], json!(1));
    assert_eq!(out["command"], json!("retain"));
    assert_eq!(out["applied"], json!(false));
    assert_eq!(out["success"], json!(true));
    let repos = out["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 1, "{out}");
    assert_eq!(repos[0]["service"], json!("api"));
    let decisions = repos[0]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{out}");
    let deleted: Vec<&Value> = decisions
        .iter()
        .filter(|d| d.to_string().contains("stage-1.0.0"))
        .collect();
    assert_eq!(deleted.len(), 1);
    assert!(
        !deleted[0].to_string().contains("\"keep\""),
        "the oldest goes: {out}"
    );
    // A dry run: nothing removed.
    assert_eq!(oci.tags(&name).len(), 3);
}

#[test]
fn deploy_prints_one_object_per_run_with_each_cluster() {
    let prefix = unique("json-deploy");
    let oci = Oci::new(&registry(), None);
    oci.push(&format!("{prefix}/api"), "v1", &["stage-1.0.0"]);
    oci.push(&format!("{prefix}/api"), "v0", &["stage-0.9.0"]);
    let toml = format!(
        r#"[project]
registry = "oci://{}/{prefix}"

[environments.stage]
branch = "develop"
clusters = ["json-a", "json-b"]
rollout_timeout = "3s"
poll_interval = "50ms"

[services.api]
path = "services/api"
"#,
        registry()
    );
    let repo = TestRepo::with_config(&toml, &["services/api"]);
    let double = EcsDouble::start();
    let image = format!("{}/{prefix}/api", registry());
    double.service(
        "json-a",
        "api",
        "api",
        &format!("{image}:stage-0.9.0"),
        Script::SucceedAfter(1),
    );
    double.service(
        "json-b",
        "api",
        "api",
        &format!("{image}:stage-0.9.0"),
        Script::Fail(1),
    );
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("deploy.json");
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "deploy",
        "--env",
        "stage",
        "--service",
        "api",
        "--version",
        "1.0.0",
        "--format",
        "json",
        "--report",
    ])
    .arg(&report)
    .env("AWS_ENDPOINT_URL_ECS", &double.endpoint)
    .env("AWS_REGION", "us-east-1")
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test");
    let r = run(cmd);
    assert_eq!(r.code, 1, "one cluster failed: {}", r.transcript());
    let out = object(&r.stdout);
    assert_eq!(out, read_json(&report));
    assert_eq!(out["schema"], json!(1));
    assert_eq!(out["command"], json!("deploy"));
    assert_eq!(out["success"], json!(false));
    assert_eq!(out["environment"], json!("stage"));
    assert_eq!(out["service"], json!("api"));
    assert_eq!(out["version"], json!("1.0.0"));
    assert_eq!(out["image"], json!(format!("{image}:stage-1.0.0")));
    let clusters = out["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2, "{out}");
    assert_eq!(clusters[0]["cluster"], json!("json-a"));
    assert_eq!(clusters[0]["result"], json!("done"), "{out}");
    assert!(
        clusters[0]["task_definition"]
            .as_str()
            .unwrap()
            .contains(":task-definition/api:"),
        "{out}"
    );
    assert_eq!(clusters[1]["cluster"], json!("json-b"));
    assert_eq!(clusters[1]["result"], json!("failed"), "{out}");
    assert!(clusters[1]["why"].as_str().is_some(), "{out}");
}

#[test]
fn validate_prints_the_configuration_or_every_problem_with_its_place() {
    let repo = TestRepo::with_config(
        "[services.api]\npath = \"services/api\"\ndepends_on = [\"common\"]\n\n[services.common]\npath = \"libs/common\"\nimage = false\n",
        &["services/api", "libs/common"],
    );
    repo.write("services/api/Dockerfile", "FROM scratch\n");
    let mut cmd = shipit(&repo.dir);
    cmd.args(["validate", "--format", "json"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let out = object(&r.stdout);
    assert_eq!(out["schema"], json!(1));
    assert_eq!(out["command"], json!("validate"));
    assert_eq!(out["valid"], json!(true));
    assert_eq!(out["errors"], json!([]));
    let names: Vec<&str> = out["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "common"]);
    assert_eq!(out["services"][0]["depends_on"], json!(["common"]));
    assert_eq!(out["services"][1]["image"], json!(false));
    let envs: Vec<&str> = out["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["dev", "prod", "stage"]);

    // Two problems: each with its line and column; exit 2; the message on stderr too.
    repo.write(
        "ci.toml",
        "[project]\nretain = 0\n\n[services.api]\n  path = \"services/ap\"\n",
    );
    let mut cmd = shipit(&repo.dir);
    cmd.args(["validate", "--format", "json"]);
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    let out = object(&r.stdout);
    assert_eq!(out["valid"], json!(false));
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{out}");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("retain"),
        "{out}"
    );
    assert_eq!(errors[0]["line"], json!(2), "{out}");
    assert_eq!(errors[0]["column"], json!(10), "{out}");
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("services/ap"),
        "{out}"
    );
    assert_eq!(errors[1]["line"], json!(5), "{out}");
    assert_eq!(errors[1]["column"], json!(10), "{out}");
    assert!(r.stderr.contains("services/ap"), "{}", r.stderr);
}

/// `deploy` and `retain` with `--format json` and bad input print a JSON object naming the
/// problem on stdout, as `validate` does (stderr still says it; exit 2; nothing asked of a service).
#[test]
fn deploy_and_retain_print_a_json_error_for_bad_input() {
    let repo = image_repo("oci://127.0.0.1:1/never-asked");
    for (args, command, says) in [
        (
            &[
                "deploy",
                "--env",
                "qa",
                "--service",
                "api",
                "--version",
                "1.0.0",
            ][..],
            "deploy",
            "`qa` is not an environment",
        ),
        (
            &[
                "deploy",
                "--env",
                "prod",
                "--service",
                "api",
                "--version",
                "1.x",
            ][..],
            "deploy",
            "`1.x` is not a version",
        ),
        (&["retain", "--env", "qa"][..], "retain", "qa"),
    ] {
        let mut cmd = shipit(&repo.dir);
        cmd.args(args).args(["--format", "json"]);
        let r = run(cmd);
        assert_eq!(r.code, 2, "{}", r.transcript());
        let out = object(&r.stdout);
        assert_eq!(out["command"], json!(command));
        assert_eq!(out["success"], json!(false));
        let message = out["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
        assert!(r.stderr.contains(says), "{}", r.transcript());
    }
}
