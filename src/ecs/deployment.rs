//! ECS service deployments (ListServiceDeployments, DescribeServiceDeployments,
//! StopServiceDeployment, ContinueServiceDeployment): how a rollout is judged where ECS has them,
//! whatever the strategy (ROLLING, BLUE_GREEN, LINEAR, CANARY).
//!
//! Whether an endpoint has them is read from the facts, never assumed: the UpdateService or
//! CreateService answer names the service deployment it started (`currentServiceDeployment`). An
//! endpoint that does not (moto, older endpoints) is judged by the `deployments` list, as before
//! service deployments existed. Where a call is made and the endpoint does not know it, moto
//! answers HTTP 500 with an HTML page: [`unknown_operation`] recognises that answer, and only that
//! one (and the `UnknownOperationException` of the JSON protocol).

use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::SdkError;
use aws_sdk_ecs::primitives::DateTimeFormat;
use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, DeploymentLifecycleHookStatus,
    DeploymentLifecycleHookTargetType, DeploymentStrategy, Service, ServiceDeployment,
    ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentStatus as Status,
    StopServiceDeploymentStopType,
};
use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use super::{Ecs, EcsError, Target, classify};

/// DescribeServiceDeployments takes at most this many ARNs a call.
pub const DESCRIBE_BATCH: usize = 20;

/// A deployment paused at a PAUSE lifecycle hook, waiting for `shipit deploy --continue` or
/// `--rollback` (ContinueServiceDeployment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paused {
    /// The service deployment's ARN.
    pub service_deployment: String,
    /// The lifecycle stage it waits in.
    pub stage: String,
    /// The hook's id (ContinueServiceDeployment's `hookId`).
    pub hook: String,
    /// When the hook times out (and ECS takes its timeout action), as ECS says it.
    pub expires_at: Option<String>,
    /// What ECS does when the hook expires: `CONTINUE` or `ROLLBACK`.
    pub timeout_action: Option<String>,
}

impl std::fmt::Display for Paused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the deployment waits at a PAUSE hook in {} (hook {})",
            self.stage, self.hook
        )?;
        if let Some(at) = &self.expires_at {
            write!(f, " until {at}")?;
            if let Some(action) = &self.timeout_action {
                write!(f, ", then ECS will {}", action.to_ascii_lowercase())?;
            }
        }
        write!(
            f,
            ": `shipit deploy --continue` lets it go on, `shipit deploy --rollback` takes it back"
        )
    }
}

/// What one DescribeServiceDeployments answer says of a deployment shipit started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still going: lifecycle stages, bake time and ECS's own rollback under way included.
    Waiting,
    /// SUCCESSFUL.
    Done,
    /// Production traffic is on the new revision and the deployment bakes (BAKE_TIME, CLEAN_UP).
    Shifted,
    /// ECS rolled it back (ROLLBACK_SUCCESSFUL): why, with the alarms or the circuit breaker.
    RolledBack(String),
    /// ECS's rollback failed too (ROLLBACK_FAILED).
    RollbackFailed(String),
    /// Stopped (STOPPED) by someone else than this rollout.
    Stopped(String),
    /// Waiting at a PAUSE hook.
    Paused(Paused),
}

/// True for the strategies whose deployments ECS shifts traffic for itself.
pub fn is_native(strategy: Option<&DeploymentStrategy>) -> bool {
    matches!(
        strategy,
        Some(
            DeploymentStrategy::BlueGreen | DeploymentStrategy::Linear | DeploymentStrategy::Canary
        )
    )
}

/// The strategy of a service's deployments (ROLLING when ECS does not say).
pub fn strategy(service: &Service) -> &str {
    service
        .deployment_configuration()
        .and_then(|c| c.strategy())
        .map(|s| s.as_str())
        .unwrap_or("ROLLING")
}

