//! Rendering the task definition to register: the live one (or a file kept in the repository) with
//! the image of one or more containers replaced, and nothing else.
//!
//! A task definition is kept as the JSON of the RegisterTaskDefinition request, exactly what `aws
//! ecs register-task-definition --cli-input-json` takes: every field passes through untouched,
//! including fields ECS adds after this release (the SDK's typed builders could not carry those, so
//! the body is sent as built here, through the SDK's request customisation). The output of `aws ecs
//! describe-task-definition --include TAGS` is read too: the `taskDefinition` wrapper and the
//! describe-only fields (ARN, revision, status, requiresAttributes, compatibilities,
//! registeredAt/By, deregisteredAt) are dropped, `tags` kept. Empty strings and empty lists stay.

use crate::config::shared::FileKind;
use crate::image::ImageRef;
use serde_json::{Map, Value};

/// Fields ECS describes but never accepts in a registration.
pub const DESCRIBE_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// What is wrong with a task definition or service definition (a file, or ECS's answer), or with
/// a render of one.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("not a JSON object")]
    NotAnObject,
    #[error("`taskDefinition` is not an object")]
    InnerNotAnObject,
    #[error("`taskDefinition` holds another `taskDefinition`: keep one task definition")]
    Nested,
    #[error("`family` is not a non-empty string")]
    BadFamily,
    #[error("no `family`")]
    NoFamily,
    #[error("no `containerDefinitions`")]
    NoContainers,
    #[error("`containerDefinitions` is not a list")]
    ContainersNotAList,
    #[error("`containerDefinitions` is empty")]
    ContainersEmpty,
    #[error("containerDefinitions[{index}] is not an object")]
    ContainerNotAnObject { index: usize },
    #[error("containerDefinitions[{index}] has no `name`")]
    ContainerWithoutName { index: usize },
    #[error("containerDefinitions[{index}].image is not a string")]
    ImageNotAString { index: usize },
    #[error("`{key}` is not a string (ECS takes task-level `{key}` as a string, like \"256\")")]
    SizeNotAString { key: &'static str },
    #[error("`tags` is not a list of {{\"key\", \"value\"}}")]
    BadTags,
    #[error(
        "the task definition {family} has no container `{container}` (it has {}): set `container` in ci.toml",
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    )]
    NoContainer {
        family: String,
        container: String,
        names: Vec<String>,
    },
    #[error("the container `{container}` already runs {image}: the render changes nothing")]
    Unchanged { container: String, image: String },
    #[error("it holds `services` (describe-services output): keep one CreateService request")]
    HoldsServices,
    #[error(
        "it sets `{key}`, which shipit fills in (the cluster of the rollout, the task definition it registers): remove it"
    )]
    FilledByShipit { key: &'static str },
    #[error("`serviceName` is not a string")]
    ServiceNameNotAString,
    #[error("`desiredCount` is not a number")]
    DesiredCountNotANumber,
}

/// A task definition ready to register: the RegisterTaskDefinition request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    body: Map<String, Value>,
}

