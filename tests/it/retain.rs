//! Retention against the real registry and moto's ECR and ECS: the newest versions stay, what runs
//! stays, and when ECS cannot be read nothing is deleted.

use crate::support::ecs::MotoEcs;
use crate::support::git::TestRepo;
use crate::support::registry::{Ecr, Oci};
use crate::support::shipit::{Run, run, shipit};
use crate::support::{moto, registry, unique};

fn repo(registry: &str, extra: &str) -> TestRepo {
    let toml = format!(
        r#"[project]
registry = "{registry}"
retain = 3
{extra}
[services.api]
path = "services/api"
"#
    );
    TestRepo::with_config(&toml, &["services/api"])
}

fn aws_vars() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

fn retain(repo: &TestRepo, args: &[&str], vars: &[(&str, String)]) -> Run {
    let mut cmd = shipit(&repo.dir);
    cmd.arg("retain").args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd)
}

/// Six stage versions and a prod one (on the image of stage-1.0.5), on separate images; `latest`
/// on the prod image.
fn seed(oci: &Oci, name: &str) {
    for i in 0..6 {
        let mut tags = vec![format!("stage-1.0.{i}"), format!("fp-{i}")];
        if i == 5 {
            tags.push("prod-1.0.0".into());
            tags.push("latest".into());
        }
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        oci.push(name, &format!("image-{i}"), &tags);
    }
}

#[test]
fn a_dry_run_says_what_would_go_and_apply_removes_it() {
    let prefix = unique("retain");
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    seed(&oci, &name);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");

    let dry = retain(&repo, &[], &[]);
    assert_eq!(dry.code, 0, "{}", dry.transcript());
    assert!(
        dry.stdout.contains("3 would remove, 3 kept"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("a dry run: pass --apply"),
        "{}",
        dry.stdout
    );
    assert_eq!(oci.tags(&name).len(), 14, "a dry run removes nothing");

    let applied = retain(&repo, &["--apply"], &[]);
    assert_eq!(applied.code, 0, "{}", applied.transcript());
    let tags = oci.tags(&name);
    for gone in [
        "stage-1.0.0",
        "stage-1.0.1",
        "stage-1.0.2",
        "fp-0",
        "fp-1",
        "fp-2",
    ] {
        assert!(
            !tags.contains(&gone.to_string()),
            "{gone} should be gone: {tags:?}"
        );
    }
    for kept in [
        "stage-1.0.3",
        "stage-1.0.4",
        "stage-1.0.5",
        "prod-1.0.0",
        "latest",
    ] {
        assert!(
            tags.contains(&kept.to_string()),
            "{kept} should stay: {tags:?}"
        );
    }
    let again = retain(&repo, &["--apply"], &[]);
    assert!(
        again.stdout.contains("0 removed"),
        "a second run does nothing: {}",
        again.stdout
    );
}

#[test]
fn an_image_that_ecs_runs_is_never_removed() {
    let prefix = unique("retain-ecs");
    let cluster = unique("cluster");
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    seed(&oci, &name);
    // stage-1.0.1 is old, but the cluster still runs it.
    MotoEcs::new(&moto()).run(
        &cluster,
        "api",
        "api",
        &format!("{}/{name}:stage-1.0.1", registry()),
    );
    let repo = repo(
        &format!("oci://{}/{prefix}", registry()),
        &format!(
            "\n[environments.stage]\nbranch = \"develop\"\nclusters = [\"{cluster}\"]\n\n[environments.prod]\nbranch = \"main\"\nlatest = true\n"
        ),
    );
    let r = retain(&repo, &["--apply", "--env", "stage"], &aws_vars());
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains(&format!("running in {cluster}/api")),
        "{}",
        r.stdout
    );
    let tags = oci.tags(&name);
    assert!(tags.contains(&"stage-1.0.1".to_string()), "{tags:?}");
    assert!(!tags.contains(&"stage-1.0.0".to_string()), "{tags:?}");
    assert!(!tags.contains(&"stage-1.0.2".to_string()), "{tags:?}");
}

