//! `shipit affected` against real temporary repositories: every kind of change, every way of
//! choosing a base, shallow and partial clones, and what it writes for GitHub Actions.

use serde_json::json;

use crate::support::git::{Daemon, TestRepo, git};
use crate::support::shipit::{affected_in_actions, shipit_run};

const CONFIG: &str = r#"
[global]
triggers = ["/ci.toml", "/Cargo.lock"]
ignore = ["*.md"]

[services.api]
path = "services/api"
include = ["proto/api/**"]
exclude = ["services/api/docs/**"]
depends_on = ["common"]

[services.web]
path = "services/web"

[services.worker]
path = "services/worker"
depends_on = ["api"]

[services.common]
path = "libs/common"
image = false

[services.site]
path = "sites/my site/ünï"
"#;

const DIRS: &[&str] = &[
    "services/api",
    "services/web",
    "services/worker",
    "libs/common",
    "sites/my site/ünï",
    "proto/api",
];

fn repo() -> TestRepo {
    TestRepo::with_config(CONFIG, DIRS)
}

/// `shipit affected --base B --head H --format json` → the affected names.
fn names_between(repo: &TestRepo, base: &str, head: &str) -> Vec<String> {
    let run = shipit_run(
        &repo.dir,
        &[
            "affected", "--base", base, "--head", head, "--format", "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    run.names()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn modified_added_and_deleted_files() {
    let repo = repo();
    let base = repo.change("services/worker/old.rs", "old", "worker file");
    repo.write("services/web/new.js", "new");
    repo.remove("services/worker/old.rs");
    repo.commit("add and delete");
    assert_eq!(
        names_between(&repo, &base, "HEAD"),
        names(&["web", "worker"])
    );
}

#[test]
fn a_library_change_reaches_its_dependents_transitively() {
    let repo = repo();
    let base = repo.head();
    repo.change("libs/common/lib.rs", "fn x() {}", "fix(common): x");
    let run = shipit_run(
        &repo.dir,
        &["affected", "--base", &base, "--format", "json"],
    );
    assert_eq!(run.names(), names(&["api", "common", "worker"]));
    let json = run.json();
    assert_eq!(
        json["services"][0]["reasons"],
        json!([{"kind": "dependency", "service": "common"}])
    );
    assert_eq!(
        json["services"][1]["reasons"],
        json!([{"kind": "file", "file": "libs/common/lib.rs"}])
    );
    assert_eq!(json["services"][1]["image"], json!(false));
    assert_eq!(
        json["services"][2]["reasons"],
        json!([{"kind": "dependency", "service": "api"}])
    );
}

#[test]
fn a_rename_counts_on_both_sides() {
    let repo = repo();
    repo.write("services/web/moving.txt", "same contents on both sides");
    let base = repo.commit("add");
    repo.git(&["mv", "services/web/moving.txt", "services/worker/moved.txt"]);
    repo.commit("move");
    assert_eq!(
        names_between(&repo, &base, "HEAD"),
        names(&["web", "worker"])
    );
}

#[test]
fn a_type_change_counts() {
    let repo = repo();
    repo.write("services/web/config", "a file");
    let base = repo.commit("file");
    std::fs::remove_file(repo.dir.join("services/web/config")).unwrap();
    std::os::unix::fs::symlink("README.txt", repo.dir.join("services/web/config")).unwrap();
    repo.commit("now a symlink");
    assert_eq!(names_between(&repo, &base, "HEAD"), names(&["web"]));
}

#[test]
fn a_submodule_pointer_move_counts() {
    let sub = TestRepo::new();
    let first = sub.change("lib.txt", "1", "one");
    let second = sub.change("lib.txt", "2", "two");
    let repo = repo();
    git(
        &repo.dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            &sub.url(),
            "services/web/vendor",
        ],
    );
    git(
        &repo.dir.join("services/web/vendor"),
        &["checkout", "-q", &first],
    );
    let base = repo.commit("add submodule");
    git(
        &repo.dir.join("services/web/vendor"),
        &["checkout", "-q", &second],
    );
    repo.commit("bump submodule");
    let run = shipit_run(
        &repo.dir,
        &["affected", "--base", &base, "--format", "json"],
    );
    assert_eq!(
        run.json()["services"],
        json!([{"name": "web", "path": "services/web", "image": true,
        "reasons": [{"kind": "file", "file": "services/web/vendor"}]}])
    );
}

#[test]
fn paths_with_spaces_and_non_ascii_characters() {
    let repo = repo();
    let base = repo.head();
    repo.change("sites/my site/ünï/pàge één.html", "<p>", "page");
    let run = shipit_run(
        &repo.dir,
        &["affected", "--base", &base, "--format", "json"],
    );
    assert_eq!(
        run.json()["services"][0]["reasons"],
        json!([{"kind": "file", "file": "sites/my site/ünï/pàge één.html"}])
    );
}

#[test]
fn merge_commits_in_the_range() {
    let repo = repo();
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.change("services/web/a.js", "a", "feat(web): a");
    repo.git(&["checkout", "-q", "main"]);
    repo.change("services/worker/b.rs", "b", "fix(worker): b");
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    assert_eq!(
        names_between(&repo, &base, "HEAD"),
        names(&["web", "worker"])
    );
    // The merge alone, against its first parent, brings in only the feature's change.
    assert_eq!(names_between(&repo, "HEAD^1", "HEAD"), names(&["web"]));
}

#[test]
fn exclude_and_ignore_win_and_includes_belong() {
    let repo = repo();
    let base = repo.head();
    repo.write("services/api/docs/guide.txt", "excluded");
    repo.write("services/web/README.md", "ignored");
    repo.commit("docs only");
    assert!(names_between(&repo, &base, "HEAD").is_empty());
    let docs = repo.head();
    repo.change("proto/api/v1.proto", "syntax", "proto");
    assert_eq!(
        names_between(&repo, &docs, "HEAD"),
        names(&["api", "worker"])
    );
}

#[test]
fn a_trigger_selects_every_service_and_says_which_file() {
    let repo = repo();
    let base = repo.head();
    repo.change("Cargo.lock", "# lock", "deps");
    let run = shipit_run(
        &repo.dir,
        &["affected", "--base", &base, "--format", "json"],
    );
    assert_eq!(
        run.names(),
        names(&["api", "common", "site", "web", "worker"])
    );
    assert_eq!(
        run.json()["services"][3]["reasons"],
        json!([{"kind": "trigger", "file": "Cargo.lock"}])
    );
    assert_eq!(run.json()["all"], json!(false));
}

#[test]
fn base_equal_to_head_is_nothing_with_the_reason() {
    let repo = repo();
    let run = shipit_run(&repo.dir, &["affected", "--base", "HEAD", "--head", "HEAD"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("base and head are the same commit"),
        "{}",
        run.stdout
    );
}

#[test]
fn all_selects_everything_without_a_diff() {
    let repo = repo();
    let run = shipit_run(&repo.dir, &["affected", "--all", "--format", "json"]);
    let json = run.json();
    assert_eq!(json["all"], json!(true));
    assert_eq!(json["base"], json!(null));
    assert_eq!(json["services"].as_array().unwrap().len(), 5);
    assert_eq!(
        json["services"][0]["reasons"],
        json!([{"kind": "all", "why": "--all was given"}])
    );
    assert_eq!(json["warnings"], json!([]));
}

// --- GitHub events ---------------------------------------------------------------------------------

#[test]
fn push_event_compares_with_before() {
    let repo = repo();
    let before = repo.change("services/web/a", "1", "web");
    repo.change("services/worker/a", "1", "worker");
    let (run, outputs) = affected_in_actions(
        &repo.dir,
        "push",
        &json!({"before": before, "forced": false}),
        &[],
    );
    assert_eq!(run.names(), names(&["worker"]));
    assert_eq!(run.json()["base"], json!(before));
    assert!(outputs.contains("affected=[\"worker\"]\n"), "{outputs}");
    assert!(
        outputs.contains(
            "matrix={\"include\":[{\"image\":true,\"path\":\"services/worker\",\"service\":\"worker\",\"test\":false}]}\n"
        ),
        "{outputs}"
    );
}

/// A repository with an origin: `main` with one commit past the import, and a clone of it.
fn origin_and_clone(clone_args: &[&str]) -> (TestRepo, std::path::PathBuf) {
    let origin = repo();
    origin.change("services/web/a", "1", "web on main");
    let clone = origin.clone_to("clone", clone_args);
    (origin, clone)
}

#[test]
fn first_push_of_a_branch_uses_the_merge_base_with_the_default_branch() {
    let (_origin, clone) = origin_and_clone(&[]);
    git(&clone, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(clone.join("services/worker/x"), "x").unwrap();
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "one"]);
    std::fs::write(clone.join("libs/common/y"), "y").unwrap();
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "two"]);
    let payload = json!({"before": "0000000000000000000000000000000000000000", "repository": {"default_branch": "main"}});
    let (run, _) = affected_in_actions(&clone, "push", &payload, &[]);
    // Both commits of the new branch count, not just the last one (HEAD^ would miss `worker`).
    assert_eq!(run.names(), names(&["api", "common", "worker"]));
    assert_eq!(
        run.json()["base"],
        json!(git(&clone, &["rev-parse", "origin/main"]))
    );
}

