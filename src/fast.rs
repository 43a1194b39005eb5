//! The speed tricks, all of them, for `shipit affected`: what a reader of the rest of the code
//! need not know. Each is measured by `shipit-bench-affected` (1,050 services, about 5,000
//! changed files), which also runs shipit with each trick turned off
//! (`SHIPIT_TRICKS_OFF=NAME[,NAME…]`, or `all`) in the same rotation and prints what each buys;
//! a trick that buys less than 1 ms there is removed, not kept. The figures of the last run are
//! in README.md ("Performance").
//!
//! - `affinity` ([`move_off`]): the thread that loads ci.toml leaves the CPU of the thread that
//!   runs git. Linux starts a new thread on its parent's CPU when the other one is busy for a
//!   moment; both threads are then "cache hot", and the load balancer let them share that CPU for
//!   4 ms while the other sat idle, in half the runs.
//! - `later` (`config::Config::load_checking_later`): the checks that the paths ci.toml names stay
//!   inside the repository run on the loading thread while the changed paths are matched.
//! - `match-thread` ([`beside`]): once git has diffed, the changed paths are matched against
//!   ci.toml's rules on a thread of their own while the main thread reads the Dockerfiles the
//!   change can reach; the two need nothing of each other, and the loading thread is done by then.

use crate::env_vars;
use crate::github::Env;

/// One trick: its name for `SHIPIT_TRICKS_OFF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trick {
    pub name: &'static str,
}

pub const AFFINITY: Trick = Trick { name: "affinity" };
pub const LATER: Trick = Trick { name: "later" };
pub const MATCH_THREAD: Trick = Trick {
    name: "match-thread",
};

/// Every trick, in the order the benchmark prints them.
pub const TRICKS: &[Trick] = &[AFFINITY, LATER, MATCH_THREAD];

/// Which tricks are on: all of them, unless `SHIPIT_TRICKS_OFF` names some (or says `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tricks {
    pub affinity: bool,
    pub later: bool,
    pub match_thread: bool,
}

impl Default for Tricks {
    fn default() -> Self {
        Tricks {
            affinity: true,
            later: true,
            match_thread: true,
        }
    }
}

impl Tricks {
    /// None of them: what a library caller that lives on after the call gets.
    pub const NONE: Tricks = Tricks {
        affinity: false,
        later: false,
        match_thread: false,
    };

    pub fn from_env(env: &Env) -> Tricks {
        let Some(off) = env.get(env_vars::SHIPIT_TRICKS_OFF) else {
            return Tricks::default();
        };
        let off: Vec<&str> = off.split(',').map(str::trim).collect();
        let on = |t: Trick| !off.iter().any(|o| *o == t.name || *o == "all");
        Tricks {
            affinity: on(AFFINITY),
            later: on(LATER),
            match_thread: on(MATCH_THREAD),
        }
    }
}

/// The CPU the calling thread runs on, where the system says.
pub fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_getcpu takes no arguments and only reads the calling thread's state.
    return usize::try_from(unsafe { libc::sched_getcpu() }).ok();
    #[cfg(not(target_os = "linux"))]
    None
}

/// With `affinity` on, moves the calling thread off `cpu` (where the thread that started it
/// runs) when it is there and there is another, and leaves it free to move again.
pub fn move_off(tricks: Tricks, cpu: Option<usize>) {
    if !tricks.affinity {
        return;
    }
    if let Some(cpu) = cpu
        && current_cpu() == Some(cpu)
    {
        move_off_now(cpu);
    }
}

fn move_off_now(cpu: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: a zeroed cpu_set_t is an empty set; both calls read or write exactly one set of
    // `size` bytes, for the calling thread (pid 0), and `cpu` is checked to be inside a set.
    unsafe {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize
            || libc::sched_getaffinity(0, size, &mut allowed) != 0
            || libc::CPU_COUNT(&allowed) < 2
            || !libc::CPU_ISSET(cpu, &allowed)
        {
            return;
        }
        let mut elsewhere = allowed;
        libc::CPU_CLR(cpu, &mut elsewhere);
        if libc::sched_setaffinity(0, size, &elsewhere) == 0 {
            libc::sched_setaffinity(0, size, &allowed);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// `side` and `main`, both, and what each returned. With `match-thread` on, `side` runs on a
/// thread of its own (moved off this thread's CPU by `affinity`) while `main` runs here;
/// otherwise `side` runs first, here. A panic in `side` goes on here.
pub fn beside<S, M>(
    tricks: Tricks,
    side: impl FnOnce() -> S + Send,
    main: impl FnOnce() -> M,
) -> (S, M)
where
    S: Send,
{
    if !tricks.match_thread {
        let side = side();
        return (side, main());
    }
    let cpu = current_cpu();
    std::thread::scope(|scope| {
        let side = scope.spawn(move || {
            move_off(tricks, cpu);
            side()
        });
        let main = main();
        match side.join() {
            Ok(side) => (side, main),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn allowed() -> Vec<usize> {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: reads one zero-initialised cpu_set_t of `size` bytes for the calling thread.
        let set = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
            set
        };
        // SAFETY: every index is below CPU_SETSIZE, within the set.
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect()
    }

    /// The thread leaves the CPU when it has another to go to, and is not pinned afterwards.
    #[cfg(target_os = "linux")]
    #[test]
    fn moving_off_a_cpu_leaves_the_thread_free() {
        std::thread::spawn(|| {
            let before = allowed();
            let here = current_cpu().expect("Linux says which CPU a thread runs on");
            move_off(Tricks::default(), Some(here));
            if before.len() > 1 {
                assert_ne!(
                    current_cpu(),
                    Some(here),
                    "still on CPU {here} of {before:?}"
                );
            }
            assert_eq!(allowed(), before);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn tricks_are_turned_off_by_name() {
        let tricks = |off: &str| Tricks::from_env(&Env::from_pairs([("SHIPIT_TRICKS_OFF", off)]));
        assert_eq!(tricks(""), Tricks::default());
        assert_eq!(tricks("all"), Tricks::NONE);
        let only_later = tricks("affinity");
        assert!(!only_later.affinity && only_later.later);
        let only_affinity = tricks("later, nothing, match-thread");
        assert!(only_affinity.affinity && !only_affinity.later && !only_affinity.match_thread);
    }

    /// Both run, on two threads with the trick on and on this one with it off, and each answer
    /// comes back to its own side.
    #[test]
    fn beside_runs_both_and_keeps_their_answers_apart() {
        let here = std::thread::current().id();
        for tricks in [Tricks::default(), Tricks::NONE] {
            let (side, main) = beside(
                tricks,
                || (std::thread::current().id(), "side"),
                || (std::thread::current().id(), "main"),
            );
            assert_eq!((main.0, main.1, side.1), (here, "main", "side"));
            assert_eq!(side.0 == here, !tricks.match_thread, "{tricks:?}");
        }
    }
}
