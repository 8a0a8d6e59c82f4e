//! A one-way flag a socket's tasks wait on: set once, seen by every waiter.
//!
//! What a `CancellationToken` does for a socket's `closing` and `finished`, inline in the
//! socket: a token allocates a tree node of its own (112 bytes each, two per socket), for the
//! parent-child cancellation a socket does not use.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Set once, never cleared; [`cancelled`](Self::cancelled) returns once it is set.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    notify: Notify,
}

impl Signal {
    /// Sets the flag and wakes every waiter.
    pub(crate) fn cancel(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Returns once the flag is set.
    pub(crate) async fn cancelled(&self) {
        loop {
            // `notify_waiters` reaches a `Notified` from its creation on, polled or not, so a
            // `cancel` between this line and the check below is not missed.
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn every_waiter_returns_once_it_is_set_and_later_waits_return_at_once() {
        let signal = Arc::new(Signal::default());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let signal = Arc::clone(&signal);
                tokio::spawn(async move { signal.cancelled().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(waiters.iter().all(|waiter| !waiter.is_finished()), "nobody returns before it is set");
        signal.cancel();
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("woken").expect("task");
        }
        assert!(signal.is_cancelled());
        tokio::time::timeout(Duration::from_millis(100), signal.cancelled()).await.expect("set already");
    }
}
