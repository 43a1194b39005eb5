//! A scripted double of the few ECS calls a rollout makes, speaking the ECS JSON protocol (AWS JSON
//! 1.1 over HTTP) on loopback, for the rollout dynamics moto does not model: success after some
//! polls, the circuit breaker rolling back, a FAILED deployment, a crash loop, a deployment that
//! never finishes, a missing service, throttling, polls and updates refused after a rollout started,
//! and CreateService for a first deploy (refused in a cluster that does not exist). It keeps
//! registered task definitions as sent, and records every call.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// What a service does after an UpdateService to a new task definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Completes on the k-th poll.
    SucceedAfter(u32),
    /// On the k-th poll the circuit breaker puts the previous task definition back.
    CircuitBreaker(u32),
    /// On the k-th poll the deployment is FAILED (circuit breaker without rollback).
    Fail(u32),
    /// A task of the new deployment stops on every poll.
    CrashLoop,
    /// Stays IN_PROGRESS forever.
    Never,
    /// ECS with service deployments (since 2024): UpdateService names the service deployment it
    /// started, which follows this timeline, one step a DescribeServiceDeployments.
    Timeline(Timeline),
}

/// A service deployment's course, one step a poll (DescribeServiceDeployments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// ROLLING, SUCCESSFUL on the k-th poll.
    Rolling(u32),
    /// BLUE_GREEN: scale up, test traffic, production traffic, `bake` polls of BAKE_TIME (both
    /// revisions running), clean up, SUCCESSFUL.
    BlueGreen { bake: u32 },
    /// CANARY: 10% of production traffic, a bake, then 100%, a bake, SUCCESSFUL.
    Canary,
    /// LINEAR: production traffic in steps of 25%, then a bake, SUCCESSFUL.
    Linear,
    /// BLUE_GREEN whose alarm `api-5xx` goes into ALARM during the bake: ECS rolls back.
    AlarmRollback,
    /// ROLLING whose tasks fail to start: the circuit breaker counts 3 of 3 and ECS rolls back.
    CircuitBreakerRollback,
    /// BLUE_GREEN that waits at a PAUSE hook after test traffic until ContinueServiceDeployment.
    PauseHook,
}

/// One step of a timeline: status, lifecycle stage, production traffic on the new revision.
#[derive(Debug, Clone, Copy)]
struct Step {
    status: &'static str,
    stage: &'static str,
    weight: f64,
}

const fn step(status: &'static str, stage: &'static str, weight: f64) -> Step {
    Step {
        status,
        stage,
        weight,
    }
}

impl Timeline {
    fn strategy(self) -> &'static str {
        match self {
            Timeline::Rolling(_) | Timeline::CircuitBreakerRollback => "ROLLING",
            Timeline::BlueGreen { .. } | Timeline::AlarmRollback | Timeline::PauseHook => {
                "BLUE_GREEN"
            }
            Timeline::Canary => "CANARY",
            Timeline::Linear => "LINEAR",
        }
    }

    /// The steps, the last one kept once reached.
    fn steps(self) -> Vec<Step> {
        const IP: &str = "IN_PROGRESS";
        match self {
            Timeline::Rolling(k) => {
                let mut v = vec![step(IP, "SCALE_UP", 0.0); k.saturating_sub(1) as usize];
                v.push(step("SUCCESSFUL", "CLEAN_UP", 100.0));
                v
            }
            Timeline::BlueGreen { bake } => {
                let mut v = vec![
                    step(IP, "SCALE_UP", 0.0),
                    step(IP, "TEST_TRAFFIC_SHIFT", 0.0),
                    step(IP, "PRODUCTION_TRAFFIC_SHIFT", 100.0),
                ];
                v.extend(vec![step(IP, "BAKE_TIME", 100.0); bake as usize]);
                v.push(step(IP, "CLEAN_UP", 100.0));
                v.push(step("SUCCESSFUL", "CLEAN_UP", 100.0));
                v
            }
            Timeline::Canary => vec![
                step(IP, "SCALE_UP", 0.0),
                step(IP, "PRODUCTION_TRAFFIC_SHIFT", 10.0),
                step(IP, "BAKE_TIME", 10.0),
                step(IP, "PRODUCTION_TRAFFIC_SHIFT", 100.0),
                step(IP, "BAKE_TIME", 100.0),
                step("SUCCESSFUL", "CLEAN_UP", 100.0),
            ],
            Timeline::Linear => vec![
                step(IP, "SCALE_UP", 0.0),
                step(IP, "PRODUCTION_TRAFFIC_SHIFT", 25.0),
                step(IP, "PRODUCTION_TRAFFIC_SHIFT", 50.0),
                step(IP, "PRODUCTION_TRAFFIC_SHIFT", 75.0),
                step(IP, "PRODUCTION_TRAFFIC_SHIFT", 100.0),
                step(IP, "BAKE_TIME", 100.0),
                step("SUCCESSFUL", "CLEAN_UP", 100.0),
            ],
            Timeline::AlarmRollback => vec![
                step(IP, "SCALE_UP", 0.0),
                step(IP, "PRODUCTION_TRAFFIC_SHIFT", 100.0),
                step(IP, "BAKE_TIME", 100.0),
                step("ROLLBACK_IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 0.0),
                step("ROLLBACK_SUCCESSFUL", "CLEAN_UP", 0.0),
            ],
            Timeline::CircuitBreakerRollback => vec![
                step(IP, "SCALE_UP", 0.0),
                step(IP, "SCALE_UP", 0.0),
                step("ROLLBACK_IN_PROGRESS", "SCALE_UP", 0.0),
                step("ROLLBACK_SUCCESSFUL", "CLEAN_UP", 0.0),
            ],
            Timeline::PauseHook => vec![
                step(IP, "SCALE_UP", 0.0),
                step(IP, "TEST_TRAFFIC_SHIFT", 0.0),
                step(IP, "POST_TEST_TRAFFIC_SHIFT", 0.0),
            ],
        }
    }
}

