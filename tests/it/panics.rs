//! No input makes shipit panic: a closed stdout, a full disk, an event payload, a file name, a tag
//! or a `Link` header from a registry; and bad output paths or a repository template that would
//! fail half-way are refused before anything is pushed.

use std::process::Stdio;

use crate::support::git::TestRepo;
use crate::support::netfake::Server;
use crate::support::registry::Oci;
use crate::support::shipit::{affected_in_actions, run, shipit, shipit_run};
use crate::support::{busybox, registry, unique};

fn repo() -> TestRepo {
    TestRepo::with_config(
        "[services.api]\npath = \"services/api\"\n\n[services.web]\npath = \"services/web\"\n",
        &["services/api", "services/web"],
    )
}

fn no_panic(r: &crate::support::shipit::Run) {
    assert_ne!(r.code, 101, "panicked: {}", r.transcript());
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_reader_that_goes_away_ends_shipit_quietly() {
    let repo = repo();
    for format in ["json", "text", "matrix"] {
        let mut child = shipit(&repo.dir)
            .args(["affected", "--all", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -c 0`: the reader is gone before shipit writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: quietly, not {stderr:?}");
    }
}

#[test]
fn a_full_disk_is_an_error_not_a_panic() {
    let repo = repo();
    let mut cmd = shipit(&repo.dir);
    cmd.args(["affected", "--all", "--format", "json"]).stdout(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    );
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not write output"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_non_ascii_before_in_the_event_payload_is_a_warning_not_a_panic() {
    let repo = repo();
    let payload = serde_json::json!({
        "before": "ééééééééééééé-not-a-commit",
        "repository": {"default_branch": "main"}
    });
    let (r, _) = affected_in_actions(&repo.dir, "push", &payload, &[]);
    no_panic(&r);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stderr.contains("éééééééééééé"),
        "the warning names it: {}",
        r.stderr
    );
}

#[test]
fn a_file_name_cannot_become_a_workflow_command_in_explain() {
    let repo = repo();
    repo.write("services/api/x\n::error::pwned\r\n", "x");
    repo.commit("a strange file name");
    let r = shipit_run(&repo.dir, &["affected", "--base", "HEAD~1", "--explain"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    for line in r.stdout.lines() {
        assert!(
            !line.trim_start().starts_with("::"),
            "a workflow command: {line:?}"
        );
    }
    assert!(r.stdout.contains(r"x\n::error::pwned\r\n"), "{}", r.stdout);
}

#[test]
fn a_tag_at_the_end_of_u64_is_no_version_and_no_panic() {
    let prefix = unique("u64");
    let oci = Oci::new(&registry(), None);
    oci.push(
        &format!("{prefix}/api"),
        "v1",
        &[
            "stage-18446744073709551615.0.0",
            "stage-1.2.3",
            "stage-1.18446744073709551615.0",
        ],
    );
    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\n",
            registry()
        ),
        &["services/api"],
    );
    // A plan, like the release, refuses a build whose Dockerfile is not in the commit.
    repo.write("services/api/Dockerfile", "FROM scratch\n");
    repo.change("services/api/a.txt", "a", "fix: something");
    let r = shipit_run(
        &repo.dir,
        &[
            "plan", "--branch", "develop", "--base", "HEAD~1", "--format", "json",
        ],
    );
    no_panic(&r);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let plan = r.json();
    assert_eq!(plan["services"][0]["next_version"], "1.2.4", "{plan}");
}

#[test]
fn a_link_header_with_its_brackets_reversed_is_no_panic() {
    let registry = Server::scripted(|req, _| {
        if req.path.contains("tags/list") {
            return (
                200,
                vec![
                    (
                        "Link".into(),
                        r#">/v2/team/api/tags/list?last=a<; rel="next""#.into(),
                    ),
                    ("Content-Type".into(), "application/json".into()),
                ],
                r#"{"name":"team/api","tags":["stage-1.0.0"]}"#.into(),
            );
        }
        (404, vec![], String::new())
    });
    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{}/team\"\n\n[services.api]\npath = \"services/api\"\n",
            registry.addr
        ),
        &["services/api"],
    );
    let r = shipit_run(&repo.dir, &["plan", "--branch", "develop", "--all"]);
    no_panic(&r);
}

/// Two image services and a Dockerfile each.
fn image_repo(registry: &str, project: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            "[project]\nregistry = \"{registry}\"\n{project}\n[services.api]\npath = \"services/api\"\n\n[services.web]\npath = \"services/web\"\n"
        ),
    );
    for dir in ["services/api", "services/web"] {
        repo.write(
            &format!("{dir}/Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\n",
        );
        std::fs::copy(busybox(), repo.dir.join(dir).join("busybox")).unwrap();
    }
    repo.commit("initial import");
    repo
}

#[test]
fn a_report_path_that_cannot_be_written_is_refused_before_anything_is_pushed() {
    let prefix = unique("report");
    let repo = image_repo(&format!("oci://{}/{prefix}", registry()), "");
    let missing = repo.sibling("no-such-folder").join("report.json");
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all", "--report"])
        .arg(&missing);
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains(&format!("cannot write --report {}", missing.display())),
        "{}",
        r.stderr
    );
    // Under Actions, the runner's output files too.
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &missing);
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains(&format!("cannot write GITHUB_OUTPUT {}", missing.display())),
        "{}",
        r.stderr
    );
    let oci = Oci::new(&registry(), None);
    assert!(
        oci.tags(&format!("{prefix}/api")).is_empty(),
        "nothing was pushed"
    );
    assert!(
        oci.tags(&format!("{prefix}/web")).is_empty(),
        "nothing was pushed"
    );
}

#[test]
fn a_test_s_output_issues_no_workflow_command() {
    let repo = TestRepo::with_config(
        "[services.lib]\npath = \"libs/lib\"\nimage = false\ntest = \"echo '::error::pwned'; echo '::add-mask::x'\"\n",
        &["libs/lib"],
    );
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "feature", "--all"])
        .env("GITHUB_ACTIONS", "true");
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let lines: Vec<&str> = r.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "::error::pwned")
        .expect("the test's output is shown");
    let stop = lines[..at]
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .unwrap_or_else(|| panic!("commands are not stopped before the output: {}", r.stderr));
    assert!(
        lines[at..].contains(&format!("::{stop}::").as_str()),
        "and resumed after it: {}",
        r.stderr
    );
}

#[test]
fn one_repository_for_several_image_services_is_refused_at_validate() {
    let repo = image_repo(
        &format!("oci://{}/x", registry()),
        "repository = \"one-repo\"\n",
    );
    for args in [
        &["validate"][..],
        &["plan", "--branch", "develop", "--all", "--offline"][..],
    ] {
        let r = shipit_run(&repo.dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.transcript());
        assert!(r.stderr.contains("has no `{service}`"), "{}", r.stderr);
    }
}

/// A variable that is not Unicode (a byte of Latin-1 in a CI runner's environment) is no reason to
/// panic: shipit reads the environment once, and leaves such a variable out. Before, that one read
/// was `std::env::vars()`, which panics on it.
#[test]
fn a_variable_that_is_not_unicode_does_not_panic() {
    use std::os::unix::ffi::OsStrExt;
    let repo = repo();
    let mut cmd = shipit(&repo.dir);
    cmd.args(["affected", "--all", "--format", "names"]).env(
        "SHIPIT_TEST_LATIN1",
        std::ffi::OsStr::from_bytes(b"caf\xe9"),
    );
    let r = run(cmd);
    no_panic(&r);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.stdout.lines().collect::<Vec<_>>(), ["api", "web"]);
}
