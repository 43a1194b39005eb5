//! Running the built `shipit` binary the way a user or a runner would, and snapshotting what it says.

use std::path::Path;
use std::process::Command;

/// The result of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code, stdout and stderr, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The affected service names from `--format json` output.
    pub fn names(&self) -> Vec<String> {
        let json = self.json();
        json["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A `shipit` command in `dir`, with no GitHub Actions variables and no colour.
pub fn shipit(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipit"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_")
            || k.starts_with("AWS_")
            || k == "CLICOLOR_FORCE"
            || k == "SHIPIT_LOG"
        {
            cmd.env_remove(k);
        }
    }
    // The AWS SDK must never look for the instance metadata service: only loopback is ours.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

pub fn run(mut cmd: Command) -> Run {
    let output = cmd.output().expect("shipit runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `shipit ARGS...` in `dir`.
pub fn shipit_run(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = shipit(dir);
    cmd.args(args);
    run(cmd)
}

/// `shipit affected --format json ARGS...` under a GitHub Actions event with this payload.
pub fn affected_in_actions(
    dir: &Path,
    event: &str,
    payload: &serde_json::Value,
    args: &[&str],
) -> (Run, String) {
    let tmp = tempfile::tempdir().unwrap();
    let event_path = tmp.path().join("event.json");
    std::fs::write(&event_path, payload.to_string()).unwrap();
    let output_path = tmp.path().join("output");
    let mut cmd = shipit(dir);
    cmd.args(["affected", "--format", "json"])
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_OUTPUT", &output_path);
    let run = run(cmd);
    let outputs = std::fs::read_to_string(&output_path).unwrap_or_default();
    (run, outputs)
}

/// Replaces what changes between runs (SHAs, temporary paths) in a transcript.
pub fn redact(text: &str, dirs: &[&Path]) -> String {
    let mut out = text.to_string();
    for d in dirs {
        out = out.replace(&d.display().to_string(), "[TMP]");
    }
    let mut result = String::with_capacity(out.len());
    let bytes: Vec<char> = out.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        let boundary_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let boundary_after = bytes
            .get(i + run)
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary_before
            && boundary_after
            && (run == 40 || run == 12)
            && bytes[i..i + run].iter().any(|c| c.is_ascii_digit())
        {
            result.push_str(if run == 40 { "[SHA]" } else { "[SHORT]" });
            i += run;
        } else {
            result.push(bytes[i]);
            i += 1;
        }
    }
    result
}