#[test]
fn forced_push_selects_everything_with_a_warning() {
    let repo = repo();
    let before = repo.change("services/web/a", "1", "web");
    let (run, _) = affected_in_actions(
        &repo.dir,
        "push",
        &json!({"before": before, "forced": true}),
        &[],
    );
    assert_eq!(run.code, 0);
    let json = run.json();
    assert_eq!(json["all"], json!(true));
    assert_eq!(json["services"].as_array().unwrap().len(), 5);
    assert!(
        json["warnings"][0]
            .as_str()
            .unwrap()
            .contains("forced push"),
        "{json}"
    );
    assert!(run.stderr.contains("::warning"), "{}", run.stderr);
}

#[test]
fn a_before_that_is_not_in_the_history_selects_everything() {
    let repo = repo();
    let unknown = "1234567890abcdef1234567890abcdef12345678";
    let (run, _) = affected_in_actions(&repo.dir, "push", &json!({"before": unknown}), &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.json()["all"], json!(true));
    assert!(
        run.json()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("1234567890ab")
    );
}

#[test]
fn a_rewritten_before_that_is_still_present_selects_everything() {
    let repo = repo();
    let old = repo.change("services/web/a", "1", "web");
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.change("services/worker/a", "1", "worker instead");
    let (run, _) = affected_in_actions(&repo.dir, "push", &json!({"before": old}), &[]);
    assert_eq!(run.json()["all"], json!(true));
}

