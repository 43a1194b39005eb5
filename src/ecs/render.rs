//! Rendering the task definition to register: the live one (or a file kept in the repository) with
//! the image of one container replaced, and nothing else. Fields are carried over one by one through
//! the SDK's typed builders; describe-only fields (ARN, revision, status, requiresAttributes,
//! compatibilities, registeredAt/By, deregisteredAt) are never sent; empty strings stay.

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, EphemeralStorage, HealthCheck,
    KeyValuePair, LogConfiguration, LogDriver, NetworkMode, OsFamily, PortMapping, RuntimePlatform,
    Secret, Tag, TaskDefinition, TransportProtocol,
};
use serde_json::Value;

/// A task definition ready to register: the registration's fields, as typed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub family: String,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub network_mode: Option<NetworkMode>,
    pub containers: Vec<ContainerDefinition>,
    pub volumes: Vec<aws_sdk_ecs::types::Volume>,
    pub placement_constraints: Vec<aws_sdk_ecs::types::TaskDefinitionPlacementConstraint>,
    pub requires_compatibilities: Vec<Compatibility>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub tags: Vec<Tag>,
    pub pid_mode: Option<aws_sdk_ecs::types::PidMode>,
    pub ipc_mode: Option<aws_sdk_ecs::types::IpcMode>,
    pub proxy_configuration: Option<aws_sdk_ecs::types::ProxyConfiguration>,
    pub inference_accelerators: Vec<aws_sdk_ecs::types::InferenceAccelerator>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub runtime_platform: Option<RuntimePlatform>,
    pub enable_fault_injection: Option<bool>,
}

/// A list as the API wants it: absent when empty (ECS describes absent lists as empty ones).
fn none_if_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

impl Rendered {
    /// Every registrable field of a described task definition, with its tags.
    pub fn from_live(td: &TaskDefinition, tags: &[Tag]) -> Rendered {
        Rendered {
            family: td.family().unwrap_or_default().to_string(),
            task_role_arn: td.task_role_arn().map(str::to_string),
            execution_role_arn: td.execution_role_arn().map(str::to_string),
            network_mode: td.network_mode().cloned(),
            containers: td.container_definitions().to_vec(),
            volumes: td.volumes().to_vec(),
            placement_constraints: td.placement_constraints().to_vec(),
            requires_compatibilities: td.requires_compatibilities().to_vec(),
            cpu: td.cpu().map(str::to_string),
            memory: td.memory().map(str::to_string),
            tags: tags.to_vec(),
            pid_mode: td.pid_mode().cloned(),
            ipc_mode: td.ipc_mode().cloned(),
            proxy_configuration: td.proxy_configuration().cloned(),
            inference_accelerators: td.inference_accelerators().to_vec(),
            ephemeral_storage: td.ephemeral_storage().cloned(),
            runtime_platform: td.runtime_platform().cloned(),
            enable_fault_injection: td.enable_fault_injection(),
        }
    }

