//! Serving an application with the protections a public WebSocket endpoint needs, which
//! `axum::serve` does not give: a deadline for the HTTP handshake (a client that opens a TCP
//! connection and never finishes its request is dropped), and a graceful shutdown that also
//! closes upgraded sockets with 1001.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::namespace::Hub;

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

    /// Shuts down when `signal` completes: stops accepting, closes every socket with 1001,
    /// waits for in-flight handlers and cleanup (up to the shutdown timeout), then finishes
    /// the HTTP requests in flight.
    pub fn with_graceful_shutdown(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long a client may take to send its HTTP handshake request (default 10 s).
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
        let stopping = CancellationToken::new();
        let connections = TaskTracker::new();
        let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
        loop {
            let (stream, remote) = tokio::select! {
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors or a reset before accept: keep serving.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            connections.spawn(serve_connection(stream, remote, app.clone(), handshake_timeout, stopping.clone()));
        }
        drop(listener);
        if let Some(hub) = hub {
            let report = hub.shutdown(shutdown_timeout).await;
            tracing::info!(closed = report.closed, completed = report.completed, "sockets shut down");
        }
        stopping.cancel();
        connections.close();
        let _ = tokio::time::timeout(shutdown_timeout, connections.wait()).await;
        Ok(())
    }
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
