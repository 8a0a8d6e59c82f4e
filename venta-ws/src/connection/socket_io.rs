//! The Socket.IO counterpart of `handshake.rs`: a client joining a gateway's namespace is
//! checked against the gateway's origin policy, authenticated and validated as a plain
//! WebSocket would be, then served by the same lifecycle through its Socket.IO pipe. A refusal
//! is closed through the pipe, which answers it as a `connect_error` carrying the close code.

use std::borrow::Cow;
use std::sync::Arc;

use tracing::Instrument;

use super::handshake::socket_span;
use super::lifecycle::GatewayRuntime;
use super::transport::FramePipe;
use crate::auth::ConnectRequest;
use crate::close::Closure;
use crate::gateway::GatewayHandlers;
use crate::id::SocketId;
use crate::logging::Untrusted;
use crate::socketio::{SocketIoGateway, SocketIoPipe};
use crate::transport::Transport;

impl FramePipe for SocketIoPipe {
    fn opened(&mut self, id: SocketId) {
        SocketIoPipe::opened(self, id);
    }
}

impl<G: GatewayHandlers> SocketIoGateway for GatewayRuntime<G> {
    fn connect(self: Arc<Self>, pipe: SocketIoPipe, request: ConnectRequest) {
        let span = socket_span(&self.namespace, Transport::SocketIo, request.headers(), request.remote_addr());
        tokio::spawn(async move {
            let verdict = if let Err(origin) = self.origins.check(request.headers()) {
                span.in_scope(|| tracing::warn!(origin = %Untrusted(&origin), "handshake refused: origin not allowed"));
                Err(Closure::Rejected(Cow::Borrowed("origin not allowed")))
            } else if self.state.shutdown.is_cancelled() {
                Err(Closure::GoingAway)
            } else {
                self.admit(&request, Transport::SocketIo).instrument(span.clone()).await
            };
            drop(request);
            Arc::clone(&self).serve(pipe, verdict, span, None).await;
        });
    }

    fn max_message_size(&self) -> usize {
        self.namespace.config().max_message_size
    }

    fn max_waiting_bytes(&self) -> usize {
        self.namespace.config().send_queue_bytes
    }

    fn admits_origin(&self, headers: &axum::http::HeaderMap) -> bool {
        self.origins.check(headers).is_ok()
    }

    fn credentials(&self) -> bool {
        G::DESCRIPTOR.credentials
    }
}
