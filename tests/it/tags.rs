//! One writer per tag: concurrent releases of one commit and of two commits, against the real
//! registry and against it behind a slow loopback proxy; ECR repositories that refuse a second
//! writer themselves.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;

use crate::support::git::TestRepo;
use crate::support::proxy::SlowProxy;
use crate::support::registry::{Ecr, Oci};
use crate::support::shipit::shipit;
use crate::support::{moto, registry, unique};

fn project(host: &str, prefix: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!("[project]\nregistry = \"oci://{host}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\n"),
    );
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY app.txt /app.txt\n",
    );
    repo.write("services/api/app.txt", "one\n");
    repo.commit("initial import");
    repo.git(&["checkout", "-q", "-b", "develop"]);
    repo
}

fn spawn_release(dir: &Path, report: &Path) -> Child {
    let mut cmd: Command = shipit(dir);
    cmd.args(["release", "--branch", "develop", "--all", "--report"])
        .arg(report)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

/// Each run's exit code and its api result (from `--report`).
fn race(dirs: [&Path; 2]) -> Vec<(i32, Value, String)> {
    let tmp = tempfile::tempdir().unwrap();
    let reports = [tmp.path().join("a.json"), tmp.path().join("b.json")];
    let children: Vec<Child> = dirs
        .iter()
        .zip(&reports)
        .map(|(d, r)| spawn_release(d, r))
        .collect();
    children
        .into_iter()
        .zip(&reports)
        .map(|(c, r)| {
            let out = c.wait_with_output().unwrap();
            let log = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let report: Value =
                serde_json::from_str(&std::fs::read_to_string(r).unwrap_or_default())
                    .unwrap_or_else(|e| panic!("no report ({e}):\n{log}"));
            let api = report["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "api")
                .cloned()
                .unwrap();
            (out.status.code().unwrap_or(-1), api, log)
        })
        .collect()
}

/// Every version tag and the fingerprint tag of its image name one digest; never two runs
/// succeeded in writing one tag on different images, and what a run says it released is there.
fn check(oci: &Oci, name: &str, runs: &[(i32, Value, String)]) {
    let mut versions = 0;
    for tag in oci.tags(name) {
        if !tag.starts_with("stage-") {
            continue;
        }
        versions += 1;
        let (digest, labels) = oci.inspect(name, &tag);
        let fp = format!("fp-{}", labels["dev.shipit.fingerprint"].as_str().unwrap());
        assert_eq!(
            oci.inspect(name, &fp).0,
            digest,
            "{tag} and {fp} name one image"
        );
    }
    assert!(versions >= 1, "a version was released: {runs:#?}");
    let mut writers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (code, api, log) in runs {
        assert!(*code == 0 || *code == 1, "{log}");
        let released = api["outcome"]["result"] == "released";
        assert_eq!(
            released,
            *code == 0 && api["action"] != "skip" && api["outcome"]["result"] != "unchanged",
            "{log}"
        );
        if released {
            let digest = api["digest"].as_str().unwrap().to_string();
            for tag in api["tags"].as_array().unwrap() {
                let tag = tag.as_str().unwrap();
                assert_eq!(
                    oci.inspect(name, tag).0,
                    digest,
                    "{tag} names what the run released:\n{log}"
                );
                writers
                    .entry(tag.to_string())
                    .or_default()
                    .push(digest.clone());
            }
        } else if *code == 1 {
            assert!(log.contains("already exists"), "{log}");
        }
    }
    for (tag, digests) in writers {
        let mut d = digests.clone();
        d.dedup();
        assert_eq!(
            d.len(),
            1,
            "two runs wrote {tag} on different images: {digests:?}"
        );
    }
}

fn one_commit(slow: bool) {
    let prefix = unique(if slow { "race-slow" } else { "race" });
    let proxy = slow.then(|| SlowProxy::start(&registry(), Duration::from_millis(150)));
    let host = proxy.as_ref().map_or(registry(), |p| p.addr.clone());
    let repo = project(&host, &prefix);
    let runs = race([&repo.dir, &repo.dir]);
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    check(&oci, &name, &runs);
    assert_eq!(
        oci.tags(&name)
            .iter()
            .filter(|t| t.starts_with("stage-"))
            .count(),
        1,
        "one commit, one version"
    );
}

fn two_commits(slow: bool) {
    let prefix = unique(if slow { "race2-slow" } else { "race2" });
    let proxy = slow.then(|| SlowProxy::start(&registry(), Duration::from_millis(150)));
    let host = proxy.as_ref().map_or(registry(), |p| p.addr.clone());
    let repo = project(&host, &prefix);
    let other = repo.clone_to("other", &["-b", "develop"]);
    crate::support::git::git(&other, &["config", "user.email", "t@example.com"]);
    crate::support::git::git(&other, &["config", "user.name", "t"]);
    std::fs::write(other.join("services/api/app.txt"), "two\n").unwrap();
    crate::support::git::git(&other, &["commit", "-q", "-am", "feat: two"]);
    let runs = race([&repo.dir, &other]);
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    check(&oci, &name, &runs);
    let ok = runs.iter().filter(|(c, _, _)| *c == 0).count();
    assert_eq!(
        ok, 1,
        "exactly one of two commits gets stage-0.1.0: {runs:#?}"
    );
}

/// Two releases of one commit start at once, the second one's registry far slower: it plans a
/// build before the first run's image is there, and reaches the push after it is. The fingerprint
/// tag, watched all along, names one image from the moment it exists.
fn one_commit_one_slow() {
    let prefix = unique("overlap");
    let proxy = SlowProxy::start(&registry(), Duration::from_millis(600));
    let repo = project(&registry(), &prefix);
    let slow = std::fs::read_to_string(repo.dir.join("ci.toml"))
        .unwrap()
        .replace(&registry(), &proxy.addr);
    let slow_config = repo.sibling("slow.toml");
    std::fs::write(&slow_config, slow).unwrap();
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    let tmp = tempfile::tempdir().unwrap();
    let first = spawn_release(&repo.dir, &tmp.path().join("a.json"));
    let second = {
        let mut cmd: Command = shipit(&repo.dir);
        cmd.arg("--config")
            .arg(&slow_config)
            .args(["release", "--branch", "develop", "--all", "--report"])
            .arg(tmp.path().join("b.json"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    // Watch the fingerprint tag while both run.
    let watch = {
        let name = name.clone();
        std::thread::spawn(move || {
            let oci = Oci::new(&registry(), None);
            let mut seen: Vec<String> = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(90);
            while std::time::Instant::now() < deadline {
                let fp = oci.tags(&name).into_iter().find(|t| t.starts_with("fp-"));
                if let Some(d) = fp.as_ref().and_then(|fp| oci.try_digest(&name, fp))
                    && seen.last() != Some(&d)
                {
                    seen.push(d);
                }
                if std::fs::metadata(tmp_done(&name)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            seen
        })
    };
    let mut runs = Vec::new();
    for (child, report) in [(first, "a.json"), (second, "b.json")] {
        let out = child.wait_with_output().unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(report)).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("no report ({e}):\n{log}"));
        let api = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "api")
            .cloned()
            .unwrap();
        runs.push((out.status.code().unwrap_or(-1), api, log));
    }
    std::fs::write(tmp_done(&name), "").unwrap();
    let seen = watch.join().unwrap();
    let _ = std::fs::remove_file(tmp_done(&name));
    assert_eq!(
        seen.len(),
        1,
        "the fingerprint tag never moves once it names a digest: {seen:?}\n{runs:#?}"
    );
    check(&oci, &name, &runs);
}

/// A file that tells the watcher of `name` to stop.
fn tmp_done(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{}.done", name.replace('/', "-")))
}

/// Two writers of one version tag at once, through the registry's API: one wins, the other is
/// told, and the tag names the winner's image.
fn two_writers(slow: bool) {
    let prefix = unique(if slow { "writers-slow" } else { "writers" });
    let proxy = slow.then(|| SlowProxy::start(&registry(), Duration::from_millis(150)));
    let host = proxy.as_ref().map_or(registry(), |p| p.addr.clone());
    let seed = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    let one = seed.push(&name, "one", &["fp-one"]);
    let two = seed.push(&name, "two", &["fp-two"]);
    let env = shipit::github::Env::from_pairs([]);
    let client = shipit::registry::Client::oci(&host, Some(&prefix), &env).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..4 {
        let tag = format!("stage-0.{round}.0");
        let (a, b) = rt.block_on(async {
            tokio::join!(
                client.retag("api", &one, &tag, false),
                client.retag("api", &two, &tag, false)
            )
        });
        let winner = match (&a, &b) {
            (Ok(()), Err(shipit::registry::RegistryError::TagExists { .. })) => &one,
            (Err(shipit::registry::RegistryError::TagExists { .. }), Ok(())) => &two,
            other => panic!("{tag}: never two successes for one tag: {other:?}"),
        };
        assert_eq!(&seed.inspect(&name, &tag).0, winner, "{tag}");
    }
}

#[test]
fn two_writers_of_one_version_tag_at_once() {
    two_writers(false);
}

#[test]
fn two_writers_of_one_version_tag_at_once_on_a_slow_registry() {
    two_writers(true);
}

#[test]
fn a_slower_release_of_one_commit_never_moves_the_fingerprint_tag() {
    one_commit_one_slow();
}

#[test]
fn two_releases_of_one_commit_at_once() {
    one_commit(false);
}

#[test]
fn two_releases_of_one_commit_at_once_on_a_slow_registry() {
    one_commit(true);
}

#[test]
fn two_releases_of_two_commits_at_once() {
    two_commits(false);
}

#[test]
fn two_releases_of_two_commits_at_once_on_a_slow_registry() {
    two_commits(true);
}

#[test]
fn ecr_repositories_shipit_creates_refuse_a_second_writer_but_move_latest() {
    let ecr = Ecr::new(&moto());
    let repository = format!("{}/api", unique("ecr-immutable"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("services/api")).unwrap();
    let cfg = shipit::config::Config::parse(
        "[project]\nregistry = \"ecr\"\n[services.api]\npath = \"services/api\"\n",
        "ci.toml",
        Path::new("ci.toml"),
        dir.path(),
        shipit::config::Checks::Load,
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = shipit::registry::Client::ecr(&crate::support::sdk_config(&rt, &moto()));
    rt.block_on(client.push_target(&repository, &cfg)).unwrap();
    let described = rt
        .block_on(
            ecr.client
                .describe_repositories()
                .repository_names(&repository)
                .send(),
        )
        .unwrap();
    let repo = &described.repositories()[0];
    assert_eq!(
        repo.image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE_WITH_EXCLUSION")
    );
    let filters: Vec<&str> = repo
        .image_tag_mutability_exclusion_filters()
        .iter()
        .map(|f| f.filter())
        .collect();
    assert_eq!(filters, vec!["latest"]);

    let one = ecr.put(&repository, "one", &["fp-one"]);
    let two = ecr.put(&repository, "two", &["fp-two"]);
    // Two writers of one version at once: one wins, the other is refused.
    let (a, b) = rt.block_on(async {
        tokio::join!(
            client.claim(&repository, &one, "stage-0.1.0"),
            client.claim(&repository, &two, "stage-0.1.0")
        )
    });
    let won = match (&a, &b) {
        (Ok(true), Err(shipit::registry::RegistryError::TagExists { .. })) => &one,
        (Err(shipit::registry::RegistryError::TagExists { .. }), Ok(true)) => &two,
        other => panic!("one writer: {other:?}"),
    };
    let now = rt
        .block_on(client.digest(&repository, "stage-0.1.0"))
        .unwrap();
    assert_eq!(now.as_deref(), Some(won.as_str()));
    // ECR itself refuses the second writer, whatever a client checks (real ECR says
    // ImageTagAlreadyExistsException, moto ImageAlreadyExistsException).
    let loser = if won == &one { &two } else { &one };
    let got = rt
        .block_on(
            ecr.client
                .batch_get_image()
                .repository_name(&repository)
                .image_ids(
                    aws_sdk_ecr::types::ImageIdentifier::builder()
                        .image_digest(loser.as_str())
                        .build(),
                )
                .send(),
        )
        .unwrap();
    let manifest = got.images()[0].image_manifest().unwrap().to_string();
    let err = rt
        .block_on(
            ecr.client
                .put_image()
                .repository_name(&repository)
                .image_manifest(manifest)
                .image_tag("stage-0.1.0")
                .send(),
        )
        .unwrap_err();
    assert!(
        err.as_service_error().is_some_and(|e| {
            e.is_image_tag_already_exists_exception() || e.is_image_already_exists_exception()
        }),
        "{err:?}"
    );
    assert_eq!(
        rt.block_on(client.digest(&repository, "stage-0.1.0"))
            .unwrap()
            .as_deref(),
        Some(won.as_str()),
        "the version still names the first writer's image"
    );
    // The same digest again is done; `latest` moves.
    assert!(
        !rt.block_on(client.claim(&repository, won, "stage-0.1.0"))
            .unwrap()
    );
    rt.block_on(client.retag(&repository, &one, "latest", true))
        .unwrap();
    rt.block_on(client.retag(&repository, &two, "latest", true))
        .unwrap();
    assert_eq!(
        rt.block_on(client.digest(&repository, "latest"))
            .unwrap()
            .as_deref(),
        Some(two.as_str())
    );
}

/// Every local image (all of them, untagged ones included) built from `commit` or naming a
/// repository under `prefix`: what shipit's releases of that commit left in the engine.
fn images_left(commit: &str, prefix: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let all = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .all(true)
            .build();
        docker
            .list_images(Some(all))
            .await
            .unwrap()
            .into_iter()
            .filter(|i| {
                i.labels
                    .get("org.opencontainers.image.revision")
                    .map(String::as_str)
                    == Some(commit)
                    || i.repo_tags
                        .iter()
                        .chain(&i.repo_digests)
                        .any(|r| r.contains(prefix))
            })
            .map(|i| format!("{} {:?} {:?}", i.id, i.repo_tags, i.repo_digests))
            .collect()
    })
}

/// Two releases of one commit at once on one engine, the registry slow: both succeed (one pushes,
/// the other finds the image pushed: a rerun is done), and neither leaves an image behind in the
/// engine, tagged or not.
#[test]
fn two_releases_of_one_commit_at_once_leave_no_image_behind() {
    for round in 0..2 {
        let prefix = unique("race-images");
        let proxy = SlowProxy::start(&registry(), Duration::from_millis(150));
        let repo = project(&proxy.addr, &prefix);
        // A commit (and so images) of this test only.
        repo.write("services/api/app.txt", &format!("{prefix}\n"));
        repo.commit("fix: this test's own content");
        let commit = repo.head();
        assert_eq!(images_left(&commit, &prefix), Vec::<String>::new());
        let runs = race([&repo.dir, &repo.dir]);
        // On one machine the second run finds the image pushed and pushes nothing: both succeed.
        let ok = runs.iter().filter(|(c, _, _)| *c == 0).count();
        assert_eq!(ok, 2, "round {round}: {runs:#?}");
        let oci = Oci::new(&registry(), None);
        check(&oci, &format!("{prefix}/api"), &runs);
        assert_eq!(
            images_left(&commit, &prefix),
            Vec::<String>::new(),
            "round {round}: images left in the engine: {runs:#?}"
        );
    }
}

/// SIGINT while the engine pushes: the push is abandoned, the release says so and writes its
/// report, and the local names it gave the image are removed (no image of it is left).
#[test]
fn a_push_stopped_by_sigint_leaves_no_image_behind() {
    let prefix = unique("sigint-push");
    let proxy = SlowProxy::start(&registry(), Duration::from_millis(400));
    let repo = project(&proxy.addr, &prefix);
    repo.write("services/api/app.txt", &format!("{prefix}\n"));
    repo.commit("fix: this test's own content");
    let commit = repo.head();
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let child = spawn_release(&repo.dir, &report);
    // The name the engine pushes exists from just before the push to just after it.
    let started = std::time::Instant::now();
    while !images_left(&commit, &prefix)
        .iter()
        .any(|i| i.contains(&format!("{prefix}/api:fp-")))
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no push started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling a child process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("SIGINT: api: push interrupted"), "{stderr}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let api = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api")
        .cloned()
        .unwrap();
    assert_eq!(
        api["outcome"],
        serde_json::json!({"result": "cancelled", "signal": "SIGINT", "stage": "push"}),
        "{stderr}"
    );
    assert_eq!(
        images_left(&commit, &prefix),
        Vec::<String>::new(),
        "{stderr}"
    );
}
