//! `shipit release`: stage progress while it runs, a summary table when it is done.
//!
//! Output of a stage is buffered and shown when the stage ends: in a terminal only when it failed,
//! under GitHub Actions always, folded in a log group per service and stage (services run in
//! parallel, so a group is written whole, never interleaved).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::github::Env;
use crate::pipeline::{Event, Outcome, ServiceResult, Stage, Status};
use crate::plan::Plan;

use super::{Style, github::escape_data};

/// Lines of a failed stage's output shown in a terminal (the whole output is in the log file).
const TERMINAL_TAIL: usize = 30;

pub struct Progress {
    actions: bool,
    style: Style,
    width: usize,
    buffers: Mutex<HashMap<(String, Stage), Vec<String>>>,
}

impl Progress {
    pub fn new(env: &Env, plan: &Plan) -> Progress {
        Progress {
            actions: env.in_actions(),
            style: Style::for_stderr(env),
            width: plan
                .services
                .iter()
                .map(|s| s.name.len())
                .max()
                .unwrap_or(0),
            buffers: Mutex::new(HashMap::new()),
        }
    }

    pub fn event(&self, event: Event) {
        match event {
            Event::Started { .. } => {}
            Event::Output {
                service,
                stage,
                line,
            } => {
                self.buffers
                    .lock()
                    .unwrap()
                    .entry((service, stage))
                    .or_default()
                    .push(line);
            }
            Event::Finished {
                service,
                stage,
                status,
                elapsed,
                detail,
            } => {
                let output = self
                    .buffers
                    .lock()
                    .unwrap()
                    .remove(&(service.clone(), stage))
                    .unwrap_or_default();
                let status_text = match status {
                    Status::Ok => self.style.paint("32", "ok"),
                    Status::Failed => self.style.red("failed"),
                    Status::Skipped => self.style.dim("skipped"),
                };
                let first_line = detail.lines().next().unwrap_or("");
                let line = format!(
                    "  {:w$}  {:7}  {status_text}  {}  {}",
                    service,
                    stage.name(),
                    self.style.dim(&format!("{:.1}s", elapsed.as_secs_f64())),
                    first_line,
                    w = self.width
                );
                let mut out = String::new();
                if self.actions {
                    out.push_str(&format!(
                        "::group::{service} · {} ({})\n",
                        stage.name(),
                        status_name(status)
                    ));
                    for l in &output {
                        out.push_str(&format!("{l}\n"));
                    }
                    out.push_str("::endgroup::\n");
                    if status == Status::Failed {
                        out.push_str(&format!(
                            "::error title=shipit: {service} {} failed::{}\n",
                            stage.name(),
                            escape_data(&detail)
                        ));
                    }
                } else {
                    out.push_str(line.trim_end());
                    out.push('\n');
                    if status == Status::Failed {
                        let start = output.len().saturating_sub(TERMINAL_TAIL);
                        for l in &output[start..] {
                            out.push_str(&format!("      {}\n", self.style.dim(l)));
                        }
                        if output.is_empty() && detail.lines().count() > 1 {
                            for l in detail.lines().skip(1) {
                                out.push_str(&format!("      {}\n", self.style.dim(l)));
                            }
                        }
                    }
                }
                eprint!("{out}");
            }
        }
    }
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}

/// The table printed when the release is done.
pub fn summary(plan: &Plan, results: &[ServiceResult], style: Style) -> String {
    let target = match &plan.environment {
        Some(env) => format!("{} → {env}", plan.branch),
        None => format!("{} (tests only)", plan.branch),
    };
    let mut out = format!("{}\n", style.bold(&format!("Release of {target}")));
    if results.is_empty() {
        out.push_str("  nothing to do: no service is affected\n");
        return out;
    }
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|r| {
            let result = match &r.outcome {
                Outcome::Released => match r.action {
                    crate::plan::Action::Promote => "promoted".to_string(),
                    _ => "released".to_string(),
                },
                Outcome::Unchanged => "unchanged".to_string(),
                Outcome::Tested => "tested".to_string(),
                Outcome::Failed { stage, .. } => format!("FAILED ({})", stage.name()),
                Outcome::Blocked { by } => format!("not run ({by} failed)"),
                Outcome::Cancelled => "cancelled".to_string(),
            };
            let version = match (&r.outcome, &r.version) {
                (Outcome::Released | Outcome::Unchanged, Some(v)) => v.clone(),
                _ => String::new(),
            };
            let digest = r
                .digest
                .as_deref()
                .map(crate::pipeline::short_digest)
                .unwrap_or_default();
            [r.name.clone(), result, version, digest]
        })
        .collect();
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (row, r) in rows.iter().zip(results) {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let painted = match (c, r.outcome.is_failure()) {
                (1, true) => style.red(cell),
                _ => cell.clone(),
            };
            line.push(' ');
            line.push_str(&painted);
            line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 1));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(log) = results
        .iter()
        .filter(|r| r.outcome.is_failure())
        .find_map(|r| r.log.as_ref())
    {
        out.push_str(&format!(
            "{}\n",
            style.dim(&format!("full output: {}", log.display()))
        ));
    }
    out
}
