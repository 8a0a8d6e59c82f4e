//! One socket's life once its handshake is decided: attached to its namespace, registered in
//! presence, `on_connect`, the read loop, `on_disconnect`, the close, and the cleanup that
//! happens however the socket ends, panics included.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::Either;
use futures_util::stream::SplitStream;
use tokio::sync::oneshot;
use tracing::{Instrument, Span};

use super::guard::guarded;
use super::handshake::{Admitted, Refused, Verdict, refuse_boxed, until_close_frame};
use super::origin::OriginPolicy;
use super::read::{read_loop, server_closed};
use super::transport::FramePipe;
use super::write::Writer;
use crate::auth::{Authenticator, ConnectRequest};
use crate::close::{Closure, DisconnectReason};
use crate::error::{GatewayError, Operation};
use crate::filter::ErrorFilter;
use crate::gateway::{GatewayHandlers, SocketOf};
use crate::hub::Hub;
use crate::id::SocketId;
use crate::intercept::Interceptor;
use crate::logging::Untrusted;
use crate::metrics;
use crate::namespace::{Attachment, Namespace};
use crate::presence::{PresenceEntry, PresenceMeta, no_meta};
use crate::socket::{AuthenticatedSocket, Outbox, SocketCore};
use crate::state::ModuleState;

/// Everything one mounted gateway needs at run time.
pub(crate) struct GatewayRuntime<G: GatewayHandlers> {
    pub(crate) gateway: G,
    pub(crate) auth: Arc<G::Auth>,
    pub(crate) namespace: Namespace,
    pub(crate) origins: OriginPolicy,
    pub(crate) state: Arc<ModuleState>,
    /// The crate's, the module's, then the gateway's interceptors: outermost first.
    pub(crate) interceptors: Box<[Arc<dyn Interceptor>]>,
    /// Whether the first interceptor is the message span's, which dispatch leaves out while
    /// no subscriber would record the span.
    pub(crate) spans_first: bool,
    /// The gateway's error filters, then the module's: first to run first.
    pub(crate) error_filters: Box<[Arc<dyn ErrorFilter>]>,
    /// The gateway's per-connection metric handles.
    pub(crate) metrics: metrics::GatewayMetrics,
    /// The module's hub, held so that `AuthenticatedSocket::hub` finds every namespace while
    /// the gateway serves sockets, even when the application kept no hub of its own.
    pub(crate) hub: OnceLock<Hub>,
}

/// A socket attached to its namespace, not yet in presence.
pub(super) struct Opened<G: GatewayHandlers, T: FramePipe> {
    socket: SocketOf<G>,
    stream: SplitStream<T>,
    writer: Writer<T>,
    attachment: Attachment,
    /// Taken when the socket is registered in presence.
    meta: PresenceMeta,
    counted: metrics::OpenConnection,
    ready: Option<oneshot::Sender<()>>,
    handshake: Option<Box<ConnectRequest>>,
}

impl<G: GatewayHandlers> GatewayRuntime<G> {
    /// The interceptors a message goes through now: all of them, or all but the message
    /// span's while it is disabled (the usual `info` level), so that with no other
    /// interceptor dispatch boxes nothing.
    pub(super) fn interceptors(&self) -> &[Arc<dyn Interceptor>] {
        match &self.interceptors[..] {
            [_, rest @ ..] if self.spans_first && !crate::logging::message_spans_enabled() => rest,
            all => all,
        }
    }

    /// Serves a socket whose handshake was decided, in the socket's span, tracked for shutdown.
    pub(crate) fn serve(
        self: Arc<Self>,
        socket: impl FramePipe,
        verdict: Verdict<G>,
        span: Span,
        ready: Option<oneshot::Sender<()>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let tasks = self.state.tasks.clone();
        // This future lives as long as the socket, and an async block keeps room for what it
        // captures all that while. Boxed, the transport and the verdict, which the first poll
        // consumes, take a pointer's room instead of hundreds of bytes per socket; moved out
        // through `unbox`, the box is freed at that first poll (`*start` in the block would
        // keep it allocated until the socket ends).
        let start = Box::new((socket, verdict, ready));
        let connection = async move {
            let (socket, verdict, ready) = unbox(start);
            self.start(socket, verdict, ready).await;
        };
        tasks.track_future(connection.instrument(span))
    }

