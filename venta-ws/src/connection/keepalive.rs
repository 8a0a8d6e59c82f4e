//! A socket's deadlines: server pings and the pong deadline, the token's expiry and the
//! warning before it. They fire whatever the socket is doing: waiting for a frame, running a
//! handler, or writing to a client that stopped reading.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, Sleep};

use super::transport::FramePipe;
use super::write::Writer;
use crate::close::Closure;
use crate::protocol::{self, EXPIRING_EVENT, Expiry};
use crate::socket::SocketCore;

/// The timers of one socket: pings, the pong deadline, the token's expiry and its warning.
pub(super) struct Watch {
    pub(super) ping_interval: Duration,
    pub(super) pong_timeout: Duration,
    pub(super) expiry_warning: Duration,
    pub(super) next_ping: Instant,
    pub(super) pong_deadline: Option<Instant>,
    /// The expiry the client was last warned about, so a refresh re-arms the warning.
    pub(super) warned_for: Option<u64>,
}

/// The longest a socket's timer sleeps at once. Deadlines further away (a token that expires
/// in a century, `exp` = `u64::MAX`) are slept towards a day at a time, so no instant is ever
/// computed past what the clock can hold.
pub(super) const LONGEST_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// A number in `0.0..1.0` that differs from socket to socket.
pub(super) fn jitter(id: crate::id::SocketId) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(id.as_u128());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// `now + wait`, or [`LONGEST_SLEEP`] from now when `wait` is longer.
pub(super) fn after(now: Instant, wait: Duration) -> Instant {
    now + wait.min(LONGEST_SLEEP)
}

/// The instant a Unix time falls on, or [`LONGEST_SLEEP`] from now when it lies further away.
pub(super) fn instant_of(unix: u64, now: Instant) -> Instant {
    after(now, Duration::from_secs(unix.saturating_sub(unix_now())))
}

/// Which of a socket's deadlines apply while it waits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Deadlines {
    /// All of them: the socket waits for the client (to send a frame, or to take one).
    All,
    /// Only the token's: the socket waits for its own handler, so the client's pong, if it
    /// came, is still unread and the pong deadline cannot be judged.
    TokenOnly,
}

impl Watch {
    /// When something must happen next.
    pub(super) fn next_wake(&self, core: &SocketCore, now: Instant, deadlines: Deadlines) -> Instant {
        let liveness = match deadlines {
            Deadlines::All => self.pong_deadline.unwrap_or(self.next_ping),
            Deadlines::TokenOnly => after(now, LONGEST_SLEEP),
        };
        let token = match core.expires_at() {
            Some(expires_at) if self.warned_for != Some(expires_at) => {
                instant_of(expires_at, now).checked_sub(self.expiry_warning).unwrap_or(now)
            }
            Some(expires_at) => instant_of(expires_at, now),
            None => after(now, LONGEST_SLEEP),
        };
        liveness.min(token)
    }

    /// Does what is due at `now`.
    pub(super) fn on_wake(&mut self, core: &SocketCore, now: Instant, deadlines: Deadlines) {
        if let Some(expires_at) = core.expires_at() {
            if expires_at <= unix_now() {
                core.close(Closure::TokenExpired);
                return;
            }
            let warn_at = instant_of(expires_at, now).checked_sub(self.expiry_warning).unwrap_or(now);
            if self.warned_for != Some(expires_at) && warn_at <= now {
                self.warned_for = Some(expires_at);
                if let Ok(frame) = protocol::encode(EXPIRING_EVENT, &Expiry { expires_at }, None) {
                    core.deliver(frame);
                }
            }
        }
        if deadlines == Deadlines::TokenOnly {
            return;
        }
        if self.pong_deadline.is_some_and(|deadline| deadline <= now) {
            core.close(Closure::PingTimeout);
        } else if self.pong_deadline.is_none() && self.next_ping <= now {
            core.ping();
            self.pong_deadline = Some(after(now, self.pong_timeout));
            self.next_ping = after(now, self.ping_interval);
        }
    }

    /// A pong shows the client is alive and reading. Other frames do not: a client that sends
    /// but never reads would otherwise never be found out.
    pub(super) fn ponged(&mut self) {
        self.pong_deadline = None;
    }

    /// The socket's own work took `spent`, during which the client's pong could not be read:
    /// that time does not count against the client.
    pub(super) fn paused(&mut self, spent: Duration) {
        if let Some(deadline) = &mut self.pong_deadline {
            *deadline += spent.min(LONGEST_SLEEP);
        }
    }
}

/// A socket's timers and the one sleep that waits for the next of them.
pub(super) struct Clock<'a> {
    pub(super) watch: Watch,
    pub(super) timer: Pin<&'a mut Sleep>,
}

impl Clock<'_> {
    /// Sleeps until the next deadline, then does what is due.
    pub(super) async fn tick(&mut self, core: &SocketCore, deadlines: Deadlines) {
        let wake = self.watch.next_wake(core, Instant::now(), deadlines);
        if self.timer.deadline() != wake {
            self.timer.as_mut().reset(wake);
        }
        self.timer.as_mut().await;
        self.watch.on_wake(core, Instant::now(), deadlines);
    }

    /// Runs `work` to its end while the deadlines that apply keep firing and what other tasks
    /// queue is written. Once a close is requested, only `work` is waited for; a close that
    /// does not flush (a slow consumer, a dead client) is sent meanwhile.
    ///
    /// `work` is `Unpin` (boxed, or pinned by the caller) so that this future holds a pointer
    /// to it: an `async fn` keeps a future it is passed twice, as passed and as awaited, and
    /// an idle socket keeps room for this one all its life.
    async fn alongside<F: Future + Unpin, T: FramePipe>(
        &mut self,
        core: &SocketCore,
        deadlines: Deadlines,
        writer: &mut Writer<T>,
        mut work: F,
    ) -> F::Output {
        loop {
            if core.is_closing() {
                if core.is_finished() {
                    return futures_util::future::join(writer.close(), work).await.1;
                }
                return work.await;
            }
            tokio::select! {
                biased;
                output = &mut work => return output,
                () = self.tick(core, deadlines) => {}
                () = writer.pushed() => {}
            }
        }
    }

    /// Runs a handler: the token's deadlines fire meanwhile, the pong deadline waits.
    pub(super) async fn handle<F: Future + Unpin, T: FramePipe>(
        &mut self,
        core: &SocketCore,
        writer: &mut Writer<T>,
        handler: F,
    ) -> F::Output {
        let started = Instant::now();
        let output = self.alongside(core, Deadlines::TokenOnly, writer, handler).await;
        self.watch.paused(started.elapsed());
        output
    }

    /// Writes what the handler queued, unless a close is requested first: a client that does
    /// not take its frames is still pinged, timed out and expired.
    pub(super) async fn write<T: FramePipe>(&mut self, writer: &mut Writer<T>, core: &SocketCore) {
        while !core.outbox().is_empty() {
            tokio::select! {
                biased;
                () = core.closing().cancelled() => return,
                () = self.tick(core, Deadlines::All) => {}
                () = writer.drain() => return,
            }
        }
    }
}
