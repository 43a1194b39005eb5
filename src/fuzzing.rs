//! The entry points of the fuzz targets in `fuzz/` (cargo-fuzz; `scripts/fuzz TARGET SECONDS`).
//!
//! Each takes the raw bytes of one outside input, runs them through the parser shipit uses for it
//! and through what shipit then does with the result (messages rendered, reports merged, images
//! replaced), and panics only when an invariant breaks. Any input must leave every function here
//! without a panic, a stack overflow, a hang or unbounded memory. Not an API: nothing in shipit
//! calls these.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::config::{Checks, Config};
use crate::github::{Env, Event};

/// No environment: no colour, not under GitHub Actions (so rendering prints nothing).
fn quiet_env() -> Env {
    Env::from_pairs([])
}

/// ci.toml text: parsed, resolved and validated against the repository at `root` (every file check
/// of `shipit validate`), its errors rendered as every command prints them and as `validate
/// --format json` writes them; a valid config's services matched against a few paths, as
/// `shipit affected` does.
pub fn ci_toml(data: &[u8], root: &Path) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = root.join(crate::config::FILE_NAME);
    let name = crate::config::display_name(&file);
    match Config::parse(
        text,
        &name,
        &file,
        root,
        Checks::Files(crate::ecs::render::check_file),
    ) {
        Err(e) => {
            let err = crate::Error::from(e);
            assert!(err.is_bad_input(), "a broken ci.toml is bad input: {err}");
            let rendered = crate::report::render_error(&err, &quiet_env());
            assert!(!rendered.trim().is_empty(), "an empty message for {err:?}");
            let json =
                crate::report::json::line(&crate::report::json::Validate::invalid(name, &err));
            assert!(serde_json::from_str::<Value>(&json).is_ok(), "{json}");
        }
        Ok(config) => {
            let json = crate::report::json::line(&crate::report::json::Validate::valid(
                name,
                &config,
                Vec::new(),
            ));
            assert!(serde_json::from_str::<Value>(&json).is_ok(), "{json}");
            let mut paths: Vec<String> = vec!["README.md".into(), "ci.toml".into()];
            for s in &config.services {
                paths.push(format!("{}/src/main.rs", s.path));
                paths.extend(s.include.iter().cloned());
            }
            let rules = crate::changes::Rules::new(&config);
            let classified = rules.classify(paths.iter().map(String::as_str));
            for hit in crate::graph::affected(&config, classified) {
                assert!(hit.service < config.services.len());
            }
        }
    }
}

/// A GitHub event payload file (the first byte chooses the event's name): read as
/// `GITHUB_EVENT_PATH`, then asked what choosing the commits to compare asks of it.
pub fn event_payload(data: &[u8]) {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        std::env::temp_dir().join(format!("shipit-fuzz-event-{}.json", std::process::id()))
    });
    let (name, payload) = match data.split_first() {
        Some((b, rest)) => {
            let names = ["push", "pull_request", "pull_request_target", "merge_group"];
            (names[usize::from(*b) % names.len()], rest)
        }
        None => ("push", data),
    };
    if std::fs::write(file, payload).is_err() {
        return;
    }
    let path = file.to_string_lossy();
    let env = Env::from_pairs([
        (crate::env_vars::GITHUB_ACTIONS, "true"),
        (crate::env_vars::GITHUB_EVENT_NAME, name),
        (crate::env_vars::GITHUB_EVENT_PATH, path.as_ref()),
    ]);
    match Event::from_env(&env) {
        Err(e) => {
            let err = crate::Error::from(e);
            assert!(
                !crate::report::render_error(&err, &quiet_env())
                    .trim()
                    .is_empty()
            );
        }
        Ok(None) => panic!("an event under Actions with a payload file was not read"),
        Ok(Some(event)) => {
            assert_eq!(event.name, name);
            for pointer in [
                "/before",
                "/after",
                "/ref",
                "/pull_request/base/sha",
                "/pull_request/base/ref",
                "/pull_request/head/sha",
                "/merge_group/base_sha",
            ] {
                if let Some(s) = event.str(pointer) {
                    assert!(!s.is_empty());
                }
            }
            let _ = event.bool("/forced");
            let _ = event.default_branch();
        }
    }
}