impl Rendered {
    /// A DescribeTaskDefinition answer (`{"taskDefinition": {...}, "tags": [...]}`), or a file holding
    /// either that answer or a registration request.
    pub fn from_value(doc: Value) -> Result<Rendered, RenderError> {
        let Value::Object(mut top) = doc else {
            return Err(RenderError::NotAnObject);
        };
        let mut body = match top.remove("taskDefinition") {
            // `describe-task-definition` output: the registration is inside, the tags beside it.
            Some(Value::Object(inner)) => {
                let mut inner = inner;
                if let Some(tags) = top.remove("tags") {
                    inner.insert("tags".into(), tags);
                }
                inner
            }
            Some(_) => return Err(RenderError::InnerNotAnObject),
            None => top,
        };
        // RegisterTaskDefinition has no such field: it would be sent on, and the request read
        // back would be taken for the task definition inside it.
        if body.contains_key("taskDefinition") {
            return Err(RenderError::Nested);
        }
        for key in DESCRIBE_ONLY {
            body.remove(*key);
        }
        // An empty tag list is what describe prints for none; ECS takes its absence the same way.
        if body
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            body.remove("tags");
        }
        let rendered = Rendered { body };
        rendered.check_shape()?;
        Ok(rendered)
    }

    /// A task definition file's text.
    pub fn from_file(text: &str) -> Result<Rendered, RenderError> {
        let doc: Value = serde_json::from_str(text).map_err(RenderError::NotJson)?;
        Rendered::from_value(doc)
    }

    /// The shape ECS takes, for the fields shipit relies on; every other field is ECS's to judge.
    fn check_shape(&self) -> Result<(), RenderError> {
        match self.body.get("family") {
            Some(Value::String(f)) if !f.trim().is_empty() => {}
            Some(_) => return Err(RenderError::BadFamily),
            None => return Err(RenderError::NoFamily),
        }
        let Some(containers) = self.body.get("containerDefinitions") else {
            return Err(RenderError::NoContainers);
        };
        let Some(containers) = containers.as_array() else {
            return Err(RenderError::ContainersNotAList);
        };
        if containers.is_empty() {
            return Err(RenderError::ContainersEmpty);
        }
        for (index, c) in containers.iter().enumerate() {
            let Some(c) = c.as_object() else {
                return Err(RenderError::ContainerNotAnObject { index });
            };
            match c.get("name") {
                Some(Value::String(n)) if !n.is_empty() => {}
                _ => return Err(RenderError::ContainerWithoutName { index }),
            }
            if c.get("image").is_some_and(|i| !i.is_string()) {
                return Err(RenderError::ImageNotAString { index });
            }
        }
        for key in ["cpu", "memory"] {
            if self.body.get(key).is_some_and(|v| !v.is_string()) {
                return Err(RenderError::SizeNotAString { key });
            }
        }
        if let Some(tags) = self.body.get("tags") {
            let ok = tags
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t.get("key").is_some_and(Value::is_string)));
            if !ok {
                return Err(RenderError::BadTags);
            }
        }
        Ok(())
    }

    pub fn family(&self) -> &str {
        self.body
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn containers(&self) -> &[Value] {
        self.body
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The container names, in order.
    pub fn container_names(&self) -> Vec<&str> {
        self.containers()
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect()
    }

    /// An error naming the containers when there is no `container`.
    pub fn has_container(&self, container: &str) -> Result<(), RenderError> {
        let names = self.container_names();
        if names.contains(&container) {
            return Ok(());
        }
        Err(RenderError::NoContainer {
            family: self.family().to_string(),
            container: container.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
        })
    }

    /// Sets the image of `container` to `image`, whatever it was. Errors when there is no such
    /// container. A new image is always an [`ImageRef`], which names its registry host: a bare
    /// name, which ECS would look up on Docker Hub, cannot be rendered.
    pub fn set_image(self, container: &str, image: &ImageRef) -> Result<Rendered, RenderError> {
        self.put_image(container, &image.to_string())
    }

    /// Gives `container` the image it already runs elsewhere (the live task definition's), as
    /// that one writes it: a container shipit does not roll out now.
    pub fn keep_image(self, container: &str, running: &str) -> Result<Rendered, RenderError> {
        self.put_image(container, running)
    }

    fn put_image(mut self, container: &str, image: &str) -> Result<Rendered, RenderError> {
        self.has_container(container)?;
        if let Some(c) = self
            .body
            .get_mut("containerDefinitions")
            .and_then(Value::as_array_mut)
            .and_then(|cs| {
                cs.iter_mut()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
            })
            .and_then(Value::as_object_mut)
        {
            c.insert("image".into(), Value::String(image.to_string()));
        }
        Ok(self)
    }

    /// Replaces the image of `container`. Errors when there is no such container, or when the
    /// image is already that one (a render that changes nothing).
    pub fn with_image(self, container: &str, image: &ImageRef) -> Result<Rendered, RenderError> {
        self.has_container(container)?;
        if self.image_of(container) == Some(image.to_string().as_str()) {
            return Err(RenderError::Unchanged {
                container: container.to_string(),
                image: image.to_string(),
            });
        }
        self.set_image(container, image)
    }

    /// The image of `container`, if it has one.
    pub fn image_of(&self, container: &str) -> Option<&str> {
        self.containers()
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
            .and_then(|c| c.get("image"))
            .and_then(Value::as_str)
    }

    /// The request body, as sent.
    pub fn body(&self) -> &Map<String, Value> {
        &self.body
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).unwrap_or_default()
    }
}