#[test]
fn pull_request_uses_the_three_dot_merge_base() {
    let repo = repo();
    let fork = repo.head();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.change("services/web/a", "1", "feat(web)");
    repo.git(&["checkout", "-q", "main"]);
    let main_tip = repo.change("services/worker/b", "1", "main moved on");
    repo.git(&["checkout", "-q", "feature"]);
    let payload = json!({"pull_request": {"base": {"sha": main_tip, "ref": "main"}, "head": {"sha": repo.head()}}});
    let (run, _) = affected_in_actions(&repo.dir, "pull_request", &payload, &[]);
    // `worker` changed on main after the fork: not the pull request's doing.
    assert_eq!(run.names(), names(&["web"]));
    assert_eq!(run.json()["base"], json!(fork));
}

#[test]
fn workflow_dispatch_and_schedule_use_the_merge_base_with_the_default_branch() {
    let (_origin, clone) = origin_and_clone(&[]);
    git(&clone, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(clone.join("services/worker/x"), "x").unwrap();
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "one"]);
    for event in ["workflow_dispatch", "schedule", "release"] {
        let (run, _) = affected_in_actions(&clone, event, &json!({}), &[]);
        assert_eq!(run.names(), names(&["worker"]), "{event}");
        assert!(
            run.json()["base_source"]
                .as_str()
                .unwrap()
                .starts_with(event)
        );
    }
}

