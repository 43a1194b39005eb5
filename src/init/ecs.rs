//! `shipit init --from-ecs CLUSTER/SERVICE --service NAME`: a running ECS service, as files in the
//! repository (as ecspresso's `init` does). DescribeServices and DescribeTaskDefinition, both with
//! tags; their JSON answers are kept whole (every field ECS has, even ones this SDK version does
//! not model), less what only a describe returns:
//!
//! - `<path>/deploy/task-definition.json`: a RegisterTaskDefinition request (with `tags`);
//! - `<path>/deploy/service-definition.json`: a CreateService request (no `cluster`, no
//!   `taskDefinition`: shipit supplies both);
//!
//! and in ci.toml, under `[services.NAME]`, the keys that point at them (comments kept).

use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::types::{ServiceField, TaskDefinitionField};
use serde_json::{Map, Value};

use crate::Error;
use crate::config::{self, Config};
use crate::ecs::EcsError;

pub const TASK_DEFINITION_FILE: &str = "deploy/task-definition.json";
pub const SERVICE_DEFINITION_FILE: &str = "deploy/service-definition.json";

/// Fields of a described task definition that RegisterTaskDefinition does not take.
const TASK_DEFINITION_DESCRIBE_ONLY: [&str; 8] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// Fields of a described service that CreateService takes (the rest is state: ARNs, counts,
/// deployments, events, dates), renamed where the two differ.
const SERVICE_FIELDS: [(&str, &str); 22] = [
    ("serviceName", "serviceName"),
    ("loadBalancers", "loadBalancers"),
    ("serviceRegistries", "serviceRegistries"),
    ("desiredCount", "desiredCount"),
    ("launchType", "launchType"),
    ("capacityProviderStrategy", "capacityProviderStrategy"),
    ("platformVersion", "platformVersion"),
    ("roleArn", "role"),
    ("deploymentConfiguration", "deploymentConfiguration"),
    ("placementConstraints", "placementConstraints"),
    ("placementStrategy", "placementStrategy"),
    ("networkConfiguration", "networkConfiguration"),
    (
        "healthCheckGracePeriodSeconds",
        "healthCheckGracePeriodSeconds",
    ),
    ("schedulingStrategy", "schedulingStrategy"),
    ("deploymentController", "deploymentController"),
    ("tags", "tags"),
    ("enableECSManagedTags", "enableECSManagedTags"),
    ("propagateTags", "propagateTags"),
    ("enableExecuteCommand", "enableExecuteCommand"),
    ("availabilityZoneRebalancing", "availabilityZoneRebalancing"),
    ("volumeConfigurations", "volumeConfigurations"),
    ("vpcLatticeConfigurations", "vpcLatticeConfigurations"),
];

/// Keeps the JSON body of the last response the client read.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "shipit-init-capture-body"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(bytes) = context.response().body().bytes()
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

impl Capture {
    fn json(&self, what: &str) -> Result<Value, Error> {
        let bytes = self.0.lock().ok().and_then(|mut s| s.take());
        bytes
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                Error::from(EcsError::Aws(crate::aws::AwsError::Api {
                    service: "ECS".into(),
                    what: what.into(),
                    code: "unreadable".into(),
                    why: "the answer was not JSON".into(),
                }))
            })
    }
}

/// `CLUSTER/SERVICE` → its two parts.
pub fn parse_target(target: &str) -> Result<(String, String), Error> {
    match target.split_once('/') {
        Some((c, s)) if !c.is_empty() && !s.is_empty() && !s.contains('/') => {
            Ok((c.to_string(), s.to_string()))
        }
        _ => Err(Error::bad_input(
            format!("`{target}` is not CLUSTER/SERVICE"),
            Some("name the ECS cluster and service, e.g. --from-ecs prod/visits".to_string()),
        )),
    }
}

