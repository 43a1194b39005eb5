//! `shipit plan`: the plan as a table for people, or as JSON (the shape `shipit release` executes).

use crate::plan::{Action, Plan, ServicePlan};

use super::Style;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: one line per service.
    Text,
    /// The whole plan as one JSON object (schema in the README).
    Json,
}

pub fn render(plan: &Plan, format: Format, style: Style) -> String {
    match format {
        Format::Json => format!("{}\n", serde_json::to_string(plan).unwrap_or_default()),
        Format::Text => text(plan, style),
    }
}

fn text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let target = match &plan.environment {
        Some(env) => format!("{} → {env}", plan.branch),
        None => format!("{} (no environment: tests only)", plan.branch),
    };
    let range = match &plan.base {
        Some(b) => format!("{}..{}", &b[..12], &plan.head[..12]),
        None => format!("head {}", &plan.head[..12]),
    };
    out.push_str(&format!(
        "{} {}\n",
        style.bold(&format!("Plan for {target}")),
        style.dim(&format!("{range} ({})", plan.base_source))
    ));
    if plan.services.is_empty() {
        out.push_str("  nothing to do: no service is affected\n");
        return out;
    }
    let tests_only = plan.environment.is_none();
    let rows: Vec<[String; 5]> = plan.services.iter().map(|s| row(s, tests_only)).collect();
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (row, s) in rows.iter().zip(&plan.services) {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            line.push(' ');
            line.push_str(&if c == 1 {
                style.bold(cell)
            } else {
                cell.clone()
            });
            line.push_str(&" ".repeat(pad + 1));
        }
        out.push_str(line.trim_end());
        out.push('\n');
        details(&mut out, s, style);
    }
    out
}

/// One service's row: name, action, version, tags, clusters. `tests_only`: the branch has no
/// environment.
fn row(s: &ServicePlan, tests_only: bool) -> [String; 5] {
    let action = match s.action {
        Action::Build => "build",
        Action::Promote => "promote",
        Action::Skip => "skip",
        // A library without a test command: nothing runs for it.
        Action::Test if s.test.is_none() => "nothing",
        Action::Test => "test",
        Action::Unknown => "?",
    };
    let version = match (&s.last_version, &s.next_version, s.action) {
        (_, _, Action::Test) if s.test.is_none() => "no test command".to_string(),
        (_, _, Action::Test) if s.image && !tests_only => {
            "only test_only files changed: no new image".to_string()
        }
        (_, _, Action::Test) => String::new(),
        (_, _, Action::Unknown) => "unknown (offline)".to_string(),
        (_, Some(n), Action::Skip) => format!("{n} (already released)"),
        (Some(l), Some(n), _) => format!("{l} → {n}"),
        (None, Some(n), _) => format!("new → {n}"),
        _ => String::new(),
    };
    let tags = s
        .tags
        .iter()
        .map(|t| {
            if t.starts_with("fp-") {
                "fp-…".to_string()
            } else {
                t.clone()
            }
        })
        .collect::<Vec<_>>();
    let clusters = if s.clusters.is_empty() {
        String::new()
    } else {
        format!("→ {}", s.clusters.join(", "))
    };
    [
        s.name.clone(),
        action.to_string(),
        version,
        tags.join(" "),
        clusters,
    ]
}

/// What the plan's JSON says of a service beyond its row, one labelled line each: the image (with
/// its version tag once known), the bump, the test command, the Dockerfile and context.
fn details(out: &mut String, s: &crate::plan::ServicePlan, style: Style) {
    let mut lines: Vec<(&str, String)> = Vec::new();
    if s.image && s.action != Action::Test {
        let tag = s
            .tags
            .iter()
            .find(|t| !t.starts_with("fp-") && *t != "latest");
        match (&s.repository, tag) {
            (Some(repo), Some(tag)) => lines.push(("image", repo.tagged(tag).to_string())),
            (Some(repo), None) => lines.push(("image", repo.to_string())),
            (None, _) => lines.push(("image", "in the ECR registry (asked at release)".into())),
        }
        if let (Some(bump), Action::Build | Action::Promote | Action::Unknown) = (&s.bump, s.action)
        {
            let bump = serde_json::to_value(bump).unwrap_or_default();
            lines.push(("bump", bump.as_str().unwrap_or_default().to_string()));
        }
    }
    if let Some(test) = &s.test {
        lines.push(("test", test.clone()));
    }
    if let (Some(b), true) = (&s.build, s.action != Action::Test) {
        let mut how = b.dockerfile.clone();
        if let Some(target) = &b.target {
            how.push_str(&format!(" (target {target})"));
        }
        lines.push(("dockerfile", how));
        lines.push(("context", b.context.clone()));
    }
    for (label, value) in lines {
        out.push_str(&format!(
            "      {} {}\n",
            style.dim(&format!("{label:<10}")),
            value
        ));
    }
}