/// A task definition file, or a DescribeTaskDefinition answer: read, then each container's image
/// replaced as a rollout does, and the request body written.
pub fn task_definition(data: &[u8]) {
    use crate::ecs::render::Rendered;
    let from_file = std::str::from_utf8(data).map(Rendered::from_file);
    // The answer of DescribeTaskDefinition is read from bytes.
    let from_answer = serde_json::from_slice::<Value>(data).map(Rendered::from_value);
    if let (Ok(a), Ok(b)) = (&from_file, &from_answer) {
        assert_eq!(
            a, b,
            "the file and the answer read the same JSON differently"
        );
    }
    let Ok(Ok(rendered)) = from_file else {
        return;
    };
    assert!(!rendered.family().trim().is_empty());
    let names: Vec<String> = rendered
        .container_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    assert!(!names.is_empty());
    let written = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fuzz:prod-1.2.3";
    let reference = crate::image::ImageRef::parse(written).expect("a reference with its host");
    let image = written;
    let mut current = rendered.clone();
    for name in &names {
        current
            .has_container(name)
            .expect("a listed container is there");
        current = match current.clone().with_image(name, &reference) {
            Ok(next) => next,
            // Only when it already runs that image.
            Err(_) => {
                assert_eq!(current.image_of(name), Some(image));
                current
            }
        };
        assert_eq!(current.image_of(name), Some(image));
    }
    // What is sent is JSON that reads back to the same task definition (a float of more than 17
    // digits only to within an ulp or so: serde_json reads floats fast, not exactly).
    let body = current.to_json();
    let again = Rendered::from_value(serde_json::from_slice(&body).expect("the body is JSON"))
        .expect("the body is a task definition");
    assert!(
        same_json(
            &Value::Object(again.body().clone()),
            &Value::Object(current.body().clone())
        ),
        "{again:?}\n{current:?}"
    );
}

/// Equal JSON, floats within a relative 1e-12.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// A service definition file: read as a rollout reads it before CreateService.
pub fn service_definition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(body) = crate::ecs::render::service_definition(text) {
        assert!(!body.contains_key("cluster") && !body.contains_key("taskDefinition"));
        assert!(serde_json::to_vec(&body).is_ok());
    }
}

/// One service for the JUnit reports' annotations (`test_report` set, its path the repository).
fn junit_service() -> &'static crate::config::Service {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let root = std::env::temp_dir();
        let text = "[services.api]\npath = \".\"\ntest = \"true\"\ntest_report = \"junit.xml\"\n";
        Config::parse(text, "ci.toml", &root.join("ci.toml"), &root, Checks::Load)
            .expect("the fuzz target's own ci.toml is valid")
    });
    &config.services[0]
}

/// A JUnit XML report: parsed, counted, summarised for people and the step summary, annotated,
/// and merged as `--junit` writes it; the merged file must read back with the same counts.
pub fn junit(data: &[u8]) {
    use crate::report::junit;
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let suites = match junit::parse(xml) {
        Ok(suites) => suites,
        Err(why) => {
            assert!(!why.is_empty());
            return;
        }
    };
    let service = junit_service();
    let report = junit::ServiceReport {
        service: service.name.clone(),
        files: vec!["junit.xml".into()],
        suites,
        problems: Vec::new(),
    };
    let counts = report.counts();
    let reports = [report];
    let _ = junit::text(&reports);
    let _ = junit::markdown(&reports);
    let annotations = junit::annotations(Path::new("/repo"), &[service], &reports);
    assert!(annotations.len() >= counts.failed);
    for a in &annotations {
        assert!(
            !a.contains('\n') && !a.contains('\r'),
            "a workflow command on two lines: {a:?}"
        );
    }
    let merged = junit::merged_xml(&reports);
    let again = junit::parse(&merged)
        .unwrap_or_else(|why| panic!("the merged report does not read back: {why}\n{merged}"));
    let again = junit::ServiceReport {
        service: service.name.clone(),
        files: Vec::new(),
        suites: again,
        problems: Vec::new(),
    };
    assert_eq!(again.counts(), counts, "{merged}");
}

/// A `Link` header of a tags/list answer: the next page, if any.
pub fn link_header(data: &[u8]) {
    use crate::registry::oci::{next_link, parse_next_link};
    if let Ok(link) = std::str::from_utf8(data)
        && let Some(next) = parse_next_link(link)
    {
        assert!(
            link.contains(&format!("<{next}>")),
            "{next:?} is not a link of {link:?}"
        );
    }
    // As it comes: a header value, which may be no text at all.
    if let Ok(value) = reqwest::header::HeaderValue::from_bytes(data) {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::LINK, value);
        let _ = next_link(&headers);
    }
}