/// A native (blue/green, linear, canary) deployment still under way on a service: starting another
/// one on top would cut it short, so the rollout of it is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "a {strategy} deployment of {target} is still under way{}: shipit does not start a deployment on top of it (wait for it to finish, or end it with `shipit deploy --continue` or `--rollback` when it waits at a hook)",
    service_deployment.as_ref().map(|a| format!(" ({a})")).unwrap_or_default()
)]
pub struct Busy {
    pub target: Target,
    /// BLUE_GREEN, LINEAR or CANARY.
    pub strategy: String,
    /// The service deployment under way, where ECS names it.
    pub service_deployment: Option<String>,
}

/// The native deployment still under way on `service`, if there is one.
pub fn busy(target: &Target, service: &Service) -> Option<Busy> {
    let strategy = service
        .deployment_configuration()
        .and_then(|c| c.strategy());
    if !is_native(strategy) {
        return None;
    }
    let deployments = service.deployments();
    let in_progress = deployments.len() > 1
        || deployments.iter().any(|d| {
            d.rollout_state()
                .is_some_and(|s| s.as_str() == "IN_PROGRESS")
        });
    in_progress.then(|| Busy {
        target: target.clone(),
        strategy: strategy.map(|s| s.as_str()).unwrap_or_default().to_string(),
        service_deployment: service.current_service_deployment().map(str::to_string),
    })
}

/// Judges a service deployment shipit started. `wait_shifted`: production traffic shifted is
/// enough (the bake goes on without shipit).
pub fn judge(sd: &ServiceDeployment, wait_shifted: bool) -> Verdict {
    match sd.status() {
        Some(Status::Successful) => Verdict::Done,
        Some(Status::RollbackSuccessful) => Verdict::RolledBack(reasons(sd)),
        Some(Status::RollbackFailed) => Verdict::RollbackFailed(reasons(sd)),
        Some(Status::Stopped) => Verdict::Stopped(reasons(sd)),
        Some(Status::Pending | Status::InProgress) | None => {
            if let Some(p) = paused(sd) {
                return Verdict::Paused(p);
            }
            let native = is_native(sd.deployment_configuration().and_then(|c| c.strategy()));
            let shifted = matches!(sd.lifecycle_stage(), Some(Stage::BakeTime | Stage::CleanUp));
            match wait_shifted && native && shifted {
                true => Verdict::Shifted,
                false => Verdict::Waiting,
            }
        }
        // ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS, STOP_REQUESTED, and what ECS adds later.
        Some(_) => Verdict::Waiting,
    }
}

/// Why the rollback shipit asked for (StopServiceDeployment with ROLLBACK) did not bring the
/// previous revision back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RollbackError {
    #[error("ECS's rollback failed: {reasons}")]
    Failed {
        service_deployment: String,
        /// [`reasons`]: the alarms, the circuit breaker, ECS's words.
        reasons: String,
    },
    /// It finished before the stop took hold: the new revision stays.
    #[error("the deployment finished before the rollback took hold: the new revision runs")]
    FinishedFirst { service_deployment: String },
    #[error("the deployment was stopped without a rollback: {reasons}")]
    StoppedWithoutRollback {
        service_deployment: String,
        reasons: String,
    },
}

/// Judges the rollback shipit asked for (StopServiceDeployment with ROLLBACK): `Some(Ok)` when
/// the previous revision is back, `Some(Err(why))` when ECS could not, `None` while it goes on.
pub fn judge_rollback(sd: &ServiceDeployment) -> Option<Result<(), RollbackError>> {
    let service_deployment = sd.service_deployment_arn().unwrap_or_default().to_string();
    match sd.status() {
        Some(Status::RollbackSuccessful) => Some(Ok(())),
        Some(Status::RollbackFailed) => Some(Err(RollbackError::Failed {
            service_deployment,
            reasons: reasons(sd),
        })),
        Some(Status::Successful) => Some(Err(RollbackError::FinishedFirst { service_deployment })),
        Some(Status::Stopped) => Some(Err(RollbackError::StoppedWithoutRollback {
            service_deployment,
            reasons: reasons(sd),
        })),
        _ => None,
    }
}

