//! Outside input of any size or shape is an answer, never a panic, a hang or a machine's memory:
//! a ci.toml error far along a line, reports nested deep or grown huge, a registry that pages
//! forever, and messages in ci.toml's words.

use std::time::Duration;

use crate::support::git::TestRepo;
use crate::support::netfake::{Server, run_within};
use crate::support::shipit::{run, shipit, shipit_run};

/// Long enough for a bounded command on a loaded machine; an endless one is killed there.
const LIMIT: Duration = Duration::from_secs(60);

/// True when `text` says `words`, however miette wrapped its lines (a URL is wrapped at a `/`).
fn says(text: &str, words: &str) -> bool {
    let squeeze = |t: &str| {
        t.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect::<String>()
    };
    squeeze(text).contains(&squeeze(words))
}

fn no_panic(r: &crate::support::shipit::Run) {
    assert_ne!(r.code, 101, "panicked: {}", r.transcript());
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_ci_toml_error_past_column_65535_is_rendered_by_every_command() {
    // One line of 70 KB: the error is at column 70,008, past what miette can pad to.
    let config = format!("x = \"{}\" y\n", "a".repeat(70_000));
    let repo = TestRepo::with_config(&config, &[]);
    for args in [
        &["validate"][..],
        &["validate", "--format", "json"],
        &["affected", "--all"],
        &["affected", "--all", "--format", "json"],
        &["plan", "--branch", "develop"],
        &["plan", "--branch", "develop", "--format", "json"],
        &["release", "--branch", "develop", "--dry-run"],
        &[
            "release",
            "--branch",
            "develop",
            "--dry-run",
            "--format",
            "json",
        ],
    ] {
        let r = shipit_run(&repo.dir, args);
        no_panic(&r);
        assert_eq!(r.code, 2, "{args:?}: {}", r.transcript());
        assert!(
            says(&r.stderr, "[ci.toml:1:70008]"),
            "{args:?}: the place as written: {}",
            r.stderr
        );
        assert!(says(&r.stderr, "…aaaa"), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.len() < 2_000,
            "{args:?}: a window of the line, not all of it: {} bytes",
            r.stderr.len()
        );
    }
    let r = shipit_run(&repo.dir, &["validate", "--format", "json"]);
    assert_eq!(r.json()["errors"][0]["column"], 70_008, "{}", r.stdout);
}

#[test]
fn a_ci_toml_problem_on_a_long_line_of_wide_characters_is_shown_cut() {
    // A resolve-time problem (a path that does not exist) whose value is a line of 80 KB of
    // two-byte characters, then a second problem past it on the same line.
    let value = "é".repeat(40_000);
    let config = format!(
        "services = {{ api = {{ path = \"{value}\" }}, web = {{ path = \"services/web\", depends_on = [\"nope\"] }} }}\n"
    );
    let repo = TestRepo::with_config(&config, &["services/web"]);
    let r = shipit_run(&repo.dir, &["validate"]);
    no_panic(&r);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(says(&r.stderr, "[ci.toml:1:29]"), "{}", r.stderr);
    assert!(says(&r.stderr, "nope"), "{}", r.stderr);
    // The snippet shows a window of the line, not its 80 KB.
    for line in r
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("1 │"))
    {
        assert!(line.len() < 600, "a line of {} bytes", line.len());
    }
    assert!(
        r.stderr.lines().any(|l| l.trim_start().starts_with("1 │")),
        "{}",
        r.stderr
    );
    // The message quotes the start and the end of the 80 KB value, not all of it.
    assert!(
        r.stderr.len() < 4_000,
        "{} bytes: {}",
        r.stderr.len(),
        r.stderr
    );
}

