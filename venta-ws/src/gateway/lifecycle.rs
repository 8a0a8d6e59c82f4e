//! One socket's life: origin check, authentication, upgrade, presence, hooks, the read loop,
//! the write loop, and cleanup that happens however the socket ends.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{Instrument, Span};

use super::read::{read_loop, server_closed};
use super::write::{SharedSink, write_loop};
use super::{ClaimsOf, GatewayHandlers, Operation, OriginPolicy, SocketOf, Transport};
use crate::auth::{Authenticator, ConnectRequest, Identity, SUBPROTOCOL};
use crate::close::{Closure, DisconnectReason, close_frame};
use crate::error::GatewayError;
use crate::id::SocketId;
use crate::logging::{self, Untrusted};
use crate::module::{ModuleState, WRITE_BUFFER_SIZE};
use crate::namespace::{Attachment, Namespace};
use crate::presence::PresenceEntry;
use crate::socket::{AuthenticatedSocket, SocketCore};

/// Everything one mounted gateway needs at run time.
pub(crate) struct GatewayRuntime<G: GatewayHandlers> {
    pub(crate) gateway: G,
    pub(crate) auth: Arc<G::Auth>,
    pub(crate) namespace: Namespace,
    pub(crate) origins: OriginPolicy,
    pub(crate) state: Arc<ModuleState>,
}

pub(crate) struct Admitted<C> {
    pub(crate) identity: Identity<C>,
    pub(crate) entity_id: String,
    /// The handshake request, kept when `validate_connection` must run again on refresh.
    pub(crate) handshake: Option<Box<ConnectRequest>>,
}

/// What the handshake decided for a socket of gateway `G`.
pub(crate) type Verdict<G> = Result<Admitted<ClaimsOf<G>>, Closure>;

/// A refused socket being closed: rare, so boxed rather than kept inline in every socket's
/// future.
type Refused = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A socket attached to its namespace, its writer running, not yet in presence.
struct Opened<G: GatewayHandlers, T: Transport> {
    socket: SocketOf<G>,
    stream: SplitStream<T>,
    sink: SharedSink<T>,
    writer: JoinHandle<()>,
    attachment: Attachment,
    ready: Option<oneshot::Sender<()>>,
    handshake: Option<Box<ConnectRequest>>,
}

/// A panic caught in a hook or handler, kept as an error for logging.
#[derive(Debug, thiserror::Error)]
#[error("panicked: {0}")]
struct Panicked(String);

impl Panicked {
    fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        Self(message)
    }
}

/// Runs a user future, turning a panic into an `internal` error.
pub(super) async fn guarded<T>(future: impl Future<Output = T>) -> Result<T, GatewayError> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| GatewayError::internal(Panicked::from_payload(payload.as_ref())))
}

/// The span every line of one socket's life is logged in; `socket_id` and `entity_id` are
/// recorded once known.
pub(crate) fn socket_span(namespace: &Namespace) -> Span {
    tracing::info_span!(
        "socket",
        namespace = namespace.name(),
        socket_id = tracing::field::Empty,
        entity_type = namespace.entity_type(),
        entity_id = tracing::field::Empty,
    )
}