/// The hook a deployment waits at, if it waits at a PAUSE hook.
fn paused(sd: &ServiceDeployment) -> Option<Paused> {
    let hook = sd.lifecycle_hook_details().iter().find(|h| {
        h.target_type() == Some(&DeploymentLifecycleHookTargetType::Pause)
            && h.status() == Some(&DeploymentLifecycleHookStatus::AwaitingAction)
    })?;
    Some(Paused {
        service_deployment: sd.service_deployment_arn().unwrap_or_default().to_string(),
        stage: sd
            .lifecycle_stage()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "an unnamed stage".into()),
        hook: hook.hook_id().unwrap_or_default().to_string(),
        expires_at: hook.expires_at().map(|t| {
            t.fmt(DateTimeFormat::DateTime)
                .unwrap_or_else(|_| t.secs().to_string())
        }),
        timeout_action: hook.timeout_action().map(|a| a.as_str().to_string()),
    })
}

/// Why ECS rolled back or stopped a deployment: its reason, the alarms that fired, the circuit
/// breaker's count.
pub fn reasons(sd: &ServiceDeployment) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(alarms) = sd.alarms()
        && !alarms.triggered_alarm_names().is_empty()
    {
        parts.push(format!(
            "the CloudWatch alarm{} {} went into ALARM",
            if alarms.triggered_alarm_names().len() == 1 {
                ""
            } else {
                "s"
            },
            alarms.triggered_alarm_names().join(", ")
        ));
    }
    if let Some(cb) = sd.deployment_circuit_breaker()
        && cb.status().is_some_and(|s| s.as_str() == "TRIGGERED")
    {
        parts.push(format!(
            "the deployment circuit breaker counted {} failed tasks (threshold {})",
            cb.failure_count(),
            cb.threshold()
        ));
    }
    for text in [sd.rollback().and_then(|r| r.reason()), sd.status_reason()]
        .into_iter()
        .flatten()
    {
        if !text.is_empty() && !parts.iter().any(|p| p == text) {
            parts.push(text.to_string());
        }
    }
    match parts.is_empty() {
        true => "ECS gave no reason".into(),
        false => parts.join("; "),
    }
}

/// Where a service deployment stands, for a progress line: its status and stage, the traffic on
/// the new revision, its tasks.
pub fn standing(sd: &ServiceDeployment) -> String {
    let mut out = format!(
        "{} {}",
        sd.deployment_configuration()
            .and_then(|c| c.strategy())
            .map(|s| s.as_str())
            .unwrap_or("ROLLING"),
        sd.status().map(|s| s.as_str()).unwrap_or("PENDING"),
    );
    if let Some(stage) = sd.lifecycle_stage() {
        out.push_str(&format!(" in {}", stage.as_str()));
    }
    if let Some(target) = sd.target_service_revision() {
        if let Some(w) = target.requested_production_traffic_weight() {
            out.push_str(&format!(", production traffic {w}%"));
        }
        if let Some(w) = target.requested_test_traffic_weight() {
            out.push_str(&format!(", test traffic {w}%"));
        }
        out.push_str(&format!(
            ", {}/{} running, {} pending",
            target.running_task_count(),
            target.requested_task_count(),
            target.pending_task_count()
        ));
    }
    out
}

#[derive(Debug, Error, Diagnostic)]
pub enum DeploymentError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Ecs(#[from] EcsError),

    /// The endpoint does not know the service-deployment calls.
    #[error("the ECS endpoint does not know {call}: it has no service deployments")]
    #[diagnostic(
        code(shipit::ecs::no_service_deployments),
        help("lifecycle hooks need an ECS endpoint with service deployments (ECS since 2024)")
    )]
    Unsupported { call: &'static str },

    /// No deployment of the service waits at a PAUSE hook.
    #[error("no deployment of {target} waits at a PAUSE hook{now}")]
    #[diagnostic(
        code(shipit::ecs::not_paused),
        help(
            "`--continue` and `--rollback` act on a deployment paused at a PAUSE lifecycle hook; `shipit deploy` without them starts one"
        )
    )]
    NotPaused { target: Target, now: String },

    /// The service is not in the cluster.
    #[error("the service {target} does not exist")]
    #[diagnostic(code(shipit::ecs::missing))]
    Missing { target: Target },
}

