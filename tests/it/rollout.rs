//! Rollouts: every failure users of other ECS deploy tools hit, against a scripted ECS double (for
//! the dynamics) and moto (for the call shapes with the real SDK).

use serde_json::{Value, json};

use crate::support::ecs_double::{EcsDouble, Script};
use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{Run, run, shipit};
use crate::support::{registry, unique};

pub(crate) struct Setup {
    pub repo: TestRepo,
    pub double: EcsDouble,
    pub image: String,
}

/// A repository whose `api` service rolls out to `clusters` in stage, a registry holding
/// `stage-1.0.0` of it, and the double running `running_tag` in every cluster with `script`.
pub(crate) fn setup(clusters: &[(&str, Script)], running_tag: &str, extra_env: &str) -> Setup {
    let prefix = unique("rollout");
    let oci = Oci::new(&registry(), None);
    oci.push(&format!("{prefix}/api"), "v1", &["stage-1.0.0"]);
    oci.push(&format!("{prefix}/api"), "v0", &["stage-0.9.0"]);
    let names: Vec<String> = clusters.iter().map(|(c, _)| format!("\"{c}\"")).collect();
    let toml = format!(
        r#"[project]
registry = "oci://{}/{prefix}"

[environments.stage]
branch = "develop"
clusters = [{}]
rollout_timeout = "3s"
poll_interval = "50ms"
{extra_env}
[services.api]
path = "services/api"
"#,
        registry(),
        names.join(", ")
    );
    let repo = TestRepo::with_config(&toml, &["services/api"]);
    let double = EcsDouble::start();
    let image = format!("{}/{prefix}/api", registry());
    for (cluster, script) in clusters {
        double.service(
            cluster,
            "api",
            "api",
            &format!("{image}:{running_tag}"),
            *script,
        );
    }
    Setup {
        repo,
        double,
        image,
    }
}

pub(crate) fn deploy(s: &Setup, args: &[&str]) -> Run {
    let mut cmd = shipit(&s.repo.dir);
    cmd.args(["deploy", "--env", "stage", "--service", "api"])
        .args(args)
        .env("AWS_ENDPOINT_URL_ECS", &s.double.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    run(cmd)
}

fn polls(calls: &[String]) -> usize {
    calls.iter().filter(|c| *c == "DescribeServices").count()
}

fn image_of(body: &Value) -> &str {
    body["containerDefinitions"][0]["image"].as_str().unwrap()
}

#[test]
fn success_after_three_polls_changes_only_the_image() {
    let s = setup(&[("stage-a", Script::SucceedAfter(3))], "stage-0.9.0", "");
    let (before_arn, before) = s.double.current("stage-a", "api");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let (after_arn, after) = s.double.current("stage-a", "api");
    assert_ne!(after_arn, before_arn);
    assert!(after_arn.ends_with("/api:2"), "{after_arn}");
    assert_eq!(image_of(&after), format!("{}:stage-1.0.0", s.image));
    // Every other field, empty values included, as it was; the tags carried over.
    let mut expected = before.clone();
    expected["containerDefinitions"][0]["image"] = json!(format!("{}:stage-1.0.0", s.image));
    assert_eq!(after, expected);
    assert_eq!(
        s.double.tags(&after_arn),
        json!([{"key": "team", "value": "core"}])
    );
    // The calls: describe, describe the task definition, register, one update, then the polls.
    let calls = s.double.calls();
    assert_eq!(
        &calls[..4],
        [
            "DescribeServices",
            "DescribeTaskDefinition",
            "RegisterTaskDefinition",
            "UpdateService"
        ]
    );
    assert_eq!(
        calls[4..]
            .iter()
            .filter(|c| *c != "DescribeServices")
            .count(),
        0,
        "{calls:?}"
    );
    assert_eq!(polls(&calls[4..]), 3, "{calls:?}");
    assert!(r.stdout.contains("stage-a: api:2"), "{}", r.stdout);
}

#[test]
fn a_circuit_breaker_rollback_is_a_failure_never_a_success() {
    let s = setup(&[("stage-a", Script::CircuitBreaker(2))], "stage-0.9.0", "");
    let (before_arn, _) = s.double.current("stage-a", "api");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stdout.contains("circuit breaker"), "{}", r.stdout);
    assert!(
        r.stdout.contains("rolling back to the previous deployment"),
        "the last events are shown: {}",
        r.stdout
    );
    assert_eq!(s.double.current("stage-a", "api").0, before_arn);
    let updates = s
        .double
        .calls()
        .iter()
        .filter(|c| *c == "UpdateService")
        .count();
    assert_eq!(
        updates, 1,
        "ECS rolled back already: shipit does not update again"
    );
}

