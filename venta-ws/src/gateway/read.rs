//! A socket's read half: frames in, handlers run one at a time, and the timers that watch
//! the socket between frames (pings, token expiry) and the rate limit on what it sends.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Message;
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use serde::Serialize;
use tokio::time::{Instant, Sleep};

use super::lifecycle::{GatewayRuntime, guarded};
use super::write::{SharedSink, write_queued};
use super::{Dispatch, GatewayHandlers, Operation, SocketOf, Transport};
use crate::auth::{Authenticator, ConnectRequest, Token, TokenSource};
use crate::close::{Closure, DisconnectReason, RATE_LIMITED};
use crate::error::GatewayError;
use crate::module::RateLimit;
use crate::protocol::{self, EXPIRING_EVENT, MessageId, REFRESH_EVENT, Request};
use crate::socket::SocketCore;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Expiry {
    expires_at: u64,
}

/// A token bucket.
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
    violations: u32,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        Self { limit, tokens: f64::from(limit.burst), refilled: Instant::now(), violations: 0 }
    }

    /// Takes one token; `false` when the socket is over its rate.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(self.limit.per_second)).min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.violations = 0;
            true
        } else {
            self.violations += 1;
            false
        }
    }
}

/// The timers of one socket: pings, the pong deadline, the token's expiry and its warning.
struct Watch {
    ping_interval: Duration,
    pong_timeout: Duration,
    expiry_warning: Duration,
    next_ping: Instant,
    pong_deadline: Option<Instant>,
    /// The expiry the client was last warned about, so a refresh re-arms the warning.
    warned_for: Option<u64>,
}

/// The longest a socket's timer sleeps at once. Deadlines further away (a token that expires
/// in a century, `exp` = `u64::MAX`) are slept towards a day at a time, so no instant is ever
/// computed past what the clock can hold.
const LONGEST_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// A number in `0.0..1.0` that differs from socket to socket.
fn jitter(id: crate::id::SocketId) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(id.as_u128());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// `now + wait`, or [`LONGEST_SLEEP`] from now when `wait` is longer.
fn after(now: Instant, wait: Duration) -> Instant {
    now + wait.min(LONGEST_SLEEP)
}

/// The instant a Unix time falls on, or [`LONGEST_SLEEP`] from now when it lies further away.
fn instant_of(unix: u64, now: Instant) -> Instant {
    after(now, Duration::from_secs(unix.saturating_sub(unix_now())))
}

/// Which of a socket's deadlines apply while it waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Deadlines {
    /// All of them: the socket waits for the client (to send a frame, or to take one).
    All,
    /// Only the token's: the socket waits for its own handler, so the client's pong, if it
    /// came, is still unread and the pong deadline cannot be judged.
    TokenOnly,
}

impl Watch {
    /// When something must happen next.
    fn next_wake(&self, core: &SocketCore, now: Instant, deadlines: Deadlines) -> Instant {
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
    fn on_wake(&mut self, core: &SocketCore, now: Instant, deadlines: Deadlines) {
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
    fn ponged(&mut self) {
        self.pong_deadline = None;
    }

    /// The socket's own work took `spent`, during which the client's pong could not be read:
    /// that time does not count against the client.
    fn paused(&mut self, spent: Duration) {
        if let Some(deadline) = &mut self.pong_deadline {
            *deadline += spent.min(LONGEST_SLEEP);
        }
    }
}

/// A socket's timers and the one sleep that waits for the next of them.
struct Clock<'a> {
    watch: Watch,
    timer: Pin<&'a mut Sleep>,
}

impl Clock<'_> {
    /// Sleeps until the next deadline, then does what is due.
    async fn tick(&mut self, core: &SocketCore, deadlines: Deadlines) {
        let wake = self.watch.next_wake(core, Instant::now(), deadlines);
        if self.timer.deadline() != wake {
            self.timer.as_mut().reset(wake);
        }
        self.timer.as_mut().await;
        self.watch.on_wake(core, Instant::now(), deadlines);
    }

    /// Runs `work` to its end while the deadlines that apply keep firing. Once a close is
    /// requested, only `work` is waited for.
    async fn alongside<F: Future>(&mut self, core: &SocketCore, deadlines: Deadlines, work: F) -> F::Output {
        tokio::pin!(work);
        loop {
            if core.is_closing() {
                return work.await;
            }
            tokio::select! {
                biased;
                output = &mut work => return output,
                () = self.tick(core, deadlines) => {}
            }
        }
    }

