//! The reviewed commit is what ships: a release runs only at the tip of its branch (or on the
//! commit of the Actions event), images are built from the committed tree, a trigger change
//! rebuilds, and nothing a service names leads out of the repository.

use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{Run, run, shipit};
use crate::support::{registry, unique};

/// One image service whose image is its whole context, under /ctx.
fn repo(prefix: &str, extra: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            r#"[project]
registry = "oci://{}/{prefix}"

[global]
triggers = ["Cargo.lock"]

[services.api]
path = "services/api"
{extra}"#,
            registry()
        ),
    );
    repo.write("Cargo.lock", "# v1\n");
    repo.write(".gitignore", "secret.env\n");
    repo.write("services/api/Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    repo.write("services/api/app.txt", "committed\n");
    repo.commit("initial import");
    repo
}

fn release(repo: &TestRepo, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = shipit(&repo.dir);
    cmd.arg("release").args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd)
}

#[test]
fn a_branch_is_released_only_from_its_tip() {
    let prefix = unique("tip");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&prefix, "");
    let main = repo.head();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.change("services/api/app.txt", "unreviewed\n", "feat: not on main");
    let feature = repo.head();

    let r = release(&repo, &["--branch", "main", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("is not the tip") && r.stderr.contains("refs/heads/main"),
        "{}",
        r.stderr
    );
    let r = release(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("no branch `develop`"), "{}", r.stderr);
    // --head names main's tip, but the checkout (where the tests run) is the feature branch.
    let r = release(&repo, &["--branch", "main", "--all", "--head", "main"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("the tests would run on the checkout"),
        "{}",
        r.stderr
    );

    // Under Actions: the run's branch and commit decide.
    let actions = |ref_name: &str, sha: &str| {
        vec![
            ("GITHUB_ACTIONS", "true".to_string()),
            ("GITHUB_EVENT_NAME", "workflow_dispatch".to_string()),
            ("GITHUB_REF_NAME", ref_name.to_string()),
            ("GITHUB_SHA", sha.to_string()),
        ]
    };
    for (vars, expected) in [
        (actions("feature", &feature), "(GITHUB_REF_NAME)"),
        (actions("main", &main), "(GITHUB_SHA)"),
    ] {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = release(&repo, &["--branch", "main", "--all"], &vars);
        assert_eq!(r.code, 2, "{}", r.transcript());
        assert!(r.stderr.contains(expected), "{expected}: {}", r.stderr);
    }
    assert!(
        oci.tags(&format!("{prefix}/api")).is_empty(),
        "nothing was pushed"
    );

    // At the tip, it releases.
    repo.git(&["checkout", "-q", "main"]);
    let r = release(&repo, &["--branch", "main", "--all"], &[]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        oci.tags(&format!("{prefix}/api"))
            .contains(&"prod-0.1.0".to_string())
    );
}

#[test]
fn the_wrong_checkout_is_named_with_the_tip_of_the_branch() {
    let prefix = unique("wrong-checkout");
    let repo = repo(&prefix, "");
    let main = repo.head();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.change("services/api/app.txt", "unreviewed\n", "feat: not on main");
    let feature = repo.head();
    let flat = |r: &Run| {
        r.stderr
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let r = release(&repo, &["--branch", "main", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        flat(&r).contains(&format!(
            "the checkout, the branch `feature` at {}, is not the tip of `main` (refs/heads/main is {})",
            &feature[..12],
            &main[..12]
        )),
        "{}",
        r.stderr
    );
    let r = release(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        flat(&r).contains(&format!(
            "there is no branch `develop` in this clone, so the checkout, the branch `feature` at {}, cannot be its tip",
            &feature[..12]
        )),
        "{}",
        r.stderr
    );
    repo.git(&["checkout", "-q", "--detach", "HEAD"]);
    let r = release(&repo, &["--branch", "main", "--all", "--dry-run"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        flat(&r).contains(&format!(
            "the checkout, a detached HEAD at {}, is not the tip of `main` (refs/heads/main is {})",
            &feature[..12],
            &main[..12]
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn uncommitted_and_untracked_files_never_reach_the_image_unless_allow_dirty() {
    let prefix = unique("dirty");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&prefix, "");
    repo.git(&["checkout", "-q", "-b", "develop"]);
    let name = format!("{prefix}/api");
    repo.write("services/api/app.txt", "uncommitted\n");
    repo.write("services/api/.env", "TOKEN=untracked\n");
    repo.write("services/api/secret.env", "TOKEN=ignored\n");

    let clean = release(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(clean.code, 0, "{}", clean.transcript());
    assert!(
        clean
            .stderr
            .contains("and 1 more: not committed, so not in the images"),
        "the user is told: {}",
        clean.stderr
    );
    let files = oci.files(&name, "stage-0.1.0");
    assert_eq!(files["ctx/app.txt"], b"committed\n", "{:?}", files.keys());
    assert!(!files.contains_key("ctx/.env"), "{:?}", files.keys());
    assert!(!files.contains_key("ctx/secret.env"), "{:?}", files.keys());
    let (clean_digest, labels) = oci.inspect(&name, "stage-0.1.0");
    assert!(labels.get("dev.shipit.dirty").is_none(), "{labels}");
    let clean_fp = format!("fp-{}", labels["dev.shipit.fingerprint"].as_str().unwrap());

    // --allow-dirty builds the working tree, under a fingerprint of its own, labelled, and pushes
    // it under `dirty-<fingerprint>` only: no version, no `latest`, no rollout. (Before: it was
    // released as stage-0.1.1, and the next clean release reported 0.1.0, older than what ran.)
    let before = oci.tags(&name);
    let report = repo.sibling("dirty-report.json");
    let dirty = release(
        &repo,
        &[
            "--branch",
            "develop",
            "--all",
            "--allow-dirty",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(dirty.code, 0, "{}", dirty.transcript());
    assert!(
        dirty.stdout.contains("api  pushed dirty (no version)"),
        "{}",
        dirty.stdout
    );
    // Not even a provenance or an SBOM (whose referrers tag schema would show as `sha256-…`):
    // a dirty image is evidence of nothing.
    let after = oci.tags(&name);
    let new: Vec<&String> = after.iter().filter(|t| !before.contains(t)).collect();
    assert_eq!(
        new.len(),
        1,
        "one new tag, no version, no attestation: {after:?}"
    );
    let dirty_tag = new[0].clone();
    assert!(dirty_tag.starts_with("dirty-"), "{dirty_tag}");
    let files = oci.files(&name, &dirty_tag);
    assert_eq!(files["ctx/app.txt"], b"uncommitted\n");
    assert!(files.contains_key("ctx/.env"));
    let (dirty_digest, labels) = oci.inspect(&name, &dirty_tag);
    assert_ne!(dirty_digest, clean_digest);
    assert_eq!(labels["dev.shipit.dirty"], "true", "{labels}");
    let dirty_fp = labels["dev.shipit.fingerprint"].as_str().unwrap();
    assert_eq!(dirty_tag, format!("dirty-{dirty_fp}"));
    assert_ne!(format!("fp-{dirty_fp}"), clean_fp);
    assert_eq!(
        oci.inspect(&name, &clean_fp).0,
        clean_digest,
        "the commit's fingerprint still names the commit's image"
    );
    let out: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let api = &out["results"][0];
    assert_eq!(api["version"], serde_json::json!(null), "{api}");
    assert_eq!(
        api["image"],
        serde_json::json!(null),
        "nothing to roll out: {api}"
    );
    assert_eq!(api["tags"], serde_json::json!([dirty_tag]), "{api}");

    // A clean run of the commit finds the commit's image, never the dirty one, and its version.
    let again = release(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(
        again.stdout.contains("unchanged  0.1.0"),
        "{}",
        again.stdout
    );
}

/// `--allow-dirty` in CI would ship a runner's working tree: refused before anything runs.
#[test]
fn allow_dirty_is_refused_under_github_actions() {
    let prefix = unique("dirty-ci");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&prefix, "");
    repo.git(&["checkout", "-q", "-b", "develop"]);
    repo.write("services/api/app.txt", "uncommitted\n");
    let r = release(
        &repo,
        &["--branch", "develop", "--all", "--allow-dirty"],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("--allow-dirty is refused under GitHub Actions"),
        "{}",
        r.stderr
    );
    assert!(
        oci.tags(&format!("{prefix}/api")).is_empty(),
        "nothing pushed"
    );
}

#[test]
fn a_trigger_change_rebuilds_every_service() {
    let prefix = unique("trigger");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&prefix, "");
    repo.git(&["checkout", "-q", "-b", "develop"]);
    let first = release(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    repo.change("Cargo.lock", "# v2\n", "fix: bump the lockfile");
    let r = release(&repo, &["--branch", "develop", "--base", "HEAD~1"], &[]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(r.stdout.contains("api  released  0.1.1"), "{}", r.stdout);
    let tags = oci.tags(&format!("{prefix}/api"));
    assert!(tags.contains(&"stage-0.1.1".to_string()), "{tags:?}");
}

#[test]
fn a_context_outside_the_repository_is_refused() {
    let prefix = unique("outside");
    let repo = repo(&prefix, "context = \"../../..\"\n");
    let v = run({
        let mut c = shipit(&repo.dir);
        c.arg("validate");
        c
    });
    assert_eq!(v.code, 2, "{}", v.transcript());
    assert!(
        v.stderr
            .contains("`context` of service `api` leads outside the repository"),
        "{}",
        v.stderr
    );
    let r = release(&repo, &["--branch", "main", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        Oci::new(&registry(), None)
            .tags(&format!("{prefix}/api"))
            .is_empty()
    );
}

#[cfg(unix)]
#[test]
fn a_service_path_that_is_a_symlink_out_of_the_repository_is_refused_and_never_tested() {
    let prefix = unique("symlink");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let repo = repo(
        &prefix,
        "[services.escape]\npath = \"escape\"\ntest = \"touch ran-here\"\n",
    );
    std::os::unix::fs::symlink(outside.path(), repo.dir.join("escape")).unwrap();
    repo.commit("a link out");
    let v = run({
        let mut c = shipit(&repo.dir);
        c.arg("validate");
        c
    });
    assert_eq!(v.code, 2, "{}", v.transcript());
    assert!(
        v.stderr
            .contains("`path` of service `escape` leads outside the repository through a symlink"),
        "{}",
        v.stderr
    );
    let r = release(&repo, &["--branch", "main", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        !outside.path().join("ran-here").exists(),
        "the test never ran outside the repository"
    );
}

#[test]
fn a_detached_checkout_of_the_remote_tip_releases_and_a_stale_one_does_not() {
    let prefix = unique("detached");
    let origin = repo(&prefix, "");
    let clone = origin.clone_to("clone", &[]);
    let tip = origin.head();
    crate::support::git::git(&clone, &["checkout", "-q", "--detach", &tip]);
    // origin/main moves on; the clone fetches it, its HEAD stays behind.
    origin.change("services/api/app.txt", "newer\n", "feat: newer");
    crate::support::git::git(&clone, &["fetch", "-q", "origin"]);
    crate::support::git::git(&clone, &["branch", "-q", "-D", "main"]);
    let mut cmd = shipit(&clone);
    cmd.args(["release", "--branch", "main", "--all", "--dry-run"]);
    let stale = run(cmd);
    assert_eq!(stale.code, 2, "{}", stale.transcript());
    assert!(
        stale.stderr.contains("refs/remotes/origin/main is"),
        "{}",
        stale.stderr
    );
    crate::support::git::git(&clone, &["checkout", "-q", "--detach", "origin/main"]);
    let mut cmd = shipit(&clone);
    cmd.args(["release", "--branch", "main", "--all", "--dry-run"]);
    let at_tip = run(cmd);
    assert_eq!(at_tip.code, 0, "{}", at_tip.transcript());
}
