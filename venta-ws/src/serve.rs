//! Serving an application with the protections a public WebSocket endpoint needs, which
//! `axum::serve` does not give: a deadline for the HTTP handshake (a client that opens a TCP
//! connection and never finishes its request, or never reads the response, is dropped), an
//! accept loop that survives running out of file descriptors (it refuses clients at once
//! instead of leaving them waiting, backs off, and logs a line every few seconds rather than
//! one per failure), and a graceful shutdown that also closes upgraded sockets with 1001,
//! taking requests until they are closed.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::hub::Hub;

/// The listen backlog of [`bind`]: how many connections may wait to be accepted. tokio's
/// `TcpListener::bind` asks for 128, which a connect storm (every client reconnecting after a
/// deploy) overflows, and the kernel then drops connection attempts.
pub const LISTEN_BACKLOG: u32 = 1024;

/// A listener on `addr` with a backlog of [`LISTEN_BACKLOG`] and `SO_REUSEADDR`, for
/// [`serve`]. Call it inside a tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener` until the shutdown signal, if one is given.
///
/// ```no_run
/// # use venta_ws::prelude::*;
/// # #[derive(WebSocketGateway)]
/// # #[gateway(namespace = "user", auth = Jwt)]
/// # struct UserGateway;
/// # #[venta_ws::messages]
/// # impl UserGateway {}
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let module = WebSocketModule::builder().jwt(JwtConfig::hs256_from_env("JWT_SECRET")?).gateway(UserGateway).build()?;
/// let app = axum::Router::new().merge(module.router());
/// let listener = venta_ws::bind("127.0.0.1:3000".parse()?)?;
/// venta_ws::serve(listener, app)
///     .with_hub(module.hub())
///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
///     .await?;
/// # Ok(())
/// # }
/// ```
pub fn serve(listener: TcpListener, app: Router) -> Serve {
    Serve {
        listener,
        app,
        hub: None,
        signal: None,
        handshake_timeout: Duration::from_secs(10),
        shutdown_timeout: Duration::from_secs(10),
    }
}

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server being configured; await it to run. See [`serve`].
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve {
    listener: TcpListener,
    app: Router,
    hub: Option<Hub>,
    signal: Option<Signal>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl Serve {
    /// The module whose sockets are closed with 1001 on shutdown.
    pub fn with_hub(mut self, hub: Hub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// Shuts down when `signal` completes: readiness turns 503 ([`Hub::readiness`]), every
    /// socket is closed with 1001, in-flight handlers and cleanup are waited for (up to the
    /// shutdown timeout), then requests are still taken for a second, so that long-polling
    /// Socket.IO clients fetch their last packets (new sockets are refused with 1001 all that
    /// while); then accepting stops and the HTTP requests in flight finish. Without a hub
    /// ([`with_hub`](Self::with_hub)), accepting stops at once.
    pub fn with_graceful_shutdown(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long a client may take to send its HTTP handshake request, and how long a response
    /// may wait on a client that does not read it (default 10 s); then the connection is
    /// dropped. Upgraded sockets are not bound by it.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long shutdown waits for sockets and requests to finish (default 10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    async fn run(self) -> io::Result<()> {
        let Self { listener, app, hub, signal, handshake_timeout, shutdown_timeout } = self;
        let mut acceptor = Acceptor {
            listener,
            app,
            handshake_timeout,
            stopping: CancellationToken::new(),
            connections: TaskTracker::new(),
            reserve: Reserve::take(),
            failures: AcceptFailures::default(),
        };
        acceptor.accept_until(signal.unwrap_or_else(|| Box::pin(std::future::pending()))).await;
        if let Some(hub) = hub {
            // Requests are still taken while the sockets close and for a moment after: a
            // long-polling Socket.IO client fetches its `closing` and DISCONNECT with a request
            // of its own, and new sockets are refused with 1001 meanwhile.
            let closed = CancellationToken::new();
            let shutdown = async {
                let report = hub.shutdown(shutdown_timeout).await;
                tracing::info!(closed = report.closed, completed = report.completed, "sockets shut down");
                tokio::time::sleep(DRAIN_AFTER_SHUTDOWN).await;
                closed.cancel();
            };
            tokio::join!(shutdown, acceptor.accept_until(closed.cancelled()));
        }
        let Acceptor { listener, stopping, connections, .. } = acceptor;
        drop(listener);
        stopping.cancel();
        connections.close();
        let _ = tokio::time::timeout(shutdown_timeout, connections.wait()).await;
        Ok(())
    }
}

/// How long requests are still accepted after every socket was closed on shutdown, so that
/// clients that fetch what was sent to them (long-polling) get their last packets.
const DRAIN_AFTER_SHUTDOWN: Duration = Duration::from_secs(1);

/// The accept loop and what it keeps between its runs.
struct Acceptor {
    listener: TcpListener,
    app: Router,
    handshake_timeout: Duration,
    stopping: CancellationToken,
    connections: TaskTracker,
    reserve: Reserve,
    failures: AcceptFailures,
}

impl Acceptor {
    /// Accepts and serves connections until `until` resolves.
    async fn accept_until(&mut self, until: impl Future<Output = ()>) {
        let mut until = std::pin::pin!(until);
        loop {
            let accepted = tokio::select! {
                () = &mut until => return,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => {
                    if let Some(report) = self.failures.accepted(Instant::now()) {
                        tracing::info!(failures = report.failures, refused = report.refused, "accepting again");
                    }
                    self.reserve.refill();
                    accepted
                }
                Err(error) => {
                    let kind = AcceptError::of(&error);
                    // Out of descriptors: a queued client would wait for one, maybe forever.
                    let refusal = match kind {
                        AcceptError::Descriptors => self.reserve.refuse_one(&self.listener),
                        AcceptError::Connection | AcceptError::Other => Refusal::Failed,
                    };
                    if let Some(report) = self.failures.failed(refusal == Refusal::Refused, Instant::now()) {
                        tracing::warn!(
                            %error,
                            failures = report.failures,
                            refused = report.refused,
                            "accept failed"
                        );
                    }
                    // Accepting again cannot spin when a client was refused (it left the queue),
                    // when none was waiting (the listener waits for the next one), or when the
                    // one connection failed (it is gone). Anything else waits a little longer
                    // each time.
                    if refusal != Refusal::Failed || kind == AcceptError::Connection {
                        continue;
                    }
                    let pause = self.failures.pause();
                    tokio::select! {
                        () = &mut until => return,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            self.connections.spawn(serve_connection(
                stream,
                remote,
                self.app.clone(),
                self.handshake_timeout,
                self.stopping.clone(),
            ));
        }
    }
}

/// The accept loop's first pause after a failure it cannot act on; each one in a row doubles
/// it, up to [`ACCEPT_PAUSE_MAX`].
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
/// The longest pause of the accept loop after failures.
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);
/// At most one `accept failed` line per this interval, counting the failures since the last.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// What an accept failure says about what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptError {
    /// The process or the system is out of file descriptors (`EMFILE`, `ENFILE`).
    Descriptors,
    /// One connection failed before it could be accepted; the next may well succeed.
    Connection,
    /// Anything else (short of memory, ...): wait before trying again.
    Other,
}

impl AcceptError {
    fn of(error: &io::Error) -> Self {
        #[cfg(unix)]
        if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
            return Self::Descriptors;
        }
        match error.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted => Self::Connection,
            _ => Self::Other,
        }
    }
}

/// What an `accept failed` line reports: what happened since the last line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct AcceptReport {
    /// Failed accepts.
    failures: u64,
    /// Of those, the clients that were refused (their connection closed at once) because the
    /// process was out of file descriptors.
    refused: u64,
}

