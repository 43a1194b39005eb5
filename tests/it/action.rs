//! The composite GitHub Action (`action.yml` at the repository root), run the way a runner runs it:
//! each step's `env:` evaluated from the inputs (and the defaults action.yml declares), its `run:`
//! script run with `bash --noprofile --norc -eo pipefail` (GitHub's `shell: bash`) in the workspace,
//! with the runner's files (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY) fresh for
//! each step, and the action's outputs evaluated from the steps' outputs at the end.
//!
//! The freshly built shipit goes in as the `binary` input, so nothing is downloaded; and the server
//! URL is a closed port on loopback, so that even a step that tried could not reach the network.
//!
//! action.yml is read with a small hand parser, not a YAML library. It knows only that file's layout,
//! and panics, naming the line, on anything else:
//! - top-level keys at column 0; `inputs:` and `outputs:` entries at indent 2, with their `default:`
//!   and `value:` at indent 4 on one line (descriptions, possibly folded, are skipped);
//! - `runs:` / `steps:` with each step a `- name:` item at indent 4, its keys (`id`, `shell`, `env`,
//!   `run`) at indent 6, and `env:` entries at indent 8; `run:` is one line;
//! - values plain or quoted on one line, and expressions only of the forms `${{ inputs.NAME }}`,
//!   `${{ steps.ID.outputs.NAME }}` and `${{ github.token }}`, each the whole value.
//!
//! It also runs the offline linters on action.yml and on the example workflows users copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::git::TestRepo;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SHIPIT: &str = env!("CARGO_BIN_EXE_shipit");

// --- action.yml, parsed ------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Action {
    /// Input name → its default (`None` when action.yml gives none).
    inputs: BTreeMap<String, Option<String>>,
    /// Output name → its `value:` expression.
    outputs: BTreeMap<String, String>,
    steps: Vec<Step>,
}

#[derive(Debug, Default)]
struct Step {
    id: String,
    shell: String,
    env: Vec<(String, String)>,
    run: String,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `key: value` → (key, raw value).
fn split_key(line: &str, number: usize) -> (String, String) {
    let trimmed = line.trim().trim_start_matches("- ");
    let (key, value) = trimmed
        .split_once(':')
        .unwrap_or_else(|| panic!("action.yml:{number}: expected `key: value`, got {line:?}"));
    (key.trim().to_string(), value.trim().to_string())
}

/// `key: value` → (key, value unquoted), for one-line values.
fn key_value(line: &str, number: usize) -> (String, String) {
    let (key, value) = split_key(line, number);
    let value = unquote(&value, number);
    (key, value)
}

fn unquote(value: &str, number: usize) -> String {
    if let Some(inner) = value.strip_prefix('\'') {
        let inner = inner
            .strip_suffix('\'')
            .unwrap_or_else(|| panic!("action.yml:{number}: unterminated quote"));
        inner.replace("''", "'")
    } else if let Some(inner) = value.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .unwrap_or_else(|| panic!("action.yml:{number}: unterminated quote"));
        assert!(
            !inner.contains('\\'),
            "action.yml:{number}: escapes in double quotes are not handled"
        );
        inner.to_string()
    } else {
        assert!(
            !matches!(value, "|" | "|-" | ">" | ">-"),
            "action.yml:{number}: a block scalar where the test expects a one-line value"
        );
        value.to_string()
    }
}