/// A library whose test command writes `out/junit.xml` (with `write`, run in the service's
/// folder), released on a feature branch with and without `--junit`.
fn release_with_report(write: &str, template: Option<&str>) -> Vec<crate::support::shipit::Run> {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            "[services.lib]\npath = \"libs/lib\"\nimage = false\ntest = \"mkdir -p out && {write}\"\ntest_report = \"out/*.xml\"\n"
        ),
    );
    repo.write(".gitignore", "out/\n");
    repo.write("libs/lib/README", "lib");
    if let Some(template) = template {
        repo.write("libs/lib/junit.template", template);
    }
    repo.commit("initial import");
    let merged = repo.sibling("merged.xml");
    let mut runs = Vec::new();
    for junit in [false, true] {
        let mut cmd = shipit(&repo.dir);
        cmd.args(["release", "--branch", "feature", "--all"]);
        if junit {
            cmd.arg("--junit").arg(&merged);
        }
        let (r, _) = run_within(cmd, LIMIT);
        no_panic(&r);
        assert!(
            r.code == 0 || r.code == 1,
            "ends normally: {}",
            r.transcript()
        );
        runs.push(r);
    }
    runs
}

#[test]
fn a_junit_report_nested_20000_deep_is_named_not_a_stack_overflow() {
    let depth = 20_000;
    let mut xml = String::from("<?xml version=\"1.0\"?>\n");
    xml.push_str(&"<testsuite name=\"s\">".repeat(depth));
    xml.push_str("<testcase name=\"c\"/>");
    xml.push_str(&"</testsuite>".repeat(depth));
    for r in release_with_report("cp junit.template out/junit.xml", Some(&xml)) {
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            says(&all, "libs/lib/out/junit.xml")
                && says(&all, "<testsuite> elements nested more than 256 deep"),
            "the file and why: {}",
            r.transcript()
        );
    }
}

#[test]
fn a_junit_report_of_200_mb_is_refused_after_reading_64_mib() {
    // Sparse: 200 MB on no disk.
    for r in release_with_report("truncate -s 200M out/junit.xml", None) {
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            says(&all, "libs/lib/out/junit.xml")
                && says(&all, "larger than 64 MiB, the most shipit reads of it"),
            "the file and the limit: {}",
            r.transcript()
        );
    }
}