#[test]
fn a_failed_deployment_is_rolled_back_by_shipit() {
    let s = setup(&[("stage-a", Script::Fail(2))], "stage-0.9.0", "");
    let (before_arn, _) = s.double.current("stage-a", "api");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("the deployment failed: ECS deployment circuit breaker"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rolled back to api:1"), "{}", r.stdout);
    assert!(
        r.stdout.contains("failed container health checks"),
        "{}",
        r.stdout
    );
    assert_eq!(s.double.current("stage-a", "api").0, before_arn);
}

#[test]
fn a_crash_loop_fails_instead_of_waiting_forever() {
    let s = setup(&[("stage-a", Script::CrashLoop)], "stage-0.9.0", "");
    let started = std::time::Instant::now();
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("tasks of the new deployment stopped"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Essential container in task exited"),
        "{}",
        r.stdout
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "it did not wait for the deadline"
    );
    assert!(s.double.current("stage-a", "api").0.ends_with("/api:1"));
}

#[test]
fn the_deadline_passing_is_a_failure_and_rolls_back() {
    let s = setup(&[("stage-a", Script::Never)], "stage-0.9.0", "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("did not finish within 3s"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rolled back to api:1"), "{}", r.stdout);
    assert!(s.double.current("stage-a", "api").0.ends_with("/api:1"));
}

#[test]
fn a_missing_service_says_so_and_changes_nothing() {
    let s = setup(&[("stage-a", Script::SucceedAfter(1))], "stage-0.9.0", "");
    let toml = std::fs::read_to_string(s.repo.dir.join("ci.toml"))
        .unwrap()
        .replace(
            "path = \"services/api\"",
            "path = \"services/api\"\necs_service = \"api-v2\"",
        );
    s.repo.change("ci.toml", &toml, "another service name");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("stage-a/api-v2 does not exist"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("MISSING"), "{}", r.stdout);
    assert!(
        r.stdout.contains("add `service_definition`"),
        "the message names the key that creates it: {}",
        r.stdout
    );
    assert_eq!(s.double.calls(), vec!["DescribeServices"]);
}

#[test]
fn throttling_is_retried() {
    let s = setup(&[("stage-a", Script::SucceedAfter(1))], "stage-0.9.0", "");
    s.double.throttle(1);
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(s.double.current("stage-a", "api").0.ends_with("/api:2"));
}