fn parse_action(text: &str) -> Action {
    let mut action = Action::default();
    let mut section = String::new();
    let mut current = String::new(); // the input or output being read
    let mut in_steps = false;
    let mut in_env = false;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let depth = indent(line);
        if depth == 0 {
            section = split_key(line, number).0;
            continue;
        }
        match section.as_str() {
            "inputs" | "outputs" => match depth {
                2 => {
                    current = split_key(line, number).0;
                    if section == "inputs" {
                        action.inputs.insert(current.clone(), None);
                    }
                }
                4 => {
                    let (key, value) = split_key(line, number);
                    match (section.as_str(), key.as_str()) {
                        ("inputs", "default") => {
                            action
                                .inputs
                                .insert(current.clone(), Some(unquote(&value, number)));
                        }
                        ("outputs", "value") => {
                            action
                                .outputs
                                .insert(current.clone(), unquote(&value, number));
                        }
                        _ => {} // description, required
                    }
                }
                _ => {} // the rest of a folded description
            },
            "runs" => match depth {
                2 => {
                    let (key, value) = key_value(line, number);
                    match key.as_str() {
                        "using" => assert_eq!(value, "composite", "action.yml:{number}"),
                        "steps" => in_steps = true,
                        _ => panic!("action.yml:{number}: unexpected key {key:?} under runs"),
                    }
                }
                4 if in_steps => {
                    assert!(
                        line.trim_start().starts_with("- "),
                        "action.yml:{number}: expected a step item"
                    );
                    action.steps.push(Step::default());
                    in_env = false;
                    let (key, _) = split_key(line, number);
                    assert_eq!(
                        key, "name",
                        "action.yml:{number}: a step starts with `- name:`"
                    );
                }
                6 => {
                    let step = action.steps.last_mut().unwrap_or_else(|| {
                        panic!("action.yml:{number}: a step key outside a step")
                    });
                    let (key, value) = key_value(line, number);
                    in_env = key == "env";
                    match key.as_str() {
                        "id" => step.id = value,
                        "shell" => step.shell = value,
                        "run" => step.run = value,
                        "env" => assert!(value.is_empty(), "action.yml:{number}"),
                        _ => panic!(
                            "action.yml:{number}: step key {key:?} is not modelled by this test"
                        ),
                    }
                }
                8 if in_env => {
                    let (key, value) = key_value(line, number);
                    action.steps.last_mut().unwrap().env.push((key, value));
                }
                _ => panic!("action.yml:{number}: unexpected layout: {line:?}"),
            },
            _ => {}
        }
    }
    action
}

// --- the runner --------------------------------------------------------------------------------------

/// What one run of the action gave.
#[derive(Debug)]
struct Outcome {
    steps: Vec<StepRun>,
    /// The action's outputs (its `outputs:` evaluated), when every step succeeded.
    outputs: BTreeMap<String, String>,
    /// Lines the steps wrote to GITHUB_PATH.
    path_added: Vec<String>,
}

#[derive(Debug)]
struct StepRun {
    id: String,
    code: i32,
    stdout: String,
    stderr: String,
    /// GITHUB_OUTPUT, raw and parsed.
    output_file: String,
    outputs: BTreeMap<String, String>,
}

impl Outcome {
    /// The exit status of the action: its first failing step's, or 0.
    fn code(&self) -> i32 {
        self.steps.last().map_or(0, |s| s.code)
    }

    fn step(&self, id: &str) -> &StepRun {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("step {id} did not run:\n{self:#?}"))
    }

    /// Everything the steps printed, for failure messages.
    fn log(&self) -> String {
        self.steps
            .iter()
            .map(|s| {
                format!(
                    "--- step {} (exit {})\n{}{}",
                    s.id, s.code, s.stdout, s.stderr
                )
            })
            .collect()
    }
}

/// Parses a GITHUB_OUTPUT / GITHUB_ENV file: `name=value` lines and `name<<DELIMITER` blocks.
fn parse_command_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not a `name=value` line: {line:?}"));
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// Evaluates one of the expressions action.yml uses.
fn evaluate(
    value: &str,
    inputs: &BTreeMap<String, String>,
    steps: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let Some(expr) = value
        .strip_prefix("${{")
        .and_then(|v| v.strip_suffix("}}"))
        .map(str::trim)
    else {
        assert!(
            !value.contains("${{"),
            "an expression inside a longer value: {value:?}"
        );
        return value.to_string();
    };
    if let Some(name) = expr.strip_prefix("inputs.") {
        return inputs
            .get(name)
            .unwrap_or_else(|| panic!("`{expr}` names an input action.yml does not declare"))
            .clone();
    }
    if let Some(rest) = expr.strip_prefix("steps.") {
        let (id, name) = rest
            .split_once(".outputs.")
            .unwrap_or_else(|| panic!("unsupported expression `{expr}`"));
        // As on GitHub, an output nobody wrote is the empty string.
        return steps
            .get(id)
            .and_then(|o| o.get(name))
            .cloned()
            .unwrap_or_default();
    }
    match expr {
        "github.token" => "ghs_not-a-real-token".to_string(),
        _ => panic!("unsupported expression `{expr}`"),
    }
}

