//! The process group a test runs in, and when it may be signalled.
//!
//! A group's id is the pid of its leader (the test's shell). While the leader is unreaped (running,
//! or exited and a zombie) the id names this group and no other; once it is reaped and the group's
//! other members are gone, the kernel may give the id to a new process, which can lead a group of
//! its own. So the group is signalled only while its leader is unreaped, as cargo-nextest does:
//! [`exited`] waits for the leader to exit without reaping it, [`Group::kill_and_release`] kills
//! the group and forgets its id, and only then is the leader reaped.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The process groups of the tests running now (each leader unreaped), and whether shipit is
/// stopping on a signal.
struct Groups {
    running: BTreeSet<i32>,
    stopping: bool,
}

static GROUPS: Mutex<Groups> = Mutex::new(Groups {
    running: BTreeSet::new(),
    stopping: false,
});

fn groups() -> std::sync::MutexGuard<'static, Groups> {
    match GROUPS.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Kills every test's process group: for SIGINT/SIGTERM, before shipit exits. A test started
/// after this (its shell spawned as the signal came) is killed as soon as its group is known.
pub fn kill_all() {
    let mut groups = groups();
    groups.stopping = true;
    // Under the lock: a group leaves the set (under it too) before its leader is reaped.
    for pgid in std::mem::take(&mut groups.running) {
        kill_group(pgid);
    }
}

fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        let sent = unsafe { libc::kill(-pgid, libc::SIGKILL) } == 0;
        #[cfg(test)]
        signalled::record(pgid, sent);
        #[cfg(not(test))]
        let _ = sent;
    }
}

/// A test's process group while its leader is unreaped: killed whole when dropped (on every way
/// out of the test), unless [`Group::kill_and_release`] already did.
pub struct Group {
    pgid: i32,
    owned: bool,
}

impl Group {
    /// The group led by `pgid`, a child that is not reaped yet.
    pub fn new(pgid: i32) -> Group {
        let mut groups = groups();
        if groups.stopping {
            kill_group(pgid);
        } else {
            groups.running.insert(pgid);
        }
        Group { pgid, owned: true }
    }

    /// Kills the group and gives up its id: called once the leader has exited, before it is
    /// reaped. Nothing signals the id afterwards.
    pub fn kill_and_release(&mut self) {
        if std::mem::take(&mut self.owned) {
            let mut groups = groups();
            groups.running.remove(&self.pgid);
            kill_group(self.pgid);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill_and_release();
    }
}

/// Resolves once the child `pid` (not reaped) has exited; it is left unreaped, a zombie, so that
/// its group id stays ours until [`Group::kill_and_release`].
pub async fn exited(pid: i32) {
    #[cfg(target_os = "linux")]
    if let Some(fd) = pidfd(pid)
        // SAFETY: an OwnedFd's descriptor stays open, the same, until the AsyncFd drops it.
        && let Ok(fd) = unsafe { tokio::io::unix::AsyncFd::register(fd) }
    {
        // A pidfd polls readable once the process has exited.
        let _ = fd.readable().await;
        return;
    }
    // Where there is no pidfd: ask every 10 ms.
    while !exited_now(pid) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A pidfd for `pid`, where the system has them (Linux 5.3).
#[cfg(target_os = "linux")]
fn pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just opened and nothing else owns it.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Whether the child `pid` has exited, without reaping it (or is no child of ours any more).
fn exited_now(pid: i32) -> bool {
    // SAFETY: waitid writes one siginfo_t, zeroed first so that `si_pid` stays 0 when nothing
    // exited; WNOWAIT leaves the child unreaped.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOWAIT | libc::WNOHANG;
        let r = libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags);
        r != 0 || info.si_pid() != 0
    }
}

/// What was signalled, for the tests: each group id, and whether the signal found a member.
#[cfg(test)]
pub mod signalled {
    use std::sync::Mutex;

    static SENT: Mutex<Vec<(i32, bool)>> = Mutex::new(Vec::new());

    pub(super) fn record(pgid: i32, found_members: bool) {
        SENT.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((pgid, found_members));
    }

    /// Every signal sent to `pgid`: whether each found a member.
    pub fn to(pgid: i32) -> Vec<bool> {
        let sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
        sent.iter()
            .filter(|(g, _)| *g == pgid)
            .map(|(_, f)| *f)
            .collect()
    }
}