    /// What a socket does once upgraded: runs, or is refused. A plain function, so that what
    /// it consumes on the way is not kept in the socket's future.
    fn start<T: FramePipe>(
        &self,
        socket: T,
        verdict: Verdict<G>,
        ready: Option<oneshot::Sender<()>>,
    ) -> Either<impl Future<Output = ()> + Send + '_, Refused> {
        let opened = match verdict {
            Ok(admitted) => self.open(socket, admitted, ready),
            Err(refusal) => {
                drop(ready);
                metrics::connection_rejected(G::DESCRIPTOR.namespace, refusal.code().code());
                Err(refuse_boxed(socket, refusal, self.namespace.config().close_timeout))
            }
        };
        match opened {
            Ok(opened) => Either::Left(self.run(opened)),
            Err(refused) => Either::Right(refused),
        }
    }

    /// Attaches an admitted socket to its namespace; or, over a
    /// connection limit or during shutdown, the refusal to run instead.
    fn open<T: FramePipe>(
        &self,
        socket: T,
        admitted: Admitted<<G::Auth as Authenticator>::Claims>,
        ready: Option<oneshot::Sender<()>>,
    ) -> Result<Opened<G, T>, Refused> {
        let config = self.namespace.config();
        let socket_id = SocketId::next();
        Span::current().record("socket_id", tracing::field::display(socket_id));
        let entity_id = Arc::from(admitted.entity_id);
        let core = Arc::new(SocketCore::new(
            socket_id,
            entity_id,
            Outbox::new(config.send_queue_capacity, config.send_queue_bytes),
            admitted.identity.expires_at,
            admitted.transport,
        ));
        let attachment = match self.namespace.attach(Arc::clone(&core)) {
            Ok(attachment) => attachment,
            Err(limit) => {
                drop(ready);
                metrics::connection_rejected(G::DESCRIPTOR.namespace, limit.code().code());
                return Err(refuse_boxed(socket, limit, config.close_timeout));
            }
        };
        if self.state.shutdown.is_cancelled() {
            drop((attachment, ready));
            metrics::connection_rejected(G::DESCRIPTOR.namespace, Closure::GoingAway.code().code());
            return Err(refuse_boxed(socket, Closure::GoingAway, config.close_timeout));
        }
        let mut socket = socket;
        socket.opened(socket_id);
        let counted = self.metrics.connection_opened(core.transport);
        let (sink, stream) = socket.split();
        let writer = Writer::new(sink, Arc::clone(&core), self.metrics.sent(), config.close_timeout);
        let socket = AuthenticatedSocket::new(core, self.namespace.clone(), admitted.identity.claims);
        Ok(Opened {
            socket,
            stream,
            writer,
            attachment,
            meta: admitted.meta,
            counted,
            ready,
            handshake: admitted.handshake,
        })
    }

    /// Serves one opened socket until it closes, then cleans up after it.
    /// `ready` is told once `on_connect` succeeded, for the test harness.
    ///
    /// A plain function returning an `async move` block: an `async fn` would keep its argument
    /// twice in the future, as it was passed and as the body's binding.
    #[allow(clippy::manual_async_fn, reason = "an async fn would store `opened` twice per socket")]
    fn run<T: FramePipe>(&self, mut opened: Opened<G, T>) -> impl Future<Output = ()> + Send + '_ {
        async move {
            let config = self.namespace.config();
            let socket = &opened.socket;
            let core = socket.core();
            // The meta is dropped once registered (presence keeps it): the entry that lives as
            // long as the socket, to remove it, holds an empty one.
            let meta = std::mem::take(&mut opened.meta);
            let entry = PresenceEntry {
                namespace: self.namespace.name(),
                socket_id: core.id,
                entity_id: &core.entity_id,
                meta: no_meta(),
            };
            let presence = self.namespace.presence();
            // Every hook runs guarded, and so does the read loop: whatever panics, the socket
            // still leaves presence, its writer still sends the close frame, and the
            // connection is still released.
            let mut ending = None;
            let registered = match guarded(presence.register(PresenceEntry { meta: &meta, ..entry })).await {
                Ok(Ok(_)) => {
                    self.namespace.registered(core);
                    Ok(())
                }
                Ok(Err(error)) => Err(GatewayError::internal(error)),
                Err(panic) => Err(panic),
            };
            drop(meta);
            match registered {
                Ok(()) => {
                    ending = match guarded(self.connected(
                        socket,
                        &mut opened.stream,
                        &mut opened.writer,
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
                    drop((opened.attachment, opened.counted));
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
                    drop((opened.attachment, opened.counted));
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
            opened.writer.close().await;
            match ending {
                Some(DisconnectReason::ClientClosed { .. }) => return,
                Some(DisconnectReason::ServerClosed { code, .. }) if code.leaves_input_unread() => {
                    // The rest of the offending frame is still unread and cannot be parsed. Closing
                    // now would reset the connection and the client would lose the close frame;
                    // hold it open so the client reads the code and closes first.
                    Box::pin(tokio::time::sleep(config.close_timeout.min(Duration::from_secs(2)))).await;
                    return;
                }
                _ => {}
            }
            // Wait for the client's close frame, so the TCP connection is not reset under it.
            // Boxed, as the hooks are: once per socket, where inline it would take room for
            // a timer and a read in every idle socket's future.
            let _ = Box::pin(tokio::time::timeout(config.close_timeout, until_close_frame(&mut opened.stream))).await;
        }
    }

    /// From `on_connect` to `on_disconnect`; the reason the socket ended, when it got past
    /// `on_connect`.
    async fn connected<T: FramePipe>(
        &self,
        socket: &SocketOf<G>,
        stream: &mut SplitStream<T>,
        writer: &mut Writer<T>,
        ready: Option<oneshot::Sender<()>>,
        handshake: Option<&ConnectRequest>,
    ) -> Option<DisconnectReason> {
        // The hooks' futures are boxed, like the handlers' (`read.rs`): they run once, and inline
        // every socket would keep their room for its whole life.
        let connected = match guarded(writer.alongside(Box::pin(self.gateway.on_connect(socket)))).await {
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
            read_loop(self, socket, stream, writer, handshake).await
        };
        let reason = match guarded(serving).await {
            Ok(reason) => reason,
            Err(panic) => {
                tracing::error!(reason = %Untrusted(&panic), "the socket's task panicked");
                socket.core().close(Closure::HookFailed(Cow::Borrowed("internal error")));
                server_closed(socket.core())
            }
        };
        // A close that does not flush (the client's own, a slow or silent client) is sent
        // while `on_disconnect` runs, not after it: a client that does not read holds the close
        // up to the close timeout.
        let closing = async {
            if socket.core().is_finished() {
                writer.close().await;
            }
        };
        let disconnected = guarded(Box::pin(self.gateway.on_disconnect(socket, &reason)));
        if let ((), Err(panic)) = futures_util::future::join(closing, disconnected).await {
            self.gateway.handle_connection_error(socket, Operation::Disconnect, &panic);
        }
        self.gateway.log_disconnection_success(socket, &reason);
        metrics::disconnected(G::DESCRIPTOR.namespace, &reason);
        Some(reason)
    }
}

/// Takes a value out of its box and frees the box.
#[allow(clippy::boxed_local, reason = "the point is to free the box the caller holds")]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}
