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

/// A release of `services/api` on `develop` that rolls out to the cluster `sig-a` of the returned
/// double (running `script`), started with `--report` into `dir`; returned once its UpdateService
/// went through and `polls` polls followed.
fn release_rolling_out(
    script: crate::support::ecs_double::Script,
    polls: usize,
    dir: &Path,
) -> (
    TestRepo,
    crate::support::ecs_double::EcsDouble,
    std::process::Child,
) {
    use crate::support::{busybox, registry, unique};
    let prefix = unique("signal-rollout");
    let toml = format!(
        "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[environments.stage]\nbranch = \"develop\"\n\
         clusters = [\"sig-a\"]\nrollout_timeout = \"60s\"\npoll_interval = \"100ms\"\n\n\
         [services.api]\npath = \"services/api\"\n",
        registry()
    );
    let repo = TestRepo::with_config(&toml, &["services/api"]);
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.commit("api");
    repo.git(&["switch", "-q", "-c", "develop"]);
    let double = crate::support::ecs_double::EcsDouble::start();
    let running = format!("{}/{prefix}/api:stage-0.0.9", registry());
    double.service("sig-a", "api", "api", &running, script);
    let child = shipit(&repo.dir)
        .args(["release", "--all", "--branch", "develop", "--report"])
        .arg(dir.join("report.json"))
        .env("AWS_ENDPOINT_URL_ECS", &double.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let calls = double.calls();
        if let Some(at) = calls.iter().position(|c| c == "UpdateService")
            && calls[at..]
                .iter()
                .filter(|c| *c == "DescribeServices")
                .count()
                >= polls
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no rollout started: {calls:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (repo, double, child)
}

fn sigint(child: &std::process::Child) {
    // SAFETY: signalling a child process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
}

fn report_outcome(dir: &Path, service: &str, stderr: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no --report ({e}): {stderr}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == service)
        .map(|r| r["outcome"].clone())
        .unwrap_or_else(|| panic!("no result for {service}: {json}"))
}

/// The first signal never abandons a rollout that has begun: it is watched until ECS confirms it.
#[test]
fn a_rollout_under_way_is_finished_after_the_first_signal() {
    use crate::support::ecs_double::Script;
    let tmp = tempfile::tempdir().unwrap();
    // About 3s of polls after the update.
    let (_repo, double, child) = release_rolling_out(Script::SucceedAfter(30), 1, tmp.path());
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        double.current("sig-a", "api").0.ends_with("/api:2"),
        "the rollout was watched to its end: {stderr}"
    );
    assert_eq!(
        report_outcome(tmp.path(), "api", &stderr),
        serde_json::json!({"result": "released"}),
        "{stderr}"
    );
    let polls = double
        .calls()
        .iter()
        .filter(|c| *c == "DescribeServices")
        .count();
    assert!(polls >= 30, "{polls} polls: {stderr}");
}

/// A second signal stops waiting for a rollout, and says where it was left running.
#[test]
fn a_second_signal_leaves_the_rollout_to_ecs_and_names_where() {
    use crate::support::ecs_double::Script;
    let tmp = tempfile::tempdir().unwrap();
    let (_repo, double, mut child) = release_rolling_out(Script::Never, 2, tmp.path());
    sigint(&child);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal abandoned the rollout"
    );
    sigint(&child);
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("SIGINT: api: rollout left running in sig-a, unwatched"),
        "{stderr}"
    );
    assert_eq!(
        report_outcome(tmp.path(), "api", &stderr),
        serde_json::json!({
            "result": "cancelled", "signal": "SIGINT", "stage": "rollout", "left_running": ["sig-a"]
        }),
        "{stderr}"
    );
    assert!(double.current("sig-a", "api").0.ends_with("/api:2"));
}
