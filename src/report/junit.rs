//! Test reports: the JUnit XML files each service's tests write (`test_report`, a glob relative to
//! the service), read after the release, merged into one file (`release --junit FILE`) with each
//! suite prefixed by its service, counted per service (terminal, step summary) and, under GitHub
//! Actions, each failing test an error annotation at its file and line when the report has them.
//! A report that is missing, stale or unreadable is named, never silently left out.
//!
//! Over 600 lines: reading JUnit XML (its dialects), merging, counting and annotating are one
//! format's code; its tests are in `junit/tests.rs`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::config::Service;

/// Directories never searched for reports.
const SKIP_DIRS: [&str; 2] = [".git", "node_modules"];
/// The most directory entries one service's search looks at.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suite {
    pub name: String,
    pub time: Option<f64>,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub name: String,
    pub classname: Option<String>,
    pub time: Option<f64>,
    /// As the report writes it (usually relative to where the tests ran).
    pub file: Option<String>,
    pub line: Option<u32>,
    pub result: CaseResult,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum CaseResult {
    Passed,
    /// `<failure>` (an assertion) or `<error>` (the test could not run): `kind` says which.
    Failed {
        kind: String,
        message: Option<String>,
        text: String,
    },
    Skipped {
        message: Option<String>,
    },
}

/// One service's reports after a release.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    pub service: String,
    /// Repository-relative paths of the files read.
    pub files: Vec<String>,
    pub suites: Vec<Suite>,
    /// Why the reports are incomplete (missing, stale, unreadable), for people.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl ServiceReport {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for case in self.suites.iter().flat_map(|s| &s.cases) {
            match case.result {
                CaseResult::Passed => c.passed += 1,
                CaseResult::Failed { .. } => c.failed += 1,
                CaseResult::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }
}

/// Why a test report could not be read, or found.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not XML: {0}")]
    NotXml(roxmltree::Error),
    #[error("not a JUnit report: the root element is <{root}>, not <testsuites> or <testsuite>")]
    NotJUnit { root: String },
    #[error(
        "<testsuite> elements nested more than {} deep: not a report shipit reads",
        crate::limits::JUNIT_DEPTH
    )]
    TooDeep,
    #[error("cannot read it: {0}")]
    Read(crate::limits::ReadError),
    #[error("not a valid glob: {0}")]
    BadGlob(globset::Error),
    #[error("more than {MAX_ENTRIES} files to search: make the glob name its folder")]
    TooManyFiles,
}

/// Parses one JUnit XML document: `<testsuites>` or a lone `<testsuite>`, nested suites flattened
/// (each suite that holds test cases is one suite, named by its path of names).
pub fn parse(xml: &str) -> Result<Vec<Suite>, ReportError> {
    let doc = roxmltree::Document::parse(xml).map_err(ReportError::NotXml)?;
    let root = doc.root_element();
    let mut suites = Vec::new();
    match root.tag_name().name() {
        "testsuites" | "testsuite" => collect_suites(root, None, 1, &mut suites)?,
        other => {
            return Err(ReportError::NotJUnit {
                root: other.to_string(),
            });
        }
    }
    Ok(suites)
}

fn collect_suites(
    node: roxmltree::Node<'_, '_>,
    parent: Option<&str>,
    depth: usize,
    out: &mut Vec<Suite>,
) -> Result<(), ReportError> {
    // Depth-limited: a report nested thousands deep would overflow the stack (and the names of
    // its suites, each its parent's and its own, would grow with the square of the depth).
    if depth > crate::limits::JUNIT_DEPTH {
        return Err(ReportError::TooDeep);
    }
    if node.has_tag_name("testsuites") {
        // A collection: its name (often the tool's) prefixes nothing.
        for child in node
            .children()
            .filter(|c| c.has_tag_name("testsuite") || c.has_tag_name("testsuites"))
        {
            collect_suites(child, parent, depth + 1, out)?;
        }
        return Ok(());
    }
    let own = node.attribute("name").unwrap_or("");
    let name = match (parent, own.is_empty()) {
        (Some(p), false) => format!("{p}.{own}"),
        (Some(p), true) => p.to_string(),
        (None, _) => own.to_string(),
    };
    let cases: Vec<Case> = node
        .children()
        .filter(|c| c.has_tag_name("testcase"))
        .map(|c| case(c, node.attribute("file")))
        .collect();
    if !cases.is_empty() || !has_child_suites(node) {
        out.push(Suite {
            name: name.clone(),
            time: node.attribute("time").and_then(|t| t.parse().ok()),
            cases,
        });
    }
    for child in node.children().filter(|c| c.has_tag_name("testsuite")) {
        let parent = (!name.is_empty()).then_some(name.as_str());
        collect_suites(child, parent, depth + 1, out)?;
    }
    Ok(())
}

