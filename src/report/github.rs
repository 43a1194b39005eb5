//! GitHub Actions: step outputs and workflow-command escaping.

use std::path::Path;

use crate::affected::Affected;

pub use crate::github::escape_data;

/// Appends `name=value` lines to the `GITHUB_OUTPUT` file. Values must be single lines (JSON is
/// written compact, so it is).
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        // A value with a line break would end the output early and start another: never.
        let value = value.replace(['\n', '\r'], " ");
        text.push_str(&format!("{name}={value}\n"));
    }
    super::write_file(path, &text, true)
}

/// The outputs of `shipit affected`: `affected` (a JSON array of names), `matrix` (ready for
/// `fromJSON` in `strategy.matrix`), `all` and `count`.
pub fn affected_outputs(affected: &Affected) -> Vec<(&'static str, String)> {
    vec![
        (
            "affected",
            serde_json::to_string(&affected.names()).unwrap_or_default(),
        ),
        ("matrix", affected.matrix().to_string()),
        ("all", affected.all.to_string()),
        ("count", affected.services.len().to_string()),
    ]
}

/// The outputs of `shipit release` besides `released`: what `affected` writes (`affected`,
/// `matrix`, `all`, `count`), for the services the plan took.
pub fn plan_outputs(
    plan: &crate::plan::Plan,
    config: &crate::config::Config,
) -> Vec<(&'static str, String)> {
    let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    let include: Vec<_> = plan
        .services
        .iter()
        .map(|s| {
            let test = config.service(&s.name).is_some_and(|c| c.test.is_some());
            serde_json::json!({"service": s.name, "path": s.path, "image": s.image, "test": test})
        })
        .collect();
    vec![
        (
            "affected",
            serde_json::to_string(&names).unwrap_or_default(),
        ),
        (
            "matrix",
            serde_json::json!({ "include": include }).to_string(),
        ),
        ("all", plan.all.to_string()),
        ("count", plan.services.len().to_string()),
    ]
}