    /// Replaces the image of `container`. Errors when there is no such container, or when the
    /// image is already that one (a render that changes nothing).
    pub fn with_image(mut self, container: &str, image: &str) -> Result<Rendered, String> {
        let names: Vec<String> = self
            .containers
            .iter()
            .map(|c| c.name().unwrap_or_default().to_string())
            .collect();
        let Some(i) = names.iter().position(|n| n == container) else {
            return Err(format!(
                "the task definition {} has no container `{container}` (it has {}): set `container` in ci.toml",
                self.family,
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if self.containers[i].image() == Some(image) {
            return Err(format!(
                "the container `{container}` already runs {image}: the render changes nothing"
            ));
        }
        let mut c = self.containers[i].clone();
        c.image = Some(image.to_string());
        self.containers[i] = c;
        Ok(self)
    }

    /// The image of `container`, if it has one.
    pub fn image_of(&self, container: &str) -> Option<&str> {
        self.containers
            .iter()
            .find(|c| c.name() == Some(container))
            .and_then(|c| c.image())
    }

    /// Fills a RegisterTaskDefinition call, field by field.
    pub fn apply(
        self,
        call: RegisterTaskDefinitionFluentBuilder,
    ) -> RegisterTaskDefinitionFluentBuilder {
        call.family(self.family)
            .set_task_role_arn(self.task_role_arn)
            .set_execution_role_arn(self.execution_role_arn)
            .set_network_mode(self.network_mode)
            .set_container_definitions(Some(self.containers))
            .set_volumes(none_if_empty(self.volumes))
            .set_placement_constraints(none_if_empty(self.placement_constraints))
            .set_requires_compatibilities(none_if_empty(self.requires_compatibilities))
            .set_cpu(self.cpu)
            .set_memory(self.memory)
            .set_tags(none_if_empty(self.tags))
            .set_pid_mode(self.pid_mode)
            .set_ipc_mode(self.ipc_mode)
            .set_proxy_configuration(self.proxy_configuration)
            .set_inference_accelerators(none_if_empty(self.inference_accelerators))
            .set_ephemeral_storage(self.ephemeral_storage)
            .set_runtime_platform(self.runtime_platform)
            .set_enable_fault_injection(self.enable_fault_injection)
    }

    /// A task definition file (the RegisterTaskDefinition input as JSON, what `aws ecs
    /// register-task-definition --cli-input-json` reads). The keys shipit reads are listed below;
    /// any other is an error naming it, never silently dropped.
    pub fn from_file(text: &str) -> Result<Rendered, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let obj = doc.as_object().ok_or("not a JSON object")?;
        known(
            obj,
            "the task definition",
            &[
                "family",
                "taskRoleArn",
                "executionRoleArn",
                "networkMode",
                "containerDefinitions",
                "requiresCompatibilities",
                "cpu",
                "memory",
                "tags",
                "runtimePlatform",
                "ephemeralStorage",
            ],
        )?;
        let containers = array(&doc, "containerDefinitions")
            .iter()
            .map(container)
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Rendered {
            family: string(&doc, "family").ok_or("no `family`")?,
            task_role_arn: string(&doc, "taskRoleArn"),
            execution_role_arn: string(&doc, "executionRoleArn"),
            network_mode: string(&doc, "networkMode").map(|m| NetworkMode::from(m.as_str())),
            containers,
            volumes: Vec::new(),
            placement_constraints: Vec::new(),
            requires_compatibilities: array(&doc, "requiresCompatibilities")
                .iter()
                .filter_map(Value::as_str)
                .map(Compatibility::from)
                .collect(),
            cpu: string(&doc, "cpu"),
            memory: string(&doc, "memory"),
            tags: array(&doc, "tags")
                .iter()
                .map(|t| {
                    Tag::builder()
                        .set_key(string(t, "key"))
                        .set_value(string(t, "value"))
                        .build()
                })
                .collect(),
            pid_mode: None,
            ipc_mode: None,
            proxy_configuration: None,
            inference_accelerators: Vec::new(),
            ephemeral_storage: doc
                .get("ephemeralStorage")
                .and_then(|e| e.get("sizeInGiB"))
                .and_then(Value::as_i64)
                .map(|g| EphemeralStorage::builder().size_in_gib(g as i32).build()),
            runtime_platform: doc.get("runtimePlatform").map(|p| {
                RuntimePlatform::builder()
                    .set_cpu_architecture(
                        string(p, "cpuArchitecture").map(|a| CpuArchitecture::from(a.as_str())),
                    )
                    .set_operating_system_family(
                        string(p, "operatingSystemFamily").map(|f| OsFamily::from(f.as_str())),
                    )
                    .build()
            }),
            enable_fault_injection: None,
        })
    }
}

fn known(obj: &serde_json::Map<String, Value>, what: &str, keys: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{what} has the key `{k}`, which shipit does not read from files yet: remove it, or drop `task_definition` to roll out from the live task definition"
        )),
        None => Ok(()),
    }
}