/// The axum handler of a gateway's path.
pub(crate) async fn handshake<G: GatewayHandlers>(
    State(runtime): State<Arc<GatewayRuntime<G>>>,
    request: Request,
) -> Response {
    let span = socket_span(&runtime.namespace);
    let (mut parts, _body) = request.into_parts();
    if let Err(origin) = runtime.origins.check(&parts.headers) {
        span.in_scope(|| tracing::warn!(origin = %Untrusted(&origin), "handshake refused: origin not allowed"));
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let remote_addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let request = ConnectRequest::new(parts.headers, parts.uri, remote_addr);
    let verdict = if runtime.state.shutdown.is_cancelled() {
        Err(Closure::GoingAway)
    } else {
        runtime.admit(&request).instrument(span.clone()).await
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

fn refuse_boxed(socket: impl Transport, refusal: Closure, close_timeout: Duration) -> Refused {
    Box::pin(refuse(socket, refusal, close_timeout))
}

/// Closes a refused socket with its code, then waits briefly for the client's close frame.
async fn refuse(mut socket: impl Transport, refusal: Closure, close_timeout: std::time::Duration) {
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
async fn until_close_frame<S>(stream: &mut S)
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
    async fn admit(&self, request: &ConnectRequest) -> Result<Admitted<<G::Auth as Authenticator>::Claims>, Closure> {
        let identity = match guarded(self.auth.authenticate(request)).await {
            Ok(Ok(identity)) => identity,
            Ok(Err(error)) => return Err(error.closure()),
            Err(panic) => {
                tracing::error!(reason = %Untrusted(&panic), "authenticator panicked");
                return Err(Closure::HookFailed(Cow::Borrowed("authentication failed")));
            }
        };
        self.accept(request, identity).await
    }

    /// Takes a verified identity through `get_entity_id` and `validate_connection`.
    pub(crate) async fn accept(
        &self,
        request: &ConnectRequest,
        identity: Identity<<G::Auth as Authenticator>::Claims>,
    ) -> Result<Admitted<<G::Auth as Authenticator>::Claims>, Closure> {
        let Some(entity_id) = self.gateway.get_entity_id(&identity) else {
            return Err(Closure::NoEntity);
        };
        Span::current().record("entity_id", tracing::field::display(Untrusted(&entity_id)));
        match guarded(self.gateway.validate_connection(request, &identity)).await {
            Ok(Ok(())) => {
                let handshake = G::VALIDATES_CONNECTION.then(|| Box::new(request.kept()));
                Ok(Admitted { identity, entity_id, handshake })
            }
            Ok(Err(error)) => Err(error.closure(Closure::Rejected)),
            Err(panic) => {
                tracing::error!(reason = %Untrusted(&panic), "validate_connection panicked");
                Err(Closure::HookFailed(Cow::Borrowed("internal error")))
            }
        }
    }

    /// Serves a socket whose handshake was decided, in the socket's span, tracked for shutdown.
    pub(crate) fn serve(
        self: Arc<Self>,
        socket: impl Transport,
        verdict: Verdict<G>,
        span: Span,
        ready: Option<oneshot::Sender<()>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let tasks = self.state.tasks.clone();
        // This future lives as long as the socket, and an async block keeps room for what it
        // captures all that while. Boxed, the transport and the verdict, which the first poll
        // consumes, take a pointer's room instead of hundreds of bytes per socket.
        let start = Box::new((socket, verdict, ready));
        let connection = async move {
            let (socket, verdict, ready) = *start;
            self.start(socket, verdict, ready).await;
        };
        tasks.track_future(connection.instrument(span))
    }

    /// What a socket does once upgraded: runs, or is refused. A plain function, so that what
    /// it consumes on the way is not kept in the socket's future.
    fn start<T: Transport>(
        &self,
        socket: T,
        verdict: Verdict<G>,
        ready: Option<oneshot::Sender<()>>,
    ) -> Either<impl Future<Output = ()> + Send + '_, Refused> {
        let opened = match verdict {
            Ok(admitted) => self.open(socket, admitted, ready),
            Err(refusal) => {
                drop(ready);
                Err(refuse_boxed(socket, refusal, self.namespace.config().close_timeout))
            }
        };
        match opened {
            Ok(opened) => Either::Left(self.run(opened)),
            Err(refused) => Either::Right(refused),
        }
    }

    /// Attaches an admitted socket to its namespace and starts its writer; or, over a
    /// connection limit or during shutdown, the refusal to run instead.
    fn open<T: Transport>(
        &self,
        socket: T,
        admitted: Admitted<<G::Auth as Authenticator>::Claims>,
        ready: Option<oneshot::Sender<()>>,
    ) -> Result<Opened<G, T>, Refused> {
        let config = self.namespace.config();
        let socket_id = SocketId::next();
        Span::current().record("socket_id", tracing::field::display(socket_id));
        let entity_id = Arc::from(admitted.entity_id);
        let core =
            Arc::new(SocketCore::new(socket_id, entity_id, config.send_queue_capacity, admitted.identity.expires_at));
        let attachment = match self.namespace.attach(Arc::clone(&core)) {
            Ok(attachment) => attachment,
            Err(limit) => {
                drop(ready);
                return Err(refuse_boxed(socket, limit, config.close_timeout));
            }
        };
        if self.state.shutdown.is_cancelled() {
            drop((attachment, ready));
            return Err(refuse_boxed(socket, Closure::GoingAway, config.close_timeout));
        }
        let (sink, stream) = socket.split();
        let sink: SharedSink<T> = Arc::new(tokio::sync::Mutex::new(sink));
        let writer =
            tokio::spawn(write_loop(Arc::clone(&sink), Arc::clone(&core), config.close_timeout).in_current_span());
        let socket = AuthenticatedSocket::new(core, self.namespace.clone(), admitted.identity.claims);
        Ok(Opened { socket, stream, sink, writer, attachment, ready, handshake: admitted.handshake })
    }

    /// Serves one opened socket until it closes, then cleans up after it.
    /// `ready` is told once `on_connect` succeeded, for the test harness.
    ///
    /// A plain function returning an `async move` block: an `async fn` would keep its argument
    /// twice in the future, as it was passed and as the body's binding.
    #[allow(clippy::manual_async_fn, reason = "an async fn would store `opened` twice per socket")]
    fn run<T: Transport>(&self, mut opened: Opened<G, T>) -> impl Future<Output = ()> + Send + '_ {
        async move {
            let config = self.namespace.config();
            let socket = &opened.socket;
            let core = socket.core();
            let entry =
                PresenceEntry { namespace: self.namespace.name(), socket_id: core.id, entity_id: &core.entity_id };
            let presence = self.namespace.presence();
            // Every hook runs guarded, and so does the read loop: whatever panics, the socket
            // still leaves presence, its writer still sends the close frame, and the
            // connection is still released.
            let mut ending = None;
            let registered = match guarded(presence.register(entry)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(GatewayError::internal(error)),
                Err(panic) => Err(panic),
            };
            match registered {
                Ok(()) => {
                    ending = match guarded(self.connected(
                        socket,
                        &mut opened.stream,
                        &opened.sink,
                        opened.ready,
                        opened.handshake.as_deref(),
                    ))
                    .await
                    {
                        Ok(ending) => ending,
                        Err(panic) => {
                            tracing::error!(reason = %Untrusted(&panic), "a gateway hook panicked");
                            core.close(Closure::HookFailed(Cow::Borrowed("internal error")));
                            None
                        }
                    };
                    drop(opened.attachment);
                    match guarded(presence.unregister(entry)).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => {
                            tracing::error!(reason = %Untrusted(&error), "could not remove socket from presence");
                        }
                        Err(panic) => {
                            tracing::error!(reason = %Untrusted(&panic), "could not remove socket from presence");
                        }
                    }
                }
                Err(error) => {
                    drop(opened.attachment);
                    let closure = Closure::PresenceUnavailable;
                    let error = error.closing(closure.code());
                    core.close(closure);
                    if let Err(panic) = guarded(async {
                        self.gateway.handle_connection_error(socket, Operation::RegisterPresence, &error);
                    })
                    .await
                    {
                        tracing::error!(reason = %Untrusted(&panic), "handle_connection_error panicked");
                    }
                }
            }
            core.finish();
            let _ = opened.writer.await;
            match ending {
                Some(DisconnectReason::ClientClosed { .. }) => return,
                Some(DisconnectReason::ServerClosed { code, .. }) if code.leaves_input_unread() => {
                    // The rest of the offending frame is still unread and cannot be parsed. Closing
                    // now would reset the connection and the client would lose the close frame;
                    // hold it open so the client reads the code and closes first.
                    tokio::time::sleep(config.close_timeout.min(Duration::from_secs(2))).await;
                    return;
                }
                _ => {}
            }
            // Wait for the client's close frame, so the TCP connection is not reset under it.
            let _ = tokio::time::timeout(config.close_timeout, until_close_frame(&mut opened.stream)).await;
        }
    }

    /// From `on_connect` to `on_disconnect`; the reason the socket ended, when it got past
    /// `on_connect`.
    async fn connected<T: Transport>(
        &self,
        socket: &SocketOf<G>,
        stream: &mut SplitStream<T>,
        sink: &SharedSink<T>,
        ready: Option<oneshot::Sender<()>>,
        handshake: Option<&ConnectRequest>,
    ) -> Option<DisconnectReason> {
        let connected = match guarded(self.gateway.on_connect(socket)).await {
            Ok(result) => result,
            Err(panic) => Err(panic),
        };
        if let Err(error) = connected {
            socket.core().close(error.closure(Closure::HookFailed));
            self.gateway.handle_connection_error(socket, Operation::Connect, &error);
            return None;
        }
        let serving = async {
            self.gateway.log_connection_success(socket);
            if let Some(ready) = ready {
                let _ = ready.send(());
            }
            read_loop(self, socket, stream, sink, handshake).await
        };
        let reason = match guarded(serving).await {
            Ok(reason) => reason,
            Err(panic) => {
                tracing::error!(reason = %Untrusted(&panic), "the socket's task panicked");
                socket.core().close(Closure::HookFailed(Cow::Borrowed("internal error")));
                server_closed(socket.core())
            }
        };
        if let Err(panic) = guarded(self.gateway.on_disconnect(socket, &reason)).await {
            self.gateway.handle_connection_error(socket, Operation::Disconnect, &panic);
        }
        self.gateway.log_disconnection_success(socket, &reason);
        Some(reason)
    }
}