/// Failed accepts since the last log line, when that line was, and the pause they call for.
#[derive(Debug, Default)]
struct AcceptFailures {
    unreported: AcceptReport,
    last_line: Option<Instant>,
    /// Pauses in a row without an accept in between.
    paused: u32,
}

impl AcceptFailures {
    /// Counts a failure (`refused` when its client was refused); returns what to log, at most
    /// once per [`ACCEPT_LOG_INTERVAL`].
    fn failed(&mut self, refused: bool, now: Instant) -> Option<AcceptReport> {
        self.unreported.failures += 1;
        self.unreported.refused += u64::from(refused);
        self.report(now)
    }

    /// An accept succeeded: the pause starts over. Returns the failures not logged yet, when a
    /// line is due.
    fn accepted(&mut self, now: Instant) -> Option<AcceptReport> {
        self.paused = 0;
        if self.unreported.failures == 0 { None } else { self.report(now) }
    }

    fn report(&mut self, now: Instant) -> Option<AcceptReport> {
        if self.last_line.is_some_and(|at| now.saturating_duration_since(at) < ACCEPT_LOG_INTERVAL) {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }

    /// How long to wait before accepting again: [`ACCEPT_PAUSE_MIN`], doubled for each pause
    /// in a row, at most [`ACCEPT_PAUSE_MAX`].
    fn pause(&mut self) -> Duration {
        let pause = ACCEPT_PAUSE_MIN.saturating_mul(1 << self.paused.min(16)).min(ACCEPT_PAUSE_MAX);
        self.paused = self.paused.saturating_add(1);
        pause
    }
}

/// A file descriptor kept in reserve for refusing clients once the process has run out.
///
/// When accept fails for want of a descriptor, the client stays in the listen queue and waits
/// for a connection that may never come, while the loop fails on it again and again. Closing
/// the reserve frees one descriptor: the queued connection is accepted into it and closed at
/// once, so that client sees its connection closed and may retry later, and the reserve is
/// taken again.
#[derive(Debug)]
struct Reserve(Option<std::fs::File>);

impl Reserve {
    fn take() -> Self {
        Self(Self::open())
    }