    /// Runs a handler: the token's deadlines fire meanwhile, the pong deadline waits.
    async fn handle<F: Future>(&mut self, core: &SocketCore, handler: F) -> F::Output {
        let started = Instant::now();
        let output = self.alongside(core, Deadlines::TokenOnly, handler).await;
        self.watch.paused(started.elapsed());
        output
    }

    /// Writes what the handler queued, unless a close is requested first: a client that does
    /// not take its frames is still pinged, timed out and expired.
    async fn write<T: Transport>(&mut self, sink: &SharedSink<T>, core: &SocketCore) {
        tokio::select! {
            biased;
            () = core.closing().cancelled() => {}
            () = self.alongside(core, Deadlines::All, write_queued(sink, core)) => {}
        }
    }
}

pub(super) async fn read_loop<G: GatewayHandlers, T: Transport>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    stream: &mut SplitStream<T>,
    sink: &SharedSink<T>,
    handshake: Option<&ConnectRequest>,
) -> DisconnectReason {
    let core = socket.core();
    let config = &runtime.namespace.config();
    let mut bucket = config.rate_limit.map(Bucket::new);
    let watch = Watch {
        ping_interval: config.ping_interval,
        pong_timeout: config.pong_timeout,
        expiry_warning: config.expiry_warning,
        // The first ping comes after a random half to whole interval, so sockets that
        // connected together (after a restart, a connect storm) are not all pinged at once.
        next_ping: after(Instant::now(), config.ping_interval.mul_f64(0.5 + 0.5 * jitter(socket.id()))),
        pong_deadline: None,
        warned_for: None,
    };
    let timer = tokio::time::sleep_until(watch.next_wake(core, Instant::now(), Deadlines::All));
    tokio::pin!(timer);
    let mut clock = Clock { watch, timer };
    loop {
        let message = tokio::select! {
            biased;
            () = core.closing().cancelled() => return server_closed(core),
            () = clock.tick(core, Deadlines::All) => continue,
            message = stream.next() => message,
        };
        let message = match message {
            None => return DisconnectReason::ConnectionLost,
            Some(Err(error)) => {
                if let Some(closure) = closure_for(&error) {
                    core.close(closure);
                    return server_closed(core);
                }
                tracing::debug!(%error, "read failed");
                return DisconnectReason::ConnectionLost;
            }
            Some(Ok(Message::Close(frame))) => {
                core.close(Closure::ClientClosed);
                return DisconnectReason::ClientClosed { code: frame.map(|frame| frame.code) };
            }
            Some(Ok(message)) => message,
        };
        if matches!(message, Message::Pong(_)) {
            clock.watch.ponged();
        }
        // Every frame counts against the rate, pings too: each ping makes the server queue a
        // pong, so a ping flood costs the server as much as a message flood.
        if let Some(bucket) = &mut bucket
            && !bucket.take(Instant::now())
        {
            rate_limited(runtime, socket, bucket, &message);
            clock.write(sink, core).await;
            continue;
        }
        let (operation, result) = match message {
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
            Message::Text(text) if !G::READS_TEXT => {
                clock.handle(core, on_text(runtime, socket, text.as_str(), handshake)).await;
                clock.write(sink, core).await;
                continue;
            }
            Message::Text(text) => {
                (Operation::Text, clock.handle(core, guarded(runtime.gateway.on_text(socket, text))).await)
            }
            Message::Binary(data) => {
                (Operation::Binary, clock.handle(core, guarded(runtime.gateway.on_binary(socket, data))).await)
            }
        };
        if let Ok(Err(error)) | Err(error) = result {
            fail(runtime, socket, operation, &error, None);
        }
        clock.write(sink, core).await;
    }
}

fn rate_limited<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    bucket: &Bucket,
    message: &Message,
) {
    let id = match message {
        Message::Text(text) if !G::READS_TEXT => {
            Request::decode(text.as_str()).ok().and_then(|request| request.id().cloned())
        }
        _ => None,
    };
    let mut error = GatewayError::new("rate_limited", RATE_LIMITED);
    if bucket.violations >= bucket.limit.max_violations {
        error = error.closing(Closure::RateLimited.code());
    }
    fail(runtime, socket, Operation::Decode, &error, id.as_ref());
}