/// A service definition file: the CreateService request, `cluster` and `taskDefinition` filled in by
/// shipit (and `serviceName` when the file leaves it out).
pub fn service_definition(text: &str) -> Result<Map<String, Value>, RenderError> {
    let doc: Value = serde_json::from_str(text).map_err(RenderError::NotJson)?;
    let Value::Object(body) = doc else {
        return Err(RenderError::NotAnObject);
    };
    // `describe-services` output holds a list; a file is one request.
    if body.contains_key("services") {
        return Err(RenderError::HoldsServices);
    }
    for key in ["cluster", "taskDefinition"] {
        if body.contains_key(key) {
            return Err(RenderError::FilledByShipit { key });
        }
    }
    if body.get("serviceName").is_some_and(|v| !v.is_string()) {
        return Err(RenderError::ServiceNameNotAString);
    }
    if body.get("desiredCount").is_some_and(|v| !v.is_i64()) {
        return Err(RenderError::DesiredCountNotANumber);
    }
    Ok(body)
}

/// Checks a task definition file (RegisterTaskDefinition request or describe output, holding
/// `container`) or a service definition file (CreateService request); the problem, if any.
/// (`shipit validate` hands it to the config's file checks, [`crate::config::Checks::Files`].)
pub fn check_file(kind: FileKind, text: &str, container: &str) -> Result<(), RenderError> {
    check(kind, text, container)
}

/// [`check_file`] for the config's file checks ([`crate::config::DefinitionCheck`]): the config
/// depends on nothing above it, so it takes the problem as its message.
pub fn check_file_text(kind: FileKind, text: &str, container: &str) -> Result<(), String> {
    check(kind, text, container).map_err(|e| e.to_string())
}

