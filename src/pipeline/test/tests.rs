use super::*;
use std::time::Instant;

/// Whether `pid` names a process now (a zombie too).
fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A process of its own group whose pid is `pid`, made by asking Linux for that pid next
/// (`ns_last_pid`, which needs CAP_SYS_ADMIN); None where that is not allowed or another
/// process took the pid first.
fn take_pid(pid: i32) -> Option<std::process::Child> {
    use std::os::unix::process::CommandExt;
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1)).ok()?;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .ok()?;
        if child.id() as i32 == pid {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
        if exists(pid) {
            return None;
        }
    }
    None
}

/// The test's shell exits, leaving a process outside its group that holds the output
/// open for a second, so that the test is still running after its leader has been reaped. Once
/// reaped, the group's id is free: here a new group takes it where the system lets a test choose
/// a pid. Neither that group nor the bare id is ever signalled: each signal found a member of
/// the test's own group.
#[test]
fn a_reused_group_id_is_never_signalled() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The shell waits until the process it leaves has left its group, or killing the group at
    // the shell's exit would take it too.
    let left = dir.path().join("left");
    let command = format!(
        "echo $$ > {pid}; setsid sh -c 'touch {left}; exec sleep 1' & \
         while [ ! -e {left} ]; do sleep 0.01; done; exit 0",
        pid = pid_file.display(),
        left = left.display(),
    );
    let watcher = std::thread::spawn(move || {
        let started = Instant::now();
        let pgid: i32 = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break pid;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no pid written"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        while exists(pgid) {
            assert!(started.elapsed() < Duration::from_secs(10), "never reaped");
            std::thread::sleep(Duration::from_millis(1));
        }
        (pgid, take_pid(pgid))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = dir.path().join("log");
    let result = runtime.block_on(run(
        &command,
        dir.path(),
        &[],
        Duration::from_secs(20),
        &log,
        |_| {},
    ));
    assert!(result.is_ok(), "{result:?}");
    let (pgid, impostor) = watcher.join().unwrap();
    if let Some(mut impostor) = impostor {
        let alive = impostor.try_wait().unwrap().is_none();
        let _ = impostor.kill();
        let _ = impostor.wait();
        assert!(alive, "the new group {pgid} was killed");
    }
    let sent = group::signalled::to(pgid);
    assert!(!sent.is_empty(), "the test's group was never killed");
    assert!(
        sent.iter().all(|found| *found),
        "group {pgid} was signalled after its leader was reaped: {sent:?}"
    );
}