/// Writes the task and service definitions of the ECS service `target` (`CLUSTER/SERVICE`) beside
/// the service `name` of ci.toml, and points ci.toml at them; returns what was written, for people.
pub fn from_ecs(
    root: &Path,
    ci: &Path,
    target: &str,
    name: &str,
    force: bool,
    rt: &tokio::runtime::Runtime,
) -> Result<String, Error> {
    let (cluster, ecs_service) = parse_target(target)?;
    let config = Config::load(ci, root, config::Checks::Load)?;
    let service = config.service(name).ok_or_else(|| {
        let known: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
        Error::bad_input(
            format!("`{name}` is not a service in {}", config::display_name(ci)),
            Some(if known.is_empty() {
                format!("add [services.{name}] with its path first")
            } else {
                format!(
                    "the services are: {}; or add [services.{name}] with its path first",
                    known.join(", ")
                )
            }),
        )
    })?;
    if !service.image {
        return Err(Error::bad_input(
            format!("`{name}` is a library (image = false): nothing of it runs on ECS"),
            None,
        ));
    }
    let dir = root.join(&service.path);
    let files = [
        dir.join(TASK_DEFINITION_FILE),
        dir.join(SERVICE_DEFINITION_FILE),
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|f| f.exists())
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        return Err(Error::bad_input(
            format!("nothing written: {} already exists", existing.join(", ")),
            Some("pass --force to overwrite".to_string()),
        ));
    }

    let (task_definition, service_definition) = rt.block_on(async {
        let sdk = crate::aws::sdk_config().await.map_err(EcsError::from)?;
        let client = aws_sdk_ecs::Client::new(&sdk);
        let capture = Capture::default();
        client
            .describe_services()
            .cluster(&cluster)
            .services(&ecs_service)
            .include(ServiceField::Tags)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| crate::ecs::classify("DescribeServices", e))?;
        let described = capture.json("DescribeServices")?;
        let live = described["services"]
            .as_array()
            .and_then(|s| {
                s.iter()
                    .find(|s| s["serviceName"] == ecs_service.as_str() && s["status"] != "INACTIVE")
            })
            .cloned()
            .ok_or_else(|| {
                Error::bad_input(
                    format!("ECS has no service `{ecs_service}` in cluster `{cluster}`"),
                    Some("check the names (and AWS_REGION, AWS_PROFILE)".to_string()),
                )
            })?;
        let arn = live["taskDefinition"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let capture = Capture::default();
        client
            .describe_task_definition()
            .task_definition(&arn)
            .include(TaskDefinitionField::Tags)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| crate::ecs::classify("DescribeTaskDefinition", e))?;
        let td = capture.json("DescribeTaskDefinition")?;
        Ok::<_, Error>((task_definition_request(&td), service_request(&live)))
    })?;

    if let Some(parent) = files[0].parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&files[0], pretty(&task_definition))?;
    std::fs::write(&files[1], pretty(&service_definition))?;
    let keys = point_at_files(ci, name, &ecs_service)?;
    Ok(format!(
        "Wrote {} and {} from {cluster}/{ecs_service}, and set {} of [services.{name}] in {}.\n\
         Next: add `{cluster}` to `clusters` of its environment if it is not there, then `shipit validate`.\n",
        existing_or(root, &files[0]),
        existing_or(root, &files[1]),
        keys.join(", "),
        config::display_name(ci)
    ))
}

