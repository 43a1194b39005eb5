//! The ECR stand-in (scripts/ecr-server.py): shipit's ECR calls answered from a real registry, checked
//! against moto's answers to the same calls; and a central registry (`ecr://`) named on every call.

use shipit::registry::Client;
use shipit::retention::Decision;

use crate::support::registry::Ecr;
use crate::support::{ecr, moto, sdk_config, unique};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config(registry: &str) -> shipit::config::Config {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("services/api")).unwrap();
    shipit::config::Config::parse(
        &format!(
            "[project]\nregistry = \"{registry}\"\nuntagged_expiry_days = 7\n\n[services.api]\npath = \"services/api\"\n"
        ),
        "ci.toml",
        std::path::Path::new("ci.toml"),
        dir.path(),
        shipit::config::Checks::Load,
    )
    .unwrap()
}

/// What shipit's calls leave behind, step by step: the tags after each one, and the errors.
fn exercise(
    client: &Client,
    sdk: &aws_sdk_ecr::Client,
    cfg: &shipit::config::Config,
    repository: &str,
    put: &dyn Fn(&str, &[&str]) -> String,
) -> Vec<String> {
    let rt = rt();
    let mut seen = Vec::new();
    let tags = |seen: &mut Vec<String>, step: &str| {
        let state = rt.block_on(client.list(repository, &|_| true)).unwrap();
        let mut tags: Vec<String> = state.tags.keys().cloned().collect();
        tags.sort();
        seen.push(format!("{step}: {}", tags.join(" ")));
    };
    rt.block_on(client.push_target(repository, cfg)).unwrap();
    rt.block_on(client.push_target(repository, cfg))
        .expect("the repository exists already: fine");
    tags(&mut seen, "created");
    let policy = rt
        .block_on(
            sdk.get_lifecycle_policy()
                .repository_name(repository)
                .send(),
        )
        .unwrap();
    let policy: serde_json::Value =
        serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    seen.push(format!("policy: {policy}"));
    let a = put("a", &["fp-a"]);
    rt.block_on(client.retag(repository, &a, "stage-0.1.0", false))
        .unwrap();
    rt.block_on(client.retag(repository, &a, "stage-0.1.0", false))
        .expect("a rerun is done");
    assert_eq!(
        rt.block_on(client.digest(repository, "stage-0.1.0"))
            .unwrap(),
        Some(a.clone())
    );
    tags(&mut seen, "retagged");
    let b = put("b", &["fp-b", "stage-0.2.0"]);
    let err = rt
        .block_on(client.retag(repository, &b, "stage-0.1.0", false))
        .unwrap_err();
    seen.push(format!(
        "moved: {}",
        matches!(err, shipit::registry::RegistryError::TagExists { .. })
    ));
    rt.block_on(client.retag(repository, &b, "latest", true))
        .unwrap();
    tags(&mut seen, "latest");
    let not_done = rt
        .block_on(client.remove(
            repository,
            &[
                Decision::Untag {
                    digest: a.clone(),
                    tags: vec!["stage-0.1.0".into()],
                    why: "expired".into(),
                },
                Decision::Delete {
                    digest: b.clone(),
                    tags: vec!["fp-b".into(), "stage-0.2.0".into(), "latest".into()],
                    why: "expired".into(),
                },
            ],
        ))
        .unwrap();
    seen.push(format!("not done: {not_done:?}"));
    tags(&mut seen, "removed");
    let (_, images) = rt.block_on(client.images(repository)).unwrap();
    let mut images: Vec<String> = images
        .iter()
        .map(|i| {
            format!(
                "{}={}",
                if i.digest == a { "a" } else { "?" },
                i.tags.join(",")
            )
        })
        .collect();
    images.sort();
    seen.push(format!("images: {}", images.join(" ")));
    seen
}

