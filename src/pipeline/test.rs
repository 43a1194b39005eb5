//! The test stage: the service's `test` command through `sh -c` in its directory, with a timeout,
//! its output captured line by line to the service's log file.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// How many of the last output lines a failure message carries.
const TAIL: usize = 20;

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
            let _ = writeln!(f, "{line}");
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
) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "could not start `sh -c {command}` in {}: {e}",
                dir.display()
            )
        })?;
    let mut file = LogFile::append(log);
    file.line(&format!("$ {command}"));
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut tail: Vec<String> = Vec::new();
    let mut keep = |line: String, file: &mut LogFile, on_line: &mut dyn FnMut(&str)| {
        file.line(&line);
        on_line(&line);
        tail.push(line);
        if tail.len() > TAIL {
            tail.remove(0);
        }
    };
    let work = async {
        let (mut out_done, mut err_done) = (false, false);
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
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(format!("waiting for `{command}`: {e}")),
        Err(_) => {
            return Err(format!(
                "`{command}` ran longer than {}s and was stopped",
                timeout.as_secs()
            ));
        }
    };
    if status.success() {
        return Ok(());
    }
    let code = status
        .code()
        .map_or_else(|| "a signal".to_string(), |c| format!("exit status {c}"));
    let mut why = format!("`{command}` failed with {code}");
    if !tail.is_empty() {
        why.push_str(":\n");
        why.push_str(&tail.join("\n"));
    }
    Err(why)
}