/// A `WWW-Authenticate` challenge: its parameters, and the token service's URL built from them
/// as the Bearer flow builds it.
pub fn www_authenticate(data: &[u8]) {
    use crate::registry::oci::{is_loopback_url, parse_challenge};
    let Ok(challenge) = std::str::from_utf8(data) else {
        return;
    };
    let params = parse_challenge(challenge);
    if let Some(realm) = params.get("realm")
        && let Ok(mut url) = url::Url::parse(realm)
    {
        let _ = url.scheme() == "https" || is_loopback_url(&url);
        let _ = url.origin().ascii_serialization();
        let mut query = url.query_pairs_mut();
        query.append_pair("scope", "repository:fuzz:pull");
        if let Some(service) = params.get("service") {
            query.append_pair("service", service);
        }
    }
}

/// A manifest or image index, and an image config, as a registry answers them: the children of an
/// index (retention), the config's digest and its labels.
pub fn manifest(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Some(children) = crate::registry::index_children(&doc) {
        assert!(children.len() <= doc["manifests"].as_array().map_or(0, Vec::len));
    }
    let _ = doc
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(Value::as_str)
        .map(crate::registry::oci::valid_digest);
    let _ = doc
        .get("config")
        .and_then(|c| c.get("Labels"))
        .and_then(|l| l.get("org.opencontainers.image.revision"))
        .and_then(Value::as_str);
}

/// A tags/list answer: the tags shipit takes from it, each a valid tag; then the versions of an
/// environment among them, as a plan reads them.
pub fn tag_list(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Some(tags) = crate::registry::oci::listed_tags(&body) else {
        assert!(
            body.get("tags")
                .is_some_and(|t| !t.is_array() && !t.is_null())
        );
        return;
    };
    let tags: Vec<&str> = tags.collect();
    for t in &tags {
        assert!(crate::registry::oci::valid_tag(t));
        assert!(!t.contains(['/', ':', '\n', ' ']));
    }
    for env in ["prod", "stage", "dev"] {
        if let Some(v) = crate::version::highest(env, tags.iter().copied()) {
            assert!(tags.contains(&crate::version::tag(env, &v).as_str()));
        }
    }
}

/// A `.dockerignore`: parsed, then asked about its own lines and a few paths.
pub fn dockerignore(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ignore) = crate::docker::context::DockerIgnore::parse(text) else {
        return;
    };
    for path in ["Dockerfile", "src/main.rs", "a/b/c", ".git/config"] {
        let _ = ignore.excludes(path);
    }
    for line in text.lines().take(64) {
        let _ = ignore.excludes(line.trim().trim_start_matches(['!', '/']));
    }
}

/// A version tag, a commit message and a version file. The first line is a tag: a version of an
/// environment renders back to the same tag. The rest is a commit message (its bump) and the text
/// of each kind of version file.
pub fn version(data: &[u8]) {
    use crate::version;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (tag, rest) = text.split_once('\n').unwrap_or((text, ""));
    for env in ["prod", "stage", "dev", ""] {
        if let Some(v) = version::parse_tag(env, tag) {
            assert_eq!(version::tag(env, &v), tag);
            for bump in [
                version::Bump::Patch,
                version::Bump::Minor,
                version::Bump::Major,
            ] {
                assert!(version::apply(&v, bump) > v);
            }
        }
    }
    let _ = version::bump_of(rest);
    for file in ["Cargo.toml", "package.json", "pyproject.toml", "VERSION"] {
        let _ = version::read_version_file(file, rest);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every input kept in `fuzz/corpus` (the seeds, and any input a fuzz run once crashed on)
    /// goes through its target here too, on stable, with every `cargo test`.
    #[test]
    fn every_kept_fuzz_input_passes_its_target() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 11] = [
            ("ci_toml", |d| {
                super::ci_toml(d, Path::new(env!("CARGO_MANIFEST_DIR")))
            }),
            ("event_payload", super::event_payload),
            ("task_definition", super::task_definition),
            ("service_definition", super::service_definition),
            ("junit", super::junit),
            ("link_header", super::link_header),
            ("www_authenticate", super::www_authenticate),
            ("manifest", super::manifest),
            ("tag_list", super::tag_list),
            ("dockerignore", super::dockerignore),
            ("version_tag", super::version),
        ];
        // Every target of fuzz/Cargo.toml is here.
        let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).unwrap();
        let bins: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|n| *n != "shipit-fuzz")
            .collect();
        assert_eq!(bins, targets.map(|(t, _)| t));
        for (target, run) in targets {
            let dir = root.join("fuzz/corpus").join(target);
            let mut n = 0;
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                run(&data);
                n += 1;
            }
            assert!(n > 0, "no seeds for {target}");
        }
    }
}
