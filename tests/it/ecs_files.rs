//! Task definition and service definition files as teams keep them: every field ECS takes passes
//! through, describe output is read, a missing ECS service is created, and services that share an
//! ECS service roll out as one render. Against the ECS double (the rollout) and moto (the shapes).

use serde_json::{Value, json};

use crate::support::ecs_double::{EcsDouble, Script};
use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{Run, run, shipit, shipit_run};
use crate::support::{moto, registry, sdk_config, unique};

/// A file shaped like the ones in ECS's own guides: the fields the old reader refused, and one ECS
/// may add one day.
pub fn guide_file(family: &str) -> Value {
    json!({
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "volumes": [{"name": "shared", "host": {}}],
        "containerDefinitions": [
            {
                "name": "api",
                "image": "api:placeholder",
                "essential": true,
                "dependsOn": [{"containerName": "log_router", "condition": "START"}],
                "disableNetworking": false,
                "privileged": false,
                "interactive": true,
                "pseudoTerminal": true,
                "portMappings": [{"name": "http", "containerPort": 8080, "hostPort": 8080,
                                  "protocol": "tcp", "appProtocol": "http2"}],
                "mountPoints": [{"sourceVolume": "shared", "containerPath": "/data", "readOnly": false}],
                "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
                "linuxParameters": {"initProcessEnabled": true, "capabilities": {"drop": ["NET_RAW"]}},
                "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
                "environment": [{"name": "EMPTY", "value": ""}],
                "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "cloudwatch"}}
            },
            {
                "name": "log_router",
                "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
                "essential": true,
                "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}}
            }
        ]
    })
}

struct Setup {
    repo: TestRepo,
    double: EcsDouble,
    image: String,
}

/// `api` rolls out to stage-a, with `service_keys` added to its section of ci.toml and `files`
/// written into the repository.
fn setup(service_keys: &str, files: &[(&str, String)]) -> Setup {
    let prefix = unique("ecsfiles");
    let oci = Oci::new(&registry(), None);
    oci.push(&format!("{prefix}/api"), "v1", &["stage-1.0.0"]);
    oci.push(&format!("{prefix}/api"), "v0", &["stage-0.9.0"]);
    let toml = format!(
        r#"[project]
registry = "oci://{}/{prefix}"

[environments.stage]
branch = "develop"
clusters = ["stage-a"]
rollout_timeout = "3s"
poll_interval = "50ms"

[services.api]
path = "services/api"
{service_keys}
"#,
        registry()
    );
    let repo = TestRepo::new();
    repo.write("ci.toml", &toml);
    repo.write("services/api/Dockerfile", "FROM scratch\n");
    repo.write("services/proxy/Dockerfile", "FROM scratch\n");
    for (path, text) in files {
        repo.write(path, text);
    }
    repo.commit("initial import");
    let double = EcsDouble::start();
    let image = format!("{}/{prefix}/api", registry());
    double.service(
        "stage-a",
        "api",
        "api",
        &format!("{image}:stage-0.9.0"),
        Script::SucceedAfter(1),
    );
    Setup {
        repo,
        double,
        image,
    }
}

