//! Property tests for the parsers of outside input that the library exposes: ci.toml, task
//! definition files and registry tags. Whatever the text, an answer or an error, never a panic.
//! (The `Link` and `WWW-Authenticate` parsers and the event payload's `before` have theirs next to
//! their code.)

use std::path::Path;

use proptest::prelude::*;
use shipit::config::{Checks, Config};

const VALID: &str = r#"[project]
registry = "oci://127.0.0.1:5000/team"
repository = "clinic/{service}"
retain = 5

[environments.stage]
branch = "develop"
clusters = ["stage-a"]
rollout_timeout = "15m"

[global]
triggers = ["/ci.toml"]
ignore = ["*.md"]

[services.api]
path = "services/api"
depends_on = ["common"]
test = "make test"
test_timeout = "10m"

[services.common]
path = "libs/common"
image = false
"#;

const TASK_DEFINITION: &str = r#"{"family": "api", "containerDefinitions": [{"name": "api", "image": "x:1", "essential": true, "portMappings": [{"containerPort": 80}]}], "cpu": "256", "memory": "512"}"#;

fn parse(text: &str) {
    let _ = Config::parse(
        text,
        "ci.toml",
        Path::new("/nonexistent/ci.toml"),
        Path::new("/nonexistent"),
        Checks::Load,
    );
}

/// `text` with one edit at `at`: a character put in, or the rest cut off.
fn mutate(text: &str, at: usize, insert: Option<char>) -> String {
    let at = text
        .char_indices()
        .map(|(i, _)| i)
        .nth(at % text.chars().count().max(1))
        .unwrap_or(0);
    match insert {
        Some(c) => format!("{}{c}{}", &text[..at], &text[at..]),
        None => text[..at].to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_text_as_ci_toml_is_an_answer_not_a_panic(text in "\\PC*") {
        parse(&text);
    }

    #[test]
    fn a_valid_ci_toml_edited_anywhere_is_an_answer_not_a_panic(
        at in 0usize..2000,
        insert in proptest::option::of(prop_oneof![
            Just('"'), Just('['), Just(']'), Just('='), Just('\n'), Just('{'), Just('é'), Just('0'), Just(','),
        ]),
    ) {
        parse(&mutate(VALID, at, insert));
    }

    #[test]
    fn ci_toml_values_of_any_text_are_an_answer_not_a_panic(value in "\\PC{0,30}", key in 0usize..8) {
        let keys = ["registry", "repository", "retain", "branch", "rollout_timeout", "path", "test_timeout", "depends_on"];
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        let text = VALID.replacen(&format!("{} = ", keys[key]), &format!("{} = \"{escaped}\"\n_x = ", keys[key]), 1);
        parse(&text);
    }

    #[test]
    fn any_task_definition_file_is_an_answer_not_a_panic(text in "\\PC*") {
        let _ = shipit::ecs::render::Rendered::from_file(&text);
    }

    #[test]
    fn a_task_definition_file_edited_anywhere_is_an_answer_not_a_panic(
        at in 0usize..400,
        insert in proptest::option::of(prop_oneof![Just('"'), Just('{'), Just('}'), Just('['), Just(','), Just('1'), Just('é')]),
    ) {
        let _ = shipit::ecs::render::Rendered::from_file(&mutate(TASK_DEFINITION, at, insert));
    }

    #[test]
    fn any_registry_tag_is_a_version_or_not_never_a_panic(tag in "\\PC*", digits in "[0-9]{1,25}") {
        let _ = shipit::version::parse_tag("stage", &tag);
        let _ = shipit::version::parse_tag("stage", &format!("stage-{digits}.{digits}.{digits}"));
    }
}