/// A runner for one job: a workspace (the repository), the event, and the runner's environment.
struct Runner {
    workspace: PathBuf,
    tmp: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Runner {
    /// A Linux X64 runner whose workspace is `workspace`, for a push event with `payload`.
    fn new(workspace: &Path, payload: &Value) -> Runner {
        let tmp = tempfile::Builder::new()
            .prefix("shipit-action")
            .tempdir()
            .unwrap();
        let event_path = tmp.path().join("event.json");
        std::fs::write(&event_path, payload.to_string()).unwrap();
        let runner_temp = tmp.path().join("runner-temp");
        std::fs::create_dir_all(&runner_temp).unwrap();
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("CI", "true"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_REPOSITORY", "example/monorepo"),
            // A closed port on loopback: no step of this test may reach the network.
            ("GITHUB_SERVER_URL", "https://127.0.0.1:9"),
            ("RUNNER_OS", "Linux"),
            ("RUNNER_ARCH", "X64"),
            // What shipit's own tests set: no user git config, no colour, no instance metadata.
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("NO_COLOR", "1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            env.insert(k.to_string(), v.to_string());
        }
        for (k, v) in [
            ("GITHUB_EVENT_PATH", event_path),
            ("GITHUB_WORKSPACE", workspace.to_path_buf()),
            ("GITHUB_ACTION_PATH", PathBuf::from(ROOT)),
            ("RUNNER_TEMP", runner_temp),
        ] {
            env.insert(k.to_string(), v.display().to_string());
        }
        for k in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.to_string(), v);
            }
        }
        Runner {
            workspace: workspace.to_path_buf(),
            tmp,
            env,
        }
    }

    fn set(&mut self, name: &str, value: &str) -> &mut Runner {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// Runs the action with these inputs (the others take action.yml's defaults), step by step,
    /// stopping at the first step that fails, as a runner does.
    fn run_action(&self, given: &[(&str, &str)]) -> Outcome {
        let action =
            parse_action(&std::fs::read_to_string(Path::new(ROOT).join("action.yml")).unwrap());
        let mut inputs = BTreeMap::new();
        for (name, default) in &action.inputs {
            let default = default.as_deref().unwrap_or("");
            inputs.insert(
                name.clone(),
                evaluate(default, &BTreeMap::new(), &BTreeMap::new()),
            );
        }
        for (name, value) in given {
            assert!(
                action.inputs.contains_key(*name),
                "action.yml declares no input {name}"
            );
            inputs.insert(name.to_string(), value.to_string());
        }

        let mut env = self.env.clone();
        let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut runs = Vec::new();
        let mut path_added = Vec::new();
        for (n, step) in action.steps.iter().enumerate() {
            assert_eq!(
                step.shell, "bash",
                "step {n} ({}) must use shell: bash",
                step.id
            );
            assert!(!step.id.is_empty(), "step {n} has no id");
            assert!(
                !step.run.contains("${{"),
                "step {}: an expression inside `run:`",
                step.id
            );
            let dir = self.tmp.path().join(format!("step-{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            let files: BTreeMap<&str, PathBuf> = [
                ("GITHUB_OUTPUT", "output"),
                ("GITHUB_ENV", "env"),
                ("GITHUB_PATH", "path"),
                ("GITHUB_STEP_SUMMARY", "summary"),
            ]
            .into_iter()
            .map(|(k, f)| {
                let p = dir.join(f);
                std::fs::write(&p, "").unwrap();
                (k, p)
            })
            .collect();
            let script = dir.join("script.sh");
            std::fs::write(&script, &step.run).unwrap();

            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script)
                .current_dir(&self.workspace)
                .env_clear()
                .envs(&env);
            for (k, p) in &files {
                cmd.env(k, p);
            }
            for (k, v) in &step.env {
                cmd.env(k, evaluate(v, &inputs, &step_outputs));
            }
            let output = cmd.output().expect("bash runs");

            let read = |k: &str| std::fs::read_to_string(&files[k]).unwrap();
            let output_file = read("GITHUB_OUTPUT");
            let outputs = parse_command_file(&output_file);
            for line in read("GITHUB_PATH").lines().filter(|l| !l.is_empty()) {
                path_added.push(line.to_string());
                let path = format!("{line}:{}", env.get("PATH").cloned().unwrap_or_default());
                env.insert("PATH".to_string(), path);
            }
            env.extend(parse_command_file(&read("GITHUB_ENV")));
            step_outputs.insert(step.id.clone(), outputs.clone());
            let code = output.status.code().unwrap_or(-1);
            runs.push(StepRun {
                id: step.id.clone(),
                code,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                output_file,
                outputs,
            });
            if code != 0 {
                return Outcome {
                    steps: runs,
                    outputs: BTreeMap::new(),
                    path_added,
                };
            }
        }
        let outputs = action
            .outputs
            .iter()
            .map(|(name, value)| (name.clone(), evaluate(value, &inputs, &step_outputs)))
            .collect();
        Outcome {
            steps: runs,
            outputs,
            path_added,
        }
    }
}

