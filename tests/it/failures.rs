//! How a run ends is decided once: a stage that ran and failed exits 1 and its report says which
//! stage of which service failed, on what (command, image, repository, clusters); bad input exits
//! 2 before anything is tested, built, pushed, removed or deployed.

use serde_json::{Value, json};

use crate::support::ecs_double::{EcsDouble, Script};
use crate::support::git::TestRepo;
use crate::support::netfake::{Server, run_within};
use crate::support::registry::Oci;
use crate::support::shipit::{run, shipit};
use crate::support::{busybox, registry, unique};

fn results(report: &Value) -> &Vec<Value> {
    report["results"].as_array().expect("results")
}

fn outcome<'a>(report: &'a Value, service: &str) -> &'a Value {
    &results(report)
        .iter()
        .find(|r| r["name"] == service)
        .unwrap_or_else(|| panic!("no result for {service}: {report}"))["outcome"]
}

/// A repository with this ci.toml and a buildable `services/api`, committed, on `develop`.
fn image_repo_on_develop(toml: &str) -> TestRepo {
    let repo = TestRepo::with_config(toml, &["services/api"]);
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.commit("api");
    repo.git(&["switch", "-q", "-c", "develop"]);
    repo
}

#[test]
fn a_failed_test_is_reported_with_its_service_command_and_status() {
    let repo = TestRepo::with_config(
        r#"[services.api]
path = "services/api"
test = "echo the assertion that failed; exit 3"

[services.web]
path = "services/web"
test = "true"
"#,
        &["services/api", "services/web"],
    );
    repo.git(&["switch", "-q", "-c", "feature"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "release", "--all", "--branch", "feature", "--format", "json",
    ]);
    let r = run(cmd);
    assert_eq!(r.code, 1, "{}", r.transcript());
    let report = r.json();
    let api = outcome(&report, "api");
    assert_eq!(api["result"], json!("failed"), "{api}");
    assert_eq!(api["stage"], json!("test"), "{api}");
    assert_eq!(api["kind"], json!("test"), "{api}");
    assert_eq!(api["reason"], json!("exit"), "{api}");
    assert_eq!(api["service"], json!("api"), "{api}");
    assert_eq!(api["code"], json!(3), "{api}");
    assert_eq!(
        api["command"],
        json!("echo the assertion that failed; exit 3"),
        "{api}"
    );
    assert_eq!(
        api["tail"],
        json!(["the assertion that failed"]),
        "its last lines: {api}"
    );
    let error = api["error"].as_str().unwrap();
    assert!(
        error.contains("failed with exit status 3") && error.contains("the assertion that failed"),
        "{api}"
    );
    // The service that does not depend on it went through.
    assert_eq!(outcome(&report, "web")["result"], json!("tested"));
}

#[test]
fn a_rollout_that_fails_in_one_cluster_names_that_cluster_and_the_image() {
    let prefix = unique("fail-rollout");
    let toml = format!(
        r#"[project]
registry = "oci://{}/{prefix}"

[environments.stage]
branch = "develop"
clusters = ["fail-a", "fail-b"]
rollout_timeout = "5s"
poll_interval = "50ms"

[services.api]
path = "services/api"
"#,
        registry()
    );
    let repo = image_repo_on_develop(&toml);
    let image = format!("{}/{prefix}/api", registry());
    let double = EcsDouble::start();
    let running = format!("{image}:stage-0.0.9");
    double.service("fail-a", "api", "api", &running, Script::SucceedAfter(1));
    double.service("fail-b", "api", "api", &running, Script::Fail(1));
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("release.json");
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--all", "--branch", "develop", "--report"])
        .arg(&report)
        .env("AWS_ENDPOINT_URL_ECS", &double.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    let r = run(cmd);
    assert_eq!(r.code, 1, "{}", r.transcript());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let api = outcome(&report, "api");
    assert_eq!(api["stage"], json!("rollout"), "{api}");
    assert_eq!(api["kind"], json!("rollout"), "{api}");
    assert_eq!(
        api["clusters"],
        json!(["fail-b"]),
        "only the cluster that failed: {api}"
    );
    assert_eq!(api["image"], json!(format!("{image}:stage-0.1.0")), "{api}");
    assert!(api["error"].as_str().unwrap().contains("fail-b:"), "{api}");
}

#[test]
fn a_registry_that_answers_500_while_retain_reads_it_is_a_failure_not_bad_input() {
    let broken = Server::scripted(|req, _| match req.path.as_str() {
        "/v2/" => (200, Vec::new(), "{}".into()),
        _ => (500, Vec::new(), "internal error".into()),
    });
    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{}/team\"\n\n[environments.stage]\nbranch = \"develop\"\n\n[services.api]\npath = \"services/api\"\n",
            broken.addr
        ),
        &["services/api"],
    );
    let mut cmd = shipit(&repo.dir);
    cmd.args(["retain", "--env", "stage", "--apply"]);
    let (r, _) = run_within(cmd, std::time::Duration::from_secs(60));
    assert_eq!(
        r.code,
        1,
        "the input was fine; the registry failed: {}",
        r.transcript()
    );
    assert!(
        r.stderr.contains("retention of api") && r.stderr.contains("500"),
        "{}",
        r.stderr
    );
    assert!(broken.seen() >= 1, "the registry was asked");
}

#[test]
fn an_unset_build_secret_is_bad_input_before_anything_is_tested_or_pushed() {
    let prefix = unique("nosecret");
    let toml = format!(
        r#"[project]
registry = "oci://{}/{prefix}"

[environments.stage]
branch = "develop"

[services.api]
path = "services/api"
test = "touch ../../tested"
secrets = {{ NPM_TOKEN = "env:SHIPIT_TEST_UNSET_TOKEN" }}
"#,
        registry()
    );
    let repo = image_repo_on_develop(&toml);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--all", "--branch", "develop"])
        .env_remove("SHIPIT_TEST_UNSET_TOKEN");
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("SHIPIT_TEST_UNSET_TOKEN")
            && r.stderr.contains("NPM_TOKEN")
            && r.stderr.contains("nothing was built or pushed"),
        "{}",
        r.stderr
    );
    assert!(!repo.dir.join("tested").exists(), "no test ran");
    let tags = Oci::new(&registry(), None).tags(&format!("{prefix}/api"));
    assert!(tags.is_empty(), "nothing pushed: {tags:?}");
}

/// A failed test's output is printed once in a terminal and once in its log group under Actions,
/// not again as the failure's detail.
#[test]
fn a_failed_tests_output_is_printed_once() {
    let repo = TestRepo::with_config(
        // The command's text is not its output (`BOOM-42`), which the failure's first line names.
        "[services.api]\npath = \"services/api\"\ntest = \"echo BOOM-$((40+2)); exit 3\"\n",
        &["services/api"],
    );
    repo.git(&["switch", "-q", "-c", "feature"]);
    for actions in [false, true] {
        let mut cmd = shipit(&repo.dir);
        cmd.args(["release", "--all", "--branch", "feature"]);
        if actions {
            cmd.env("GITHUB_ACTIONS", "true");
        }
        let r = run(cmd);
        assert_eq!(r.code, 1, "{}", r.transcript());
        let all = format!("{}{}", r.stdout, r.stderr);
        // Under Actions the annotation says it once more, on its own `::error` line.
        let shown = all
            .lines()
            .filter(|l| l.contains("BOOM-42") && !l.starts_with("::error"))
            .count();
        assert_eq!(shown, 1, "{}", r.transcript());
    }
}