/// A service deployment the double keeps.
#[derive(Debug, Clone)]
struct ServiceDeployment {
    arn: String,
    cluster: String,
    service: String,
    timeline: Timeline,
    steps: Vec<Step>,
    at: usize,
    polls: u32,
    /// ROLLBACK asked by StopServiceDeployment or ContinueServiceDeployment: polls since.
    rolling_back: Option<u32>,
    /// The hook waits for ContinueServiceDeployment.
    hook_waiting: bool,
    /// Why ECS rolled it back, once it did.
    rollback_reason: Option<String>,
}

#[derive(Debug, Clone)]
struct Deployment {
    id: String,
    status: &'static str,
    task_definition: String,
    rollout_state: &'static str,
    reason: String,
    running: i64,
    failed_tasks: i64,
}

#[derive(Debug, Clone)]
struct Svc {
    task_definition: String,
    deployments: Vec<Deployment>,
    events: Vec<String>,
    script: Script,
    polls: u32,
    /// The task definition before the last update, for the circuit breaker.
    previous: Option<String>,
    /// The service deployment of the last update, where the script has one.
    current: Option<String>,
    /// `deploymentController.type`.
    controller: &'static str,
    /// `deploymentConfiguration.alarms.alarmNames` (enabled, with rollback) when not empty.
    alarms: Vec<String>,
}

#[derive(Default)]
struct State {
    /// By ARN: the registered request body and its tags.
    task_definitions: BTreeMap<String, (Value, Value)>,
    revisions: BTreeMap<String, u32>,
    services: BTreeMap<(String, String), Svc>,
    calls: Vec<String>,
    throttle_describes: u32,
    next_id: u32,
    /// Clusters that exist without services in them.
    clusters: std::collections::BTreeSet<String>,
    /// By cluster: DescribeServices calls refused (AccessDenied) after the next UpdateService.
    refuse_polls: BTreeMap<String, u32>,
    /// Armed refusals, counting down.
    refusing: BTreeMap<String, u32>,
    /// What a service created by CreateService does.
    create_script: Option<Script>,
    /// UpdateService calls answered before the rest are refused (AccessDenied), if set.
    updates_allowed: Option<u32>,
    /// CreateService requests, by (cluster, service).
    created: BTreeMap<(String, String), Value>,
    /// Calls answered before every further one is read and never answered, if set.
    answers_left: Option<u32>,
    /// Service deployments, by ARN.
    service_deployments: BTreeMap<String, ServiceDeployment>,
    /// Every answer given: the operation and its JSON body (errors included).
    answers: Vec<(String, Value)>,
    /// Every request of a service-deployment call: the operation and its body.
    requests: Vec<(String, Value)>,
}

pub struct EcsDouble {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

const ACCOUNT: &str = "123456789012";

fn arn(kind: &str, rest: &str) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:{kind}/{rest}")
}