fn has_child_suites(node: roxmltree::Node<'_, '_>) -> bool {
    node.children().any(|c| c.has_tag_name("testsuite"))
}

fn case(node: roxmltree::Node<'_, '_>, suite_file: Option<&str>) -> Case {
    let text_of = |n: roxmltree::Node<'_, '_>| {
        n.children()
            .filter_map(|c| c.text())
            .collect::<String>()
            .trim()
            .to_string()
    };
    let mut result = CaseResult::Passed;
    for child in node.children().filter(|c| c.is_element()) {
        match child.tag_name().name() {
            kind @ ("failure" | "error") => {
                result = CaseResult::Failed {
                    kind: kind.to_string(),
                    message: child.attribute("message").map(str::to_string),
                    text: text_of(child),
                };
                break;
            }
            "skipped" => {
                result = CaseResult::Skipped {
                    message: child.attribute("message").map(str::to_string),
                };
            }
            _ => {}
        }
    }
    Case {
        name: node.attribute("name").unwrap_or("").to_string(),
        classname: node.attribute("classname").map(str::to_string),
        time: node.attribute("time").and_then(|t| t.parse().ok()),
        file: node.attribute("file").or(suite_file).map(str::to_string),
        line: node.attribute("line").and_then(|l| l.trim().parse().ok()),
        result,
    }
}

/// Finds and reads one service's reports. Files last written before `since` (the release's start)
/// are stale, from an earlier run, and are named instead of read.
pub fn collect(root: &Path, service: &Service, since: SystemTime) -> ServiceReport {
    let mut report = ServiceReport {
        service: service.name.clone(),
        files: Vec::new(),
        suites: Vec::new(),
        problems: Vec::new(),
    };
    let Some(pattern) = &service.test_report else {
        return report;
    };
    let dir = root.join(&service.path);
    let files = match find(&dir, pattern) {
        Ok(files) => files,
        Err(why) => {
            report
                .problems
                .push(format!("test_report `{pattern}`: {why}"));
            return report;
        }
    };
    if files.is_empty() {
        report.problems.push(format!(
            "no test report: test_report `{pattern}` matched no file under {}",
            service.path
        ));
    }
    // A second of slack for file systems that round times.
    let since = since
        .checked_sub(std::time::Duration::from_secs(1))
        .unwrap_or(since);
    for file in files {
        let shown = relative(root, &file);
        let modified = std::fs::metadata(&file).and_then(|m| m.modified());
        if let Ok(modified) = modified
            && modified < since
        {
            report.problems.push(format!(
                "{shown} is stale: written before this release, so not by its tests"
            ));
            continue;
        }
        let suites = crate::limits::read_to_string(&file, crate::limits::JUNIT_REPORT)
            .map_err(ReportError::Read)
            .and_then(|xml| parse(&xml));
        match suites {
            Ok(suites) => {
                report.suites.extend(suites);
                report.files.push(shown);
            }
            Err(why) => report.problems.push(format!("{shown}: {why}")),
        }
    }
    report
}