#[test]
fn the_stand_in_answers_shipits_ecr_calls_as_moto_does() {
    let rt = rt();
    let cfg = config("ecr");
    // moto: the API alone (its registry host is fictional).
    let moto_ecr = Ecr::new(&moto());
    let repository = format!("{}/api", unique("standin-moto"));
    let client = Client::ecr(&sdk_config(&rt, &moto()));
    let sdk = aws_sdk_ecr::Client::new(&sdk_config(&rt, &moto()));
    let on_moto = exercise(&client, &sdk, &cfg, &repository, &|seed, tags| {
        moto_ecr.put(&repository, seed, tags)
    });
    // The stand-in: the API and the registry are one store; images go in through the registry,
    // with the user and password its token decodes to.
    let (_, oci) = ecr::stand_in();
    let repository = format!("{}/api", unique("standin"));
    let client = Client::ecr(&sdk_config(&rt, &ecr::endpoint()));
    let target = rt.block_on(client.push_target(&repository, &cfg)).unwrap();
    assert_eq!(
        target.reference.to_string(),
        format!("{}/{repository}", oci.host)
    );
    assert_eq!(
        target.credentials.as_ref().unwrap().username.as_deref(),
        Some("AWS")
    );
    let sdk = aws_sdk_ecr::Client::new(&sdk_config(&rt, &ecr::endpoint()));
    let on_stand_in = exercise(&client, &sdk, &cfg, &repository, &|seed, tags| {
        oci.push(&repository, seed, tags)
    });
    assert_eq!(on_stand_in, on_moto);
    // Every tag is where the API says it is: the registry's own tag list agrees.
    let state = rt.block_on(client.list(&repository, &|_| true)).unwrap();
    let mut api_tags: Vec<String> = state.tags.keys().cloned().collect();
    api_tags.sort();
    assert_eq!(oci.tags(&repository), api_tags);
}

#[test]
fn a_central_registry_is_named_on_every_call() {
    let rt = rt();
    let account = ecr::account();
    let cfg = config(&format!(
        "ecr://{account}.dkr.ecr.eu-central-1.amazonaws.com"
    ));
    let shipit::config::Registry::EcrAt { account: a, region } = &cfg.project.registry else {
        panic!("{:?}", cfg.project.registry);
    };
    let client = Client::ecr_at(&sdk_config(&rt, &ecr::endpoint()), a, region);
    let (_, oci) = ecr::stand_in();
    let repository = format!("{}/api", unique("central"));
    let target = rt.block_on(client.push_target(&repository, &cfg)).unwrap();
    assert_eq!(
        target.reference.to_string(),
        format!("{}/{repository}", oci.host)
    );
    let digest = oci.push(&repository, "central", &["fp-c"]);
    rt.block_on(client.retag(&repository, &digest, "prod-1.0.0", false))
        .unwrap();
    assert_eq!(oci.tags(&repository), ["fp-c", "prod-1.0.0"]);
    // Every call shipit made for this repository named the central account.
    let log = ecr::calls_for(&repository);
    assert!(
        log.len() >= 4,
        "CreateRepository, BatchGetImage, PutImage and its read-back: {log:?}"
    );
    for (op, id) in &log {
        assert_eq!(id.as_deref(), Some(account.as_str()), "{op}");
    }
    // Another account's registry is not this one: refused, not silently the caller's.
    let other = Client::ecr_at(
        &sdk_config(&rt, &ecr::endpoint()),
        "999999999999",
        "eu-central-1",
    );
    assert!(rt.block_on(other.push_target(&repository, &cfg)).is_err());
}

/// A repository whose one service, `cart`, has never been released: its ECR repository does not
/// exist. `registry` is `ecr` or `ecr://…`; `service_keys` go into its section of ci.toml.
fn first_release_repo(
    registry: &str,
    name: &str,
    service_keys: &str,
) -> crate::support::git::TestRepo {
    let repo = crate::support::git::TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            r#"[project]
registry = "{registry}"
repository = "{name}"

[environments.stage]
branch = "develop"
clusters = ["stage"]
rollout_timeout = "5s"
poll_interval = "50ms"

[services.cart]
path = "services/cart"
{service_keys}
"#
        ),
    );
    repo.write(
        "services/cart/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    std::fs::copy(
        crate::support::busybox(),
        repo.dir.join("services/cart/busybox"),
    )
    .unwrap();
    repo.commit("feat(cart): a new service");
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    repo
}