#[test]
fn an_event_with_no_default_branch_to_compare_with_selects_everything() {
    let repo = repo();
    repo.git(&["branch", "-m", "main", "trunk"]);
    let (run, _) = affected_in_actions(&repo.dir, "workflow_dispatch", &json!({}), &[]);
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["all"], json!(true));
    assert!(
        run.json()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("default branch `main`")
    );
}

#[test]
fn merge_group_uses_its_base_sha() {
    let repo = repo();
    let base = repo.head();
    repo.change("services/web/a", "1", "queued");
    let (run, _) = affected_in_actions(
        &repo.dir,
        "merge_group",
        &json!({"merge_group": {"base_sha": base}}),
        &[],
    );
    assert_eq!(run.names(), names(&["web"]));
}

#[test]
fn base_argument_wins_over_the_event() {
    let repo = repo();
    let base = repo.head();
    repo.change("services/web/a", "1", "web");
    let (run, _) = affected_in_actions(
        &repo.dir,
        "push",
        &json!({"forced": true, "before": base}),
        &["--base", &base],
    );
    assert_eq!(run.names(), names(&["web"]));
}

// --- outside GitHub Actions ------------------------------------------------------------------------

#[test]
fn locally_the_upstream_of_the_branch_is_the_base() {
    let (_origin, clone) = origin_and_clone(&[]);
    std::fs::write(clone.join("services/worker/x"), "x").unwrap();
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "unpushed"]);
    let run = shipit_run(&clone, &["affected", "--format", "json"]);
    assert_eq!(run.names(), names(&["worker"]));
    assert_eq!(
        run.json()["base_source"],
        json!("merge-base with the upstream origin/main")
    );
}

#[test]
fn locally_without_an_upstream_the_default_branch_is_the_base() {
    let repo = repo();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.change("services/web/a", "1", "web");
    let run = shipit_run(&repo.dir, &["affected", "--format", "json"]);
    assert_eq!(run.names(), names(&["web"]));
    assert_eq!(run.json()["base_source"], json!("merge-base with main"));
}