fn deploy(s: &Setup, args: &[&str]) -> Run {
    let mut cmd = shipit(&s.repo.dir);
    cmd.args(["deploy", "--env", "stage"])
        .args(args)
        .env("AWS_ENDPOINT_URL_ECS", &s.double.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    run(cmd)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

#[test]
fn a_task_definition_file_with_every_field_is_registered_whole() {
    let mut file = guide_file("api");
    file["someFieldEcsAddsLater"] = json!({"enabled": true});
    file["tags"] = json!([{"key": "team", "value": "core"}]);
    let s = setup(
        "task_definition = \"deploy/td.json\"",
        &[("services/api/deploy/td.json", pretty(&file))],
    );
    let v = shipit_run(&s.repo.dir, &["validate"]);
    assert_eq!(v.code, 0, "{}", v.transcript());
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let (arn, body) = s.double.current("stage-a", "api");
    let mut expected = file.clone();
    expected.as_object_mut().unwrap().remove("tags");
    expected["containerDefinitions"][0]["image"] = json!(format!("{}:stage-1.0.0", s.image));
    assert_eq!(body, expected, "only the image changed");
    assert_eq!(
        s.double.tags(&arn),
        json!([{"key": "team", "value": "core"}])
    );
}

#[test]
fn the_live_task_definition_keeps_every_field_too() {
    let s = setup("", &[]);
    let mut live = guide_file("api");
    live["someFieldEcsAddsLater"] = json!({"enabled": true});
    live["containerDefinitions"][0]["image"] = json!(format!("{}:stage-0.9.0", s.image));
    live["containerDefinitions"][0]["restartPolicy"] =
        json!({"enabled": true, "restartAttemptPeriod": 60});
    s.double
        .service_with("stage-a", "api", live.clone(), Script::SucceedAfter(1));
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let (_, body) = s.double.current("stage-a", "api");
    let mut expected = live;
    expected["containerDefinitions"][0]["image"] = json!(format!("{}:stage-1.0.0", s.image));
    assert_eq!(body, expected, "only the image changed");
}

#[test]
fn describe_task_definition_output_is_accepted_as_it_is() {
    let mut inner = guide_file("api");
    inner["taskDefinitionArn"] = json!("arn:aws:ecs:us-east-1:123456789012:task-definition/api:4");
    inner["revision"] = json!(4);
    inner["status"] = json!("ACTIVE");
    inner["compatibilities"] = json!(["EC2", "FARGATE"]);
    inner["requiresAttributes"] = json!([{"name": "ecs.capability.firelens.fluentbit"}]);
    inner["registeredAt"] = json!("2024-05-02T10:11:12.345000+02:00");
    inner["registeredBy"] = json!("arn:aws:sts::123456789012:assumed-role/deploy/ci");
    let file = json!({"taskDefinition": inner, "tags": [{"key": "team", "value": "core"}]});
    let s = setup(
        "task_definition = \"deploy/td.json\"",
        &[("services/api/deploy/td.json", pretty(&file))],
    );
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let (arn, body) = s.double.current("stage-a", "api");
    let mut expected = guide_file("api");
    expected["containerDefinitions"][0]["image"] = json!(format!("{}:stage-1.0.0", s.image));
    assert_eq!(body, expected, "describe-only fields dropped, nothing else");
    assert_eq!(
        s.double.tags(&arn),
        json!([{"key": "team", "value": "core"}])
    );
}

#[test]
fn a_field_ecs_rejects_is_reported_with_ecss_message_the_file_and_the_service() {
    let mut file = guide_file("api");
    file["networkMode"] = json!("awsvpcc");
    let s = setup(
        "task_definition = \"deploy/td.json\"",
        &[("services/api/deploy/td.json", pretty(&file))],
    );
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("Value 'awsvpcc' at 'networkMode' failed to satisfy constraint")
            && r.stdout.contains("services/api/deploy/td.json")
            && r.stdout.contains("service api"),
        "{}",
        r.stdout
    );
    assert!(!s.double.calls().contains(&"UpdateService".to_string()));
}

#[test]
fn a_broken_task_definition_file_stops_validate_and_release_before_anything_is_built() {
    let mut file = guide_file("api");
    file["containerDefinitions"][0]["name"] = json!("app");
    let s = setup(
        "task_definition = \"deploy/td.json\"",
        &[("services/api/deploy/td.json", pretty(&file))],
    );
    let v = shipit_run(&s.repo.dir, &["validate"]);
    assert_eq!(v.code, 2, "{}", v.transcript());
    assert!(
        v.stderr.contains("no container `api`") && v.stderr.contains("deploy/td.json"),
        "{}",
        v.stderr
    );
    s.repo.git(&["checkout", "-q", "-b", "develop"]);
    let mut cmd = shipit(&s.repo.dir);
    cmd.args(["release", "--all"]);
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("nothing was built or pushed") && r.stderr.contains("no container `api`"),
        "{}",
        r.stderr
    );
    assert!(s.double.calls().is_empty());
    let d = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(d.code, 2, "{}", d.transcript());
    assert!(d.stderr.contains("nothing was deployed"), "{}", d.stderr);
    assert!(s.double.calls().is_empty());
}

#[test]
fn a_missing_service_is_created_from_its_service_definition_then_updated() {
    let definition = json!({
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "DISABLED"}},
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}},
        "enableExecuteCommand": true
    });
    let s = setup(
        "ecs_service = \"api-v2\"\ntask_definition = \"deploy/td.json\"\nservice_definition = \"deploy/service.json\"",
        &[
            ("services/api/deploy/td.json", pretty(&guide_file("api-v2"))),
            ("services/api/deploy/service.json", pretty(&definition)),
        ],
    );
    let v = shipit_run(&s.repo.dir, &["validate"]);
    assert_eq!(v.code, 0, "{}", v.transcript());
    let r = deploy(&s, &["--service", "api", "--version", "0.9.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let created = s.double.created("stage-a", "api-v2").expect("created");
    let (arn, body) = s.double.current("stage-a", "api-v2");
    let mut expected = definition.clone();
    expected["cluster"] = json!("stage-a");
    expected["serviceName"] = json!("api-v2");
    expected["taskDefinition"] = json!(arn);
    assert_eq!(created, expected);
    assert_eq!(
        body["containerDefinitions"][0]["image"],
        json!(format!("{}:stage-0.9.0", s.image))
    );
    // The next release updates it.
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let calls = s.double.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "CreateService").count(),
        1,
        "{calls:?}"
    );
    assert!(calls.contains(&"UpdateService".to_string()), "{calls:?}");
    assert_eq!(
        s.double.current("stage-a", "api-v2").1["containerDefinitions"][0]["image"],
        json!(format!("{}:stage-1.0.0", s.image))
    );
}