#[test]
fn when_ecs_cannot_be_read_nothing_is_deleted() {
    let prefix = unique("retain-closed");
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    seed(&oci, &name);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let repo = repo(
        &format!("oci://{}/{prefix}", registry()),
        "\n[environments.stage]\nbranch = \"develop\"\nclusters = [\"somewhere\"]\n",
    );
    let mut vars = aws_vars();
    vars.push(("AWS_ENDPOINT_URL_ECS", format!("http://127.0.0.1:{port}")));
    let r = retain(&repo, &["--apply"], &vars);
    assert_ne!(r.code, 0, "{}", r.transcript());
    assert!(r.stderr.contains("nothing is removed"), "{}", r.stderr);
    assert_eq!(
        oci.tags(&name).len(),
        14,
        "fail closed: every tag is still there"
    );
}

#[test]
fn ecr_removes_a_single_tag_or_a_whole_image() {
    let ecr = Ecr::new(&moto());
    let prefix = unique("retain-ecr");
    let name = format!("{prefix}/api");
    ecr.create_repository(&name);
    for i in 0..5 {
        let mut tags = vec![format!("stage-2.0.{i}")];
        if i == 0 {
            tags.push("prod-2.0.0".into());
        }
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        ecr.put(&name, &format!("ecr-{i}"), &tags);
    }
    let toml = format!("repository = \"{prefix}/{{service}}\"");
    let repo = repo("ecr", &toml);
    let r = retain(&repo, &["--apply", "--env", "stage"], &aws_vars());
    assert_eq!(r.code, 0, "{}", r.transcript());
    // stage-2.0.0 expired, but its image stays for prod-2.0.0: only the tag goes.
    assert_eq!(
        ecr.tags(&name),
        vec!["prod-2.0.0", "stage-2.0.2", "stage-2.0.3", "stage-2.0.4"]
    );
}

#[test]
fn twelve_stage_releases_and_one_prod_keep_ten_plus_prod_latest_and_what_runs() {
    let prefix = unique("retain-twelve");
    let cluster = unique("stage-cluster");
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    for i in 1..=12 {
        let mut tags = vec![format!("stage-0.{i}.0"), format!("fp-{i}")];
        if i == 12 {
            tags.extend(["prod-1.0.0".to_string(), "latest".to_string()]);
        }
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        oci.push(&name, &format!("twelve-{i}"), &tags);
    }
    // The stage cluster still runs the very first release.
    MotoEcs::new(&moto()).run(
        &cluster,
        "api",
        "api",
        &format!("{}/{name}:stage-0.1.0", registry()),
    );
    let toml = format!(
        r#"[project]
registry = "oci://{}/{prefix}"

[environments.stage]
branch = "develop"
clusters = ["{cluster}"]

[environments.prod]
branch = "main"
latest = true

[services.api]
path = "services/api"
"#,
        registry()
    );
    let repo = TestRepo::with_config(&toml, &["services/api"]);
    let r = retain(&repo, &["--apply"], &aws_vars());
    assert_eq!(r.code, 0, "{}", r.transcript());
    let versions: Vec<String> = oci
        .tags(&name)
        .into_iter()
        .filter(|t| !t.starts_with("fp-"))
        .collect();
    let mut expected: Vec<String> = (3..=12).map(|i| format!("stage-0.{i}.0")).collect();
    expected.extend(["latest".into(), "prod-1.0.0".into(), "stage-0.1.0".into()]);
    expected.sort();
    assert_eq!(
        versions, expected,
        "the ten newest stage versions, prod, latest, and what runs"
    );
}

#[test]
fn the_ecr_lifecycle_backstop_expires_only_untagged_images() {
    let ecr = Ecr::new(&moto());
    let prefix = unique("retain-lifecycle");
    let name = format!("{prefix}/api");
    ecr.create_repository(&name);
    ecr.put(&name, "one", &["stage-1.0.0"]);
    let repo = repo(
        "ecr",
        &format!("repository = \"{prefix}/{{service}}\"\nuntagged_expiry_days = 14"),
    );
    let r = retain(&repo, &["--apply"], &aws_vars());
    assert_eq!(r.code, 0, "{}", r.transcript());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let policy = rt
        .block_on(
            ecr.client
                .get_lifecycle_policy()
                .repository_name(&name)
                .send(),
        )
        .expect("a policy is installed");
    let policy: serde_json::Value =
        serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    let rules = policy["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0]["selection"]["tagStatus"], "untagged",
        "never a count rule over tagged images"
    );
    assert_eq!(rules[0]["selection"]["countNumber"], 14);
}