// --- the tests -----------------------------------------------------------------------------------

const CONFIG: &str = r#"
[global]
triggers = ["/ci.toml"]

[services.api]
path = "services/api"
depends_on = ["common"]

[services.web]
path = "services/web"

[services.common]
path = "libs/common"
image = false
"#;

const DIRS: &[&str] = &["services/api", "services/web", "libs/common"];

/// A repository with one push to release: `before` is the initial import, the push changed
/// libs/common (so common, and api through its dependency, are affected; web is not).
fn pushed_repo() -> (TestRepo, Value) {
    let repo = TestRepo::with_config(CONFIG, DIRS);
    let before = repo.head();
    repo.change("libs/common/money.py", "CENTS = 100\n", "feat: money");
    let payload = json!({"before": before, "after": repo.head(), "ref": "refs/heads/main"});
    (repo, payload)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn affected_through_the_action_writes_the_step_outputs() {
    let (repo, payload) = pushed_repo();
    let runner = Runner::new(&repo.dir, &payload);
    let outcome = runner.run_action(&[
        ("command", "affected"),
        ("args", "--explain"),
        ("binary", SHIPIT),
    ]);
    assert_eq!(outcome.code(), 0, "{}", outcome.log());

    // The install step took the binary as it is: no download, nothing put on the PATH.
    let install = outcome.step("install");
    assert_eq!(install.outputs["path"], SHIPIT, "{}", outcome.log());
    assert!(outcome.path_added.is_empty(), "{:?}", outcome.path_added);

    // shipit wrote its outputs into the run step's GITHUB_OUTPUT.
    let run = outcome.step("run");
    assert!(
        run.stdout.contains("+ shipit affected --explain"),
        "{}",
        outcome.log()
    );
    let lines: Vec<&str> = run.output_file.lines().collect();
    assert!(
        lines.contains(&r#"affected=["api","common"]"#),
        "GITHUB_OUTPUT:\n{}",
        run.output_file
    );
    let matrix_line = lines
        .iter()
        .find_map(|l| l.strip_prefix("matrix="))
        .unwrap_or_else(|| panic!("no matrix in GITHUB_OUTPUT:\n{}", run.output_file));
    assert_eq!(
        json(matrix_line),
        json!({"include": [
            {"service": "api", "path": "services/api", "image": true, "test": false},
            {"service": "common", "path": "libs/common", "image": false, "test": false},
        ]})
    );

    // And the action's outputs map them.
    let out = &outcome.outputs;
    assert_eq!(json(&out["affected"]), json!(["api", "common"]));
    assert_eq!(json(&out["matrix"]), json(matrix_line));
    assert_eq!(out["all"], "false");
    assert_eq!(out["count"], "2");
    assert_eq!(out["released"], "", "affected releases nothing");
    assert_eq!(out["path"], SHIPIT);
}

#[test]
fn args_are_split_on_whitespace_and_working_directory_is_honoured() {
    let (repo, payload) = pushed_repo();
    let base = payload["before"].as_str().unwrap().to_string();
    let runner = Runner::new(&repo.dir, &payload);
    // Spaces, a tab and a newline between the arguments; run from a subdirectory of the workspace.
    let args = format!("--format names\t--base {base}\n  --head HEAD");
    let outcome = runner.run_action(&[
        ("command", "affected"),
        ("args", &args),
        ("working-directory", "services/web"),
        ("binary", SHIPIT),
    ]);
    assert_eq!(outcome.code(), 0, "{}", outcome.log());
    let run = outcome.step("run");
    let names: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("+ shipit"))
        .collect();
    assert_eq!(names, ["api", "common"], "{}", outcome.log());
    assert_eq!(outcome.outputs["count"], "2");
}

#[test]
fn args_are_not_globbed_or_expanded() {
    // The workspace holds ci.toml, so a glob `ci*.toml` would expand; `$HOME` would if evaluated.
    let (repo, payload) = pushed_repo();
    let runner = Runner::new(&repo.dir, &payload);
    let outcome = runner.run_action(&[
        ("command", "affected"),
        ("args", "--config ci*.toml $HOME"),
        ("binary", SHIPIT),
    ]);
    let run = outcome.step("run");
    assert_eq!(
        run.stdout.lines().next(),
        Some(r"+ shipit affected --config ci\*.toml \$HOME"),
        "{}",
        outcome.log()
    );
    // shipit got the words as written, and refused them as bad input.
    assert_eq!(outcome.code(), 2, "{}", outcome.log());
}

#[test]
fn a_relative_binary_is_found_from_the_workspace() {
    let (repo, payload) = pushed_repo();
    std::fs::create_dir_all(repo.dir.join("bin")).unwrap();
    std::fs::copy(SHIPIT, repo.dir.join("bin/shipit")).unwrap();
    let runner = Runner::new(&repo.dir, &payload);
    let outcome = runner.run_action(&[
        ("command", "affected"),
        ("binary", "bin/shipit"),
        ("working-directory", "libs"),
    ]);
    assert_eq!(outcome.code(), 0, "{}", outcome.log());
    assert_eq!(
        outcome.outputs["path"],
        repo.dir.join("bin/shipit").display().to_string()
    );
    assert_eq!(json(&outcome.outputs["affected"]), json!(["api", "common"]));
}

#[test]
fn an_unsupported_runner_fails_clearly_before_downloading() {
    let (repo, payload) = pushed_repo();
    for (os, arch) in [
        ("Windows", "X64"),
        ("macOS", "ARM64"),
        ("Linux", "X86"),
        ("Linux", "ARM"),
    ] {
        let mut runner = Runner::new(&repo.dir, &payload);
        runner.set("RUNNER_OS", os).set("RUNNER_ARCH", arch);
        let outcome = runner.run_action(&[("command", "affected")]);
        assert_eq!(outcome.code(), 2, "{os}/{arch}: {}", outcome.log());
        assert_eq!(
            outcome.steps.len(),
            1,
            "shipit must not run: {}",
            outcome.log()
        );
        let install = outcome.step("install");
        assert_eq!(
            install.stdout,
            format!(
                "::error title=shipit action::shipit has release binaries for Linux on X64 and \
                 ARM64 runners only, not {os} on {arch}: run the job on a Linux runner, or build \
                 shipit yourself and pass it as the `binary` input\n"
            ),
            "{os}/{arch}"
        );
        assert!(install.stderr.is_empty(), "{}", install.stderr);
        assert_eq!(install.output_file, "");
        assert!(outcome.path_added.is_empty());
    }
}

#[test]
fn bad_inputs_fail_with_one_clear_message_and_exit_2() {
    let (repo, payload) = pushed_repo();
    let runner = Runner::new(&repo.dir, &payload);
    // (the inputs, the step that fails, the start of its message)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[("version", "latest")],
            "install",
            "version: `latest` is not a release version (X.Y.Z, e.g. 0.1.0)",
        ),
        (
            &[("binary", "no/such/shipit")],
            "install",
            "binary: no file at",
        ),
        (
            &[("binary", SHIPIT), ("command", "ship-everything")],
            "run",
            "command: `ship-everything` is not a shipit command; use one of affected, plan, \
             release, retain, deploy, validate",
        ),
        (
            &[
                ("binary", SHIPIT),
                ("command", "affected"),
                ("branch", "main"),
            ],
            "run",
            "branch: `shipit affected` takes no branch; set it only with plan and release",
        ),
    ];
    for (inputs, step, message) in cases {
        let outcome = runner.run_action(inputs);
        assert_eq!(outcome.code(), 2, "{inputs:?}: {}", outcome.log());
        let failed = outcome.steps.last().unwrap();
        assert_eq!(failed.id, *step, "{inputs:?}: {}", outcome.log());
        assert!(
            failed
                .stdout
                .starts_with(&format!("::error title=shipit action::{message}")),
            "{inputs:?}: {}",
            outcome.log()
        );
    }
}

#[test]
fn the_branch_input_reaches_plan() {
    // The runner says main (GITHUB_REF_NAME); the `branch` input says develop, whose environment in
    // the default mapping is stage: the plan is for stage.
    let (repo, payload) = pushed_repo();
    let runner = Runner::new(&repo.dir, &payload);
    let outcome = runner.run_action(&[
        ("command", "plan"),
        ("branch", "develop"),
        ("args", "--offline --format json"),
        ("binary", SHIPIT),
    ]);
    assert_eq!(outcome.code(), 0, "{}", outcome.log());
    let run = outcome.step("run");
    let (command_line, plan) = run.stdout.split_once('\n').unwrap();
    assert_eq!(
        command_line,
        "+ shipit plan --branch develop --offline --format json"
    );
    let plan = json(plan);
    assert_eq!(plan["branch"], "develop", "{plan}");
    assert_eq!(plan["environment"], "stage", "{plan}");
}