fn release_on_ecr(
    repo: &crate::support::git::TestRepo,
    double: &crate::support::ecs_double::EcsDouble,
    args: &[&str],
) -> crate::support::shipit::Run {
    let mut cmd = crate::support::shipit::shipit(&repo.dir);
    cmd.args(args)
        .env("AWS_ENDPOINT_URL_ECR", ecr::endpoint())
        .env("AWS_ENDPOINT_URL_ECS", &double.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    crate::support::shipit::run(cmd)
}

/// The first release of a new service, whose ECR repository does not exist yet, registers a task
/// definition naming the image exactly where it was pushed (`HOST/REPO:TAG`), never the bare
/// repository name that ECS would look up on Docker Hub; the plan, the JSON report and the
/// `released` output name the same address. For `registry = "ecr"` with a running ECS service
/// (UpdateService), and for `ecr://` with a service created from its `service_definition`.
#[test]
fn a_first_release_to_a_missing_repository_rolls_out_the_pushed_address() {
    use crate::support::ecs_double::{EcsDouble, Script};
    let (_, oci) = ecr::stand_in();
    let account = ecr::account();
    for (registry, created) in [
        ("ecr".to_string(), false),
        (
            format!("ecr://{account}.dkr.ecr.us-east-1.amazonaws.com"),
            true,
        ),
    ] {
        let name = format!("{}/cart", unique("first"));
        let double = EcsDouble::start();
        let keys = if created {
            "task_definition = \"deploy/td.json\"\nservice_definition = \"deploy/service.json\""
        } else {
            ""
        };
        let repo = first_release_repo(&registry, &name, keys);
        if created {
            repo.write(
                "services/cart/deploy/td.json",
                &serde_json::json!({"family": "cart", "containerDefinitions": [
                    {"name": "cart", "image": "cart:placeholder", "essential": true}]})
                .to_string(),
            );
            repo.write(
                "services/cart/deploy/service.json",
                &serde_json::json!({"desiredCount": 1}).to_string(),
            );
            repo.commit("chore(cart): deploy files");
            repo.git(&["branch", "-f", "develop", "HEAD"]);
            double.cluster("stage");
        } else {
            double.service(
                "stage",
                "cart",
                "cart",
                "registry.example/placeholder:0",
                Script::SucceedAfter(1),
            );
        }
        let pushed = format!("{}/{name}:stage-0.1.0", oci.host);

        let plan = release_on_ecr(
            &repo,
            &double,
            &["plan", "--branch", "develop", "--all", "--format", "json"],
        );
        assert_eq!(plan.code, 0, "{registry}: {}", plan.transcript());
        let p = plan.json();
        assert_eq!(
            p["services"][0]["repository"],
            serde_json::json!(format!("{}/{name}", oci.host)),
            "{registry}: the plan names the registry's host"
        );

        let r = release_on_ecr(
            &repo,
            &double,
            &[
                "release", "--branch", "develop", "--all", "--format", "json",
            ],
        );
        assert_eq!(r.code, 0, "{registry}: {}", r.transcript());
        assert!(
            oci.tags(&name).contains(&"stage-0.1.0".to_string()),
            "{registry}: pushed to the registry"
        );
        let (_, body) = double.current("stage", "cart");
        assert_eq!(
            body["containerDefinitions"][0]["image"],
            serde_json::json!(pushed),
            "{registry}: the task definition runs what was pushed"
        );
        assert_eq!(double.created("stage", "cart").is_some(), created);
        let out = r.json();
        let cart = &out["results"][0];
        assert_eq!(
            cart["image"],
            serde_json::json!(pushed),
            "{registry}: {out}"
        );
        assert_eq!(
            cart["repository"],
            serde_json::json!(format!("{}/{name}", oci.host)),
            "{registry}: {out}"
        );

        // `deploy` of the same version names the same address (already running: nothing new).
        let d = release_on_ecr(
            &repo,
            &double,
            &[
                "deploy",
                "--env",
                "stage",
                "--service",
                "cart",
                "--version",
                "0.1.0",
                "--format",
                "json",
            ],
        );
        assert_eq!(d.code, 0, "{registry}: {}", d.transcript());
        assert_eq!(d.json()["image"], serde_json::json!(pushed), "{registry}");

        // A rerun skips: the image's own labels, read through ECR's registry API with its token,
        // prove that the fingerprint tag names an image of these inputs.
        let again = release_on_ecr(&repo, &double, &["release", "--branch", "develop", "--all"]);
        assert_eq!(again.code, 0, "{registry}: {}", again.transcript());
        assert!(
            again.stdout.contains("cart  unchanged  0.1.0"),
            "{registry}: {}",
            again.stdout
        );
        assert!(
            !again.stderr.contains("building it again"),
            "{registry}: {}",
            again.stderr
        );
    }
}