impl EcsDouble {
    pub fn start() -> EcsDouble {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, state));
            }
        });
        EcsDouble { endpoint, state }
    }

    /// A service in `cluster` running a task definition registered with `body` as it is.
    pub fn service_with(&self, cluster: &str, service: &str, body: Value, script: Script) {
        let mut st = self.state.lock().unwrap();
        let td = register(&mut st, body, json!([]));
        st.services.insert(
            (cluster.into(), service.into()),
            Svc {
                task_definition: td.clone(),
                deployments: vec![Deployment {
                    id: "ecs-svc/initial".into(),
                    status: "PRIMARY",
                    task_definition: td,
                    rollout_state: "COMPLETED",
                    reason: String::new(),
                    running: 1,
                    failed_tasks: 0,
                }],
                events: Vec::new(),
                script,
                polls: 0,
                previous: None,
                current: None,
                controller: "ECS",
                alarms: Vec::new(),
            },
        );
        st.calls.clear();
    }

    /// Registers `family:1` running `image` in `container`, and a service using it in `cluster`.
    pub fn service(
        &self,
        cluster: &str,
        service: &str,
        container: &str,
        image: &str,
        script: Script,
    ) {
        let body = json!({
            "family": service,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/exec"),
            "containerDefinitions": [
                {"name": container, "image": image, "essential": true,
                 "environment": [{"name": "EMPTY", "value": ""}, {"name": "PORT", "value": "8080"}],
                 "dockerLabels": {"tag": ""}},
                {"name": "sidecar", "image": "envoy:1.0", "essential": false}
            ]
        });
        let mut st = self.state.lock().unwrap();
        let td = register(&mut st, body, json!([{"key": "team", "value": "core"}]));
        let deployment = Deployment {
            id: "ecs-svc/initial".into(),
            status: "PRIMARY",
            task_definition: td.clone(),
            rollout_state: "COMPLETED",
            reason: String::new(),
            running: 1,
            failed_tasks: 0,
        };
        st.services.insert(
            (cluster.into(), service.into()),
            Svc {
                task_definition: td,
                deployments: vec![deployment],
                events: Vec::new(),
                script,
                polls: 0,
                previous: None,
                current: None,
                controller: "ECS",
                alarms: Vec::new(),
            },
        );
        st.calls.clear();
    }

    /// Sets a service's `deploymentController.type` (ECS, CODE_DEPLOY, EXTERNAL).
    pub fn controller(&self, cluster: &str, service: &str, controller: &'static str) {
        let mut st = self.state.lock().unwrap();
        st.services
            .get_mut(&(cluster.to_string(), service.to_string()))
            .unwrap()
            .controller = controller;
    }

    /// Names CloudWatch alarms in a service's `deploymentConfiguration.alarms`.
    pub fn alarms(&self, cluster: &str, service: &str, names: &[&str]) {
        let mut st = self.state.lock().unwrap();
        st.services
            .get_mut(&(cluster.to_string(), service.to_string()))
            .unwrap()
            .alarms = names.iter().map(|n| n.to_string()).collect();
    }

    /// Every answer given so far: the operation and its JSON body.
    pub fn answers(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().answers.clone()
    }

    /// The requests of the service-deployment calls (Stop, Continue, List, Describe).
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// A service deployment's status now.
    pub fn deployment_status(&self, cluster: &str, service: &str) -> Option<String> {
        let st = self.state.lock().unwrap();
        let svc = st
            .services
            .get(&(cluster.to_string(), service.to_string()))?;
        let sd = st.service_deployments.get(svc.current.as_ref()?)?;
        Some(status_of(sd).to_string())
    }

    /// A cluster with no services in it.
    pub fn cluster(&self, cluster: &str) {
        self.state.lock().unwrap().clusters.insert(cluster.into());
    }

    /// After the next UpdateService in `cluster`, its next `n` DescribeServices calls are refused
    /// with AccessDeniedException (an error no retry cures).
    pub fn refuse_polls(&self, cluster: &str, n: u32) {
        self.state
            .lock()
            .unwrap()
            .refuse_polls
            .insert(cluster.into(), n);
    }

    /// After `n` more UpdateService calls, every further one is refused with AccessDeniedException.
    pub fn refuse_updates_after(&self, n: u32) {
        self.state.lock().unwrap().updates_allowed = Some(n);
    }

    /// After `n` more answered calls, every further call is read and never answered (the
    /// connection stays open): an endpoint that stops answering in the middle of a rollout.
    pub fn hang_after(&self, n: u32) {
        self.state.lock().unwrap().answers_left = Some(n);
    }

    /// What services created through CreateService do (default: succeed on the first poll).
    pub fn on_create(&self, script: Script) {
        self.state.lock().unwrap().create_script = Some(script);
    }

    /// The CreateService request that created a service, if one did.
    pub fn created(&self, cluster: &str, service: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .created
            .get(&(cluster.to_string(), service.to_string()))
            .cloned()
    }

    /// The first `n` DescribeServices calls answer ThrottlingException.
    pub fn throttle(&self, n: u32) {
        self.state.lock().unwrap().throttle_describes = n;
    }

    /// Every call made so far, as `Operation` names.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// How many times `operation` was called.
    pub fn count(&self, operation: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| *c == operation)
            .count()
    }

    /// The task definition ARN a service runs now, and the body it was registered with.
    pub fn current(&self, cluster: &str, service: &str) -> (String, Value) {
        let st = self.state.lock().unwrap();
        let td = st.services[&(cluster.to_string(), service.to_string())]
            .task_definition
            .clone();
        let body = st.task_definitions[&td].0.clone();
        (td, body)
    }

    /// The tags registered with a task definition.
    pub fn tags(&self, arn: &str) -> Value {
        self.state.lock().unwrap().task_definitions[arn].1.clone()
    }
}