    fn open() -> Option<std::fs::File> {
        if cfg!(unix) { std::fs::File::open("/dev/null").ok() } else { None }
    }

    /// Takes the reserve again if an earlier attempt found no descriptor for it.
    fn refill(&mut self) {
        if self.0.is_none() {
            self.0 = Self::open();
        }
    }

    /// Spends the reserve on refusing one queued client, and takes it again.
    fn refuse_one(&mut self, listener: &TcpListener) -> Refusal {
        let Some(reserve) = self.0.take() else {
            self.refill();
            return Refusal::Failed;
        };
        drop(reserve);
        // The failed accept left the listener ready: this tries accept(2) once, now. (Linux
        // fails an accept for want of a descriptor before it looks for a queued client.)
        let refusal = match listener.accept().now_or_never() {
            Some(Ok((stream, _))) => {
                drop(stream);
                Refusal::Refused
            }
            Some(Err(_)) => Refusal::Failed,
            None => Refusal::NoneWaiting,
        };
        self.refill();
        refusal
    }
}

/// What [`Reserve::refuse_one`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A queued client was accepted and its connection closed at once.
    Refused,
    /// No client was queued: the listener waits for the next one.
    NoneWaiting,
    /// There was no reserve to spend, or accept failed even with it spent.
    Failed,
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    handshake_timeout: Duration,
    stopping: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(handshake_timeout);
    let (stream, http) = WriteDeadline::new(stream, handshake_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        }
        () = stopping.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
    // Done with HTTP: the stream is closed, or upgraded and in a socket's hands.
    http.end();
}

/// Whether a connection still speaks HTTP, shared between [`serve_connection`] and its
/// stream, and the deadline of a write that waits on the client while it does.
#[derive(Debug)]
struct HttpPhase {
    ended: AtomicBool,
    timeout: Duration,
}

