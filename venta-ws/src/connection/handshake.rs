//! The HTTP side of a connection: the origin check, the upgrade, authentication,
//! `get_entity_id` and `validate_connection`, all decided before the socket runs; and the
//! close of a socket that was refused.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tracing::{Instrument, Span};

use super::guard::guarded;
use super::lifecycle::GatewayRuntime;
use super::transport::FramePipe;
use crate::auth::{Authenticator, ConnectRequest, Identity, SUBPROTOCOL};
use crate::close::{Closure, close_frame};
use crate::config::WRITE_BUFFER_SIZE;
use crate::gateway::{ClaimsOf, GatewayHandlers};
use crate::logging::{self, Untrusted};
use crate::namespace::Namespace;
use crate::presence::PresenceMeta;
use crate::transport::Transport;

pub(crate) struct Admitted<C> {
    pub(crate) identity: Identity<C>,
    pub(crate) entity_id: String,
    /// The socket's presence meta, from `presence_meta`.
    pub(crate) meta: PresenceMeta,
    /// The handshake request, kept when `validate_connection` must run again on refresh.
    pub(crate) handshake: Option<Box<ConnectRequest>>,
    /// The protocol the socket speaks.
    pub(crate) transport: Transport,
}

/// What the handshake decided for a socket of gateway `G`.
pub(crate) type Verdict<G> = Result<Admitted<ClaimsOf<G>>, Closure>;

/// A refused socket being closed: rare, so boxed rather than kept inline in every socket's
/// future.
pub(super) type Refused = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The span every line of one socket's life is logged in, with where the client connects
/// from (`remote_addr`, when the server was given connect info, and `user_agent`);
/// `socket_id` and `entity_id` are recorded once known.
pub(crate) fn socket_span(
    namespace: &Namespace,
    transport: Transport,
    headers: &HeaderMap,
    remote_addr: Option<SocketAddr>,
) -> Span {
    let span = tracing::info_span!(
        "socket",
        namespace = namespace.name(),
        transport = transport.as_str(),
        socket_id = tracing::field::Empty,
        entity_type = namespace.entity_type(),
        entity_id = tracing::field::Empty,
        remote_addr = tracing::field::Empty,
        user_agent = tracing::field::Empty,
    );
    if !span.is_disabled() {
        if let Some(addr) = remote_addr {
            span.record("remote_addr", tracing::field::display(addr));
        }
        if let Some(agent) = headers.get(USER_AGENT) {
            span.record("user_agent", tracing::field::display(Untrusted(String::from_utf8_lossy(agent.as_bytes()))));
        }
    }
    span
}

/// The axum handler of a gateway's path.
pub(crate) async fn handshake<G: GatewayHandlers>(
    State(runtime): State<Arc<GatewayRuntime<G>>>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let remote_addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let span = socket_span(&runtime.namespace, Transport::WebSocket, &parts.headers, remote_addr);
    if let Err(origin) = runtime.origins.check(&parts.headers) {
        span.in_scope(|| tracing::warn!(origin = %Untrusted(&origin), "handshake refused: origin not allowed"));
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let request = ConnectRequest::new(parts.headers, parts.uri, remote_addr);
    let verdict = if runtime.state.shutdown.is_cancelled() {
        Err(Closure::GoingAway)
    } else {
        runtime.admit(&request, Transport::WebSocket).instrument(span.clone()).await
    };

    let config = &runtime.namespace.config();
    let mut upgrade = upgrade
        .max_message_size(config.max_message_size)
        .max_frame_size(config.max_message_size)
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(WRITE_BUFFER_SIZE)
        .max_write_buffer_size(config.write_buffer_limit())
        .on_failed_upgrade({
            let span = span.clone();
            move |error| span.in_scope(|| tracing::debug!(%error, "upgrade failed"))
        });
    if request.offers_subprotocol() {
        upgrade = upgrade.protocols([SUBPROTOCOL]);
    }
    // axum keeps the callback until the upgrade completes, inside the socket's long-lived
    // future: boxed, the verdict takes a pointer's room there.
    let verdict = Box::new(verdict);
    upgrade.on_upgrade(move |socket| runtime.serve(socket, *verdict, span, None))
}

pub(super) fn refuse_boxed(socket: impl FramePipe, refusal: Closure, close_timeout: Duration) -> Refused {
    Box::pin(refuse(socket, refusal, close_timeout))
}

/// Closes a refused socket with its code, then waits briefly for the client's close frame.
pub(super) async fn refuse(mut socket: impl FramePipe, refusal: Closure, close_timeout: std::time::Duration) {
    let (code, reason) = (refusal.code(), refusal.reason());
    logging::connection_rejected(code, &reason);
    let frame = close_frame(code, &reason);
    let _ = tokio::time::timeout(close_timeout, async {
        if socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        until_close_frame(&mut socket).await;
    })
    .await;
}

/// Reads until the client's close frame (or the end of the connection), so the close
/// handshake completes and the TCP connection is not reset under the client.
pub(super) async fn until_close_frame<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    while let Some(Ok(message)) = stream.next().await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
}

impl<G: GatewayHandlers> GatewayRuntime<G> {
    /// Authenticates and validates a handshake, before the upgrade completes.
    pub(crate) async fn admit(
        &self,
        request: &ConnectRequest,
        transport: Transport,
    ) -> Result<Admitted<<G::Auth as Authenticator>::Claims>, Closure> {
        let started = std::time::Instant::now();
        let verdict = self.authenticate_and_accept(request, transport).await;
        self.metrics.handshake_finished(started);
        verdict
    }

    async fn authenticate_and_accept(
        &self,
        request: &ConnectRequest,
        transport: Transport,
    ) -> Result<Admitted<<G::Auth as Authenticator>::Claims>, Closure> {
        let identity = match guarded(self.auth.authenticate(request)).await {
            Ok(Ok(identity)) => identity,
            Ok(Err(error)) => return Err(error.closure()),
            Err(panic) => {
                tracing::error!(reason = %Untrusted(&panic), "authenticator panicked");
                return Err(Closure::HookFailed(Cow::Borrowed("authentication failed")));
            }
        };
        self.accept(request, identity, transport).await
    }

    /// Takes a verified identity through `get_entity_id`, `validate_connection` and
    /// `presence_meta`.
    pub(crate) async fn accept(
        &self,
        request: &ConnectRequest,
        identity: Identity<<G::Auth as Authenticator>::Claims>,
        transport: Transport,
    ) -> Result<Admitted<<G::Auth as Authenticator>::Claims>, Closure> {
        let Some(entity_id) = self.gateway.get_entity_id(&identity) else {
            return Err(Closure::NoEntity);
        };
        Span::current().record("entity_id", tracing::field::display(Untrusted(&entity_id)));
        match guarded(self.gateway.validate_connection(request, &identity)).await {
            Ok(Ok(())) => {
                let handshake = G::VALIDATES_CONNECTION.then(|| Box::new(request.kept()));
                let meta = self.gateway.presence_meta(&identity);
                Ok(Admitted { identity, entity_id, meta, handshake, transport })
            }
            Ok(Err(error)) => Err(error.closure(Closure::Rejected)),
            Err(panic) => {
                tracing::error!(reason = %Untrusted(&panic), "validate_connection panicked");
                Err(Closure::HookFailed(Cow::Borrowed("internal error")))
            }
        }
    }
}
