//! Merged test reports: each service's JUnit XML (`test_report`) read after its tests ran, merged
//! into one file by `release --junit FILE` with suites prefixed by service, counted per service, and
//! each failing test an annotation at its file and line; missing and stale reports named.

use crate::support::git::TestRepo;
use crate::support::shipit::{run, shipit};

const BILLING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
  <testsuite name="pytest" tests="3" failures="0" skipped="1">
    <testcase classname="tests.test_invoices" name="test_total" file="tests/test_invoices.py" line="4" time="0.01"/>
    <testcase classname="tests.test_invoices" name="test_tax" file="tests/test_invoices.py" line="9" time="0.02"/>
    <testcase classname="tests.test_invoices" name="test_later" time="0"><skipped message="not yet"/></testcase>
  </testsuite>
</testsuites>
"#;

const VISITS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="visits.unit" tests="2" failures="1">
  <testcase classname="visits" name="books a visit" file="tests/test_visits.py" line="3"/>
  <testcase classname="visits" name="reminds the day before" file="tests/test_visits.py" line="7">
    <failure message="expected 09:00, got 10:00">AssertionError at tests/test_visits.py:8</failure>
  </testcase>
</testsuite>
"#;

#[test]
fn two_services_reports_merge_with_the_failure_annotated_and_missing_ones_named() {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        r#"[services.billing]
path = "services/billing"
image = false
test = "mkdir -p reports && cp junit.template reports/junit.xml"
test_report = "reports/*.xml"

[services.visits]
path = "services/visits"
image = false
test = "mkdir -p target && cp junit.template target/junit.xml && exit 1"
test_report = "target/junit.xml"

[services.web]
path = "services/web"
image = false
test = "true"
test_report = "out/**/*.xml"

[services.docs]
path = "services/docs"
image = false
test = "true"
test_report = "build/junit.xml"
"#,
    );
    repo.write(".gitignore", "target/\nreports/\nout/\n");
    repo.write("services/billing/junit.template", BILLING);
    repo.write(
        "services/billing/tests/test_invoices.py",
        "def test_total(): pass\n",
    );
    repo.write("services/visits/junit.template", VISITS);
    repo.write(
        "services/visits/tests/test_visits.py",
        "def test_visit(): pass\n",
    );
    repo.write("services/web/index.html", "web");
    repo.write("services/docs/index.md", "docs");
    repo.commit("initial import");
    // A report from an earlier run, left in the working tree: not this release's.
    repo.write("services/web/out/old/junit.xml", BILLING);
    let touched = std::process::Command::new("touch")
        .args(["-d", "2020-01-01T00:00:00"])
        .arg(repo.dir.join("services/web/out/old/junit.xml"))
        .status()
        .unwrap();
    assert!(touched.success());

    let tmp = tempfile::tempdir().unwrap();
    let (merged, summary) = (tmp.path().join("junit.xml"), tmp.path().join("summary.md"));
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--all", "--branch", "feature/x", "--junit"])
        .arg(&merged)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary);
    let r = run(cmd);
    assert_eq!(r.code, 1, "visits' tests failed: {}", r.transcript());

    // The merged file: every suite prefixed with its service, the counts of the originals.
    let xml = std::fs::read_to_string(&merged).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<(String, String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|n| {
            (
                n.attribute("name").unwrap().to_string(),
                n.attribute("tests").unwrap().to_string(),
                n.attribute("failures").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        suites,
        [
            ("billing/pytest".into(), "3".into(), "0".into()),
            ("visits/visits.unit".into(), "2".into(), "1".into()),
        ],
        "{xml}"
    );
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("expected 09:00, got 10:00")
    );
    assert_eq!(
        failure.parent().unwrap().attribute("name"),
        Some("reminds the day before")
    );

    // Counts per service, for people.
    assert!(
        r.stdout.contains(
            "billing  tests: 2 passed, 0 failed, 1 skipped (services/billing/reports/junit.xml)"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("visits  tests: 1 passed, 1 failed, 0 skipped"),
        "{}",
        r.stdout
    );
    // The failing test as an annotation at its file and line, relative to the repository.
    let annotation = r
        .stderr
        .lines()
        .find(|l| l.starts_with("::error file="))
        .unwrap_or_else(|| panic!("no annotation: {}", r.stderr));
    assert_eq!(
        annotation,
        "::error file=services/visits/tests/test_visits.py,line=7,title=visits%3A visits.reminds the day before::expected 09:00, got 10:00%0AAssertionError at tests/test_visits.py:8"
    );
    assert_eq!(
        r.stderr
            .lines()
            .filter(|l| l.starts_with("::error file="))
            .count(),
        1,
        "only the failing test: {}",
        r.stderr
    );
    // The missing and the stale report are named, not ignored.
    assert!(
        r.stdout
            .contains("docs  no test report: test_report `build/junit.xml` matched no file under services/docs"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("web  services/web/out/old/junit.xml is stale"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("::warning title=shipit::docs: no test report"),
        "{}",
        r.stderr
    );
    // The step summary's table.
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.contains("| service | passed | failed | skipped | report |"),
        "{table}"
    );
    assert!(
        table.contains("| billing | 2 | 0  | 1 | `services/billing/reports/junit.xml` |"),
        "{table}"
    );
    assert!(
        table.contains("| visits | 1 | 1 ❌ | 0 | `services/visits/target/junit.xml` |"),
        "{table}"
    );
    assert!(
        table.contains("| docs | 0 | 0  | 0 | ⚠️ no test report"),
        "{table}"
    );
}

#[test]
fn an_unreadable_report_is_named_and_release_json_carries_the_counts() {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        r#"[services.api]
path = "services/api"
image = false
test = "mkdir -p target && echo '<html>not junit</html>' > target/junit.xml"
test_report = "target/junit.xml"
"#,
    );
    repo.write(".gitignore", "target/\n");
    repo.write("services/api/main.txt", "api");
    repo.commit("initial import");
    let tmp = tempfile::tempdir().unwrap();
    let merged = tmp.path().join("junit.xml");
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "release",
        "--all",
        "--branch",
        "feature/x",
        "--format",
        "json",
        "--junit",
    ])
    .arg(&merged);
    let r = run(cmd);
    assert_eq!(r.code, 0, "the tests passed: {}", r.transcript());
    let out: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let tests = &out["tests"][0];
    assert_eq!(tests["service"], "api");
    let problem = tests["problems"][0].as_str().unwrap();
    assert!(
        problem.starts_with("services/api/target/junit.xml: not a JUnit report"),
        "{problem}"
    );
    // The merged file is still written, and valid.
    let xml = std::fs::read_to_string(&merged).unwrap();
    roxmltree::Document::parse(&xml).unwrap();
}

#[test]
fn a_report_glob_outside_the_service_is_bad_input() {
    let repo = TestRepo::with_config(
        "[services.api]\npath = \"services/api\"\nimage = false\ntest_report = \"../../etc/*.xml\"\n",
        &["services/api"],
    );
    let r = crate::support::shipit::shipit_run(&repo.dir, &["validate"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("`test_report` must stay inside the service, not `../../etc/*.xml`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ci.toml:4:15"), "{}", r.stderr);
}
