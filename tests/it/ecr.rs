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
    if let Client::Ecr(ecr) = client {
        let policy = rt
            .block_on(
                ecr.client
                    .get_lifecycle_policy()
                    .repository_name(repository)
                    .send(),
            )
            .unwrap();
        let policy: serde_json::Value =
            serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
        seen.push(format!("policy: {policy}"));
    }
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
    let client = Client::Ecr(shipit::registry::ecr::Ecr::new(&sdk_config(&rt, &moto())));
    let on_moto = exercise(&client, &cfg, &repository, &|seed, tags| {
        moto_ecr.put(&repository, seed, tags)
    });
    // The stand-in: the API and the registry are one store; images go in through the registry,
    // with the user and password its token decodes to.
    let (_, oci) = ecr::stand_in();
    let repository = format!("{}/api", unique("standin"));
    let client = Client::Ecr(shipit::registry::ecr::Ecr::new(&sdk_config(
        &rt,
        &ecr::endpoint(),
    )));
    let target = rt.block_on(client.push_target(&repository, &cfg)).unwrap();
    assert_eq!(target.reference, format!("{}/{repository}", oci.host));
    assert_eq!(
        target.credentials.as_ref().unwrap().username.as_deref(),
        Some("AWS")
    );
    let on_stand_in = exercise(&client, &cfg, &repository, &|seed, tags| {
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
    let client = Client::Ecr(shipit::registry::ecr::Ecr::at(
        &sdk_config(&rt, &ecr::endpoint()),
        a,
        region,
    ));
    let (_, oci) = ecr::stand_in();
    let repository = format!("{}/api", unique("central"));
    let target = rt.block_on(client.push_target(&repository, &cfg)).unwrap();
    assert_eq!(target.reference, format!("{}/{repository}", oci.host));
    let digest = oci.push(&repository, "central", &["fp-c"]);
    rt.block_on(client.retag(&repository, &digest, "prod-1.0.0", false))
        .unwrap();
    assert_eq!(oci.tags(&repository), ["fp-c", "prod-1.0.0"]);
    // Every call shipit made for this repository named the central account.
    let log = ecr::calls_for(&repository);
    assert!(
        log.len() >= 4,
        "CreateRepository, DescribeRepositories, BatchGetImage, PutImage: {log:?}"
    );
    for (op, id) in &log {
        assert_eq!(id.as_deref(), Some(account.as_str()), "{op}");
    }
    // Another account's registry is not this one: refused, not silently the caller's.
    let other = Client::Ecr(shipit::registry::ecr::Ecr::at(
        &sdk_config(&rt, &ecr::endpoint()),
        "999999999999",
        "eu-central-1",
    ));
    assert!(rt.block_on(other.push_target(&repository, &cfg)).is_err());
}