async fn on_text<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    text: &str,
    handshake: Option<&ConnectRequest>,
) {
    let request = match Request::decode(text) {
        Ok(request) => request,
        Err(error) => {
            fail(runtime, socket, Operation::Decode, &error.to_error(), error.id.as_ref());
            return;
        }
    };
    let result = if request.event() == REFRESH_EVENT {
        refresh(runtime, socket, &request, handshake).await
    } else {
        match guarded(runtime.gateway.dispatch(socket, &request)).await {
            Ok(Dispatch::Handled(result)) => result,
            Ok(Dispatch::UnknownEvent) => Err(GatewayError::quoting_input(
                "unknown_event",
                format!("no handler for event `{}`", request.event().chars().take(100).collect::<String>()),
                "no handler for this event",
            )),
            Err(panic) => Err(panic),
        }
    };
    match result {
        Ok(Some(frame)) => {
            socket.core().deliver(frame);
        }
        Ok(None) => {}
        Err(error) => fail(runtime, socket, Operation::Event(request.event()), &error, request.id()),
    }
}

/// `auth.refresh`: verifies a fresh token for the same entity, passes it through
/// `validate_connection` as a connect would, and moves the socket's expiry.
async fn refresh<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    request: &Request<'_>,
    handshake: Option<&ConnectRequest>,
) -> Result<Option<axum::extract::ws::Utf8Bytes>, GatewayError> {
    let rejected = |message: String| GatewayError::new("refresh_rejected", message);
    let token: String = request
        .payload()
        .map_err(|_| rejected("`data` of `auth.refresh` must be the new token as a string".to_owned()))?;
    let token = Token::new(token, TokenSource::Refresh);
    let identity = match guarded(runtime.auth.reauthenticate(&token)).await? {
        Ok(identity) => identity,
        Err(error) => return Err(rejected(error.to_string())),
    };
    if runtime.gateway.get_entity_id(&identity).as_deref() != Some(socket.entity_id()) {
        return Err(rejected("the token belongs to another entity".to_owned()));
    }
    if let Some(handshake) = handshake {
        let request = handshake.refreshed(token);
        if let Err(error) = guarded(runtime.gateway.validate_connection(&request, &identity)).await? {
            let refused = rejected(error.message().to_owned());
            return Err(match error.close_code() {
                Some(code) => refused.closing(code),
                None => refused,
            });
        }
    }
    socket.core().set_expires_at(identity.expires_at);
    let expiry = Expiry { expires_at: identity.expires_at.unwrap_or(0) };
    protocol::encode(REFRESH_EVENT, &expiry, request.id()).map(Some).map_err(GatewayError::internal)
}

/// Logs an error once, answers it with an `error` envelope, and closes when it says so.
fn fail<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    operation: Operation<'_>,
    error: &GatewayError,
    id: Option<&MessageId>,
) {
    runtime.gateway.handle_connection_error(socket, operation, error);
    socket.core().deliver(protocol::encode_error(error.code(), error.message(), id));
    if let Some(code) = error.close_code() {
        socket.core().close(Closure::Error { code, reason: Cow::Owned(error.message().to_owned()) });
    }
}

pub(super) fn server_closed(core: &SocketCore) -> DisconnectReason {
    match core.close_request() {
        Some(request) => DisconnectReason::ServerClosed { code: request.code, reason: request.reason.clone() },
        None => DisconnectReason::ConnectionLost,
    }
}

/// Why a client whose frame could not be read is closed, if it broke a rule rather than the
/// connection.
fn closure_for(error: &axum::Error) -> Option<Closure> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        match current.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => return Some(Closure::MessageTooBig),
            Some(tungstenite::Error::Utf8(_)) => return Some(Closure::InvalidUtf8),
            Some(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
                | tungstenite::error::ProtocolError::SendAfterClosing,
            )) => return None,
            Some(tungstenite::Error::Protocol(_)) => return Some(Closure::ProtocolViolation),
            _ => {}
        }
        source = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_bursts_then_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(RateLimit { per_second: 10, burst: 3, max_violations: 2 });
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert_eq!(bucket.violations, 1);
        assert!(bucket.take(start + Duration::from_millis(100)), "one token refills in 100 ms");
        assert_eq!(bucket.violations, 0, "an accepted message resets the violations");
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }
}