#[test]
fn a_missing_service_without_a_service_definition_names_the_key_and_a_missing_cluster_is_never_created()
 {
    let s = setup(
        "ecs_service = \"api-v2\"\ntask_definition = \"deploy/td.json\"",
        &[("services/api/deploy/td.json", pretty(&guide_file("api-v2")))],
    );
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("stage-a/api-v2 does not exist")
            && r.stdout.contains("add `service_definition`")
            && r.stdout.contains("the cluster `stage-a`"),
        "{}",
        r.stdout
    );
    assert!(
        !s.double
            .calls()
            .contains(&"RegisterTaskDefinition".to_string())
    );

    let s = setup(
        "ecs_service = \"api-v2\"\ntask_definition = \"deploy/td.json\"\nservice_definition = \"deploy/service.json\"\n[services.api.environments.stage]\nclusters = [\"nowhere\"]",
        &[
            ("services/api/deploy/td.json", pretty(&guide_file("api-v2"))),
            (
                "services/api/deploy/service.json",
                "{\"desiredCount\": 1}".into(),
            ),
        ],
    );
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("the cluster `nowhere` does not exist")
            && r.stdout.contains("shipit never creates clusters"),
        "{}",
        r.stdout
    );
}

#[test]
fn services_sharing_an_ecs_service_roll_out_as_one_render() {
    use shipit::pipeline::rollout::{Request, run as roll};
    let s = setup(
        "\n[services.proxy]\npath = \"services/proxy\"\necs_service = \"api\"\ncontainer = \"sidecar\"",
        &[],
    );
    let config = shipit::config::Config::load(
        &s.repo.dir.join("ci.toml"),
        &s.repo.dir,
        shipit::config::Checks::Load,
    )
    .unwrap();
    let env = &config.environments[0];
    let requests = vec![
        Request {
            service: "api".into(),
            image: shipit::image::ImageRef::parse(&format!("{}:stage-1.0.0", s.image)).unwrap(),
            version: Some(semver::Version::new(1, 0, 0)),
            force: false,
            known: Default::default(),
        },
        Request {
            service: "proxy".into(),
            image: shipit::image::ImageRef::parse("registry.example/proxy:stage-2.0.0").unwrap(),
            version: Some(semver::Version::new(2, 0, 0)),
            force: false,
            known: Default::default(),
        },
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ecs = shipit::ecs::Ecs::new(&sdk_config(&rt, &s.double.endpoint));
    let out = rt
        .block_on(roll(&ecs, &config, env, &requests, &|_| {}))
        .unwrap();
    let calls = s.double.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| *c == "RegisterTaskDefinition" || *c == "UpdateService")
            .collect::<Vec<_>>(),
        ["RegisterTaskDefinition", "UpdateService"],
        "one render, one update: {calls:?}"
    );
    let (arn, body) = s.double.current("stage-a", "api");
    assert!(arn.ends_with("/api:2"), "{arn}");
    assert_eq!(
        body["containerDefinitions"][0]["image"],
        json!(format!("{}:stage-1.0.0", s.image))
    );
    assert_eq!(
        body["containerDefinitions"][1]["image"],
        json!("registry.example/proxy:stage-2.0.0")
    );
    for service in ["api", "proxy"] {
        let ended = &out[service];
        assert_eq!(ended.len(), 1, "{out:?}");
        assert!(ended[0].1.is_success(), "{out:?}");
    }
}

