//! The judgements of one poll, from answers built with the SDK's own types.

use aws_sdk_ecs::types::{
    Deployment, DeploymentConfiguration, DeploymentLifecycleHookDetail,
    DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType, DeploymentStrategy, Service,
    ServiceDeployment, ServiceDeploymentAlarms, ServiceDeploymentCircuitBreaker,
    ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentRollbackMonitorsStatus as Monitor,
    ServiceDeploymentStatus as Status,
};

use super::super::deployment;
use super::wait::{judge, judge_deployment};
use super::{Poll, Settings, Target};

const OURS: &str = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
const OLD: &str = "arn:aws:ecs:us-east-1:1:task-definition/api:1";

fn settings(wait_shifted: bool) -> Settings {
    Settings {
        timeout: std::time::Duration::from_secs(60),
        poll: std::time::Duration::from_secs(1),
        max_failed_tasks: 3,
        wait_shifted,
    }
}

fn deployment(td: &str, status: &str, failed: i32) -> Deployment {
    Deployment::builder()
        .task_definition(td)
        .status(status)
        .desired_count(1)
        .running_count(1)
        .failed_tasks(failed)
        .build()
}

fn service(strategy: Option<DeploymentStrategy>, deployments: Vec<Deployment>) -> Service {
    let mut config = DeploymentConfiguration::builder();
    if let Some(s) = strategy {
        config = config.strategy(s);
    }
    Service::builder()
        .desired_count(1)
        .running_count(1)
        .deployment_configuration(config.build())
        .set_deployments(Some(deployments))
        .build()
}

fn sd(
    status: Status,
    stage: Stage,
    strategy: DeploymentStrategy,
) -> aws_sdk_ecs::types::builders::ServiceDeploymentBuilder {
    ServiceDeployment::builder()
        .service_deployment_arn("arn:sd")
        .status(status)
        .lifecycle_stage(stage)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .strategy(strategy)
                .build(),
        )
}

#[test]
fn an_alarm_rollback_is_named_by_its_alarm() {
    let sd = sd(
        Status::RollbackSuccessful,
        Stage::CleanUp,
        DeploymentStrategy::BlueGreen,
    )
    .alarms(
        ServiceDeploymentAlarms::builder()
            .status(Monitor::Triggered)
            .alarm_names("api-5xx")
            .triggered_alarm_names("api-5xx")
            .build(),
    )
    .build();
    let s = service(None, vec![deployment(OLD, "PRIMARY", 0)]);
    match judge_deployment(&sd, &s, OURS, settings(false)) {
        Poll::RolledBackByEcs(why) => {
            assert!(
                why.contains("the CloudWatch alarm api-5xx went into ALARM"),
                "{why}"
            );
            assert!(!why.contains("circuit breaker"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_circuit_breaker_rollback_gives_count_and_threshold() {
    let sd = sd(
        Status::RollbackSuccessful,
        Stage::CleanUp,
        DeploymentStrategy::Rolling,
    )
    .deployment_circuit_breaker(
        ServiceDeploymentCircuitBreaker::builder()
            .status(Monitor::Triggered)
            .failure_count(5)
            .threshold(5)
            .build(),
    )
    .build();
    let s = service(None, vec![deployment(OLD, "PRIMARY", 0)]);
    let Poll::RolledBackByEcs(why) = judge_deployment(&sd, &s, OURS, settings(false)) else {
        panic!()
    };
    assert!(
        why.contains("counted 5 failed tasks (threshold 5)"),
        "{why}"
    );
}

#[test]
fn bake_time_is_waiting_unless_traffic_shifted_is_enough() {
    let sd = sd(
        Status::InProgress,
        Stage::BakeTime,
        DeploymentStrategy::BlueGreen,
    )
    .build();
    let s = service(
        Some(DeploymentStrategy::BlueGreen),
        vec![deployment(OURS, "PRIMARY", 0), deployment(OLD, "ACTIVE", 0)],
    );
    assert_eq!(
        judge_deployment(&sd, &s, OURS, settings(false)),
        Poll::Waiting
    );
    assert_eq!(
        judge_deployment(&sd, &s, OURS, settings(true)),
        Poll::Shifted
    );
    // The deployments list alone (both revisions running during the bake) would wait too, but
    // could never tell a bake from a hang.
    assert_eq!(judge(&s, OURS, 3), Poll::Waiting);
}

#[test]
fn a_pause_hook_awaiting_action_is_paused() {
    let sd = sd(
        Status::InProgress,
        Stage::PostTestTrafficShift,
        DeploymentStrategy::BlueGreen,
    )
    .lifecycle_hook_details(
        DeploymentLifecycleHookDetail::builder()
            .hook_id("h1")
            .target_type(DeploymentLifecycleHookTargetType::Pause)
            .status(DeploymentLifecycleHookStatus::AwaitingAction)
            .build(),
    )
    .build();
    let s = service(
        Some(DeploymentStrategy::BlueGreen),
        vec![deployment(OURS, "PRIMARY", 0)],
    );
    let Poll::Paused(p) = judge_deployment(&sd, &s, OURS, settings(false)) else {
        panic!()
    };
    assert_eq!(p.hook, "h1");
    assert_eq!(p.stage, "POST_TEST_TRAFFIC_SHIFT");
}

#[test]
fn a_crash_loop_fails_a_rolling_deployment_still_in_progress() {
    let sd = sd(
        Status::InProgress,
        Stage::ScaleUp,
        DeploymentStrategy::Rolling,
    )
    .build();
    let s = service(
        None,
        vec![deployment(OURS, "PRIMARY", 4), deployment(OLD, "ACTIVE", 0)],
    );
    assert!(matches!(
        judge_deployment(&sd, &s, OURS, settings(false)),
        Poll::Failed(_)
    ));
}

#[test]
fn a_native_deployment_under_way_is_busy_a_rolling_one_is_not() {
    let target = Target {
        cluster: "c".into(),
        service: "api".into(),
    };
    let two = || vec![deployment(OURS, "PRIMARY", 0), deployment(OLD, "ACTIVE", 0)];
    let native = service(Some(DeploymentStrategy::Canary), two());
    let why = deployment::busy(&target, &native).unwrap().to_string();
    assert!(
        why.contains("a CANARY deployment of c/api is still under way"),
        "{why}"
    );
    assert!(
        deployment::busy(&target, &service(Some(DeploymentStrategy::Rolling), two())).is_none()
    );
    assert!(deployment::busy(&target, &service(None, two())).is_none());
    let settled = service(
        Some(DeploymentStrategy::Canary),
        vec![deployment(OURS, "PRIMARY", 0)],
    );
    assert!(deployment::busy(&target, &settled).is_none());
}
