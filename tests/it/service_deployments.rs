//! Rollouts judged by ECS service deployments (DescribeServiceDeployments): native blue/green,
//! canary and linear deployments followed through their lifecycle stages, ECS's own rollbacks
//! (alarms, circuit breaker) named, a PAUSE hook as its own outcome, shipit's timeout rolled back
//! with StopServiceDeployment, and the double's answers checked against botocore's ECS model.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::rollout::{Setup, deploy, setup};
use crate::support::ecs_double::{Script, Timeline};

fn count(calls: &[String], name: &str) -> usize {
    calls.iter().filter(|c| *c == name).count()
}

fn native(timeline: Timeline, extra_env: &str) -> Setup {
    setup(
        &[("stage-a", Script::Timeline(timeline))],
        "stage-0.9.0",
        extra_env,
    )
}

fn stops(s: &Setup) -> Vec<Value> {
    s.double
        .requests()
        .into_iter()
        .filter(|(op, _)| op == "StopServiceDeployment")
        .map(|(_, body)| body)
        .collect()
}

#[test]
fn a_blue_green_bake_is_waited_through_and_shown_not_a_failure() {
    let s = native(Timeline::BlueGreen { bake: 5 }, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(r.stdout.contains("stage-a: api:2"), "{}", r.stdout);
    // Progress lines name the strategy, the stage and the traffic.
    assert!(
        r.stderr
            .contains("BLUE_GREEN IN_PROGRESS in BAKE_TIME, production traffic 100%"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("TEST_TRAFFIC_SHIFT"), "{}", r.stderr);
    let calls = s.double.calls();
    assert_eq!(count(&calls, "UpdateService"), 1, "{calls:?}");
    assert!(stops(&s).is_empty());
    assert_eq!(
        s.double.deployment_status("stage-a", "api").as_deref(),
        Some("SUCCESSFUL")
    );
}

#[test]
fn canary_and_linear_steps_show_their_traffic_weights() {
    let s = native(Timeline::Canary, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let ten = r
        .stderr
        .find("CANARY IN_PROGRESS in PRODUCTION_TRAFFIC_SHIFT, production traffic 10%");
    let all = r
        .stderr
        .find("CANARY IN_PROGRESS in PRODUCTION_TRAFFIC_SHIFT, production traffic 100%");
    assert!(ten.is_some() && all.is_some() && ten < all, "{}", r.stderr);

    let s = native(Timeline::Linear, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let at = |w: &str| {
        r.stderr
            .find(&format!(
                "LINEAR IN_PROGRESS in PRODUCTION_TRAFFIC_SHIFT, production traffic {w}%"
            ))
            .unwrap_or_else(|| panic!("{w}%: {}", r.stderr))
    };
    assert!(at("25") < at("50") && at("50") < at("75") && at("75") < at("100"));
}

#[test]
fn an_alarm_rollback_names_the_alarm_and_is_not_called_a_circuit_breaker() {
    let s = native(Timeline::AlarmRollback, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains(
            "ECS rolled the deployment back: the CloudWatch alarm api-5xx went into ALARM"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("(rolled back by ECS)"), "{}", r.stdout);
    assert!(!r.stdout.contains("circuit breaker"), "{}", r.stdout);
    assert_eq!(count(&s.double.calls(), "UpdateService"), 1);
    assert!(
        stops(&s).is_empty(),
        "ECS rolled back: shipit asks nothing more"
    );
    assert!(s.double.current("stage-a", "api").0.ends_with("/api:1"));
}

#[test]
fn a_circuit_breaker_rollback_gives_its_count_and_threshold() {
    let s = native(Timeline::CircuitBreakerRollback, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("the deployment circuit breaker counted 3 failed tasks (threshold 3)"),
        "{}",
        r.stdout
    );
    assert_eq!(count(&s.double.calls(), "UpdateService"), 1);
}

#[test]
fn a_bake_longer_than_the_timeout_is_stopped_with_rollback_never_a_second_update() {
    let s = native(Timeline::BlueGreen { bake: 100_000 }, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("did not finish within 3s"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rolled back to api:1"), "{}", r.stdout);
    let calls = s.double.calls();
    assert_eq!(count(&calls, "UpdateService"), 1, "{calls:?}");
    let stops = stops(&s);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0]["stopType"], "ROLLBACK");
    assert_eq!(
        s.double.deployment_status("stage-a", "api").as_deref(),
        Some("ROLLBACK_SUCCESSFUL")
    );
}

#[test]
fn traffic_shifted_is_enough_when_the_environment_says_so() {
    let s = native(
        Timeline::BlueGreen { bake: 100_000 },
        "rollout_wait = \"traffic-shifted\"\n",
    );
    let started = Instant::now();
    let r = deploy(&s, &["--version", "1.0.0", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it did not wait for the bake"
    );
    let json = r.json();
    assert_eq!(json["success"], true, "{json}");
    assert_eq!(json["clusters"][0]["result"], "shifted", "{json}");
    assert!(stops(&s).is_empty());
    assert_eq!(
        s.double.deployment_status("stage-a", "api").as_deref(),
        Some("IN_PROGRESS"),
        "the bake goes on after shipit"
    );
}

#[test]
fn a_deployment_paused_at_a_hook_is_its_own_outcome_and_nothing_starts_on_top_of_it() {
    let s = native(Timeline::PauseHook, "");
    let started = Instant::now();
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(started.elapsed() < Duration::from_secs(3), "not a timeout");
    assert!(
        r.stdout
            .contains("waits at a PAUSE hook in POST_TEST_TRAFFIC_SHIFT (hook hook-pause-1)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("shipit deploy --continue"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("did not finish"), "{}", r.stdout);
    assert!(
        stops(&s).is_empty(),
        "a paused deployment is not rolled back"
    );
    // A second deploy does not start a deployment on top of the paused one.
    let again = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(again.code, 1, "{}", again.transcript());
    assert!(
        again
            .stdout
            .contains("a BLUE_GREEN deployment of stage-a/api is still under way"),
        "{}",
        again.stdout
    );
    let calls = s.double.calls();
    assert_eq!(count(&calls, "UpdateService"), 1, "{calls:?}");
    assert_eq!(count(&calls, "RegisterTaskDefinition"), 1, "{calls:?}");
}

#[test]
fn a_code_deploy_service_is_refused_before_anything_is_registered() {
    let s = native(Timeline::Rolling(1), "");
    s.double.controller("stage-a", "api", "CODE_DEPLOY");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("nothing was registered or deployed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("`CODE_DEPLOY`"), "{}", r.stderr);
    assert_eq!(s.double.calls(), ["DescribeServices"]);
}

/// ECS calls per service and cluster: four before the polls (describe, describe the task
/// definition, register, update), then each poll one DescribeServices and one
/// DescribeServiceDeployments; nothing else.
#[test]
fn a_rolling_deployment_makes_four_calls_plus_polls() {
    let s = native(Timeline::Rolling(3), "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
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
    let rest = &calls[4..];
    assert_eq!(count(rest, "DescribeServiceDeployments"), 3, "{calls:?}");
    assert_eq!(count(rest, "DescribeServices"), 3, "{calls:?}");
    assert_eq!(rest.len(), 6, "{calls:?}");
}

/// Every answer the double gives, in every scripted timeline, against botocore's ECS service
/// model: each member exists in the output shape, with the right type, enums with allowed values.
#[test]
fn every_answer_of_the_double_has_the_shape_of_the_ecs_api() {
    let mut answers: Vec<(String, Value)> = Vec::new();
    for timeline in [
        Timeline::Rolling(2),
        Timeline::BlueGreen { bake: 2 },
        Timeline::Canary,
        Timeline::Linear,
        Timeline::AlarmRollback,
        Timeline::CircuitBreakerRollback,
        Timeline::PauseHook,
        Timeline::BlueGreen { bake: 100_000 },
    ] {
        let s = native(timeline, "");
        deploy(&s, &["--version", "1.0.0"]);
        answers.extend(s.double.answers());
    }
    let ops: std::collections::BTreeSet<&str> = answers.iter().map(|(o, _)| o.as_str()).collect();
    for op in [
        "DescribeServices",
        "DescribeTaskDefinition",
        "RegisterTaskDefinition",
        "UpdateService",
        "DescribeServiceDeployments",
        "StopServiceDeployment",
    ] {
        assert!(ops.contains(op), "{op} was never answered: {ops:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answers.json");
    std::fs::write(&file, serde_json::to_vec(&answers).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/ecs_shapes.py"
        ))
        .arg(&file)
        .output()
        .expect("python3 with botocore (the test venv: source /work/services.env)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = String::from_utf8_lossy(&out.stdout);
    assert!(checked.contains("checked"), "{checked}");
}

#[test]
fn deploy_continue_lets_a_paused_deployment_go_on_and_watches_it_to_the_end() {
    let s = native(Timeline::PauseHook, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    let go = deploy(&s, &["--continue"]);
    assert_eq!(go.code, 0, "{}", go.transcript());
    assert!(go.stdout.contains("stage-a: api:2"), "{}", go.stdout);
    let continued: Vec<Value> = s
        .double
        .requests()
        .into_iter()
        .filter(|(op, _)| op == "ContinueServiceDeployment")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(continued.len(), 1, "{continued:?}");
    assert_eq!(continued[0]["action"], "CONTINUE");
    assert_eq!(continued[0]["hookId"], "hook-pause-1");
    assert_eq!(
        s.double.deployment_status("stage-a", "api").as_deref(),
        Some("SUCCESSFUL")
    );
    assert!(s.double.current("stage-a", "api").0.ends_with("/api:2"));
    // Nothing waits at a hook any more: a second --continue is bad input that changes nothing.
    let again = deploy(&s, &["--continue"]);
    assert_eq!(again.code, 2, "{}", again.transcript());
    assert!(
        again
            .stderr
            .contains("no deployment of stage-a/api waits at a PAUSE hook"),
        "{}",
        again.stderr
    );
}

#[test]
fn deploy_rollback_takes_a_paused_deployment_back() {
    let s = native(Timeline::PauseHook, "");
    let r = deploy(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    let back = deploy(&s, &["--rollback", "--format", "json"]);
    assert_eq!(back.code, 0, "{}", back.transcript());
    let json = back.json();
    assert_eq!(json["clusters"][0]["result"], "done", "{json}");
    assert!(
        json["clusters"][0]["task_definition"]
            .as_str()
            .unwrap()
            .ends_with("/api:1"),
        "{json}"
    );
    let actions: Vec<Value> = s
        .double
        .requests()
        .into_iter()
        .filter(|(op, _)| op == "ContinueServiceDeployment")
        .map(|(_, b)| b["action"].clone())
        .collect();
    assert_eq!(actions, ["ROLLBACK"]);
    assert_eq!(
        s.double.deployment_status("stage-a", "api").as_deref(),
        Some("ROLLBACK_SUCCESSFUL")
    );
    assert!(s.double.current("stage-a", "api").0.ends_with("/api:1"));
    assert_eq!(
        count(&s.double.calls(), "UpdateService"),
        1,
        "no second deployment"
    );
}

/// An alarm in moto's CloudWatch, in `state`.
fn alarm(name: &str, state: aws_sdk_cloudwatch::types::StateValue) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cw =
        aws_sdk_cloudwatch::Client::new(&crate::support::sdk_config(&rt, &crate::support::moto()));
    rt.block_on(async {
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(10.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason("test")
            .send()
            .await
            .unwrap();
    });
}

fn deploy_watched(s: &Setup, args: &[&str]) -> crate::support::shipit::Run {
    let mut cmd = crate::support::shipit::shipit(&s.repo.dir);
    cmd.args(["deploy", "--env", "stage", "--service", "api"])
        .args(args)
        .env("AWS_ENDPOINT_URL_ECS", &s.double.endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", crate::support::moto())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    crate::support::shipit::run(cmd)
}

#[test]
fn an_alarm_already_in_alarm_refuses_the_rollout_unless_forced() {
    use aws_sdk_cloudwatch::types::StateValue;
    let firing = crate::support::unique("api-5xx");
    let quiet = crate::support::unique("api-latency");
    alarm(&firing, StateValue::Alarm);
    alarm(&quiet, StateValue::Ok);
    let s = native(Timeline::Rolling(1), "");
    s.double.alarms("stage-a", "api", &[&firing, &quiet]);
    let r = deploy_watched(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    // The message as one line (miette wraps it).
    let flat = r
        .stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let named = format!("the deployment alarm {firing} of stage-a/api is in ALARM already");
    assert!(flat.contains(&named), "{flat}");
    assert!(!flat.contains(&quiet), "only the firing alarm: {flat}");
    assert_eq!(s.double.calls(), ["DescribeServices"], "nothing registered");

    let forced = deploy_watched(&s, &["--version", "1.0.0", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.transcript());
    assert!(s.double.current("stage-a", "api").0.ends_with("/api:2"));
}

#[test]
fn quiet_alarms_let_the_rollout_go() {
    use aws_sdk_cloudwatch::types::StateValue;
    let quiet = crate::support::unique("api-latency");
    alarm(&quiet, StateValue::Ok);
    let s = native(Timeline::Rolling(1), "");
    s.double.alarms("stage-a", "api", &[&quiet]);
    let r = deploy_watched(&s, &["--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
}