#[test]
fn two_clusters_where_one_fails() {
    let s = setup(
        &[
            ("clinic-a", Script::SucceedAfter(2)),
            ("clinic-b", Script::Fail(1)),
        ],
        "stage-0.9.0",
        "",
    );
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert_eq!(
        image_of(&s.double.current("clinic-a", "api").1),
        format!("{}:stage-1.0.0", s.image),
        "clinic-a runs the new version"
    );
    assert_eq!(
        image_of(&s.double.current("clinic-b", "api").1),
        format!("{}:stage-0.9.0", s.image),
        "clinic-b is back on the old one"
    );
    assert!(r.stdout.contains("clinic-a: api:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("clinic-b: the deployment failed"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_failing_canary_keeps_the_other_clusters_as_they_were() {
    let s = setup(
        &[
            ("canary", Script::Fail(1)),
            ("clinic-a", Script::SucceedAfter(1)),
        ],
        "stage-0.9.0",
        "canary = \"canary\"\n",
    );
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("clinic-a: not attempted: the canary cluster canary failed"),
        "{}",
        r.stdout
    );
    assert_eq!(
        image_of(&s.double.current("clinic-a", "api").1),
        format!("{}:stage-0.9.0", s.image)
    );
}

#[test]
fn a_lower_version_is_refused_unless_forced() {
    let s = setup(&[("stage-a", Script::SucceedAfter(1))], "stage-1.0.0", "");
    let r = deploy(&s, &["--version", "0.9.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("runs 1.0.0, which is higher than 0.9.0"),
        "{}",
        r.stdout
    );
    assert!(
        !s.double
            .calls()
            .contains(&"RegisterTaskDefinition".to_string())
    );
    let forced = deploy(&s, &["--version", "0.9.0", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.transcript());
    assert_eq!(
        image_of(&s.double.current("stage-a", "api").1),
        format!("{}:stage-0.9.0", s.image)
    );
}

#[test]
fn a_version_already_running_changes_nothing() {
    let s = setup(&[("stage-a", Script::SucceedAfter(1))], "stage-1.0.0", "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(r.stdout.contains("already running"), "{}", r.stdout);
    assert_eq!(
        s.double.calls(),
        vec!["DescribeServices", "DescribeTaskDefinition"]
    );
}

#[test]
fn a_container_name_that_does_not_match_is_an_error() {
    let s = setup(&[("stage-a", Script::SucceedAfter(1))], "stage-0.9.0", "");
    let toml = std::fs::read_to_string(s.repo.dir.join("ci.toml"))
        .unwrap()
        .replace(
            "path = \"services/api\"",
            "path = \"services/api\"\ncontainer = \"app\"",
        );
    s.repo.change("ci.toml", &toml, "wrong container");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("no container `app` (it has `api`, `sidecar`)"),
        "{}",
        r.stdout
    );
    assert!(
        !s.double
            .calls()
            .contains(&"RegisterTaskDefinition".to_string())
    );
}

#[test]
fn a_version_not_in_the_registry_is_bad_input() {
    let s = setup(&[("stage-a", Script::SucceedAfter(1))], "stage-0.9.0", "");
    let r = deploy(&s, &["--version", "7.7.7"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("stage-7.7.7 is not in the registry"),
        "{}",
        r.stderr
    );
    assert!(s.double.calls().is_empty());
}

#[test]
fn the_calls_have_the_shapes_moto_accepts() {
    use shipit::ecs::rollout::{Change, Deploy, Settings};
    let cluster = unique("moto-rollout");
    let moto_ecs = crate::support::ecs::MotoEcs::new(&crate::support::moto());
    moto_ecs.run(&cluster, "api", "api", "registry.example/api:stage-0.1.0");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ecs = shipit::ecs::Ecs::new(&crate::support::sdk_config(&rt, &crate::support::moto()));
    let deploy = Deploy {
        target: shipit::ecs::Target {
            cluster: cluster.clone(),
            service: "api".into(),
        },
        changes: vec![Change {
            service: "api".into(),
            container: "api".into(),
            image: shipit::image::ImageRef::parse("registry.example/api:stage-0.2.0").unwrap(),
            version: Some(semver::Version::new(0, 2, 0)),
            known: Default::default(),
        }],
        keep: Vec::new(),
        environment: "stage".into(),
        file: None,
        service_definition: None,
        force: false,
    };
    let settings = Settings {
        timeout: std::time::Duration::from_millis(300),
        poll: std::time::Duration::from_millis(100),
        max_failed_tasks: 3,
        wait_shifted: false,
    };
    // moto does not model rollouts (its deployment never finishes): the outcome is not the point
    // here, the calls are. Each of them must be accepted by a server that checks their shapes.
    let ended = rt
        .block_on(ecs.rollout(&cluster, vec![deploy], settings, &|_| {}))
        .expect("every call is accepted");
    assert_eq!(ended.len(), 1);
    assert!(
        !ended[0].1.is_success(),
        "moto never completes a deployment: {:?}",
        ended[0].1
    );
    let registered = rt
        .block_on(
            moto_ecs
                .client
                .describe_task_definition()
                .task_definition(format!("{cluster}-api:2"))
                .send(),
        )
        .expect("shipit registered revision 2");
    let td = registered.task_definition().unwrap();
    assert_eq!(
        td.container_definitions()[0].image(),
        Some("registry.example/api:stage-0.2.0")
    );
    assert_eq!(td.container_definitions()[0].memory(), Some(128));
}

#[test]
fn an_error_after_the_update_still_finishes_the_rollout_and_reports_every_cluster() {
    let s = setup(
        &[
            ("clinic-a", Script::SucceedAfter(2)),
            ("clinic-b", Script::Never),
        ],
        "stage-0.9.0",
        "",
    );
    // After its UpdateService, clinic-b's polls are refused three times (no retry cures that).
    s.double.refuse_polls("clinic-b", 3);
    let before_b = s.double.current("clinic-b", "api").0;
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(
        r.code,
        1,
        "a deployment was started: a failed stage, not bad input: {}",
        r.transcript()
    );
    assert!(r.stdout.contains("clinic-a: api:"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("clinic-b: the deployment did not finish within 3s")
            && r.stdout.contains("AccessDeniedException"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "(rolled back to {})",
            before_b.rsplit('/').next().unwrap()
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        s.double.current("clinic-b", "api").0,
        before_b,
        "clinic-b was watched to the end and rolled back"
    );
    assert_eq!(
        image_of(&s.double.current("clinic-a", "api").1),
        format!("{}:stage-1.0.0", s.image),
        "clinic-a's result is kept"
    );
}

#[test]
fn every_poll_reports_counts_failed_tasks_and_the_newest_event() {
    let s = setup(&[("stage-a", Script::SucceedAfter(3))], "stage-0.9.0", "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("stage-a: api "))
        .collect();
    assert_eq!(lines.len(), 3, "one line per poll: {}", r.stderr);
    assert_eq!(
        lines[0],
        "stage-a: api 0/1 running, 1 pending, 0 failed · (service api) has started 1 tasks"
    );
    assert_eq!(
        lines[2],
        "stage-a: api 1/1 running, 0 pending, 0 failed · (service api) has reached a steady state."
    );
    let crash = setup(&[("stage-a", Script::CrashLoop)], "stage-0.9.0", "");
    let r = deploy(&crash, &["--version", "1.0.0"]);
    assert!(
        r.stderr
            .contains("2 failed · (service api) (task 2) stopped"),
        "failed tasks are counted: {}",
        r.stderr
    );
}

#[test]
fn a_refused_rollback_is_reported_and_deploy_still_exits_1() {
    let s = setup(&[("stage-a", Script::Fail(1))], "stage-0.9.0", "");
    // The update goes through; the rollback after the failure is refused.
    s.double.refuse_updates_after(1);
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("stage-a: the deployment failed")
            && r.stdout
                .contains("(and the rollback failed: UpdateService back to api:1 was refused"),
        "{}",
        r.stdout
    );
}

/// `rollout_timeout` bounds the rollout's wall time even when ECS stops answering after the
/// update: the polls that never answer are cut at the deadline, and the rollback gets one call
/// deadline (`SHIPIT_HTTP_TIMEOUT`) more. The message says that the rollout timed out and what
/// became of the rollback.
#[test]
fn a_rollout_whose_ecs_stops_answering_ends_at_its_deadline_plus_one_call() {
    use std::time::Duration;
    let s = setup(&[("stage-a", Script::Never)], "stage-0.9.0", "");
    let toml = std::fs::read_to_string(s.repo.dir.join("ci.toml"))
        .unwrap()
        .replace("rollout_timeout = \"3s\"", "rollout_timeout = \"10s\"");
    s.repo.change("ci.toml", &toml, "a longer rollout");
    // DescribeServices, DescribeTaskDefinition, RegisterTaskDefinition and UpdateService are
    // answered; nothing after that.
    s.double.hang_after(4);
    let mut cmd = shipit(&s.repo.dir);
    cmd.args(["deploy", "--env", "stage", "--service", "api"])
        .args(["--version", "1.0.0"])
        .env("SHIPIT_HTTP_TIMEOUT", "2s")
        .env("AWS_ENDPOINT_URL_ECS", &s.double.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    let (r, took) = crate::support::netfake::run_within(cmd, Duration::from_secs(90));
    assert_ne!(r.code, -9, "deploy hung: killed after {took:?}");
    assert_eq!(r.code, 1, "{}", r.transcript());
    // 10s of rollout, 2s for the rollback's one call, and slack for starting up on a busy machine.
    assert!(
        took < Duration::from_secs(17),
        "took {took:?}: {}",
        r.transcript()
    );
    assert!(
        r.stdout.contains("did not finish within 10s"),
        "{}",
        r.transcript()
    );
    // The rollback was attempted, cut at its one call deadline, and said so.
    let rollback = r
        .stdout
        .split_once("UpdateService back to api:1")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    assert!(
        rollback.contains("no answer") && rollback.contains("within 2s"),
        "{}",
        r.transcript()
    );
    let calls = s.double.calls();
    assert!(
        calls.contains(&"UpdateService (no answer)".to_string()),
        "{calls:?}"
    );
}
