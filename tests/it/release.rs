//! `shipit release` through the real Docker engine and the real registry: images built FROM scratch
//! with a static busybox, pushed, read back from the registry, promoted, and the failures.

use serde_json::json;

use crate::support::git::TestRepo;
use crate::support::registry::{Ecr, Oci};
use crate::support::shipit::{Run, run, shipit};
use crate::support::{busybox, moto, registry, unique};

fn config(registry: &str, extra: &str) -> String {
    format!(
        r#"[project]
registry = "{registry}"

[global]
ignore = ["*.md"]

[services.api]
path = "services/api"
depends_on = ["common"]
test = "sh ./test.sh"

[services.worker]
path = "services/worker"
test = "sh ./test.sh"

[services.common]
path = "libs/common"
image = false
test = "sh ./test.sh"
{extra}"#
    )
}

/// A repository with two image services and a library, each with a passing test, and Dockerfiles
/// that copy a static busybox into a scratch image.
fn repo(registry: &str, extra: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("ci.toml", &config(registry, extra));
    for dir in ["services/api", "services/worker"] {
        repo.write(
            &format!("{dir}/Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY app.txt /app.txt\n",
        );
        repo.write(&format!("{dir}/app.txt"), dir);
        std::fs::copy(busybox(), repo.dir.join(dir).join("busybox")).unwrap();
    }
    for dir in ["services/api", "services/worker", "libs/common"] {
        repo.write(
            &format!("{dir}/test.sh"),
            "echo \"$SHIPIT_SERVICE $SHIPIT_ENV $SHIPIT_VERSION\" > .test-env\n",
        );
    }
    repo.write("libs/common/lib.txt", "common");
    repo.commit("initial import");
    repo
}

fn release(repo: &TestRepo, args: &[&str]) -> Run {
    release_with(repo, args, &[])
}

fn release_with(repo: &TestRepo, args: &[&str], vars: &[(&str, &str)]) -> Run {
    // The commit released is the branch's tip (shipit refuses anything else).
    if let Some(i) = args.iter().position(|a| *a == "--branch") {
        at_tip(repo, args[i + 1]);
    }
    let mut cmd = shipit(&repo.dir);
    cmd.arg("release").args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd)
}

/// Points `branch` at HEAD (unless it is the branch checked out, which HEAD already is).
fn at_tip(repo: &TestRepo, branch: &str) {
    if repo.git(&["branch", "--show-current"]).trim() != branch {
        repo.git(&["branch", "-f", branch, "HEAD"]);
    }
}