impl DeploymentError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            DeploymentError::Ecs(e) => e.is_bad_input(),
            DeploymentError::Unsupported { .. }
            | DeploymentError::NotPaused { .. }
            | DeploymentError::Missing { .. } => true,
        }
    }
}

/// True for the answer an endpoint gives to an operation it does not know: moto's HTTP 500 with an
/// HTML page, or the JSON protocol's `UnknownOperationException`.
pub fn unknown_operation<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata,
{
    let SdkError::ServiceError(s) = e else {
        return false;
    };
    if s.err().code() == Some("UnknownOperationException") {
        return true;
    }
    let raw = s.raw();
    let html = raw
        .headers()
        .get("content-type")
        .is_some_and(|t| t.starts_with("text/html"));
    raw.status().as_u16() == 500 && html
}

impl Ecs {
    /// DescribeServiceDeployments for up to [`DESCRIBE_BATCH`] ARNs a call.
    pub async fn service_deployments(
        &self,
        arns: &[String],
    ) -> Result<Vec<ServiceDeployment>, EcsError> {
        let mut out = Vec::new();
        for chunk in arns.chunks(DESCRIBE_BATCH) {
            let answer = self
                .client
                .describe_service_deployments()
                .set_service_deployment_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify("DescribeServiceDeployments", e))?;
            out.extend(answer.service_deployments().iter().cloned());
        }
        Ok(out)
    }

    /// StopServiceDeployment with ROLLBACK: ECS takes the deployment back to the revision before.
    pub async fn stop_with_rollback(&self, arn: &str) -> Result<(), EcsError> {
        self.client
            .stop_service_deployment()
            .service_deployment_arn(arn)
            .stop_type(StopServiceDeploymentStopType::Rollback)
            .send()
            .await
            .map_err(|e| classify("StopServiceDeployment", e))?;
        Ok(())
    }

    /// The deployment of `target` that waits at a PAUSE hook, found through the service's
    /// `currentServiceDeployment`, or ListServiceDeployments where the service does not name it.
    pub async fn paused(&self, target: &Target) -> Result<Paused, DeploymentError> {
        let described = self.describe(std::slice::from_ref(target)).await?;
        let Some(service) = described.services.get(target) else {
            return Err(DeploymentError::Missing {
                target: target.clone(),
            });
        };
        let arns: Vec<String> = match service.current_service_deployment() {
            Some(arn) => vec![arn.to_string()],
            None => {
                let listed = self
                    .client
                    .list_service_deployments()
                    .cluster(&target.cluster)
                    .service(&target.service)
                    .status(Status::InProgress)
                    .send()
                    .await;
                match listed {
                    Ok(l) => l
                        .service_deployments()
                        .iter()
                        .filter_map(|b| b.service_deployment_arn())
                        .map(str::to_string)
                        .collect(),
                    Err(e) if unknown_operation(&e) => {
                        return Err(DeploymentError::Unsupported {
                            call: "ListServiceDeployments",
                        });
                    }
                    Err(e) => return Err(classify("ListServiceDeployments", e).into()),
                }
            }
        };
        let deployments = self.service_deployments(&arns).await?;
        let mut now = String::new();
        for sd in &deployments {
            if let Some(p) = paused(sd) {
                return Ok(p);
            }
            now = format!(
                ": its deployment is {}",
                sd.status()
                    .map(|s| s.as_str())
                    .unwrap_or("in no known state")
            );
        }
        Err(DeploymentError::NotPaused {
            target: target.clone(),
            now,
        })
    }

    /// ContinueServiceDeployment: the paused deployment goes on (`CONTINUE`) or back (`ROLLBACK`).
    pub async fn resume(
        &self,
        paused: &Paused,
        action: DeploymentLifecycleHookAction,
    ) -> Result<(), EcsError> {
        self.client
            .continue_service_deployment()
            .service_deployment_arn(&paused.service_deployment)
            .hook_id(&paused.hook)
            .action(action)
            .send()
            .await
            .map_err(|e| classify("ContinueServiceDeployment", e))?;
        Ok(())
    }
}