impl HttpPhase {
    fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

/// A connection's stream whose writes fail once one has waited `timeout` for the client to
/// read, as long as the connection speaks HTTP. hyper has no such deadline: a client that
/// asks for responses (or pipelines requests) and never reads them would hold the connection,
/// and the kernel buffers filled for it, forever. Once upgraded, the stream passes writes
/// through untouched: a socket's send queue and close deadline govern it then.
#[derive(Debug)]
struct WriteDeadline {
    stream: tokio::net::TcpStream,
    http: Arc<HttpPhase>,
    /// Armed while a write waits; any progress disarms it.
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: tokio::net::TcpStream, timeout: Duration) -> (Self, Arc<HttpPhase>) {
        let http = Arc::new(HttpPhase { ended: AtomicBool::new(false), timeout });
        (Self { stream, http: Arc::clone(&http), waiting: None }, http)
    }

    /// Passes `poll`, a write's progress, on, failing it when it has waited too long.
    fn guard<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() || self.http.ended() {
            self.waiting = None;
            return poll;
        }
        let timeout = self.http.timeout;
        let waiting = self.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match waiting.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.waiting = None;
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading the response")))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.guard(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_flush(cx);
        this.guard(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.guard(cx, poll)
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_pause_longer_each_time_up_to_a_cap_and_start_over_after_an_accept() {
        let mut failures = AcceptFailures::default();
        let pauses: Vec<Duration> = (0..10).map(|_| failures.pause()).collect();
        assert_eq!(pauses[..3], [ACCEPT_PAUSE_MIN, ACCEPT_PAUSE_MIN * 2, ACCEPT_PAUSE_MIN * 4]);
        assert!(pauses.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(pauses[9], ACCEPT_PAUSE_MAX);
        assert!((0..100).map(|_| failures.pause()).all(|pause| pause == ACCEPT_PAUSE_MAX), "no overflow");
        let _ = failures.accepted(Instant::now());
        assert_eq!(failures.pause(), ACCEPT_PAUSE_MIN);
    }

    #[test]
    fn accept_failures_are_logged_once_per_interval_with_their_count() {
        let start = Instant::now();
        let mut failures = AcceptFailures::default();
        assert_eq!(failures.failed(true, start), Some(AcceptReport { failures: 1, refused: 1 }), "the first at once");
        let at = |millis| start + Duration::from_millis(millis);
        assert_eq!(failures.failed(false, at(10)), None);
        assert_eq!(failures.failed(true, at(20)), None);
        assert_eq!(failures.accepted(at(30)), None, "the interval has not passed");
        assert_eq!(failures.failed(true, at(4_000)), None);
        let next = start + ACCEPT_LOG_INTERVAL;
        assert_eq!(failures.failed(false, next), Some(AcceptReport { failures: 4, refused: 2 }));
        assert_eq!(failures.accepted(next + ACCEPT_LOG_INTERVAL), None, "nothing left to report");
        assert_eq!(failures.failed(false, next + ACCEPT_LOG_INTERVAL), Some(AcceptReport { failures: 1, refused: 0 }));
        assert_eq!(failures.failed(false, next + ACCEPT_LOG_INTERVAL * 2 - Duration::from_millis(1)), None);
        let recovered = failures.accepted(next + ACCEPT_LOG_INTERVAL * 2);
        assert_eq!(recovered, Some(AcceptReport { failures: 1, refused: 0 }), "a failure left is logged on recovery");
    }

    #[test]
    fn accept_errors_are_told_apart() {
        assert_eq!(AcceptError::of(&io::Error::from(io::ErrorKind::ConnectionAborted)), AcceptError::Connection);
        assert_eq!(AcceptError::of(&io::Error::from(io::ErrorKind::OutOfMemory)), AcceptError::Other);
        #[cfg(unix)]
        for errno in [libc::EMFILE, libc::ENFILE] {
            assert_eq!(AcceptError::of(&io::Error::from_raw_os_error(errno)), AcceptError::Descriptors);
        }
    }
}
