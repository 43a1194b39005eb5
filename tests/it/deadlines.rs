//! Every network call has a deadline and a retry policy: a registry, ECR or ECS endpoint that
//! accepts the connection and never answers ends `plan`, `release`, `retain` and `deploy` with a
//! clear error within a bounded time; a 503 or a 429 from an OCI registry is retried.

use std::time::Duration;

use crate::support::git::TestRepo;
use crate::support::netfake::{Server, run_within};
use crate::support::registry::Oci;
use crate::support::shipit::shipit;
use crate::support::{registry, unique};

/// Long enough for a bounded command on a loaded machine, far shorter than any default deadline.
const LIMIT: Duration = Duration::from_secs(40);

fn repo(registry: &str) -> TestRepo {
    repo_with(registry, r#"clusters = ["stage-a"]"#)
}

fn repo_with(registry: &str, clusters: &str) -> TestRepo {
    let toml = format!(
        r#"[project]
registry = "{registry}"

[environments.stage]
branch = "develop"
{clusters}
rollout_timeout = "5s"

[services.api]
path = "services/api"
"#
    );
    let repo = TestRepo::with_config(&toml, &["services/api"]);
    // A plan, like the release, refuses a build whose Dockerfile is not in the commit.
    repo.change(
        "services/api/Dockerfile",
        "FROM scratch\n",
        "chore: dockerfile",
    );
    repo
}

#[test]
fn a_registry_that_never_answers_ends_plan_release_and_retain_with_a_clear_error() {
    let silent = Server::silent();
    let repo = repo_with(&format!("oci://{}/team", silent.addr), "");
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    for args in [
        &["plan", "--branch", "develop", "--all"][..],
        &[
            "release", "--branch", "develop", "--all", "--skip", "rollout",
        ][..],
        &["retain", "--env", "stage"][..],
    ] {
        let mut cmd = shipit(&repo.dir);
        cmd.args(args).env("SHIPIT_HTTP_TIMEOUT", "1s");
        let (r, took) = run_within(cmd, LIMIT);
        assert_ne!(r.code, -9, "{args:?} hung: killed after {took:?}");
        assert_eq!(r.code, 2, "{args:?}: {}", r.transcript());
        assert!(
            r.stderr
                .contains(&format!("cannot reach the registry {}", silent.addr))
                && r.stderr.contains("no answer within 1s")
                && r.stderr.contains("SHIPIT_HTTP_TIMEOUT"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
    }
    assert!(silent.seen() >= 3, "the registry was asked");
}

#[test]
fn an_ecr_endpoint_that_never_answers_ends_retain_with_a_clear_error() {
    let silent = Server::silent();
    let repo = repo("ecr");
    let mut cmd = shipit(&repo.dir);
    cmd.args(["retain", "--env", "stage"])
        .env("SHIPIT_HTTP_TIMEOUT", "1s")
        .env("AWS_ENDPOINT_URL", format!("http://{}", silent.addr))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    let (r, took) = run_within(cmd, LIMIT);
    assert_ne!(r.code, -9, "retain hung: killed after {took:?}");
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);
    assert!(took < Duration::from_secs(25), "took {took:?}");
}

#[test]
fn an_ecs_endpoint_that_never_answers_ends_deploy_within_its_deadline() {
    let prefix = unique("deadline");
    let oci = Oci::new(&registry(), None);
    oci.push(&format!("{prefix}/api"), "v1", &["stage-1.0.0"]);
    let silent = Server::silent();
    let repo = repo(&format!("oci://{}/{prefix}", registry()));
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "deploy",
        "--env",
        "stage",
        "--service",
        "api",
        "--version",
        "1.0.0",
    ])
    .env("SHIPIT_HTTP_TIMEOUT", "1s")
    .env("AWS_ENDPOINT_URL_ECS", format!("http://{}", silent.addr))
    .env("AWS_REGION", "us-east-1")
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test");
    let (r, took) = run_within(cmd, LIMIT);
    assert_ne!(r.code, -9, "deploy hung: killed after {took:?}");
    assert_ne!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stderr.contains("cannot reach ecs") && r.stderr.contains("DescribeServices"),
        "{}",
        r.transcript()
    );
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert!(silent.seen() >= 1, "ECS was asked");
}

