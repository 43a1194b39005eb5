//! The product end to end: the example monorepo in a repository with a local origin, a sequence of
//! pushes to `develop` and a merge to `main`, each released the way the GitHub Action does it (a
//! push event, the branch from GITHUB_REF_NAME), through the real Docker engine, the real registry,
//! and an ECS that rolls out (the scripted double: moto does not model rollouts).

use std::path::Path;

use serde_json::json;

use crate::support::ecs_double::{EcsDouble, Script};
use crate::support::git::{TestRepo, git};
use crate::support::registry::Oci;
use crate::support::shipit::{Run, run, shipit};
use crate::support::{registry, unique};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Where the images go: the OCI registry, or the ECR stand-in (API and registry as one store).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Oci,
    Ecr,
}

struct World {
    backend: Backend,
    repo: TestRepo,
    double: EcsDouble,
    oci: Oci,
    prefix: String,
    event: tempfile::TempDir,
}

impl World {
    /// The example monorepo on `main`, pushed to a bare origin, with `develop` branched off it.
    fn new() -> World {
        World::on(Backend::Oci)
    }

    fn on(backend: Backend) -> World {
        let prefix = unique("e2e");
        let repo = TestRepo::new();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monorepo"),
            &repo.dir,
        );
        let toml = std::fs::read_to_string(repo.dir.join("ci.toml")).unwrap();
        let toml = match backend {
            Backend::Oci => toml.replace(
                "registry = \"ecr\"",
                &format!("registry = \"oci://{}/{prefix}\"", registry()),
            ),
            // The example's own `registry = "ecr"`, its repositories under a prefix of this test.
            Backend::Ecr => toml.replace(
                "repository = \"shipit-example/{service}\"",
                &format!("repository = \"{prefix}/shipit-example/{{service}}\""),
            ),
        };
        let toml = toml
            .replace("retain = 10", "retain = 3")
            .replace(
                "[environments.prod]\n",
                "[environments.prod]\nrollout_timeout = \"5s\"\npoll_interval = \"50ms\"\n",
            )
            .replace(
                "[environments.stage]\n",
                "[environments.stage]\nrollout_timeout = \"5s\"\npoll_interval = \"50ms\"\n",
            );
        std::fs::write(repo.dir.join("ci.toml"), toml).unwrap();
        repo.commit("chore: import the example monorepo");
        let origin = repo.sibling("origin.git");
        git(
            repo.dir.parent().unwrap(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                origin.to_str().unwrap(),
            ],
        );
        repo.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
        repo.git(&["push", "-q", "origin", "main"]);
        repo.git(&["checkout", "-q", "-b", "develop"]);
        repo.git(&["push", "-q", "-u", "origin", "develop"]);
        let double = EcsDouble::start();
        let placeholder = format!("{}/{prefix}/shipit-example", registry());
        for (cluster, service) in [
            ("stage", "visits"),
            ("stage", "billing"),
            ("stage", "web"),
            ("clinic-a", "visits"),
            ("clinic-a", "billing"),
            ("clinic-b", "visits"),
            ("clinic-b", "billing"),
            ("web-prod", "web"),
        ] {
            double.service(
                cluster,
                service,
                service,
                &format!("{placeholder}/{service}:placeholder"),
                Script::SucceedAfter(1),
            );
        }
        let oci = match backend {
            Backend::Oci => Oci::new(&registry(), None),
            Backend::Ecr => crate::support::ecr::stand_in().1,
        };
        World {
            backend,
            repo,
            double,
            oci,
            prefix,
            event: tempfile::tempdir().unwrap(),
        }
    }

    /// Commits, pushes to origin, and releases the push as the GitHub Action would.
    fn push(&self, branch: &str, change: impl FnOnce(&TestRepo)) -> Run {
        let before = self.repo.head();
        change(&self.repo);
        self.repo.git(&["push", "-q", "origin", branch]);
        self.release(branch, &before, &[])
    }

    fn release(&self, branch: &str, before: &str, args: &[&str]) -> Run {
        let event = self.event.path().join("event.json");
        std::fs::write(
            &event,
            json!({"before": before, "forced": false, "repository": {"default_branch": "main"}})
                .to_string(),
        )
        .unwrap();
        let mut cmd = shipit(&self.repo.dir);
        cmd.arg("release")
            .args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_REF_NAME", branch)
            .env("GITHUB_STEP_SUMMARY", self.event.path().join("summary.md"))
            .env("AWS_ENDPOINT_URL_ECS", &self.double.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        if self.backend == Backend::Ecr {
            cmd.env("AWS_ENDPOINT_URL_ECR", crate::support::ecr::endpoint());
        }
        run(cmd)
    }

    /// The version tags of a service's repository (fingerprints left out), sorted.
    fn versions(&self, service: &str) -> Vec<String> {
        self.oci
            .image_tags(&self.name(service))
            .into_iter()
            .filter(|t| !t.starts_with("fp-"))
            .collect()
    }

    fn name(&self, service: &str) -> String {
        format!("{}/shipit-example/{service}", self.prefix)
    }

    /// The image a service runs in a cluster, as a tag.
    fn running(&self, cluster: &str, service: &str) -> String {
        let (_, body) = self.double.current(cluster, service);
        let image = body["containerDefinitions"][0]["image"]
            .as_str()
            .unwrap()
            .to_string();
        image.rsplit(':').next().unwrap().to_string()
    }
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{}", r.transcript());
}