#[test]
fn release_builds_pushes_and_labels_then_reruns_as_a_no_op_then_promotes() {
    let prefix = unique("release");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");
    let head = repo.head();

    let first = release(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let tags = oci.image_tags(&format!("{prefix}/api"));
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert_eq!(tags[1], "stage-0.1.0");
    assert!(tags[0].starts_with("fp-"));
    let (digest, labels) = oci.inspect(&format!("{prefix}/api"), "stage-0.1.0");
    assert_eq!(
        oci.inspect(&format!("{prefix}/api"), &tags[0]).0,
        digest,
        "one image under both tags"
    );
    assert_eq!(labels["org.opencontainers.image.revision"], json!(head));
    assert_eq!(labels["org.opencontainers.image.version"], json!("0.1.0"));
    assert_eq!(labels["dev.shipit.service"], json!("api"));
    assert_eq!(
        labels["dev.shipit.fingerprint"],
        json!(tags[0].trim_start_matches("fp-"))
    );
    assert!(
        labels["org.opencontainers.image.created"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    // The test ran in its directory with the release's variables.
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("services/api/.test-env")).unwrap(),
        "api stage 0.1.0\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("libs/common/.test-env")).unwrap(),
        "common stage \n"
    );
    assert!(
        first.stdout.contains("api     released  0.1.0"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("common  tested"), "{}", first.stdout);

    let again = release(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(
        again.stdout.contains("api     unchanged  0.1.0"),
        "{}",
        again.stdout
    );
    assert_eq!(
        oci.image_tags(&format!("{prefix}/api")),
        tags,
        "a rerun pushes nothing"
    );

    let prod = release(&repo, &["--branch", "main", "--all"]);
    assert_eq!(prod.code, 0, "{}", prod.transcript());
    assert!(
        prod.stdout.contains("api     promoted  0.1.0"),
        "{}",
        prod.stdout
    );
    assert!(prod.stderr.contains("build    skipped"), "{}", prod.stderr);
    for tag in ["prod-0.1.0", "latest", "stage-0.1.0"] {
        assert_eq!(
            oci.inspect(&format!("{prefix}/api"), tag).0,
            digest,
            "{tag} is the same image"
        );
    }
}

/// A fingerprint tag is a name anyone can move: moved to an older image, it must not get
/// `prod-X.Y.Z` and `latest`. The image's own labels name another fingerprint, so the release
/// builds HEAD again, says why (text and JSON), and a rerun finds that build (unchanged).
#[test]
fn a_moved_fingerprint_tag_is_built_again_never_promoted() {
    let prefix = unique("moved-fp");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");
    let name = format!("{prefix}/api");
    let first = release(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let (old, _) = oci.inspect(&name, "stage-0.1.0");
    repo.change("services/api/app.txt", "v2", "fix(api): v2");
    let second = release(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(second.code, 0, "{}", second.transcript());
    let (built, labels) = oci.inspect(&name, "stage-0.1.1");
    let fingerprint = labels["dev.shipit.fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let fp_tag = format!("fp-{fingerprint}");
    // Someone moves HEAD's fingerprint tag to the older image.
    oci.copy_tag(&name, "stage-0.1.0", &fp_tag);
    assert_eq!(oci.inspect(&name, &fp_tag).0, old);

    let report = repo.sibling("moved-fp-report.json");
    let prod = release(
        &repo,
        &[
            "--branch",
            "main",
            "--all",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(prod.code, 0, "{}", prod.transcript());
    let (shipped, labels) = oci.inspect(&name, "prod-0.1.0");
    assert_ne!(
        shipped, old,
        "prod-0.1.0 is not the image the moved tag names"
    );
    assert_eq!(labels["dev.shipit.fingerprint"], json!(fingerprint));
    assert_eq!(oci.inspect(&name, "latest").0, shipped);
    assert_eq!(
        oci.inspect(&name, &fp_tag).0,
        old,
        "shipit never pushes over a tag"
    );
    assert!(
        prod.stdout.contains("api     released  0.1.0"),
        "{}",
        prod.stdout
    );
    let why = format!("{fp_tag} names sha256:");
    assert!(
        prod.stderr.contains(&why) && prod.stderr.contains("another fingerprint"),
        "{}",
        prod.stderr
    );
    assert!(prod.stderr.contains("building it again"), "{}", prod.stderr);
    let out: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let warnings = out["plan"]["warnings"].to_string();
    assert!(warnings.contains(&why), "{warnings}");
    assert_ne!(built, old);

    // A rerun: the prod image's own labels prove it, nothing new is built or tagged.
    let tags = oci.tags(&name);
    let again = release(&repo, &["--branch", "main", "--all"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(
        again.stdout.contains("api     unchanged  0.1.0"),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stderr
            .contains("prod-0.1.0 is an image of these inputs by its own labels"),
        "{}",
        again.stderr
    );
    assert_eq!(oci.tags(&name), tags);
}

#[test]
fn a_failing_test_releases_the_independent_services_and_stops_the_dependents() {
    let prefix = unique("release-fail");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");
    repo.change(
        "libs/common/test.sh",
        "echo 'common is broken' >&2\nexit 3\n",
        "test: break common",
    );
    let r = release(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stdout.contains("common  FAILED (test)"), "{}", r.stdout);
    assert!(
        r.stdout.contains("api     not run (common failed)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("worker  released"), "{}", r.stdout);
    assert!(
        r.stderr.contains("common is broken"),
        "the failing output is shown: {}",
        r.stderr
    );
    assert!(r.stderr.contains("exit status 3"), "{}", r.stderr);
    assert_eq!(oci.image_tags(&format!("{prefix}/worker")).len(), 2);
    assert!(
        oci.tags(&format!("{prefix}/api")).is_empty(),
        "nothing of a blocked service is pushed"
    );
}

#[test]
fn a_failing_build_step_is_shown_and_exits_1() {
    let prefix = unique("release-run");
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");
    repo.change(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"false\"]\n",
        "build: fail",
    );
    let r = release(
        &repo,
        &[
            "--branch",
            "develop",
            "--all",
            "--service",
            "api",
            "--skip",
            "test",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr.contains("RUN [\"/bin/busybox\", \"false\"]"),
        "the failing step is named: {}",
        r.stderr
    );
    assert!(r.stderr.contains("exit code: 1"), "{}", r.stderr);
    assert!(
        Oci::new(&registry(), None)
            .tags(&format!("{prefix}/api"))
            .is_empty()
    );
}

#[test]
fn a_missing_dockerfile_is_bad_input_before_anything_is_built() {
    let prefix = unique("release-missing");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");
    repo.remove("services/api/Dockerfile");
    repo.commit("lose the Dockerfile");
    let r = release(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("the Dockerfile services/api/Dockerfile of api"),
        "{}",
        r.stderr
    );
    assert!(
        oci.tags(&format!("{prefix}/worker")).is_empty(),
        "nothing was pushed"
    );
}

#[test]
fn an_unreachable_engine_is_bad_input() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let repo = repo(
        &format!("oci://{}/{}", registry(), unique("release-engine")),
        "",
    );
    let r = release_with(
        &repo,
        &["--branch", "develop", "--all"],
        &[("DOCKER_HOST", &format!("tcp://127.0.0.1:{port}"))],
    );
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("cannot reach the Docker engine"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_test_that_runs_too_long_is_stopped() {
    let prefix = unique("release-timeout");
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");
    let toml = std::fs::read_to_string(repo.dir.join("ci.toml"))
        .unwrap()
        .replace(
            "path = \"services/worker\"\ntest = \"sh ./test.sh\"",
            "path = \"services/worker\"\ntest = \"sleep 30\"\ntest_timeout = \"1s\"",
        );
    repo.change("ci.toml", &toml, "slow test");
    let started = std::time::Instant::now();
    let r = release(
        &repo,
        &["--branch", "develop", "--all", "--service", "worker"],
    );
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stderr.contains("ran longer than 1s"), "{}", r.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn dry_run_and_branches_without_an_environment_push_nothing() {
    let prefix = unique("release-dry");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), "");
    let dry = release(&repo, &["--branch", "develop", "--all", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.transcript());
    assert!(
        dry.stdout.contains("Plan for develop → stage"),
        "{}",
        dry.stdout
    );
    let feature = release(&repo, &["--branch", "feature/x", "--all"]);
    assert_eq!(feature.code, 0, "{}", feature.transcript());
    assert!(
        feature.stdout.contains("api     tested"),
        "{}",
        feature.stdout
    );
    assert!(oci.tags(&format!("{prefix}/api")).is_empty());
    assert!(oci.tags(&format!("{prefix}/worker")).is_empty());
}

// --- the registry's write side, directly ------------------------------------------------------------

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_version_tag_never_moves_but_latest_does() {
    let prefix = unique("retag");
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    let one = oci.push(&name, "one", &["stage-1.0.0", "latest"]);
    let two = oci.push(&name, "two", &["fp-two"]);
    let env = shipit::github::Env::from_pairs([]);
    let client = shipit::registry::Client::oci(&registry(), Some(&prefix), &env).unwrap();
    let rt = rt();
    let err = rt
        .block_on(client.retag("api", &two, "stage-1.0.0", false))
        .unwrap_err();
    assert!(
        matches!(err, shipit::registry::RegistryError::TagExists { .. }),
        "{err}"
    );
    rt.block_on(client.retag("api", &one, "stage-1.0.0", false))
        .expect("the same digest is done");
    rt.block_on(client.retag("api", &two, "latest", true))
        .unwrap();
    assert_eq!(oci.inspect(&name, "latest").0, two);
    assert_eq!(oci.inspect(&name, "stage-1.0.0").0, one);
}

#[test]
fn ecr_token_repository_creation_and_retag_through_moto() {
    let ecr = Ecr::new(&moto());
    let prefix = unique("ecr-push");
    let repository = format!("{prefix}/api");
    let toml = config("ecr", "");
    let dir = tempfile::tempdir().unwrap();
    for d in ["services/api", "services/worker", "libs/common"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let cfg = shipit::config::Config::parse(
        &toml,
        "ci.toml",
        std::path::Path::new("ci.toml"),
        dir.path(),
        shipit::config::Checks::Load,
    )
    .unwrap();
    let rt = rt();
    let client = shipit::registry::Client::ecr(&crate::support::sdk_config(&rt, &moto()));
    let target = rt.block_on(client.push_target(&repository, &cfg)).unwrap();
    assert!(
        target
            .reference
            .to_string()
            .ends_with(&format!(".amazonaws.com/{repository}")),
        "{}",
        target.reference
    );
    let creds = target.credentials.clone().unwrap();
    assert_eq!(creds.username.as_deref(), Some("AWS"));
    assert!(!creds.password.unwrap().is_empty());
    assert!(
        !format!("{target:?}").contains("password"),
        "credentials stay out of Debug output"
    );
    // The repository now exists, scanning on push.
    let described = rt
        .block_on(
            ecr.client
                .describe_repositories()
                .repository_names(&repository)
                .send(),
        )
        .unwrap();
    let scanning = described.repositories()[0]
        .image_scanning_configuration()
        .unwrap()
        .scan_on_push();
    assert!(scanning);
    // A second call finds it there.
    rt.block_on(client.push_target(&repository, &cfg)).unwrap();

    let digest = ecr.put(&repository, "built", &["fp-abc"]);
    rt.block_on(client.retag(&repository, &digest, "stage-0.1.0", false))
        .unwrap();
    rt.block_on(client.retag(&repository, &digest, "stage-0.1.0", false))
        .expect("a rerun is done");
    assert_eq!(
        rt.block_on(client.digest(&repository, "stage-0.1.0"))
            .unwrap()
            .as_deref(),
        Some(digest.as_str())
    );
    let other = ecr.put(&repository, "other", &["fp-other"]);
    let err = rt
        .block_on(client.retag(&repository, &other, "stage-0.1.0", false))
        .unwrap_err();
    assert!(
        matches!(err, shipit::registry::RegistryError::TagExists { .. }),
        "{err}"
    );
    assert_eq!(
        ecr.tags(&repository),
        vec!["fp-abc", "fp-other", "stage-0.1.0"]
    );
}

#[test]
fn under_github_actions_outputs_summary_report_groups_and_masks() {
    let (host, user, password) = crate::support::registry_auth();
    let prefix = unique("release-actions");
    let repo = repo(&format!("oci://{host}/{prefix}"), "");
    let tmp = tempfile::tempdir().unwrap();
    let (output, summary, report, event) = (
        tmp.path().join("output"),
        tmp.path().join("summary"),
        tmp.path().join("report.json"),
        tmp.path().join("event.json"),
    );
    std::fs::write(
        &event,
        json!({"before": "0000000000000000000000000000000000000000"}).to_string(),
    )
    .unwrap();
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--all", "--report"])
        .arg(&report)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_REF_NAME", "develop")
        .env("GITHUB_SHA", repo.head())
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_REPOSITORY", "clinic/monorepo")
        .env("SHIPIT_REGISTRY_USERNAME", &user)
        .env("SHIPIT_REGISTRY_PASSWORD", &password);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stderr.contains(&format!("::add-mask::{password}")),
        "{}",
        r.stderr
    );
    for line in r
        .stderr
        .lines()
        .chain(r.stdout.lines())
        .filter(|l| l.contains(&password))
    {
        assert!(
            line.starts_with("::add-mask::"),
            "the password shows only in mask commands: {line}"
        );
    }
    assert!(
        r.stderr.contains("::group::api · build (ok)"),
        "{}",
        r.stderr
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    let released = outputs
        .lines()
        .find_map(|l| l.strip_prefix("released="))
        .expect("a released output");
    let released: serde_json::Value = serde_json::from_str(released).unwrap();
    // The README's outputs: `matrix`, `all` and `count` too, as `affected` writes them.
    let output = |name: &str| {
        outputs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in GITHUB_OUTPUT:\n{outputs}"))
    };
    assert_eq!(output("all"), "true");
    let matrix: serde_json::Value = serde_json::from_str(output("matrix")).unwrap();
    let include = matrix["include"].as_array().unwrap();
    assert_eq!(output("count"), include.len().to_string());
    assert!(
        include.contains(
            &json!({"service": "api", "path": "services/api", "image": true, "test": true})
        ),
        "{matrix}"
    );
    assert_eq!(released[0]["service"], json!("api"));
    assert_eq!(released[0]["environment"], json!("stage"));
    assert_eq!(released[0]["version"], json!("0.1.0"));
    assert_eq!(
        released[0]["image"],
        json!(format!("{host}/{prefix}/api:stage-0.1.0")),
        "the address a rollout runs, from the same place as the plan's and the report's"
    );
    assert!(
        released[0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.contains("| service | result | version | digest | clusters | time |"),
        "{table}"
    );
    assert!(table.contains("| api | ✅ released | 0.1.0 |"), "{table}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["success"], json!(true));
    assert_eq!(report["plan"]["environment"], json!("stage"));
    let (_, labels) =
        Oci::new(&host, Some((user, password))).inspect(&format!("{prefix}/api"), "stage-0.1.0");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        json!("https://github.example/clinic/monorepo")
    );
}
