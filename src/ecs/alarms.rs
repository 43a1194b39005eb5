//! The CloudWatch alarms a service's deployments are watched by (`deploymentConfiguration.alarms`).
//! ECS ignores an alarm that is already in ALARM when a deployment starts, so a rollout whose
//! alarms fire already would go out unguarded: shipit refuses it (bad input, exit 2) unless
//! `--force`, before anything is registered. One DescribeAlarms a service that names alarms.

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_ecs::types::Service;

use super::{Ecs, EcsError, Target};

/// DescribeAlarms takes at most this many names a call.
const DESCRIBE_BATCH: usize = 100;

impl Ecs {
    /// The alarms of `service`'s deployment configuration that are in ALARM now (none asked, no
    /// call).
    pub async fn firing_alarms(&self, service: &Service) -> Result<Vec<String>, EcsError> {
        let Some(alarms) = service.deployment_configuration().and_then(|c| c.alarms()) else {
            return Ok(Vec::new());
        };
        if !alarms.enable() {
            return Ok(Vec::new());
        }
        let mut firing = Vec::new();
        for chunk in alarms.alarm_names().chunks(DESCRIBE_BATCH) {
            let answer = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    EcsError::Aws(crate::aws::classify("cloudwatch", "DescribeAlarms", e))
                })?;
            firing.extend(
                answer
                    .metric_alarms()
                    .iter()
                    .filter(|a| a.state_value() == Some(&StateValue::Alarm))
                    .filter_map(|a| a.alarm_name())
                    .map(str::to_string),
            );
            firing.extend(
                answer
                    .composite_alarms()
                    .iter()
                    .filter(|a| a.state_value() == Some(&StateValue::Alarm))
                    .filter_map(|a| a.alarm_name())
                    .map(str::to_string),
            );
        }
        Ok(firing)
    }

    /// Refuses the rollout of a service whose deployment alarms are in ALARM already, unless
    /// forced.
    pub(crate) async fn refuse_firing(
        &self,
        target: &Target,
        service: &Service,
        force: bool,
    ) -> Result<(), EcsError> {
        if force {
            return Ok(());
        }
        let alarms = self.firing_alarms(service).await?;
        match alarms.is_empty() {
            true => Ok(()),
            false => Err(EcsError::AlarmFiring {
                target: target.clone(),
                alarms,
            }),
        }
    }
}