#[test]
fn locally_with_nothing_to_compare_with_everything_is_selected_with_a_warning() {
    let repo = repo();
    repo.git(&["branch", "-m", "main", "trunk"]);
    let run = shipit_run(&repo.dir, &["affected"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("warning: the default branch `main` is not in this clone"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with("5 of 5 services affected"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_configured_default_branch_is_used() {
    let repo = TestRepo::with_config(
        &format!("[project]\ndefault_branch = \"trunk\"\n{CONFIG}"),
        DIRS,
    );
    repo.git(&["branch", "-m", "main", "trunk"]);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.change("services/web/a", "1", "web");
    let run = shipit_run(&repo.dir, &["affected", "--format", "json"]);
    assert_eq!(run.names(), names(&["web"]));
}

// --- shallow and partial clones --------------------------------------------------------------------

fn config_of(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join(".git/config")).unwrap()
}

#[test]
fn depth_one_clone_of_a_file_origin_fetches_the_before_commit() {
    let origin = repo();
    let before = origin.change("services/web/a", "1", "web");
    origin.change("services/worker/a", "1", "worker");
    let clone = origin.clone_to("shallow", &["--depth", "1"]);
    let config_before = config_of(&clone);
    let (run, _) = affected_in_actions(&clone, "push", &json!({"before": before}), &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.names(), names(&["worker"]));
    assert_eq!(run.json()["warnings"], json!([]));
    assert_eq!(
        config_of(&clone),
        config_before,
        "shipit must never write git config"
    );
}

#[test]
fn depth_one_clone_over_the_git_protocol_fetches_through_libgit2() {
    let origin = repo();
    origin.git(&["config", "uploadpack.allowReachableSHA1InWant", "true"]);
    let before = origin.change("services/web/a", "1", "web");
    origin.change("services/worker/a", "1", "worker");
    let daemon = Daemon::serve(origin.dir.parent().unwrap());
    let clone = origin.sibling("shallow-git");
    git(
        origin.dir.parent().unwrap(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &daemon.url("repo"),
            "shallow-git",
        ],
    );
    let config_before = config_of(&clone);
    let (run, _) = affected_in_actions(&clone, "push", &json!({"before": before}), &[]);
    assert_eq!(run.names(), names(&["worker"]), "{}", run.transcript());
    assert_eq!(
        config_of(&clone),
        config_before,
        "shipit must never write git config"
    );
}

#[test]
fn shallow_pull_request_deepens_until_the_merge_base_is_found() {
    let origin = repo();
    origin.git(&["config", "uploadpack.allowReachableSHA1InWant", "true"]);
    let fork = origin.head();
    origin.git(&["checkout", "-q", "-b", "feature"]);
    for i in 0..5 {
        origin.change(&format!("services/web/{i}"), "x", "feature work");
    }
    origin.git(&["checkout", "-q", "main"]);
    let main_tip = origin.change("services/worker/b", "1", "main moved on");
    let daemon = Daemon::serve(origin.dir.parent().unwrap());
    for (name, url) in [("pr-git", daemon.url("repo")), ("pr-file", origin.url())] {
        let clone = origin.sibling(name);
        git(
            origin.dir.parent().unwrap(),
            &[
                "clone", "-q", "--depth", "1", "--branch", "feature", &url, name,
            ],
        );
        let payload = json!({"pull_request": {"base": {"sha": main_tip, "ref": "main"}}});
        let (run, _) = affected_in_actions(&clone, "pull_request", &payload, &[]);
        assert_eq!(run.names(), names(&["web"]), "{name}: {}", run.transcript());
        assert_eq!(run.json()["base"], json!(fork), "{name}");
    }
}

#[test]
fn shallow_clone_without_a_reachable_origin_selects_everything_never_nothing() {
    let origin = repo();
    let before = origin.change("services/web/a", "1", "web");
    origin.change("services/worker/a", "1", "worker");
    let clone = origin.clone_to("orphan", &["--depth", "1"]);
    std::fs::remove_dir_all(&origin.dir).unwrap();
    let (run, _) = affected_in_actions(&clone, "push", &json!({"before": before}), &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.json()["all"], json!(true));
    assert!(
        run.json()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("could not be found or fetched")
    );
}

#[test]
fn partial_clone_without_blobs_needs_no_blob() {
    let origin = repo();
    origin.git(&["config", "uploadpack.allowFilter", "true"]);
    let base = origin.head();
    origin.change("services/web/README.txt", "second version", "web");
    let clone = origin.clone_to("partial", &["--filter=blob:none", "--no-checkout"]);
    git(&clone, &["checkout", "-q", "main"]);
    // The first version of the changed file: only the base commit's tree names it.
    let blob = git(
        &clone,
        &["rev-parse", &format!("{base}:services/web/README.txt")],
    );
    let missing = |dir: &std::path::Path| {
        !crate::support::git::git_command(dir)
            .args(["cat-file", "-e", &blob])
            .env("GIT_NO_LAZY_FETCH", "1")
            .status()
            .unwrap()
            .success()
    };
    assert!(missing(&clone), "the clone should lack the old blob");
    let run = shipit_run(&clone, &["affected", "--base", &base, "--format", "json"]);
    assert_eq!(run.names(), names(&["web"]), "{}", run.transcript());
    assert!(missing(&clone), "shipit fetched a blob it did not need");
}

/// ci.toml is parsed while git works: a broken ci.toml is still the error reported, whether git
/// finds the range or not, and a good one with a bad base names the base.
#[test]
fn a_broken_ci_toml_is_reported_first_even_when_git_fails_too() {
    let repo = repo();
    let head = repo.head();
    repo.write("ci.toml", "[services.api]\npath = 3\n");
    for base in ["no-such-revision", head.as_str()] {
        let r = shipit_run(&repo.dir, &["affected", "--base", base, "--format", "json"]);
        assert_eq!(r.code, 2, "{}", r.transcript());
        assert!(r.stderr.contains("ci.toml"), "{}", r.stderr);
        assert!(!r.stderr.contains("no-such-revision"), "{}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    repo.write("ci.toml", CONFIG);
    let r = shipit_run(&repo.dir, &["affected", "--base", "no-such-revision"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("no-such-revision"), "{}", r.stderr);
}
