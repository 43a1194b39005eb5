//! The test stage: the service's `test` command through `sh -c` in its directory, with a timeout,
//! its output captured line by line to the service's log file.
//!
//! The command runs in a process group of its own, which shipit owns: the group is killed when the
//! shell exits (a background child does not keep the test running), on timeout, on failure, when
//! the release is dropped, and on SIGINT/SIGTERM ([`kill_all`], see [`super::stop`]). The command never inherits
//! shipit's credentials.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

pub use super::failure::TestFailure;
use group::Group;
pub use group::kill_all;

mod group;
#[cfg(test)]
mod tests;

/// How many of the last output lines a failure message carries.
const TAIL: usize = 20;

/// How long output is still read after the shell exited (from a process that left the group).
const DRAIN: Duration = Duration::from_secs(2);

/// Variables a test never sees: shipit's credentials.
const WITHHELD: &[&str] = &[
    crate::env_vars::SHIPIT_REGISTRY_USERNAME,
    crate::env_vars::SHIPIT_REGISTRY_PASSWORD,
    crate::env_vars::AWS_ACCESS_KEY_ID,
    crate::env_vars::AWS_SECRET_ACCESS_KEY,
    crate::env_vars::AWS_SESSION_TOKEN,
    crate::env_vars::AWS_SECURITY_TOKEN,
];

/// A log file written line by line; a file that cannot be written is skipped, never fatal.
pub struct LogFile(Option<std::fs::File>);

impl LogFile {
    pub fn append(path: &Path) -> LogFile {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        LogFile(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok(),
        )
    }

    pub fn line(&mut self, line: &str) {
        if let Some(f) = &mut self.0 {
            let _ = writeln!(f, "{}", crate::redact::text(line));
        }
    }
}

/// Runs `command`; on failure, says why with the last lines of its output.
pub async fn run(
    command: &str,
    dir: &Path,
    vars: &[(&str, &str)],
    timeout: Duration,
    log: &Path,
    mut on_line: impl FnMut(&str),
) -> Result<(), TestFailure> {
    let not_run = |why: super::failure::NotRun| TestFailure::NotRun {
        command: command.to_string(),
        why: super::failure::Cause::new(why),
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in WITHHELD {
        cmd.env_remove(name);
    }
    let mut child = cmd.spawn().map_err(|e| {
        not_run(super::failure::NotRun::Start {
            command: command.to_string(),
            dir: dir.to_path_buf(),
            cause: e,
        })
    })?;
    let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        return Err(not_run(super::failure::NotRun::NoProcessId {
            command: command.to_string(),
        }));
    };
    let mut group = Group::new(pid);
    let mut file = LogFile::append(log);
    file.line(&format!("$ {command}"));
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(not_run(super::failure::NotRun::NoOutput {
            command: command.to_string(),
        }));
    };
    let mut out = BufReader::new(stdout).lines();
    let mut err = BufReader::new(stderr).lines();
    let mut tail: Vec<String> = Vec::new();
    let mut keep = |line: String, file: &mut LogFile, on_line: &mut dyn FnMut(&str)| {
        file.line(&line);
        on_line(&line);
        tail.push(line);
        if tail.len() > TAIL {
            tail.remove(0);
        }
    };
    // Done when the shell exits: then what is left of its group is killed, the shell reaped, and
    // the output already written read to its end (for a short while only, should a process have
    // left the group). The group is killed before the shell is reaped: see `group`.
    let work = async {
        let (mut out_done, mut err_done) = (false, false);
        let mut status = None;
        let mut drain = None;
        let mut leader_exited = std::pin::pin!(group::exited(pid));
        while !(out_done && err_done) {
            tokio::select! {
                line = out.next_line(), if !out_done => match line {
                    Ok(Some(l)) => keep(l, &mut file, &mut on_line),
                    _ => out_done = true,
                },
                line = err.next_line(), if !err_done => match line {
                    Ok(Some(l)) => keep(l, &mut file, &mut on_line),
                    _ => err_done = true,
                },
                () = &mut leader_exited, if status.is_none() => {
                    group.kill_and_release();
                    status = Some(child.wait().await);
                    drain = Some(Box::pin(tokio::time::sleep(DRAIN)));
                },
                _ = async {
                    match drain.as_mut() {
                        Some(d) => d.await,
                        None => std::future::pending().await,
                    }
                }, if drain.is_some() => break,
            }
        }
        match status {
            Some(s) => s,
            None => {
                leader_exited.await;
                group.kill_and_release();
                child.wait().await
            }
        }
    };
    let status = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return Err(not_run(super::failure::NotRun::Wait {
                command: command.to_string(),
                cause: e,
            }));
        }
        Err(_) => {
            return Err(TestFailure::Timeout {
                command: command.to_string(),
                seconds: timeout.as_secs(),
            });
        }
    };
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    let command = command.to_string();
    Err(match (status.code(), status.signal()) {
        (Some(code), _) => TestFailure::Exit {
            command,
            code,
            tail,
        },
        (None, signal) => TestFailure::Signal {
            command,
            signal: signal.unwrap_or_default(),
            tail,
        },
    })
}