#[test]
fn pushes_to_develop_then_a_merge_to_main() {
    flow(&World::new());
}

/// The same flow on `registry = "ecr"`: the engine pushes with the ECR token, tags are added through
/// PutImage, retention deletes through BatchDeleteImage, and every tag is where ECR's API says it is.
#[test]
fn pushes_to_develop_then_a_merge_to_main_on_ecr() {
    let w = World::on(Backend::Ecr);
    flow(&w);
    let ecr = crate::support::registry::Ecr::new(&crate::support::ecr::endpoint());
    for service in ["visits", "billing", "web"] {
        let name = w.name(service);
        assert_eq!(ecr.tags(&name), w.oci.tags(&name), "{service}");
        let calls: Vec<String> = crate::support::ecr::calls_for(&name)
            .into_iter()
            .map(|(op, _)| op)
            .collect();
        assert!(
            calls.contains(&"PutImage".to_string()),
            "{service}: {calls:?}"
        );
        if service == "visits" {
            assert!(
                calls.contains(&"BatchDeleteImage".to_string()),
                "retention went through ECR: {calls:?}"
            );
        }
    }
}

fn flow(w: &World) {
    // The first release of develop bootstraps every service (`--all`); billing's VERSION file is
    // its floor.
    let r = w.release("develop", &w.repo.head(), &["--all"]);
    ok(&r);
    // Under Actions, each poll of a rollout is a log line: counts and the newest event.
    assert!(
        r.stderr.contains("visits 1/1 running, 0 pending, 0 failed"),
        "{}",
        r.stderr
    );
    // The step summary lists, per cluster, the revision that runs.
    let summary = std::fs::read_to_string(w.event.path().join("summary.md")).unwrap();
    let (running, _) = w.double.current("stage", "visits");
    let revision = running.rsplit('/').next().unwrap();
    assert!(
        summary.contains(&format!("- visits: stage: {revision}\n")),
        "{summary}"
    );
    assert_eq!(w.versions("visits"), ["stage-0.1.0"]);
    assert_eq!(w.versions("billing"), ["stage-1.4.0"]);
    assert_eq!(w.versions("web"), ["stage-0.1.0"]);
    assert_eq!(w.running("stage", "visits"), "stage-0.1.0");

    // feat(visits): a minor version, for visits alone.
    let web_before = w.double.current("stage", "web").0;
    let r = w.push("develop", |r| {
        r.change(
            "services/visits/src/reminders.py",
            "def remind(): pass\n",
            "feat(visits): remind patients",
        );
    });
    ok(&r);
    assert_eq!(w.versions("visits"), ["stage-0.1.0", "stage-0.2.0"]);
    assert_eq!(w.running("stage", "visits"), "stage-0.2.0");
    assert_eq!(
        w.double.current("stage", "web").0,
        web_before,
        "web was not touched"
    );
    assert_eq!(w.versions("web"), ["stage-0.1.0"]);

    // fix(visits): a patch.
    ok(&w.push("develop", |r| {
        r.change(
            "services/visits/src/reminders.py",
            "def remind(): return 1\n",
            "fix(visits): remind once",
        );
    }));
    assert_eq!(
        w.versions("visits"),
        ["stage-0.1.0", "stage-0.2.0", "stage-0.2.1"]
    );

    // A breaking change to web: a major version.
    ok(&w.push("develop", |r| {
        let index = std::fs::read_to_string(r.dir.join("services/web/src/index.js")).unwrap();
        r.change(
            "services/web/src/index.js",
            &format!("{index}\nexport const router = 2;\n"),
            "feat(web)!: a new router",
        );
    }));
    assert_eq!(w.versions("web"), ["stage-0.1.0", "stage-1.0.0"]);
    assert_eq!(w.running("stage", "web"), "stage-1.0.0");

    // A fix in the shared library: every service that depends on it, and retention keeps three
    // versions of visits (stage-0.1.0 goes: nothing runs it).
    let r = w.push("develop", |r| {
        r.change(
            "libs/common/common/rounding.py",
            "def cents(x): return round(x * 100)\n",
            "fix(common): round cents",
        );
    });
    ok(&r);
    assert_eq!(
        w.versions("visits"),
        ["stage-0.2.0", "stage-0.2.1", "stage-0.2.2"]
    );
    assert_eq!(w.versions("billing"), ["stage-1.4.0", "stage-1.4.1"]);
    assert_eq!(
        w.versions("web"),
        ["stage-0.1.0", "stage-1.0.0"],
        "web does not depend on common"
    );
    assert!(r.stdout.contains("common   tested"), "{}", r.stdout);
    let fix_before = w.repo.rev("HEAD~1");

    // Docs only: nothing to release.
    let r = w.push("develop", |r| {
        r.change(
            "services/visits/README.md",
            "# visits\nSee the runbook.\n",
            "docs: runbook",
        );
    });
    ok(&r);
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);

    // Releasing the library fix again is a no-op.
    let tags_before: Vec<Vec<String>> = ["visits", "billing", "web"]
        .iter()
        .map(|s| w.oci.tags(&w.name(s)))
        .collect();
    let r = w.release("develop", &fix_before, &[]);
    ok(&r);
    assert!(
        r.stdout.contains("visits   unchanged  0.2.2"),
        "{}",
        r.stdout
    );
    let tags_after: Vec<Vec<String>> = ["visits", "billing", "web"]
        .iter()
        .map(|s| w.oci.tags(&w.name(s)))
        .collect();
    assert_eq!(tags_after, tags_before, "a rerun pushes nothing");

    // The merge to main: visits and billing are promoted (same inputs, same digest), web is built
    // again (prod has its own Dockerfile and build args); every prod cluster runs the new images.
    let main_before = w.repo.rev("main");
    w.repo.git(&["checkout", "-q", "main"]);
    w.repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'develop'",
        "develop",
    ]);
    w.repo.git(&["push", "-q", "origin", "main"]);
    let r = w.release("main", &main_before, &[]);
    ok(&r);
    assert!(r.stdout.contains("visits   promoted"), "{}", r.stdout);
    assert!(r.stdout.contains("billing  promoted"), "{}", r.stdout);
    assert!(r.stdout.contains("web      released"), "{}", r.stdout);
    let stage_digest = w.oci.inspect(&w.name("visits"), "stage-0.2.2").0;
    assert_eq!(
        w.oci.inspect(&w.name("visits"), "prod-0.1.0").0,
        stage_digest,
        "promoted, not rebuilt"
    );
    assert_eq!(w.oci.inspect(&w.name("visits"), "latest").0, stage_digest);
    // Each environment counts its own versions: prod's first billing is its VERSION file's 1.4.0,
    // on the very image stage calls 1.4.1.
    assert_eq!(
        w.oci.inspect(&w.name("billing"), "prod-1.4.0").0,
        w.oci.inspect(&w.name("billing"), "stage-1.4.1").0
    );
    assert_ne!(
        w.oci.inspect(&w.name("web"), "prod-0.1.0").0,
        w.oci.inspect(&w.name("web"), "stage-1.0.0").0
    );
    for cluster in ["clinic-a", "clinic-b"] {
        assert_eq!(w.running(cluster, "visits"), "prod-0.1.0", "{cluster}");
        assert_eq!(w.running(cluster, "billing"), "prod-1.4.0", "{cluster}");
    }
    assert_eq!(w.running("web-prod", "web"), "prod-0.1.0");
    // visits rolls out from its prod task definition file, web from the live task definition.
    let (_, visits_td) = w.double.current("clinic-a", "visits");
    let prod_file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            w.repo
                .dir
                .join("services/visits/deploy/task-definition.prod.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(visits_td["family"], prod_file["family"]);
    assert_eq!(visits_td["cpu"], prod_file["cpu"]);
    assert_eq!(visits_td["memory"], prod_file["memory"]);
}

#[test]
fn a_failing_test_releases_the_others_and_exits_1() {
    let w = World::new();
    ok(&w.release("develop", &w.repo.head(), &["--all"]));
    let r = w.push("develop", |r| {
        r.write(
            "services/billing/test.sh",
            "echo 'billing: 1 test failed' >&2\nexit 1\n",
        );
        r.write("services/visits/src/reminders.py", "def remind(): pass\n");
        r.commit("fix: visits, and a broken billing test");
    });
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stdout.contains("billing  FAILED (test)"), "{}", r.stdout);
    assert!(r.stdout.contains("visits   released"), "{}", r.stdout);
    assert_eq!(w.versions("visits"), ["stage-0.1.0", "stage-0.1.1"]);
    assert_eq!(w.versions("billing"), ["stage-1.4.0"]);
    assert_eq!(w.running("stage", "visits"), "stage-0.1.1");
}
