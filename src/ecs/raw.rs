//! The ECS calls whose JSON shipit builds or reads whole: RegisterTaskDefinition and CreateService
//! with a body built here, DescribeTaskDefinition with its answer read as JSON. The SDK still signs,
//! retries and finds the endpoint: the body goes in through its request customisation (before
//! signing), the answer comes out through an interceptor that sees it after it was read.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::config::http::HttpRequest;
use aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::error::BoxError;
use aws_sdk_ecs::operation::create_service::CreateServiceError;
use aws_sdk_ecs::types::TaskDefinitionField;
use serde_json::{Map, Value};

use super::render::Rendered;
use super::{Ecs, EcsError, classify};

/// Why CreateService created nothing.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// ECS answered that the cluster does not exist (shipit never creates clusters).
    #[error("{cause}")]
    ClusterMissing { cluster: String, cause: EcsError },
    /// Any other refusal (or no answer).
    #[error("{cause}")]
    Refused {
        cluster: String,
        service: String,
        cause: EcsError,
    },
}

/// A missing cluster is told by the SDK's typed variant (`ClusterNotFoundException` of
/// CreateService's error), as ECS (and moto 5, which the tests run) answers it. This text match is
/// only the fallback, for an endpoint that answers it untyped (an emulator that says it in its own
/// words under another code).
fn says_cluster_not_found(cause: &EcsError) -> bool {
    let text = cause.to_string();
    text.contains("ClusterNotFound") || text.contains("Cluster not found")
}

/// Keeps the body of the last answer.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "shipit-capture-answer"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// Replaces a request's body with `body` (and its length), before it is signed.
fn with_body(body: Vec<u8>) -> impl Fn(&mut HttpRequest) + Send + Sync + 'static {
    let body = bytes::Bytes::from(body);
    move |req: &mut HttpRequest| {
        req.headers_mut()
            .insert("content-length", body.len().to_string());
        *req.body_mut() = body.clone().into();
    }
}

fn no_answer(what: &str, why: &str) -> EcsError {
    EcsError::Aws(crate::aws::AwsError::Api {
        service: "ecs".into(),
        what: what.into(),
        code: String::new(),
        message: why.into(),
    })
}

impl Ecs {
    /// A task definition as registered (with its tags), every field of the answer kept.
    pub async fn describe_task_definition(&self, arn: &str) -> Result<Rendered, EcsError> {
        let capture = Capture::default();
        self.client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| classify("DescribeTaskDefinition", e))?;
        let bytes = capture
            .0
            .lock()
            .ok()
            .and_then(|mut b| b.take())
            .ok_or_else(|| no_answer("DescribeTaskDefinition", "the answer had no body"))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| no_answer("DescribeTaskDefinition", &format!("not JSON: {e}")))?;
        Rendered::from_value(doc).map_err(|why| {
            no_answer(
                "DescribeTaskDefinition",
                &format!("the task definition {arn}: {why}"),
            )
        })
    }

    /// Registers a rendered task definition as it is; its ARN.
    pub async fn register(&self, rendered: &Rendered) -> Result<String, EcsError> {
        let answer = self
            .client
            .register_task_definition()
            .family(rendered.family())
            .customize()
            .mutate_request(with_body(rendered.to_json()))
            .send()
            .await
            .map_err(|e| classify("RegisterTaskDefinition", e))?;
        answer
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| {
                no_answer(
                    "RegisterTaskDefinition",
                    "no task definition ARN in the answer",
                )
            })
    }

    /// Creates an ECS service from a service definition (the CreateService request), in `cluster`,
    /// running `task_definition`; `serviceName` defaults to `service`. The service deployment it
    /// started, where ECS names one.
    pub async fn create_service(
        &self,
        cluster: &str,
        service: &str,
        definition: &Map<String, Value>,
        task_definition: &str,
    ) -> Result<Option<String>, CreateError> {
        let mut body = definition.clone();
        body.insert("cluster".into(), Value::String(cluster.into()));
        body.insert(
            "taskDefinition".into(),
            Value::String(task_definition.into()),
        );
        body.entry("serviceName")
            .or_insert_with(|| Value::String(service.into()));
        let name = body
            .get("serviceName")
            .and_then(Value::as_str)
            .unwrap_or(service)
            .to_string();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let answer = self
            .client
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .customize()
            .mutate_request(with_body(bytes))
            .send()
            .await
            .map_err(|e| {
                let typed = e
                    .as_service_error()
                    .is_some_and(CreateServiceError::is_cluster_not_found_exception);
                let cause = classify("CreateService", e);
                match typed || says_cluster_not_found(&cause) {
                    true => CreateError::ClusterMissing {
                        cluster: cluster.to_string(),
                        cause,
                    },
                    false => CreateError::Refused {
                        cluster: cluster.to_string(),
                        service: service.to_string(),
                        cause,
                    },
                }
            })?;
        Ok(answer
            .service()
            .and_then(|s| s.current_service_deployment())
            .map(str::to_string))
    }
}
