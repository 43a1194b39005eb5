//! Tests die with their release: a test runs in a process group of its own, killed whole when its
//! shell exits, on timeout, on failure and when shipit gets SIGTERM; a test is done when its shell
//! exits, whatever it left running in the background.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::git::TestRepo;
use crate::support::netfake::run_within;
use crate::support::shipit::shipit;

fn repo(test: &str, extra: &str) -> TestRepo {
    let toml =
        format!("[services.lib]\npath = \"libs/lib\"\nimage = false\ntest = '''{test}'''\n{extra}");
    TestRepo::with_config(&toml, &["libs/lib"])
}

/// The pid a test wrote, once it is there.
fn pid_in(file: &Path) -> i32 {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no pid in {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while `pid` is a live process (a zombie waiting for a reaper counts as dead).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn gone_soon(pid: i32) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_test_is_done_when_its_shell_exits_and_what_it_left_behind_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pid");
    let repo = repo(
        &format!("sleep 60 & echo $! > {}; echo ok", pidfile.display()),
        "",
    );
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "feature", "--all"]);
    let (r, took) = run_within(cmd, Duration::from_secs(40));
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        took < Duration::from_secs(15),
        "the release waited for the sleep: {took:?}"
    );
    assert!(
        gone_soon(pid_in(&pidfile)),
        "the background sleep outlived its test"
    );
}

#[test]
fn a_test_that_times_out_is_killed_with_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("pid");
    let repo = repo(
        &format!("sleep 60 & echo $! > {}; sleep 60", pidfile.display()),
        "test_timeout = \"1s\"\n",
    );
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "feature", "--all"]);
    let (r, took) = run_within(cmd, Duration::from_secs(40));
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stderr.contains("ran longer than 1s"), "{}", r.stderr);
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(
        gone_soon(pid_in(&pidfile)),
        "the test's child outlived the timeout"
    );
}

#[test]
fn sigterm_and_sigint_kill_the_tests_with_the_release() {
    for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let tmp = tempfile::tempdir().unwrap();
        let pidfile = tmp.path().join("pid");
        let repo = repo(
            &format!("sleep 60 & echo $! > {}; wait", pidfile.display()),
            "",
        );
        let mut child = shipit(&repo.dir)
            .args(["release", "--branch", "feature", "--all"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = pid_in(&pidfile);
        assert!(alive(pid));
        // SAFETY: signalling a child process this test started.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("shipit did not stop on signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(code), "{status:?}");
        assert!(
            gone_soon(pid),
            "the test outlived its release (signal {signal})"
        );
    }
}

/// A signal stops a release in order: the service whose test runs is named with its stage, the
/// service waiting for it is cancelled, the test dies, `--report` is still written with cancelled
/// outcomes, and the exit status is the signal's (130 for SIGINT, 143 for SIGTERM).
#[test]
fn a_signal_names_what_it_interrupted_and_the_report_is_still_written() {
    for (signal, name, code) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let pidfile = tmp.path().join("pid");
        let report = tmp.path().join("report.json");
        let toml = format!(
            "[services.lib]\npath = \"libs/lib\"\nimage = false\ntest = '''sleep 60 & echo $! > {}; wait'''\n\n\
             [services.app]\npath = \"libs/app\"\nimage = false\ndepends_on = [\"lib\"]\ntest = \"true\"\n",
            pidfile.display()
        );
        let repo = TestRepo::with_config(&toml, &["libs/lib", "libs/app"]);
        let child = shipit(&repo.dir)
            .args(["release", "--branch", "feature", "--all", "--report"])
            .arg(&report)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = pid_in(&pidfile);
        // SAFETY: signalling a child process this test started.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let started = Instant::now();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name}: took {:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}: lib: test interrupted")),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{name}: app: not started")),
            "{name}: {stderr}"
        );
        assert!(gone_soon(pid), "the test outlived its release ({name})");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_else(|e| {
                panic!("{name}: no --report ({e}): {stderr}");
            }))
            .unwrap();
        assert_eq!(json["success"], false, "{json}");
        let outcome = |service: &str| {
            json["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == service)
                .map(|r| r["outcome"].clone())
                .unwrap_or_else(|| panic!("no result for {service}: {json}"))
        };
        assert_eq!(
            outcome("lib"),
            serde_json::json!({"result": "cancelled", "signal": name, "stage": "test"})
        );
        assert_eq!(
            outcome("app"),
            serde_json::json!({"result": "cancelled", "signal": name})
        );
    }
}