fn register(st: &mut State, body: Value, tags: Value) -> String {
    let family = body["family"].as_str().unwrap().to_string();
    let rev = st.revisions.entry(family.clone()).or_insert(0);
    *rev += 1;
    let arn = arn("task-definition", &format!("{family}:{rev}"));
    st.task_definitions.insert(arn.clone(), (body, tags));
    arn
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut target = String::new();
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "x-amz-target" => {
                        target = v.trim().rsplit('.').next().unwrap_or("").to_string()
                    }
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let hang = {
            let mut st = state.lock().unwrap();
            match st.answers_left.as_mut() {
                Some(0) => {
                    st.calls.push(format!("{target} (no answer)"));
                    true
                }
                Some(n) => {
                    *n -= 1;
                    false
                }
                None => false,
            }
        };
        if hang {
            // Holds the connection open without a word, for longer than any test runs.
            std::thread::sleep(std::time::Duration::from_secs(3600));
            return;
        }
        let (status, answer) = handle(&state, &target, &request);
        state
            .lock()
            .unwrap()
            .answers
            .push((target.clone(), answer.clone()));
        let text = answer.to_string();
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: test\r\n\r\n",
            text.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.write_all(text.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn error(code: &str, message: &str) -> (&'static str, Value) {
    (
        "400 Bad Request",
        json!({"__type": code, "message": message}),
    )
}

fn handle(state: &Mutex<State>, target: &str, req: &Value) -> (&'static str, Value) {
    let mut st = state.lock().unwrap();
    st.calls.push(target.to_string());
    match target {
        "DescribeServices" => {
            if st.throttle_describes > 0 {
                st.throttle_describes -= 1;
                return error("ThrottlingException", "Rate exceeded");
            }
            let cluster = req["cluster"].as_str().unwrap_or("default").to_string();
            if let Some(n) = st.refusing.get_mut(&cluster)
                && *n > 0
            {
                *n -= 1;
                return error(
                    "AccessDeniedException",
                    "User is not authorized to perform: ecs:DescribeServices",
                );
            }
            let mut services = Vec::new();
            let mut failures = Vec::new();
            for name in req["services"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let key = (cluster.clone(), name.to_string());
                let Some(svc) = st.services.get_mut(&key) else {
                    failures.push(json!({"arn": arn("service", &format!("{cluster}/{name}")), "reason": "MISSING"}));
                    continue;
                };
                advance(svc, name);
                services.push(describe(&cluster, name, svc));
            }
            (
                "200 OK",
                json!({"services": services, "failures": failures}),
            )
        }
        "DescribeTaskDefinition" => {
            let wanted = req["taskDefinition"].as_str().unwrap_or("");
            let Some((arn, (body, tags))) = st
                .task_definitions
                .iter()
                .find(|(a, _)| *a == wanted || a.ends_with(&format!("/{wanted}")))
            else {
                return error("ClientException", "Unable to describe task definition.");
            };
            let mut td = body.clone();
            let revision: u32 = arn.rsplit(':').next().unwrap().parse().unwrap();
            td["taskDefinitionArn"] = json!(arn);
            td["revision"] = json!(revision);
            td["status"] = json!("ACTIVE");
            td["compatibilities"] = json!(["EC2", "FARGATE"]);
            td["requiresAttributes"] =
                json!([{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]);
            td["registeredAt"] = json!(1_700_000_000.0);
            td["registeredBy"] = json!(format!("arn:aws:iam::{ACCOUNT}:root"));
            let include_tags = req["include"]
                .as_array()
                .is_some_and(|i| i.iter().any(|x| x == "TAGS"));
            let mut out = json!({"taskDefinition": td});
            if include_tags {
                out["tags"] = tags.clone();
            }
            ("200 OK", out)
        }
        "RegisterTaskDefinition" => {
            let mut body = req.clone();
            let tags = body
                .as_object_mut()
                .unwrap()
                .remove("tags")
                .unwrap_or(json!([]));
            // The service's own validation of enum values, in its words.
            if let Some(mode) = body.get("networkMode").and_then(Value::as_str)
                && !["bridge", "host", "awsvpc", "none"].contains(&mode)
            {
                return error(
                    "ClientException",
                    &format!(
                        "1 validation error detected: Value '{mode}' at 'networkMode' failed to satisfy constraint: Member must satisfy enum value set: [bridge, host, awsvpc, none]"
                    ),
                );
            }
            for forbidden in [
                "taskDefinitionArn",
                "revision",
                "status",
                "requiresAttributes",
                "compatibilities",
                "registeredAt",
                "registeredBy",
                "deregisteredAt",
            ] {
                if body.get(forbidden).is_some() {
                    return error("ClientException", &format!("Unknown parameter {forbidden}"));
                }
            }
            let arn = register(&mut st, body.clone(), tags);
            let mut td = body;
            td["taskDefinitionArn"] = json!(arn);
            ("200 OK", json!({"taskDefinition": td}))
        }
        "UpdateService" => {
            let cluster = req["cluster"].as_str().unwrap_or("default").to_string();
            let name = req["service"].as_str().unwrap_or("").to_string();
            let td = req["taskDefinition"].as_str().unwrap_or("").to_string();
            match st.updates_allowed.as_mut() {
                Some(0) => {
                    return error(
                        "AccessDeniedException",
                        "User is not authorized to perform: ecs:UpdateService",
                    );
                }
                Some(n) => *n -= 1,
                None => {}
            }
            if let Some(n) = st.refuse_polls.remove(&cluster) {
                st.refusing.insert(cluster.clone(), n);
            }
            st.next_id += 1;
            let id = format!("ecs-svc/{}", st.next_id);
            let Some(svc) = st.services.get_mut(&(cluster.clone(), name.clone())) else {
                return error("ServiceNotFoundException", "Service not found.");
            };
            let old = svc.task_definition.clone();
            // A rollback (back to the previous task definition) always succeeds quickly.
            if svc.previous.as_deref() == Some(td.as_str()) {
                svc.script = Script::SucceedAfter(1);
            }
            svc.previous = Some(old.clone());
            svc.task_definition = td.clone();
            svc.polls = 0;
            for d in svc.deployments.iter_mut() {
                d.status = "ACTIVE";
            }
            svc.deployments.insert(
                0,
                Deployment {
                    id,
                    status: "PRIMARY",
                    task_definition: td,
                    rollout_state: "IN_PROGRESS",
                    reason: String::new(),
                    running: 0,
                    failed_tasks: 0,
                },
            );
            svc.events
                .insert(0, format!("(service {name}) has started 1 tasks"));
            if let Script::Timeline(timeline) = svc.script {
                let sd_arn = arn(
                    "service-deployment",
                    &format!("{cluster}/{name}/{}", st.next_id),
                );
                let svc = st
                    .services
                    .get_mut(&(cluster.clone(), name.clone()))
                    .unwrap();
                svc.current = Some(sd_arn.clone());
                st.service_deployments.insert(
                    sd_arn.clone(),
                    ServiceDeployment {
                        arn: sd_arn,
                        cluster: cluster.clone(),
                        service: name.clone(),
                        timeline,
                        steps: timeline.steps(),
                        at: 0,
                        polls: 0,
                        rolling_back: None,
                        hook_waiting: false,
                        rollback_reason: None,
                    },
                );
            }
            let svc = &st.services[&(cluster.clone(), name.clone())];
            let out = describe(&cluster, &name, svc);
            ("200 OK", json!({"service": out}))
        }
        "CreateService" => {
            let cluster = req["cluster"].as_str().unwrap_or("default").to_string();
            let name = req["serviceName"].as_str().unwrap_or("").to_string();
            let td = req["taskDefinition"].as_str().unwrap_or("").to_string();
            let known =
                st.clusters.contains(&cluster) || st.services.keys().any(|(c, _)| *c == cluster);
            if !known {
                return error("ClusterNotFoundException", "Cluster not found.");
            }
            if name.is_empty() || !st.task_definitions.contains_key(&td) {
                return error(
                    "InvalidParameterException",
                    "serviceName and a registered taskDefinition are required",
                );
            }
            if st.services.contains_key(&(cluster.clone(), name.clone())) {
                return error(
                    "InvalidParameterException",
                    "Creation of service was not idempotent.",
                );
            }
            st.next_id += 1;
            let svc = Svc {
                task_definition: td.clone(),
                deployments: vec![Deployment {
                    id: format!("ecs-svc/{}", st.next_id),
                    status: "PRIMARY",
                    task_definition: td,
                    rollout_state: "IN_PROGRESS",
                    reason: String::new(),
                    running: 0,
                    failed_tasks: 0,
                }],
                events: vec![format!("(service {name}) has started 1 tasks")],
                script: st.create_script.unwrap_or(Script::SucceedAfter(1)),
                polls: 0,
                previous: None,
                current: None,
                controller: "ECS",
                alarms: Vec::new(),
            };
            let out = describe(&cluster, &name, &svc);
            st.services.insert((cluster.clone(), name.clone()), svc);
            st.created.insert((cluster, name), req.clone());
            ("200 OK", json!({"service": out}))
        }
        "DescribeServiceDeployments" => {
            st.requests.push((target.to_string(), req.clone()));
            let mut found = Vec::new();
            let mut failures = Vec::new();
            for a in req["serviceDeploymentArns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let Some(mut sd) = st.service_deployments.get(a).cloned() else {
                    failures.push(json!({"arn": a, "reason": "MISSING"}));
                    continue;
                };
                step_forward(&mut sd);
                let out = render_deployment(&sd);
                sync(&mut st, &sd);
                st.service_deployments.insert(a.to_string(), sd);
                found.push(out);
            }
            (
                "200 OK",
                json!({"serviceDeployments": found, "failures": failures}),
            )
        }
        "ListServiceDeployments" => {
            st.requests.push((target.to_string(), req.clone()));
            let cluster = req["cluster"].as_str().unwrap_or("default").to_string();
            let name = req["service"].as_str().unwrap_or("").to_string();
            let briefs: Vec<Value> = st
                .service_deployments
                .values()
                .filter(|sd| sd.cluster == cluster && sd.service == name)
                .map(|sd| {
                    json!({
                        "serviceDeploymentArn": sd.arn,
                        "serviceArn": arn("service", &format!("{cluster}/{name}")),
                        "clusterArn": arn("cluster", &cluster),
                        "createdAt": 1_700_000_000.0,
                        "status": status_of(sd),
                    })
                })
                .collect();
            ("200 OK", json!({"serviceDeployments": briefs}))
        }
        "StopServiceDeployment" => {
            st.requests.push((target.to_string(), req.clone()));
            let a = req["serviceDeploymentArn"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let Some(sd) = st.service_deployments.get_mut(&a) else {
                return error(
                    "ServiceDeploymentNotFoundException",
                    "Service deployment not found.",
                );
            };
            if req["stopType"] == "ROLLBACK" {
                sd.rolling_back = Some(0);
                sd.hook_waiting = false;
                sd.rollback_reason = Some("StopServiceDeployment requested a rollback".into());
            }
            ("200 OK", json!({"serviceDeploymentArn": a}))
        }
        "ContinueServiceDeployment" => {
            st.requests.push((target.to_string(), req.clone()));
            let a = req["serviceDeploymentArn"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let Some(sd) = st.service_deployments.get_mut(&a) else {
                return error(
                    "ServiceDeploymentNotFoundException",
                    "Service deployment not found.",
                );
            };
            if !sd.hook_waiting || req["hookId"] != "hook-pause-1" {
                return error(
                    "InvalidParameterException",
                    "No lifecycle hook awaits an action.",
                );
            }
            sd.hook_waiting = false;
            if req["action"] == "ROLLBACK" {
                sd.rolling_back = Some(0);
                sd.rollback_reason = Some("rolled back at the PAUSE hook".into());
            } else {
                sd.steps = vec![
                    step("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 100.0),
                    step("IN_PROGRESS", "BAKE_TIME", 100.0),
                    step("SUCCESSFUL", "CLEAN_UP", 100.0),
                ];
                sd.at = 0;
                sd.polls = 0;
            }
            ("200 OK", json!({"serviceDeploymentArn": a}))
        }
        other => error(
            "UnknownOperationException",
            &format!("the double does not know {other}"),
        ),
    }
}

/// One poll's step of a service deployment: the next step of its timeline, or of its rollback;
/// a PAUSE hook holds it where it is.
fn step_forward(sd: &mut ServiceDeployment) {
    sd.polls += 1;
    if let Some(n) = sd.rolling_back.as_mut() {
        *n += 1;
        return;
    }
    if sd.hook_waiting {
        return;
    }
    if sd.polls > 1 {
        sd.at = (sd.at + 1).min(sd.steps.len() - 1);
    }
    if sd.timeline == Timeline::PauseHook
        && sd.steps[sd.at].stage == "POST_TEST_TRAFFIC_SHIFT"
        && sd.at == sd.steps.len() - 1
    {
        sd.hook_waiting = true;
    }
}

fn current_step(sd: &ServiceDeployment) -> Step {
    match sd.rolling_back {
        Some(n) if n <= 1 => step("ROLLBACK_IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 0.0),
        Some(_) => step("ROLLBACK_SUCCESSFUL", "CLEAN_UP", 0.0),
        None => sd.steps[sd.at],
    }
}

fn status_of(sd: &ServiceDeployment) -> &'static str {
    current_step(sd).status
}

/// The service as the deployment leaves it: both revisions while it runs, the new one alone once
/// successful, the old one alone once rolled back.
fn sync(st: &mut State, sd: &ServiceDeployment) {
    let Some(svc) = st
        .services
        .get_mut(&(sd.cluster.clone(), sd.service.clone()))
    else {
        return;
    };
    let status = status_of(sd);
    let new = svc.deployments[0].clone();
    match status {
        "SUCCESSFUL" => {
            svc.deployments = vec![Deployment {
                rollout_state: "COMPLETED",
                running: 1,
                ..new
            }];
            svc.events.insert(
                0,
                format!("(service {}) has reached a steady state.", sd.service),
            );
        }
        "ROLLBACK_SUCCESSFUL" => {
            if let Some(previous) = svc.previous.clone()
                && svc.task_definition != previous
            {
                svc.task_definition = previous.clone();
                svc.deployments = vec![Deployment {
                    id: "ecs-svc/rollback".into(),
                    status: "PRIMARY",
                    task_definition: previous,
                    rollout_state: "COMPLETED",
                    reason: String::new(),
                    running: 1,
                    failed_tasks: 0,
                }];
                svc.events.insert(
                    0,
                    format!(
                        "(service {}) rolled back to the previous revision.",
                        sd.service
                    ),
                );
            }
        }
        _ => {
            if svc.deployments.len() > 1 {
                svc.deployments[0].running = 1;
            }
        }
    }
}

/// A service deployment as DescribeServiceDeployments gives it.
fn render_deployment(sd: &ServiceDeployment) -> Value {
    let now = current_step(sd);
    let strategy = sd.timeline.strategy();
    let rolled_back = now.status.starts_with("ROLLBACK");
    let mut config = json!({
        "strategy": strategy,
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": true, "rollback": true},
        "alarms": {"alarmNames": ["api-5xx"], "rollback": true, "enable": true},
    });
    if strategy != "ROLLING" {
        config["bakeTimeInMinutes"] = json!(1);
    }
    if strategy == "CANARY" {
        config["canaryConfiguration"] =
            json!({"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 1});
    }
    if strategy == "LINEAR" {
        config["linearConfiguration"] = json!({"stepPercent": 25.0, "stepBakeTimeInMinutes": 1});
    }
    let revision = |n: &str| {
        arn(
            "service-revision",
            &format!("{}/{}/{n}", sd.cluster, sd.service),
        )
    };
    let mut target = json!({
        "arn": revision("2"),
        "requestedTaskCount": 1,
        "runningTaskCount": i32::from(now.stage != "SCALE_UP" || sd.polls > 1),
        "pendingTaskCount": 0,
        "requestedProductionTrafficWeight": now.weight,
    });
    if strategy == "BLUE_GREEN" {
        target["requestedTestTrafficWeight"] =
            json!(if now.stage == "SCALE_UP" { 0.0 } else { 100.0 });
    }
    let alarm = sd.timeline == Timeline::AlarmRollback && rolled_back;
    let breaker = sd.timeline == Timeline::CircuitBreakerRollback;
    let mut out = json!({
        "serviceDeploymentArn": sd.arn,
        "serviceArn": arn("service", &format!("{}/{}", sd.cluster, sd.service)),
        "clusterArn": arn("cluster", &sd.cluster),
        "createdAt": 1_700_000_000.0,
        "startedAt": 1_700_000_001.0,
        "updatedAt": 1_700_000_000.0 + f64::from(sd.polls),
        "sourceServiceRevisions": [{
            "arn": revision("1"), "requestedTaskCount": 1, "runningTaskCount": 1,
            "pendingTaskCount": 0, "requestedProductionTrafficWeight": 100.0 - now.weight,
        }],
        "targetServiceRevision": target,
        "status": now.status,
        "lifecycleStage": now.stage,
        "deploymentConfiguration": config,
        "alarms": {
            "status": if alarm { "TRIGGERED" } else { "MONITORING" },
            "alarmNames": ["api-5xx"],
            "triggeredAlarmNames": if alarm { json!(["api-5xx"]) } else { json!([]) },
        },
        "deploymentCircuitBreaker": {
            "status": if breaker && rolled_back { "TRIGGERED" } else { "MONITORING" },
            "failureCount": if breaker { sd.polls.min(3) } else { 0 },
            "threshold": 3,
        },
    });
    if now.status == "SUCCESSFUL" || now.status == "ROLLBACK_SUCCESSFUL" {
        out["finishedAt"] = json!(1_700_000_100.0);
    }
    if rolled_back {
        let reason = sd.rollback_reason.clone().unwrap_or_else(|| {
            match sd.timeline {
                Timeline::AlarmRollback => "CloudWatch alarm api-5xx triggered a rollback",
                _ => "the deployment circuit breaker triggered a rollback",
            }
            .to_string()
        });
        out["rollback"] = json!({
            "reason": reason,
            "startedAt": 1_700_000_050.0,
            "serviceRevisionArn": revision("1"),
        });
        out["statusReason"] = json!(reason);
    }
    if sd.timeline == Timeline::PauseHook && (sd.hook_waiting || sd.at > 0 || sd.polls > 2) {
        out["lifecycleHookDetails"] = json!([{
            "hookId": "hook-pause-1",
            "targetType": "PAUSE",
            "status": if sd.hook_waiting { "AWAITING_ACTION" } else { "SUCCEEDED" },
            "expiresAt": 1_700_003_600.0,
            "timeoutAction": "ROLLBACK",
        }]);
    }
    out
}

/// One poll's worth of progress, by the service's script.
fn advance(svc: &mut Svc, name: &str) {
    if svc.deployments.len() < 2 && svc.deployments[0].rollout_state != "IN_PROGRESS" {
        return;
    }
    if matches!(svc.script, Script::Timeline(_)) {
        return;
    }
    svc.polls += 1;
    let k = svc.polls;
    let primary = svc.deployments[0].clone();
    match svc.script {
        Script::SucceedAfter(n) if k >= n => {
            svc.deployments = vec![Deployment {
                rollout_state: "COMPLETED",
                running: 1,
                status: "PRIMARY",
                ..primary
            }];
            svc.events
                .insert(0, format!("(service {name}) has reached a steady state."));
        }
        Script::CircuitBreaker(n) if k >= n => {
            let previous = svc.previous.clone().unwrap();
            svc.task_definition = previous.clone();
            svc.deployments = vec![Deployment {
                id: "ecs-svc/rollback".into(),
                status: "PRIMARY",
                task_definition: previous,
                rollout_state: "COMPLETED",
                reason: String::new(),
                running: 1,
                failed_tasks: 0,
            }];
            svc.events.insert(
                0,
                format!(
                    "(service {name}) (deployment {}) deployment failed: tasks failed to start.",
                    primary.id
                ),
            );
            svc.events.insert(
                0,
                format!("(service {name}) rolling back to the previous deployment."),
            );
        }
        Script::Fail(n) if k >= n => {
            svc.deployments[0].rollout_state = "FAILED";
            svc.deployments[0].reason =
                "ECS deployment circuit breaker: tasks failed to start.".into();
            svc.events.insert(
                0,
                format!("(service {name}) (task 1234) failed container health checks."),
            );
        }
        Script::CrashLoop => {
            svc.deployments[0].failed_tasks += 1;
            svc.events.insert(
                0,
                format!("(service {name}) (task {k}) stopped: Essential container in task exited"),
            );
        }
        _ => {}
    }
}

fn describe(cluster: &str, name: &str, svc: &Svc) -> Value {
    let deployments: Vec<Value> = svc
        .deployments
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "status": d.status, "taskDefinition": d.task_definition,
                "desiredCount": 1, "runningCount": d.running, "pendingCount": 1 - d.running,
                "failedTasks": d.failed_tasks, "rolloutState": d.rollout_state, "rolloutStateReason": d.reason
            })
        })
        .collect();
    let running: i64 = svc.deployments.iter().map(|d| d.running).sum();
    let mut out = json!({
        "serviceName": name,
        "serviceArn": arn("service", &format!("{cluster}/{name}")),
        "clusterArn": arn("cluster", cluster),
        "status": "ACTIVE",
        "desiredCount": 1,
        "runningCount": running.min(1),
        "pendingCount": 0,
        "taskDefinition": svc.task_definition,
        "deployments": deployments,
        "events": svc.events.iter().enumerate().map(|(i, m)| json!({"id": format!("e{i}"), "createdAt": 1_700_000_000.0, "message": m})).collect::<Vec<_>>(),
        "deploymentController": {"type": svc.controller},
    });
    if let Script::Timeline(t) = svc.script {
        out["deploymentConfiguration"] = json!({"strategy": t.strategy()});
    }
    if !svc.alarms.is_empty() {
        out["deploymentConfiguration"]["alarms"] =
            json!({"alarmNames": svc.alarms, "enable": true, "rollback": true});
    }
    if let Some(current) = &svc.current {
        out["currentServiceDeployment"] = json!(current);
    }
    out
}
