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
    let rows: Vec<[String; 5]> = plan.services.iter().map(row).collect();
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
        if let (Some(repo), true) = (&s.repository, s.image && s.action != Action::Test) {
            out.push_str(&format!("      {}\n", style.dim(&repo.to_string())));
        }
    }
    out
}

/// One service's row: name, action, version, tags, clusters.
fn row(s: &ServicePlan) -> [String; 5] {
    let action = match s.action {
        Action::Build => "build",
        Action::Promote => "promote",
        Action::Skip => "skip",
        Action::Test => "test",
        Action::Unknown => "?",
    };
    let version = match (&s.last_version, &s.next_version, s.action) {
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