/// Files under `dir` whose path relative to it matches `pattern` (.gitignore semantics).
fn find(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, ReportError> {
    let matcher =
        crate::glob::Matcher::new([(pattern.to_string(), ())]).map_err(ReportError::BadGlob)?;
    // Walk from the longest folder prefix without glob characters.
    let mut start = PathBuf::new();
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.contains(['*', '?', '[', '{', '\\']) {
            break;
        }
        start.push(part);
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.join(&start)];
    let mut seen = 0usize;
    let mut scratch = crate::glob::Scratch::default();
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(ReportError::TooManyFiles);
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !SKIP_DIRS.iter().any(|s| entry.file_name() == *s) {
                    stack.push(path);
                }
                continue;
            }
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let mut hit = false;
            matcher.for_each_match(&rel, &mut scratch, |_| hit = true);
            if hit {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Where a failing test's file is, relative to the repository root: as written when that exists
/// under the service, else at the root, else assumed under the service.
fn annotation_file(root: &Path, service: &Service, file: &str) -> String {
    let path = Path::new(file);
    if path.is_absolute() {
        return relative(root, path);
    }
    let under_service = Path::new(&service.path).join(path);
    if !root.join(&under_service).exists() && root.join(path).exists() {
        return file.trim_start_matches("./").to_string();
    }
    relative(Path::new(""), &under_service)
        .trim_start_matches("./")
        .to_string()
}

/// The merged report: one `<testsuites>`, every suite named `service/suite`.
pub fn merged_xml(reports: &[ServiceReport]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all = reports.iter().fold(Counts::default(), |a, r| {
        let c = r.counts();
        Counts {
            passed: a.passed + c.passed,
            failed: a.failed + c.failed,
            skipped: a.skipped + c.skipped,
        }
    });
    out.push_str(&format!(
        "<testsuites name=\"shipit\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
        all.passed + all.failed + all.skipped,
        all.failed,
        all.skipped
    ));
    for report in reports {
        for suite in &report.suites {
            let failures = suite
                .cases
                .iter()
                .filter(
                    |c| matches!(&c.result, CaseResult::Failed { kind, .. } if kind == "failure"),
                )
                .count();
            let errors = suite
                .cases
                .iter()
                .filter(|c| matches!(&c.result, CaseResult::Failed { kind, .. } if kind == "error"))
                .count();
            let skipped = suite
                .cases
                .iter()
                .filter(|c| matches!(c.result, CaseResult::Skipped { .. }))
                .count();
            let name = if suite.name.is_empty() {
                report.service.clone()
            } else {
                format!("{}/{}", report.service, suite.name)
            };
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\"{}>\n",
                attr(&name),
                suite.cases.len(),
                suite.time.map(|t| format!(" time=\"{t}\"")).unwrap_or_default()
            ));
            for case in &suite.cases {
                testcase(&mut out, case);
            }
            out.push_str("  </testsuite>\n");
        }
    }
    out.push_str("</testsuites>\n");
    out
}

/// One `<testcase>`, with its result.
fn testcase(out: &mut String, case: &Case) {
    out.push_str(&format!("    <testcase name=\"{}\"", attr(&case.name)));
    if let Some(c) = &case.classname {
        out.push_str(&format!(" classname=\"{}\"", attr(c)));
    }
    if let Some(t) = case.time {
        out.push_str(&format!(" time=\"{t}\""));
    }
    if let Some(f) = &case.file {
        out.push_str(&format!(" file=\"{}\"", attr(f)));
    }
    if let Some(l) = case.line {
        out.push_str(&format!(" line=\"{l}\""));
    }
    match &case.result {
        CaseResult::Passed => out.push_str("/>\n"),
        CaseResult::Skipped { message } => {
            out.push_str(">\n      <skipped");
            if let Some(m) = message {
                out.push_str(&format!(" message=\"{}\"", attr(m)));
            }
            out.push_str("/>\n    </testcase>\n");
        }
        CaseResult::Failed {
            kind,
            message,
            text,
        } => {
            out.push_str(&format!(">\n      <{kind}"));
            if let Some(m) = message {
                out.push_str(&format!(" message=\"{}\"", attr(m)));
            }
            out.push_str(&format!(">{}</{kind}>\n    </testcase>\n", body(text)));
        }
    }
}