fn string(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value, key: &str) -> Option<i32> {
    v.get(key).and_then(Value::as_i64).map(|n| n as i32)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strings(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

fn container(c: &Value) -> Result<ContainerDefinition, String> {
    let obj = c
        .as_object()
        .ok_or("a container definition is not an object")?;
    let name = string(c, "name").unwrap_or_default();
    known(
        obj,
        &format!("the container `{name}`"),
        &[
            "name",
            "image",
            "essential",
            "cpu",
            "memory",
            "memoryReservation",
            "command",
            "entryPoint",
            "environment",
            "secrets",
            "portMappings",
            "healthCheck",
            "logConfiguration",
            "workingDirectory",
            "user",
            "stopTimeout",
            "startTimeout",
            "readonlyRootFilesystem",
        ],
    )?;
    let health_check = match c.get("healthCheck") {
        Some(h) => Some(
            HealthCheck::builder()
                .set_command(strings(h, "command"))
                .set_interval(int(h, "interval"))
                .set_timeout(int(h, "timeout"))
                .set_retries(int(h, "retries"))
                .set_start_period(int(h, "startPeriod"))
                .build()
                .map_err(|e| format!("healthCheck of `{name}`: {e}"))?,
        ),
        None => None,
    };
    let log_configuration = match c.get("logConfiguration") {
        Some(l) => Some(
            LogConfiguration::builder()
                .log_driver(LogDriver::from(
                    string(l, "logDriver").unwrap_or_default().as_str(),
                ))
                .set_options(l.get("options").and_then(Value::as_object).map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                }))
                .build()
                .map_err(|e| format!("logConfiguration of `{name}`: {e}"))?,
        ),
        None => None,
    };
    Ok(ContainerDefinition::builder()
        .name(name)
        .set_image(string(c, "image"))
        .set_essential(c.get("essential").and_then(Value::as_bool))
        .set_cpu(int(c, "cpu"))
        .set_memory(int(c, "memory"))
        .set_memory_reservation(int(c, "memoryReservation"))
        .set_command(strings(c, "command"))
        .set_entry_point(strings(c, "entryPoint"))
        .set_environment(c.get("environment").map(|_| {
            array(c, "environment")
                .iter()
                .map(|e| {
                    KeyValuePair::builder()
                        .set_name(string(e, "name"))
                        .set_value(string(e, "value"))
                        .build()
                })
                .collect()
        }))
        .set_secrets(match c.get("secrets") {
            Some(_) => Some(
                array(c, "secrets")
                    .iter()
                    .map(|s| {
                        Secret::builder()
                            .name(string(s, "name").unwrap_or_default())
                            .value_from(string(s, "valueFrom").unwrap_or_default())
                            .build()
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            ),
            None => None,
        })
        .set_port_mappings(c.get("portMappings").map(|_| {
            array(c, "portMappings")
                .iter()
                .map(|p| {
                    PortMapping::builder()
                        .set_name(string(p, "name"))
                        .set_container_port(int(p, "containerPort"))
                        .set_host_port(int(p, "hostPort"))
                        .set_protocol(
                            string(p, "protocol").map(|x| TransportProtocol::from(x.as_str())),
                        )
                        .set_app_protocol(
                            string(p, "appProtocol")
                                .map(|x| aws_sdk_ecs::types::ApplicationProtocol::from(x.as_str())),
                        )
                        .build()
                })
                .collect()
        }))
        .set_health_check(health_check)
        .set_log_configuration(log_configuration)
        .set_working_directory(string(c, "workingDirectory"))
        .set_user(string(c, "user"))
        .set_stop_timeout(int(c, "stopTimeout"))
        .set_start_timeout(int(c, "startTimeout"))
        .set_readonly_root_filesystem(c.get("readonlyRootFilesystem").and_then(Value::as_bool))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{TaskDefinitionStatus, Volume};

    /// A described task definition with many fields set, some of them empty on purpose.
    fn live() -> TaskDefinition {
        TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:eu-west-1:1:task-definition/visits:7")
            .family("visits")
            .revision(7)
            .status(TaskDefinitionStatus::Active)
            .task_role_arn("arn:aws:iam::1:role/task")
            .execution_role_arn("arn:aws:iam::1:role/exec")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .compatibilities(Compatibility::Fargate)
            .compatibilities(Compatibility::Ec2)
            .cpu("256")
            .memory("512")
            .volumes(Volume::builder().name("scratch").build())
            .container_definitions(
                ContainerDefinition::builder()
                    .name("visits")
                    .image("1.dkr.ecr.eu-west-1.amazonaws.com/visits:stage-1.0.0")
                    .essential(true)
                    .environment(KeyValuePair::builder().name("EMPTY").value("").build())
                    .environment(KeyValuePair::builder().name("PORT").value("8080").build())
                    .docker_labels("tag", "")
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("sidecar")
                    .image("envoy:1")
                    .build(),
            )
            .build()
    }

    fn tags() -> Vec<Tag> {
        vec![Tag::builder().key("team").value("core").build()]
    }

    #[test]
    fn a_round_trip_changes_only_the_image() {
        let before = Rendered::from_live(&live(), &tags());
        let after = before
            .clone()
            .with_image(
                "visits",
                "1.dkr.ecr.eu-west-1.amazonaws.com/visits:stage-1.1.0",
            )
            .unwrap();
        assert_eq!(
            after.image_of("visits"),
            Some("1.dkr.ecr.eu-west-1.amazonaws.com/visits:stage-1.1.0")
        );
        // Put the old image back: everything else must be exactly as described.
        let restored = after
            .with_image(
                "visits",
                "1.dkr.ecr.eu-west-1.amazonaws.com/visits:stage-1.0.0",
            )
            .unwrap();
        assert_eq!(restored, before);
        // Empty values survive: an empty env var and an empty label are settings.
        let c = &before.containers[0];
        assert_eq!(c.environment()[0].value(), Some(""));
        assert_eq!(c.docker_labels().unwrap()["tag"], "");
        assert_eq!(before.tags, tags());
        assert_eq!(before.containers[1].image(), Some("envoy:1"));
    }

    #[test]
    fn describe_only_fields_are_not_sent() {
        let rendered = Rendered::from_live(&live(), &[]);
        let debug = format!("{rendered:?}");
        assert!(!debug.contains("task_definition_arn"));
        assert!(!debug.contains("revision"));
        assert!(!debug.contains("compatibilities: [Fargate, Ec2]"));
        assert_eq!(
            rendered.requires_compatibilities,
            vec![Compatibility::Fargate]
        );
    }

    #[test]
    fn an_unknown_container_or_a_render_that_changes_nothing_is_an_error() {
        let r = Rendered::from_live(&live(), &[]);
        let err = r.clone().with_image("web", "x").unwrap_err();
        assert!(
            err.contains("no container `web`") && err.contains("`visits`, `sidecar`"),
            "{err}"
        );
        let err = r
            .with_image(
                "visits",
                "1.dkr.ecr.eu-west-1.amazonaws.com/visits:stage-1.0.0",
            )
            .unwrap_err();
        assert!(err.contains("changes nothing"), "{err}");
    }

    #[test]
    fn the_example_task_definition_file_is_read() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/monorepo/services/visits/deploy/task-definition.json"
        ))
        .unwrap();
        let r = Rendered::from_file(&text).unwrap();
        assert_eq!(r.family, "visits");
        assert_eq!(
            r.containers[0]
                .environment()
                .iter()
                .find(|e| e.name() == Some("FEATURE_FLAGS"))
                .unwrap()
                .value(),
            Some("")
        );
        assert_eq!(r.tags.len(), 2);
        assert!(
            r.with_image("visits", "registry/visits:stage-1.0.0")
                .is_ok()
        );
    }

    #[test]
    fn a_file_with_keys_shipit_does_not_read_is_refused() {
        let err = Rendered::from_file(
            r#"{"family":"x","containerDefinitions":[],"proxyConfiguration":{}}"#,
        )
        .unwrap_err();
        assert!(err.contains("`proxyConfiguration`"), "{err}");
        let err = Rendered::from_file(
            r#"{"family":"x","containerDefinitions":[{"name":"a","links":[]}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("`links`"), "{err}");
    }
}