fn existing_or(root: &Path, f: &Path) -> String {
    f.strip_prefix(root).unwrap_or(f).display().to_string()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// DescribeTaskDefinition's answer → a RegisterTaskDefinition request: every field but the
/// describe-only ones, with the tags (when there are any).
pub fn task_definition_request(described: &Value) -> Value {
    let mut td: Map<String, Value> = described["taskDefinition"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for key in TASK_DEFINITION_DESCRIBE_ONLY {
        td.remove(key);
    }
    if let Some(tags) = described["tags"].as_array()
        && !tags.is_empty()
    {
        td.insert("tags".into(), Value::Array(tags.clone()));
    }
    Value::Object(td)
}

/// A described service → a CreateService request (the fields CreateService takes).
pub fn service_request(live: &Value) -> Value {
    let mut out = Map::new();
    for (from, to) in SERVICE_FIELDS {
        match &live[from] {
            Value::Null => {}
            Value::Array(a) if a.is_empty() => {}
            v => {
                out.insert(to.to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Sets `task_definition` (and `service_definition` when this shipit reads it, and `ecs_service`
/// when the ECS service has another name) under `[services.NAME]`, keeping the file's comments.
fn point_at_files(ci: &Path, name: &str, ecs_service: &str) -> Result<Vec<String>, Error> {
    let text = crate::limits::read_to_string(ci, crate::limits::CI_TOML).map_err(|e| match e {
        crate::limits::ReadError::Io(e) => Error::from(e),
        too_large => Error::bad_input(
            format!("cannot edit {}: {too_large}", config::display_name(ci)),
            None,
        ),
    })?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::bad_input(
            format!("cannot edit {}: {e}", config::display_name(ci)),
            None,
        )
    })?;
    let table = doc
        .get_mut("services")
        .and_then(|s| s.get_mut(name))
        .and_then(|t| t.as_table_like_mut())
        .ok_or_else(|| {
            Error::bad_input(
                format!(
                    "cannot find [services.{name}] to edit in {}",
                    config::display_name(ci)
                ),
                None,
            )
        })?;
    let mut keys = vec!["task_definition".to_string()];
    table.insert("task_definition", toml_edit::value(TASK_DEFINITION_FILE));
    if reads_service_definition() {
        table.insert(
            "service_definition",
            toml_edit::value(SERVICE_DEFINITION_FILE),
        );
        keys.push("service_definition".to_string());
    }
    if ecs_service != name {
        table.insert("ecs_service", toml_edit::value(ecs_service));
        keys.push("ecs_service".to_string());
    }
    std::fs::write(ci, doc.to_string())?;
    Ok(keys)
}

/// Whether this shipit's ci.toml has a `service_definition` key (its schema says).
fn reads_service_definition() -> bool {
    let schema: Value = serde_json::from_str(&crate::schema::json()).unwrap_or_default();
    schema["definitions"]["RawService"]["properties"]
        .get("service_definition")
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_described_task_definition_becomes_a_request_with_its_tags() {
        let described = json!({
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/api:7",
                "family": "api", "revision": 7, "status": "ACTIVE",
                "containerDefinitions": [{"name": "api", "image": "x:1", "environment": [{"name": "EMPTY", "value": ""}]}],
                "requiresAttributes": [{"name": "a"}], "compatibilities": ["EC2"],
                "registeredAt": 1.0, "registeredBy": "me", "cpu": "256",
                "someFutureField": {"kept": true}
            },
            "tags": [{"key": "team", "value": "core"}]
        });
        assert_eq!(
            task_definition_request(&described),
            json!({
                "family": "api",
                "containerDefinitions": [{"name": "api", "image": "x:1", "environment": [{"name": "EMPTY", "value": ""}]}],
                "cpu": "256",
                "someFutureField": {"kept": true},
                "tags": [{"key": "team", "value": "core"}]
            })
        );
    }

    #[test]
    fn a_described_service_becomes_a_create_service_request() {
        let live = json!({
            "serviceArn": "arn:...", "serviceName": "api", "clusterArn": "arn:c", "status": "ACTIVE",
            "desiredCount": 2, "runningCount": 2, "launchType": "FARGATE", "roleArn": "arn:role",
            "taskDefinition": "arn:td", "deployments": [{}], "events": [{}], "loadBalancers": [],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-1"]}},
            "tags": [{"key": "team", "value": "core"}], "createdAt": 1.0
        });
        assert_eq!(
            service_request(&live),
            json!({
                "serviceName": "api", "desiredCount": 2, "launchType": "FARGATE", "role": "arn:role",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-1"]}},
                "tags": [{"key": "team", "value": "core"}]
            })
        );
    }

    #[test]
    fn targets_are_cluster_slash_service() {
        assert_eq!(
            parse_target("prod/visits").unwrap(),
            ("prod".to_string(), "visits".to_string())
        );
        for bad in ["prod", "/x", "x/", "a/b/c", ""] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