fn check(kind: FileKind, text: &str, container: &str) -> Result<(), RenderError> {
    match kind {
        FileKind::TaskDefinition => {
            Rendered::from_file(text).and_then(|r| r.has_container(container))
        }
        FileKind::ServiceDefinition => service_definition(text).map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_definition_inside_a_task_definition_is_refused() {
        let inner = json!({"family": "a", "containerDefinitions": [{"name": "a", "image": "x"}]});
        let mut outer = inner.clone();
        outer["taskDefinition"] = inner.clone();
        // Describe output around a task definition that holds one (found by the fuzz target
        // `task_definition`: the body sent held `taskDefinition`, and read back was another).
        let err = Rendered::from_value(json!({ "taskDefinition": outer })).unwrap_err();
        assert!(
            err.to_string().contains("holds another `taskDefinition`"),
            "{err}"
        );
        // What is sent reads back as the same task definition.
        let r = Rendered::from_value(json!({ "taskDefinition": inner })).unwrap();
        let again = Rendered::from_value(serde_json::from_slice(&r.to_json()).unwrap()).unwrap();
        assert_eq!(again, r);
    }

    /// A DescribeTaskDefinition answer with many fields set, some of them empty on purpose.
    fn described() -> Value {
        json!({
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/visits:7",
                "family": "visits",
                "revision": 7,
                "status": "ACTIVE",
                "taskRoleArn": "arn:aws:iam::1:role/task",
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "compatibilities": ["EC2", "FARGATE"],
                "requiresAttributes": [{"name": "ecs.capability.execution-role-awslogs"}],
                "registeredAt": 1700000000.0,
                "registeredBy": "arn:aws:iam::1:root",
                "cpu": "256",
                "memory": "512",
                "volumes": [{"name": "scratch", "host": {}}],
                "someFutureField": {"on": true},
                "containerDefinitions": [
                    {"name": "visits", "image": "r.example/visits:stage-1.0.0", "essential": true,
                     "environment": [{"name": "EMPTY", "value": ""}],
                     "dockerLabels": {"tag": ""},
                     "dependsOn": [{"containerName": "sidecar", "condition": "START"}]},
                    {"name": "sidecar", "image": "envoy:1"}
                ]
            },
            "tags": [{"key": "team", "value": "core"}]
        })
    }

    fn img(reference: &str) -> ImageRef {
        ImageRef::parse(reference).unwrap()
    }

    #[test]
    fn a_round_trip_changes_only_the_image() {
        let before = Rendered::from_value(described()).unwrap();
        let after = before
            .clone()
            .with_image("visits", &img("r.example/visits:stage-1.1.0"))
            .unwrap();
        assert_eq!(
            after.image_of("visits"),
            Some("r.example/visits:stage-1.1.0")
        );
        let restored = after
            .with_image("visits", &img("r.example/visits:stage-1.0.0"))
            .unwrap();
        assert_eq!(restored, before);
        assert_eq!(
            before.body()["tags"],
            json!([{"key": "team", "value": "core"}])
        );
        assert_eq!(before.body()["someFutureField"], json!({"on": true}));
        assert_eq!(
            before.body()["containerDefinitions"][0]["environment"][0]["value"],
            json!("")
        );
    }

    #[test]
    fn describe_only_fields_are_not_sent() {
        let r = Rendered::from_value(described()).unwrap();
        for key in DESCRIBE_ONLY {
            assert!(!r.body().contains_key(*key), "{key}");
        }
        assert_eq!(r.body()["requiresCompatibilities"], json!(["FARGATE"]));
    }

    #[test]
    fn an_unknown_container_or_a_render_that_changes_nothing_is_an_error() {
        let r = Rendered::from_value(described()).unwrap();
        let err = r
            .clone()
            .with_image("web", &img("r.example/x"))
            .unwrap_err();
        assert!(
            err.to_string().contains("no container `web`")
                && err.to_string().contains("`visits`, `sidecar`"),
            "{err}"
        );
        let err = r
            .with_image("visits", &img("r.example/visits:stage-1.0.0"))
            .unwrap_err();
        assert!(err.to_string().contains("changes nothing"), "{err}");
    }

    #[test]
    fn the_example_task_definition_files_are_read() {
        for file in ["task-definition.json", "task-definition.prod.json"] {
            let text = std::fs::read_to_string(format!(
                "{}/examples/monorepo/services/visits/deploy/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let r = Rendered::from_file(&text).unwrap();
            assert_eq!(r.family(), "visits");
            let after = r
                .clone()
                .with_image("visits", &img("registry.example/visits:stage-1.0.0"))
                .unwrap();
            let mut expected: Value = serde_json::from_str(&text).unwrap();
            expected["containerDefinitions"][0]["image"] =
                json!("registry.example/visits:stage-1.0.0");
            assert_eq!(Value::Object(after.body().clone()), expected, "{file}");
        }
    }

    #[test]
    fn files_with_any_field_ecs_takes_are_passed_through() {
        let text = r#"{"family":"x","proxyConfiguration":{"type":"APPMESH","containerName":"envoy"},
            "pidMode":"task","containerDefinitions":[{"name":"a","image":"i","links":[],
            "privileged":false,"interactive":true,"pseudoTerminal":true,"disableNetworking":false,
            "ulimits":[{"name":"nofile","softLimit":1024,"hardLimit":2048}]}]}"#;
        let r = Rendered::from_file(text).unwrap();
        let after = r.with_image("a", &img("r.example/j")).unwrap();
        let mut expected: Value = serde_json::from_str(text).unwrap();
        expected["containerDefinitions"][0]["image"] = json!("r.example/j");
        assert_eq!(Value::Object(after.body().clone()), expected);
    }

    #[test]
    fn broken_shapes_are_named() {
        for (text, want) in [
            ("[]", "not a JSON object"),
            (r#"{"containerDefinitions":[{"name":"a"}]}"#, "no `family`"),
            (r#"{"family":"x"}"#, "no `containerDefinitions`"),
            (r#"{"family":"x","containerDefinitions":{}}"#, "not a list"),
            (
                r#"{"family":"x","containerDefinitions":[{"image":"i"}]}"#,
                "has no `name`",
            ),
            (
                r#"{"family":"x","cpu":256,"containerDefinitions":[{"name":"a"}]}"#,
                "`cpu` is not a string",
            ),
            (r#"{"taskDefinition":"x"}"#, "not an object"),
        ] {
            let err = Rendered::from_file(text).unwrap_err();
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn the_example_service_definition_is_read() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/monorepo/services/visits/deploy/service-definition.json"
        ))
        .unwrap();
        let body = service_definition(&text).unwrap();
        assert_eq!(body["launchType"], json!("FARGATE"));
    }

    #[test]
    fn service_definitions_leave_cluster_and_task_definition_to_shipit() {
        assert!(service_definition(r#"{"desiredCount":1,"launchType":"FARGATE"}"#).is_ok());
        let err = service_definition(r#"{"cluster":"c"}"#).unwrap_err();
        assert!(err.to_string().contains("`cluster`"), "{err}");
        assert!(matches!(
            service_definition("nope").unwrap_err(),
            RenderError::NotJson(_)
        ));
    }
}