#[test]
fn a_ci_toml_over_8_mib_is_refused_with_the_limit() {
    let repo = TestRepo::with_config(
        "[services.api]\npath = \"services/api\"\n",
        &["services/api"],
    );
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(repo.dir.join("ci.toml"))
        .unwrap();
    file.set_len(9 << 20).unwrap();
    for args in [&["validate"][..], &["affected", "--all"]] {
        let r = shipit_run(&repo.dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.transcript());
        assert!(
            says(&r.stderr, "ci.toml: it is larger than 8 MiB"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn an_event_payload_over_32_mib_is_refused_with_the_limit() {
    let repo = TestRepo::with_config(
        "[services.api]\npath = \"services/api\"\n",
        &["services/api"],
    );
    let payload = repo.sibling("event.json");
    std::fs::File::create(&payload)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    let mut cmd = shipit(&repo.dir);
    cmd.args(["affected", "--format", "json"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &payload);
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        says(&r.stderr, "event.json: it is larger than 32 MiB"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_task_definition_over_4_mib_is_refused_with_the_limit() {
    let repo = TestRepo::with_config(
        "[environments.stage]\nbranch = \"develop\"\nclusters = [\"c\"]\n\n[services.api]\npath = \"services/api\"\ntask_definition = \"td.json\"\n",
        &["services/api"],
    );
    let td = repo.dir.join("services/api/td.json");
    std::fs::write(&td, "{").unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&td)
        .unwrap()
        .set_len(5 << 20)
        .unwrap();
    let r = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        says(
            &r.stderr,
            "task definition `td.json`: it is larger than 4 MiB"
        ),
        "{}",
        r.stderr
    );
}

fn registry_repo(addr: &str) -> TestRepo {
    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{addr}/team\"\n\n[environments.stage]\nbranch = \"develop\"\n\n[services.api]\npath = \"services/api\"\n"
        ),
        &["services/api"],
    );
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    repo
}

#[test]
fn a_tag_list_that_links_to_itself_ends_plan_and_retain() {
    let registry = Server::endless_tags(false, Duration::ZERO);
    let repo = registry_repo(&registry.addr);
    for args in [
        &["plan", "--branch", "develop", "--all"][..],
        &["retain", "--env", "stage"][..],
    ] {
        let before = registry.seen();
        let mut cmd = shipit(&repo.dir);
        cmd.args(args);
        let (r, took) = run_within(cmd, LIMIT);
        no_panic(&r);
        assert_eq!(r.code, 1, "{args:?}: {}", r.transcript());
        assert!(
            says(
                &r.stderr,
                "a page it already read: the list would never end"
            ),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            registry.seen() - before <= 2,
            "{args:?}: the page once, then stop"
        );
        assert!(took < Duration::from_secs(30), "{args:?}: {took:?}");
    }
}

#[test]
fn a_tag_list_of_endless_fresh_pages_ends_at_the_listing_deadline() {
    // Every page in time (0.1 s, the deadline of one answer is 1 s: ten times the page's time, so
    // that a loaded machine never misses it), a new page every time: only the deadline of the
    // whole listing (ten answers' worth, 10 s) ends it.
    let registry = Server::endless_tags(true, Duration::from_millis(100));
    let repo = registry_repo(&registry.addr);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--all"])
        .env("SHIPIT_HTTP_TIMEOUT", "1s");
    let (r, took) = run_within(cmd, LIMIT);
    no_panic(&r);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        says(
            &r.stderr,
            "were not all read within 10s (ten times SHIPIT_HTTP_TIMEOUT)"
        ),
        "{}",
        r.stderr
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_tag_list_past_1000_pages_ends_at_the_page_cap() {
    // A new page every time, at once: within every deadline, so only the page cap ends it.
    let registry = Server::endless_tags(true, Duration::ZERO);
    let repo = registry_repo(&registry.addr);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--all"]);
    let (r, _) = run_within(cmd, LIMIT);
    no_panic(&r);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        says(&r.stderr, "more than 1000 pages of tags for")
            && says(&r.stderr, "/team/api: shipit stops there"),
        "{}",
        r.stderr
    );
    assert_eq!(registry.seen(), 1000, "the pages read");
}

/// `plan` against a registry whose tags/list answers what `answer` says (the address of the
/// server is the second argument).
fn plan_against(
    answer: impl Fn(&crate::support::netfake::Request, &str) -> (u16, Vec<(String, String)>, String)
    + Send
    + Sync
    + 'static,
) -> crate::support::shipit::Run {
    let registry = Server::scripted(answer);
    let repo = registry_repo(&registry.addr);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--all"]);
    let (r, _) = run_within(cmd, LIMIT);
    no_panic(&r);
    r
}

#[test]
fn a_tag_list_page_over_4_mib_is_refused_with_its_url() {
    let r = plan_against(|_, _| {
        let body = format!(r#"{{"tags":["{}"]}}"#, "a".repeat(5 << 20));
        (200, vec![], body)
    });
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        says(
            &r.stderr,
            "/v2/team/api/tags/list?n=1000 is larger than 4 MiB"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_tag_list_that_is_not_json_names_its_url_and_what_is_wrong() {
    let r = plan_against(|_, _| (200, vec![], "<html>maintenance</html>".into()));
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        says(
            &r.stderr,
            "/v2/team/api/tags/list?n=1000 is not JSON: expected value at line 1 column 1"
        ),
        "{}",
        r.stderr
    );
    assert!(
        !says(&r.stderr, "error decoding response body"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_answer_that_is_not_http_is_not_an_unreachable_registry() {
    let r = plan_against(|_, _| (200, vec![("Bad Header".into(), "x".into())], "{}".into()));
    assert_ne!(r.code, 0, "{}", r.transcript());
    assert!(
        says(&r.stderr, "answered in a way HTTP does not allow")
            && says(&r.stderr, "invalid HTTP header parsed"),
        "{}",
        r.stderr
    );
    assert!(!says(&r.stderr, "cannot reach"), "{}", r.stderr);
}

#[test]
fn a_token_with_a_line_break_is_named_as_such_and_never_printed() {
    let r = plan_against(|req, addr| {
        if req.path.starts_with("/token") {
            return (200, vec![], r#"{"token":"abc\ndef-secret"}"#.into());
        }
        (
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer realm="http://{addr}/token",service="fake""#),
            )],
            String::new(),
        )
    });
    assert_ne!(r.code, 0, "{}", r.transcript());
    assert!(
        says(&r.stderr, "its token holds a line break"),
        "{}",
        r.stderr
    );
    assert!(!says(&r.stderr, "cannot reach"), "{}", r.stderr);
    assert!(!says(&r.stderr, "def-secret"), "{}", r.stderr);
}

#[test]
fn a_manifest_over_4_mib_is_refused_with_its_url() {
    // Two versions on two images and `retain = 1`: retention asks for the kept image's manifest
    // (is it an index?), which is 5 MiB.
    let registry = Server::scripted(|req, _| {
        let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        if req.path.contains("tags/list") {
            return (
                200,
                vec![],
                r#"{"tags":["stage-1.0.0","stage-1.0.1"]}"#.into(),
            );
        }
        if req.method == "HEAD" && req.path.contains("/manifests/stage-1.0.") {
            let c = if req.path.ends_with('0') { 'a' } else { 'b' };
            return (
                200,
                vec![("Docker-Content-Digest".into(), digest(c))],
                String::new(),
            );
        }
        if req.method == "GET" && req.path.contains("/manifests/sha256:") {
            let body = format!(
                r#"{{"schemaVersion":2,"annotations":{{"x":"{}"}}}}"#,
                "a".repeat(5 << 20)
            );
            return (200, vec![], body);
        }
        (404, vec![], String::new())
    });
    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{}/team\"\nretain = 1\n\n[environments.stage]\nbranch = \"develop\"\n\n[services.api]\npath = \"services/api\"\n",
            registry.addr
        ),
        &["services/api"],
    );
    let mut cmd = shipit(&repo.dir);
    cmd.args(["retain", "--env", "stage"]);
    let (r, _) = run_within(cmd, LIMIT);
    no_panic(&r);
    assert_ne!(r.code, 0, "{}", r.transcript());
    assert!(
        says(
            &r.stderr,
            &format!(
                "/v2/team/api/manifests/sha256:{} is larger than 4 MiB",
                "b".repeat(64)
            )
        ),
        "{}",
        r.stderr
    );
}

/// A ci.toml nested 200,000 deep, on one line or on 200,000: the error's snippet is a bounded
/// window, not the whole line or file.
#[test]
fn a_ci_toml_nested_200000_deep_gets_a_bounded_snippet() {
    for config in [
        format!(
            "[global]\ntriggers = {}{}\n",
            "[".repeat(200_000),
            "]".repeat(200_000)
        ),
        format!(
            "[global]\ntriggers = {}{}",
            "[\n".repeat(200_000),
            "]\n".repeat(200_000)
        ),
    ] {
        let repo = TestRepo::with_config(&config, &[]);
        let (r, _) = run_within(shipit_run_cmd(&repo, &["validate"]), LIMIT);
        no_panic(&r);
        assert_eq!(r.code, 2, "{}", r.transcript());
        assert!(says(&r.stderr, "max recursion depth met"), "{}", r.stderr);
        assert!(
            r.stderr.len() < 2_000,
            "{} bytes: {}",
            r.stderr.len(),
            r.stderr
        );
    }
}

fn shipit_run_cmd(repo: &TestRepo, args: &[&str]) -> std::process::Command {
    let mut cmd = shipit(&repo.dir);
    cmd.args(args);
    cmd
}