fn body(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn attr(s: &str) -> String {
    body(s)
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

/// How many report files a line or a summary cell names before "and N more" (a service can
/// write thousands: one per test class).
const FILES_SHOWN: usize = 5;

/// The first [`FILES_SHOWN`] of `files`, comma-separated, then how many more there are.
fn capped(files: impl ExactSizeIterator<Item = String>) -> String {
    let n = files.len();
    let mut out = files.take(FILES_SHOWN).collect::<Vec<_>>().join(", ");
    if n > FILES_SHOWN {
        out.push_str(&format!(" and {} more", n - FILES_SHOWN));
    }
    out
}

/// For people: one line per service with a report, and each problem.
pub fn text(reports: &[ServiceReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let c = r.counts();
        if !r.files.is_empty() {
            out.push_str(&format!(
                "  {}  tests: {} passed, {} failed, {} skipped ({})\n",
                r.service,
                c.passed,
                c.failed,
                c.skipped,
                capped(r.files.iter().cloned())
            ));
        }
        for p in &r.problems {
            out.push_str(&format!("  {}  {p}\n", r.service));
        }
    }
    out
}

/// The step summary's table of tests per service.
pub fn markdown(reports: &[ServiceReport]) -> String {
    if reports.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### Tests\n\n| service | passed | failed | skipped | report |\n|---|---|---|---|---|\n",
    );
    for r in reports {
        let c = r.counts();
        let mut note: Vec<String> = vec![capped(r.files.iter().map(|f| format!("`{f}`")))];
        note.retain(|n| !n.is_empty());
        note.extend(
            r.problems
                .iter()
                .map(|p| format!("⚠️ {}", p.replace('|', "\\|"))),
        );
        out.push_str(&format!(
            "| {} | {} | {} {} | {} | {} |\n",
            r.service,
            c.passed,
            c.failed,
            if c.failed > 0 { "❌" } else { "" },
            c.skipped,
            note.join("<br>")
        ));
    }
    out
}

/// Workflow commands: an error per failing test (at its file and line when known), a warning per
/// problem with a service's reports.
pub fn annotations(root: &Path, services: &[&Service], reports: &[ServiceReport]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let Some(service) = services.iter().find(|s| s.name == r.service) else {
            continue;
        };
        for suite in &r.suites {
            for case in &suite.cases {
                let CaseResult::Failed { message, text, .. } = &case.result else {
                    continue;
                };
                let mut props = Vec::new();
                if let Some(f) = &case.file {
                    props.push(format!(
                        "file={}",
                        property(&annotation_file(root, service, f))
                    ));
                    if let Some(l) = case.line {
                        props.push(format!("line={l}"));
                    }
                }
                let title = match &case.classname {
                    Some(c) if !c.is_empty() => format!("{}: {c}.{}", r.service, case.name),
                    _ => format!("{}: {}", r.service, case.name),
                };
                props.push(format!("title={}", property(&title)));
                let message = match (message, text.is_empty()) {
                    (Some(m), true) => m.clone(),
                    (Some(m), false) => format!("{m}\n{text}"),
                    (None, _) => text.clone(),
                };
                let message = if message.is_empty() {
                    "failed".to_string()
                } else {
                    message
                };
                out.push(format!(
                    "::error {}::{}",
                    props.join(","),
                    super::github::escape_data(&message)
                ));
            }
        }
        for p in &r.problems {
            out.push(format!(
                "::warning title=shipit::{}",
                super::github::escape_data(&format!("{}: {p}", r.service))
            ));
        }
    }
    out
}

/// After a release: the reports of every service whose tests ran and that names a `test_report`;
/// the merged file written to `junit` when given; under GitHub Actions the annotations (the step
/// summary's table is [`markdown`]).
pub fn after_release(
    env: &crate::github::Env,
    config: &crate::config::Config,
    results: &[crate::pipeline::ServiceResult],
    since: SystemTime,
    junit: Option<&Path>,
) -> std::io::Result<Vec<ServiceReport>> {
    use crate::pipeline::{Stage, Status};
    let ran: Vec<&Service> = results
        .iter()
        .filter(|r| {
            r.stages
                .iter()
                .any(|s| s.stage == Stage::Test && s.status != Status::Skipped)
        })
        .filter_map(|r| config.service(&r.name))
        .filter(|s| s.test_report.is_some())
        .collect();
    let reports: Vec<ServiceReport> = ran
        .iter()
        .map(|s| collect(&config.root, s, since))
        .collect();
    if let Some(path) = junit {
        super::write_file(path, &merged_xml(&reports), false)?;
    }
    if env.in_actions() {
        for line in annotations(&config.root, &ran, &reports) {
            super::stderr(&format!("{line}\n"));
        }
    }
    Ok(reports)
}

/// Escapes a workflow command's property value.
fn property(s: &str) -> String {
    super::github::escape_data(s)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

#[cfg(test)]
mod tests;