#[test]
fn a_registry_answering_503_then_429_is_retried_until_it_works() {
    let prefix = unique("retry");
    let oci = Oci::new(&registry(), None);
    oci.push(&format!("{prefix}/api"), "v1", &["stage-1.2.3"]);
    for status in [503, 429] {
        let flaky = Server::failing_then_forwarding(2, status, &registry());
        let repo = repo(&format!("oci://{}/{prefix}", flaky.addr));
        let mut cmd = shipit(&repo.dir);
        cmd.args(["plan", "--branch", "develop", "--all", "--format", "json"]);
        let (r, took) = run_within(cmd, LIMIT);
        assert_eq!(r.code, 0, "{status}: {}", r.transcript());
        assert_eq!(flaky.seen(), 2, "both {status} answers were met");
        let plan = r.json();
        assert_eq!(
            plan["services"][0]["last_version"], "1.2.3",
            "{status}: the plan read the registry through the retries: {plan}"
        );
        assert!(took < Duration::from_secs(20), "took {took:?}");
    }
}

#[test]
fn a_timeout_that_is_not_a_duration_is_bad_input() {
    let repo = repo("oci://127.0.0.1:1/team");
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--all"])
        .env("SHIPIT_HTTP_TIMEOUT", "soon");
    let (r, _) = run_within(cmd, LIMIT);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("SHIPIT_HTTP_TIMEOUT=`soon` is not a duration"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_git_remote_that_never_answers_ends_the_fetch_of_before_with_a_warning() {
    let silent = Server::silent();
    let origin = TestRepo::with_config(
        "[services.web]\npath = \"services/web\"\n\n[services.worker]\npath = \"services/worker\"\n",
        &["services/web", "services/worker"],
    );
    let before = origin.change("services/web/a", "1", "web");
    origin.change("services/worker/a", "1", "worker");
    let clone = origin.clone_to("shallow", &["--depth", "1"]);
    crate::support::git::git(
        &clone,
        &[
            "remote",
            "set-url",
            "origin",
            &format!("http://{}/repo.git", silent.addr),
        ],
    );
    let tmp = tempfile::tempdir().unwrap();
    let event = tmp.path().join("event.json");
    std::fs::write(&event, serde_json::json!({ "before": before }).to_string()).unwrap();
    let mut cmd = shipit(&clone);
    cmd.args(["affected", "--format", "json"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &event)
        .env("SHIPIT_HTTP_TIMEOUT", "1s");
    let (r, took) = run_within(cmd, LIMIT);
    assert_ne!(r.code, -9, "the fetch hung: killed after {took:?}");
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.json()["all"], serde_json::json!(true), "{}", r.stdout);
    assert!(silent.seen() >= 1, "the remote was asked");
    assert!(took < Duration::from_secs(25), "took {took:?}");
}

#[test]
fn a_registry_that_never_answers_the_engine_ends_the_push_within_its_deadline() {
    // Answers shipit (an empty repository) and the engine's first question, then nothing: the
    // engine's own client waits for a layer upload without a deadline.
    let registry = Server::scripted(|req, _| {
        let engine = req
            .header("user-agent")
            .is_some_and(|ua| ua.contains("docker"));
        if engine && req.path == "/v2/" {
            return (200, vec![], "{}".into());
        }
        if engine {
            std::thread::sleep(Duration::from_secs(3600));
        }
        (
            404,
            vec![],
            r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#.into(),
        )
    });
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            "[project]\nregistry = \"oci://{}/team\"\n\n[services.api]\npath = \"services/api\"\n",
            registry.addr
        ),
    );
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    std::fs::copy(
        crate::support::busybox(),
        repo.dir.join("services/api/busybox"),
    )
    .unwrap();
    repo.commit("initial import");
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all"])
        .env("SHIPIT_HTTP_TIMEOUT", "1s");
    let (r, took) = run_within(cmd, Duration::from_secs(90));
    assert_ne!(r.code, -9, "the push hung: killed after {took:?}");
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr.contains("did not finish within 30s"),
        "{}",
        r.stderr
    );
    assert!(
        registry.requests().iter().any(|q| q
            .header("user-agent")
            .is_some_and(|ua| ua.contains("docker"))),
        "the engine reached the registry"
    );
}
