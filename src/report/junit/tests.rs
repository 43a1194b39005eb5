use super::*;

const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="0.05">
<testcase classname="tests.test_money" name="test_format" file="tests/test_money.py" line="12" time="0.001"/>
<testcase classname="tests.test_money" name="test_upper" file="tests/test_money.py" line="20" time="0.002"><failure message="AssertionError: &apos;eur&apos; != &apos;EUR&apos;">tests/test_money.py:21: AssertionError</failure></testcase>
<testcase classname="tests.test_money" name="test_later" time="0"><skipped message="not yet"/></testcase>
</testsuite></testsuites>"#;

#[test]
fn parses_cases_with_results_files_and_lines() {
    let suites = parse(PYTEST).unwrap();
    assert_eq!(suites.len(), 1);
    let cases = &suites[0].cases;
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0].result, CaseResult::Passed);
    assert_eq!(cases[1].line, Some(20));
    assert_eq!(cases[1].file.as_deref(), Some("tests/test_money.py"));
    match &cases[1].result {
        CaseResult::Failed {
            kind,
            message,
            text,
        } => {
            assert_eq!(kind, "failure");
            assert_eq!(message.as_deref(), Some("AssertionError: 'eur' != 'EUR'"));
            assert!(text.contains("test_money.py:21"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(cases[2].result, CaseResult::Skipped { .. }));
}

#[test]
fn a_lone_suite_and_nested_suites_are_read() {
    let lone = parse(r#"<testsuite name="a"><testcase name="x"/></testsuite>"#).unwrap();
    assert_eq!(lone[0].name, "a");
    let nested = parse(
        r#"<testsuites><testsuite name="outer"><testsuite name="inner"><testcase name="y"><error message="boom"/></testcase></testsuite></testsuite></testsuites>"#,
    )
    .unwrap();
    assert_eq!(nested.len(), 1);
    assert_eq!(nested[0].name, "outer.inner");
    assert!(
        matches!(&nested[0].cases[0].result, CaseResult::Failed { kind, .. } if kind == "error")
    );
}

#[test]
fn what_is_not_a_junit_report_is_an_error_not_a_panic() {
    assert!(parse("").is_err());
    assert!(
        parse("<html><body/></html>")
            .unwrap_err()
            .contains("<html>")
    );
    assert!(parse("<testsuite><testcase").is_err());
    assert!(parse("\u{0}\u{1}garbage").is_err());
}

#[test]
fn the_merged_report_escapes_and_round_trips() {
    let report = ServiceReport {
        service: "billing".into(),
        files: vec![],
        suites: parse(PYTEST).unwrap(),
        problems: vec![],
    };
    let xml = merged_xml(&[report]);
    let back = parse(&xml).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].name, "billing/pytest");
    assert_eq!(back[0].cases, parse(PYTEST).unwrap()[0].cases);
}

#[test]
fn thousands_of_report_files_are_named_up_to_a_few_then_counted() {
    let files: Vec<String> = (0..3000)
        .map(|i| format!("svc/reports/TEST-{i}.xml"))
        .collect();
    let report = ServiceReport {
        service: "svc".into(),
        files,
        suites: Vec::new(),
        problems: Vec::new(),
    };
    let line = text(std::slice::from_ref(&report));
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.ends_with("svc/reports/TEST-4.xml and 2995 more)\n"),
        "{line}"
    );
    let table = markdown(std::slice::from_ref(&report));
    let cell = table.lines().last().unwrap();
    assert!(
        cell.contains("`svc/reports/TEST-4.xml` and 2995 more"),
        "{cell}"
    );
    assert!(!cell.contains("TEST-5.xml"), "{cell}");
}
