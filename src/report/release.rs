//! `shipit release`: progress while it runs, a summary when it is done.
//!
//! - In a terminal: one live line per service (stage, version, elapsed time), a line per finished
//!   stage above them, and the output of a failed stage.
//! - Under GitHub Actions: a log group per service and stage, written whole when the stage ends
//!   (services run in parallel, so groups are never interleaved); failures as error annotations;
//!   credentials masked; `released` in `GITHUB_OUTPUT` and a table in `GITHUB_STEP_SUMMARY`.
//! - Anywhere else (a pipe, a file): the finished-stage lines only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::github::Env;
use crate::pipeline::{Event, Outcome, ServiceResult, Stage, Status, short_digest};
use crate::plan::{Action, Plan};

use super::{Style, github::escape_data};

/// Lines of a failed stage's output shown in a terminal (the whole output is in the log file).
const TERMINAL_TAIL: usize = 30;

/// Live lines in a terminal: one spinner per service.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

pub struct Progress {
    actions: bool,
    style: Style,
    width: usize,
    versions: HashMap<String, String>,
    buffers: Mutex<HashMap<(String, Stage), Vec<String>>>,
    bars: Option<Bars>,
    masked: Mutex<std::collections::HashSet<String>>,
    env: Env,
}

impl Progress {
    pub fn new(env: &Env, plan: &Plan) -> Progress {
        let actions = env.in_actions();
        let style = Style::for_stderr(env);
        let width = plan
            .services
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !actions;
        let bars = terminal.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let spinner = ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                .expect("a valid template");
            let bars = plan
                .services
                .iter()
                .map(|s| {
                    let bar = multi.add(ProgressBar::new_spinner().with_style(spinner.clone()));
                    bar.set_message(format!("{:width$}  waiting", s.name));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    (s.name.clone(), bar)
                })
                .collect();
            Bars { multi, bars }
        });
        let versions = plan
            .services
            .iter()
            .filter_map(|s| {
                s.next_version
                    .as_ref()
                    .map(|v| (s.name.clone(), v.to_string()))
            })
            .collect();
        Progress {
            actions,
            style,
            width,
            versions,
            buffers: Mutex::new(HashMap::new()),
            bars,
            masked: Mutex::default(),
            env: env.clone(),
        }
    }

    /// Prints a line above the live lines (or plainly when there are none).
    fn line(&self, text: &str) {
        match &self.bars {
            Some(b) => {
                let _ = b.multi.println(crate::redact::text(text));
            }
            None => super::stderr(&format!("{text}\n")),
        }
    }

    pub fn event(&self, event: Event) {
        match event {
            Event::Secret(secret) => {
                if !secret.is_empty()
                    && self
                        .masked
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(secret.clone())
                {
                    super::secret(&self.env, &secret);
                }
            }
            Event::Started { service, stage } => {
                if let Some(bar) = self.bars.as_ref().and_then(|b| b.bars.get(&service)) {
                    let version = self
                        .versions
                        .get(&service)
                        .map(String::as_str)
                        .unwrap_or("");
                    bar.set_message(format!(
                        "{service:w$}  {:7} {}",
                        stage.name(),
                        self.style.dim(version),
                        w = self.width
                    ));
                }
            }
            Event::Progress { services, line } => {
                // A live line in a terminal, a log line under Actions, nothing in a pipe.
                // An ECS event is outside text: one line, redacted, so it can never start a workflow
                // command of its own.
                let line = line.replace(['\n', '\r'], " ");
                if self.actions {
                    super::stderr(&format!("{line}\n"));
                } else if let Some(b) = &self.bars {
                    for s in &services {
                        if let Some(bar) = b.bars.get(s) {
                            bar.set_message(format!(
                                "{s:w$}  {:7} {line}",
                                Stage::Rollout.name(),
                                w = self.width
                            ));
                        }
                    }
                }
            }
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
                self.finished(service, stage, status, elapsed, &detail);
            }
        }
    }

    fn finished(
        &self,
        service: String,
        stage: Stage,
        status: Status,
        elapsed: Duration,
        detail: &str,
    ) {
        let output = self
            .buffers
            .lock()
            .unwrap()
            .remove(&(service.clone(), stage))
            .unwrap_or_default();
        if self.actions {
            let mut out = format!(
                "::group::{service} · {} ({})\n",
                stage.name(),
                status_name(status)
            );
            if !output.is_empty() {
                // A test's or a build's output is not shipit's: the runner obeys no workflow
                // command in it (`::error::` in a file name a test prints, say).
                let token = format!("shipit-{:016x}", rand::random::<u64>());
                out.push_str(&format!("::stop-commands::{token}\n"));
                for l in &output {
                    out.push_str(&format!("{l}\n"));
                }
                out.push_str(&format!("::{token}::\n"));
            }
            // The detail of a failed test ends with the output's last lines: shown above.
            for l in detail.lines().filter(|l| !output.iter().any(|o| o == l)) {
                out.push_str(&format!("{l}\n"));
            }
            out.push_str("::endgroup::\n");
            if status == Status::Failed {
                out.push_str(&format!(
                    "::error title=shipit: {service} {} failed::{}\n",
                    stage.name(),
                    escape_data(detail)
                ));
            }
            super::stderr(&out);
            return;
        }
        let status_text = match status {
            Status::Ok => self.style.paint("32", "ok"),
            Status::Failed => self.style.red("failed"),
            Status::Skipped => self.style.dim("skipped"),
        };
        let first = detail.lines().next().unwrap_or("");
        let line = format!(
            "  {service:w$}  {:7}  {status_text}  {}  {first}",
            stage.name(),
            self.style.dim(&format!("{:.1}s", elapsed.as_secs_f64())),
            w = self.width
        );
        let mut text = line.trim_end().to_string();
        if status == Status::Failed {
            let start = output.len().saturating_sub(TERMINAL_TAIL);
            for l in &output[start..] {
                text.push_str(&format!("\n      {}", self.style.dim(l)));
            }
            // The detail of a failed test ends with the output's last lines: shown once.
            let shown = &output[start..];
            for l in detail
                .lines()
                .skip(1)
                .filter(|l| !shown.iter().any(|o| o == l))
            {
                text.push_str(&format!("\n      {}", self.style.dim(l)));
            }
        }
        self.line(&text);
        if let Some(bar) = self.bars.as_ref().and_then(|b| b.bars.get(&service)) {
            let last = stage == Stage::Rollout || status == Status::Failed;
            if last {
                bar.finish_and_clear();
            }
        }
    }

    /// Clears the live lines before the summary.
    pub fn done(&self) {
        if let Some(b) = &self.bars {
            for bar in b.bars.values() {
                bar.finish_and_clear();
            }
            let _ = b.multi.clear();
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

fn result_text(r: &ServiceResult) -> String {
    match &r.outcome {
        Outcome::Released if r.action == Action::Promote => "promoted".to_string(),
        // `--allow-dirty`: in the registry under its `dirty-` tag, never as a version.
        Outcome::Released if r.tags.iter().any(|t| t.starts_with("dirty-")) => {
            "pushed dirty (no version)".to_string()
        }
        Outcome::Released => "released".to_string(),
        Outcome::Unchanged => "unchanged".to_string(),
        Outcome::Tested => "tested".to_string(),
        Outcome::Failed { stage, .. } => format!("FAILED ({})", stage.name()),
        Outcome::Blocked { by } => format!("not run ({by} failed)"),
        Outcome::Cancelled => "cancelled".to_string(),
        Outcome::Interrupted { signal, .. } => format!("cancelled ({signal})"),
    }
}

/// One line per service a signal stopped: what it was doing, and where a rollout was left running.
pub fn interrupted(results: &[ServiceResult]) -> String {
    let mut out = String::new();
    for r in results {
        let Outcome::Interrupted {
            signal,
            stage,
            left_running,
        } = &r.outcome
        else {
            continue;
        };
        let what = match (stage, r.stages.last()) {
            (Some(Stage::Rollout), _) if !left_running.is_empty() => format!(
                "rollout left running in {}, unwatched: check it in ECS",
                left_running.join(", ")
            ),
            (Some(Stage::Rollout), Some(last))
                if last.stage == Stage::Rollout && last.status == Status::Skipped =>
            {
                "pushed, rollout not started".to_string()
            }
            (Some(Stage::Rollout), Some(last)) if last.stage == Stage::Rollout => {
                last.detail.clone()
            }
            (Some(stage), _) => format!("{} interrupted", stage.name()),
            (None, Some(last)) => format!("stopped after {}", last.stage.name()),
            (None, None) => "not started".to_string(),
        };
        out.push_str(&format!("{signal}: {}: {what}\n", r.name));
    }
    out
}

fn version_text(r: &ServiceResult) -> String {
    match (&r.outcome, &r.version) {
        (Outcome::Released | Outcome::Unchanged, Some(v)) => v.clone(),
        (
            Outcome::Failed {
                stage: Stage::Rollout | Stage::Retain,
                ..
            },
            Some(v),
        ) => v.clone(),
        _ => String::new(),
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
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|r| {
            let digest = r.digest.as_deref().map(short_digest).unwrap_or_default();
            let clusters = if matches!(r.outcome, Outcome::Released | Outcome::Unchanged) {
                r.clusters.join(", ")
            } else {
                String::new()
            };
            [
                r.name.clone(),
                result_text(r),
                version_text(r),
                digest,
                clusters,
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (row, r) in rows.iter().zip(results) {
        let mut line = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let painted = if c == 1 && r.outcome.is_failure() {
                style.red(cell)
            } else {
                cell.clone()
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

/// The Markdown table for `GITHUB_STEP_SUMMARY`.
pub fn markdown(plan: &Plan, results: &[ServiceResult]) -> String {
    let target = match &plan.environment {
        Some(env) => format!("`{}` → **{env}**", plan.branch),
        None => format!("`{}` (tests only)", plan.branch),
    };
    let mut out = format!("### shipit release of {target}\n\n");
    if results.is_empty() {
        out.push_str("No service is affected.\n");
        return out;
    }
    out.push_str(
        "| service | result | version | digest | clusters | time |\n|---|---|---|---|---|---|\n",
    );
    for r in results {
        let digest = r
            .digest
            .as_deref()
            .map(|d| format!("`{}`", short_digest(d)))
            .unwrap_or_default();
        let result = if r.outcome.is_failure() {
            format!("❌ {}", result_text(r))
        } else {
            format!("✅ {}", result_text(r))
        };
        out.push_str(&format!(
            "| {} | {result} | {} | {digest} | {} | {:.0}s |\n",
            r.name,
            version_text(r),
            r.clusters.join(", "),
            r.seconds
        ));
    }
    // Per cluster, the revision that runs (or why not), from each rollout.
    let rollouts: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.stages
                .iter()
                .filter(|s| s.stage == Stage::Rollout)
                .flat_map(move |s| {
                    s.detail
                        .lines()
                        .filter(|l| !l.starts_with(' '))
                        .map(move |l| format!("- {}: {}\n", r.name, l))
                })
        })
        .collect();
    if !rollouts.is_empty() {
        out.push_str("\n**Rollouts** (per cluster, the revision that runs)\n\n");
        out.push_str(&rollouts.concat());
    }
    out.push_str(&format!(
        "\nbase `{}` → head `{}` ({})\n",
        plan.base.as_deref().map(|b| &b[..12]).unwrap_or("none"),
        &plan.head[..12],
        plan.base_source
    ));
    out
}

/// One released service, as the `released` output lists it.
#[derive(Debug, Serialize)]
pub struct Released<'a> {
    pub service: &'a str,
    pub environment: Option<&'a str>,
    pub version: Option<&'a str>,
    pub digest: Option<&'a str>,
    /// `host/name:ENV-X.Y.Z`, the image a rollout runs (`host/name@sha256:…` where `verify`
    /// pinned it).
    pub image: Option<&'a crate::image::ImageRef>,
    pub clusters: &'a [String],
    /// Clusters where ECS bakes the new revision on after shipit exits (and may still roll it
    /// back); left out when none.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub baking: &'a [String],
    pub result: String,
}

/// The services that are in the registry after this run (released, promoted or unchanged).
pub fn released(results: &[ServiceResult]) -> Vec<Released<'_>> {
    results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Released | Outcome::Unchanged))
        .map(|r| Released {
            service: &r.name,
            environment: r.environment.as_deref(),
            version: r.version.as_deref(),
            digest: r.digest.as_deref(),
            image: r.image.as_ref(),
            clusters: &r.clusters,
            baking: &r.baking,
            result: result_text(r),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(baking: &[&str]) -> ServiceResult {
        ServiceResult {
            name: "api".into(),
            action: Action::Build,
            environment: Some("prod".into()),
            version: Some("1.0.0".into()),
            digest: Some(format!("sha256:{}", "a".repeat(64))),
            tags: vec!["prod-1.0.0".into()],
            repository: None,
            image: None,
            clusters: vec!["eu".into(), "us".into()],
            baking: baking.iter().map(|c| c.to_string()).collect(),
            outcome: Outcome::Released,
            stages: Vec::new(),
            log: None,
            seconds: 1.0,
        }
    }

    /// `rollout_wait = "traffic-shifted"`: the `released` output (GITHUB_OUTPUT) and the JSON
    /// report say which clusters ECS still bakes, and say nothing of baking when none does.
    #[test]
    fn released_says_which_clusters_ecs_still_bakes() {
        let baking = [result(&["eu"])];
        let json = serde_json::to_value(released(&baking)).unwrap();
        assert_eq!(json[0]["baking"], serde_json::json!(["eu"]), "{json}");
        let report = serde_json::to_value(&baking[0]).unwrap();
        assert_eq!(report["baking"], serde_json::json!(["eu"]), "{report}");

        let done = [result(&[])];
        let json = serde_json::to_value(released(&done)).unwrap();
        assert!(json[0].get("baking").is_none(), "{json}");
        assert!(
            serde_json::to_value(&done[0])
                .unwrap()
                .get("baking")
                .is_none()
        );
    }
}