#[test]
fn a_render_from_a_file_keeps_the_running_image_of_a_sidecar_not_rolled_out() {
    let mut file = guide_file("api");
    file["containerDefinitions"][1]["name"] = json!("sidecar");
    file["containerDefinitions"][1]["image"] = json!("envoy:placeholder");
    file["containerDefinitions"][0]["dependsOn"][0]["containerName"] = json!("sidecar");
    let s = setup(
        "task_definition = \"deploy/td.json\"\n\n[services.proxy]\npath = \"services/proxy\"\necs_service = \"api\"\ncontainer = \"sidecar\"\ntask_definition = \"../api/deploy/td.json\"",
        &[("services/api/deploy/td.json", pretty(&file))],
    );
    let r = deploy(&s, &["--service", "api", "--version", "1.0.0"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let (_, body) = s.double.current("stage-a", "api");
    assert_eq!(
        body["containerDefinitions"][0]["image"],
        json!(format!("{}:stage-1.0.0", s.image))
    );
    assert_eq!(
        body["containerDefinitions"][1]["image"],
        json!("envoy:1.0"),
        "the sidecar keeps what it runs"
    );
}

#[test]
fn two_services_claiming_one_container_are_refused() {
    let s = setup(
        "\n[services.proxy]\npath = \"services/proxy\"\necs_service = \"api\"\ncontainer = \"api\"",
        &[],
    );
    let v = shipit_run(&s.repo.dir, &["validate"]);
    assert_eq!(v.code, 2, "{}", v.transcript());
    assert!(
        v.stderr.contains(
            "services `api` and `proxy` both claim the container `api` of the ECS service `api`"
        ),
        "{}",
        v.stderr
    );
}

/// Registers `file` through shipit's calls, describes it back: equal but for the image.
fn round_trip_through_moto(file: &str, container: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ecs = shipit::ecs::Ecs::new(&sdk_config(&rt, &moto()));
    let rendered = shipit::ecs::render::Rendered::from_file(file)
        .unwrap()
        .with_image(
            container,
            &shipit::image::ImageRef::parse("registry.example/app:stage-1.2.3").unwrap(),
        )
        .unwrap();
    let arn = rt
        .block_on(ecs.register(&rendered))
        .expect("moto accepts the registration");
    let back = rt
        .block_on(ecs.describe_task_definition(&arn))
        .expect("and describes it");
    assert_eq!(
        back.image_of(container),
        Some("registry.example/app:stage-1.2.3")
    );
    let mut original: Value = serde_json::from_str(file).unwrap();
    original["containerDefinitions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == container)
        .unwrap()["image"] = json!("registry.example/app:stage-1.2.3");
    // Every field of the file comes back as it went in (moto may add defaults beside them).
    assert_contains(&Value::Object(back.body().clone()), &original, "");
}

/// Every key of `want` is in `got` with the same value (lists element by element).
fn assert_contains(got: &Value, want: &Value, at: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, v) in w {
                let here = format!("{at}.{k}");
                let Some(gv) = g.get(k) else {
                    panic!("{here} is missing from {}", pretty(got));
                };
                assert_contains(gv, v, &here);
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{at}: {}", pretty(got));
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                assert_contains(gv, wv, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(got, want, "{at}"),
    }
}

#[test]
fn task_definition_files_round_trip_through_moto() {
    let mut guide = guide_file(&unique("guide"));
    guide["tags"] = json!([{"key": "team", "value": "core"}]);
    round_trip_through_moto(&pretty(&guide), "api");
    for file in ["task-definition.json", "task-definition.prod.json"] {
        let text = std::fs::read_to_string(format!(
            "{}/examples/monorepo/services/visits/deploy/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        round_trip_through_moto(&text, "visits");
    }
}

#[test]
fn create_service_has_the_shape_moto_accepts() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = sdk_config(&rt, &moto());
    let ecs = shipit::ecs::Ecs::new(&config);
    let cluster = unique("moto-create");
    rt.block_on(ecs.client.create_cluster().cluster_name(&cluster).send())
        .unwrap();
    let rendered =
        shipit::ecs::render::Rendered::from_value(guide_file(&unique("created"))).unwrap();
    let arn = rt.block_on(ecs.register(&rendered)).unwrap();
    let definition = shipit::ecs::render::service_definition(
        // (moto checks subnets against its EC2 model: none here, so no networkConfiguration.)
        r#"{"desiredCount": 2, "launchType": "FARGATE",
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}}"#,
    )
    .unwrap();
    rt.block_on(ecs.create_service(&cluster, "web", &definition, &arn))
        .expect("moto accepts CreateService");
    let d = rt
        .block_on(ecs.describe(&[shipit::ecs::Target {
            cluster: cluster.clone(),
            service: "web".into(),
        }]))
        .unwrap();
    let service = d.services.values().next().expect("the service exists");
    assert_eq!(service.task_definition(), Some(arn.as_str()));
    assert_eq!(service.desired_count(), 2);
    assert_eq!(service.launch_type().map(|l| l.as_str()), Some("FARGATE"));
}
