//! Stopping a release on SIGINT or SIGTERM, in two steps. The first signal cancels what has not
//! started and abandons the tests, builds and pushes under way, but a rollout that has begun is
//! watched to its end (confirmed or rolled back); a second signal stops waiting for rollouts too,
//! and the report says which were left running. Either way the release ends normally: one line per
//! service says what was interrupted, and `--report`, `--junit` and the GitHub outputs are written.

use tokio::sync::watch;

/// The signal that stopped a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    first: Option<Signal>,
    count: u32,
}

/// How far a release was asked to stop; shared by the signal listener and the executor.
#[derive(Debug)]
pub struct Stop(watch::Sender<State>);

impl Default for Stop {
    fn default() -> Self {
        Stop(watch::Sender::new(State::default()))
    }
}

impl Stop {
    /// Counts one more signal; how many there were, this one included.
    pub fn signalled(&self, signal: Signal) -> u32 {
        let mut count = 0;
        self.0.send_modify(|s| {
            s.first.get_or_insert(signal);
            s.count += 1;
            count = s.count;
        });
        count
    }

    /// The first signal, if one came.
    pub fn signal(&self) -> Option<Signal> {
        self.0.borrow().first
    }

    /// True once the first signal came: nothing new starts.
    pub fn cancelling(&self) -> bool {
        self.0.borrow().count >= 1
    }

    /// Resolves when the first signal comes (at once if it came).
    pub async fn cancelled(&self) {
        self.at_least(1).await
    }

    /// Resolves when the second signal comes: rollouts under way are no longer waited for.
    pub async fn abandoned(&self) {
        self.at_least(2).await
    }

    async fn at_least(&self, n: u32) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`: the wait ends only with the signal.
        let _ = rx.wait_for(|s| s.count >= n).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_is_kept_and_each_one_counted() {
        let stop = Stop::default();
        assert!(!stop.cancelling());
        assert_eq!(stop.signalled(Signal::Terminate), 1);
        assert_eq!(stop.signalled(Signal::Interrupt), 2);
        assert_eq!(stop.signal(), Some(Signal::Terminate));
        assert!(stop.cancelling());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            stop.cancelled().await;
            stop.abandoned().await;
        });
    }
}
