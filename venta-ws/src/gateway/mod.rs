//! Gateways: the traits `#[derive(WebSocketGateway)]` and `#[messages]` implement, and what
//! handlers take and return ([`reply`]).

mod reply;

use std::future::Future;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;

pub use reply::{Ack, IntoReply, Reply};

use crate::auth::{Authenticator, ConnectRequest, Identity};
use crate::close::DisconnectReason;
use crate::config::GatewayDescriptor;
use crate::error::{GatewayError, Operation};
use crate::logging;
use crate::presence::PresenceMeta;
use crate::protocol::Request;
use crate::socket::AuthenticatedSocket;

/// A gateway's configuration: implemented by `#[derive(WebSocketGateway)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket gateway",
    label = "missing `#[derive(WebSocketGateway)]`",
    note = "add `#[derive(WebSocketGateway)]` and `#[gateway(namespace = \"...\", auth = Jwt)]` to `{Self}`"
)]
pub trait WebSocketGateway: Send + Sync + Sized + 'static {
    /// How sockets of this gateway authenticate.
    type Auth: Authenticator<Claims = Self::Claims>;

    /// The claims its sockets carry: its authenticator's. Named here as well, so that the
    /// hooks' signatures do not depend on the authenticator being valid, and a claims type
    /// that cannot be read is reported once, at `auth = ..`.
    type Claims: Send + Sync + 'static;

    /// Namespace, path, entity type and origins.
    const DESCRIPTOR: GatewayDescriptor;
}

/// The claims type of a gateway's sockets.
pub type ClaimsOf<G> = <G as WebSocketGateway>::Claims;

/// The socket type of a gateway's hooks and handlers.
pub type SocketOf<G> = AuthenticatedSocket<ClaimsOf<G>>;

/// What happened to one client message.
#[derive(Debug)]
pub enum Dispatch {
    /// No handler is subscribed to the event.
    UnknownEvent,
    /// A handler ran: the frame to send back (if any), or its error.
    Handled(Result<Option<Utf8Bytes>, GatewayError>),
}

/// A gateway's event handlers and lifecycle hooks: implemented by `#[venta_ws::messages]` on
/// the gateway's `impl` block.
///
/// Every method but `dispatch` has a default, the behaviour of the NestJS
/// `BaseWebSocketGateway` it is named after. Define a method of the same name in the
/// `#[messages]` block to override it; the defaults stay callable from [`crate::logging`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no event handlers",
    label = "missing a `#[venta_ws::messages] impl {Self}` block",
    note = "add a `#[venta_ws::messages] impl {Self}` block with a `#[subscribe(\"event\")]` method per event; the block may be empty"
)]
pub trait GatewayHandlers: WebSocketGateway {
    /// The event names this gateway handles.
    const EVENTS: &'static [&'static str];

    /// Runs the handler of `request`'s event.
    fn dispatch<'a>(
        &'a self,
        socket: &'a SocketOf<Self>,
        request: &'a Request<'a>,
    ) -> impl Future<Output = Dispatch> + Send + 'a;

    /// `getEntityId`: the entity id of a verified identity; `None` refuses the socket with 4401.
    fn get_entity_id(&self, identity: &Identity<ClaimsOf<Self>>) -> Option<String> {
        identity.entity_id.clone().filter(|id| !id.is_empty())
    }

    /// The socket's presence meta, from its verified identity (Phoenix Presence's metas):
    /// evaluated before the socket is registered, so its online event and the indexes
    /// [`Namespace::online_where`](crate::Namespace::online_where) reads are right from the
    /// start; [`AuthenticatedSocket::set_presence_meta`] replaces it later. A meta over the
    /// limits of [`presence`](crate::presence) closes the socket with 1011. Default: empty.
    fn presence_meta(&self, identity: &Identity<ClaimsOf<Self>>) -> PresenceMeta {
        let _ = identity;
        PresenceMeta::new()
    }

    /// `validateConnection`: a last check of a verified identity before the upgrade completes.
    /// An error refuses the socket with its close code (4403 when it has none).
    ///
    /// An `auth.refresh` runs it again, with the handshake's path, address and headers (but
    /// for the WebSocket handshake's own and the old token's) and the fresh token, whose
    /// [`source`](crate::auth::Token::source) is then [`Refresh`](crate::auth::TokenSource::Refresh):
    /// a refresh that fails it is rejected with `refresh_rejected`, and the socket is closed
    /// when the error carries a close code.
    fn validate_connection<'a>(
        &'a self,
        request: &'a ConnectRequest,
        identity: &'a Identity<ClaimsOf<Self>>,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send + 'a {
        let _ = (request, identity);
        async { Ok(()) }
    }

    /// Whether [`validate_connection`](Self::validate_connection) is defined, so that a socket
    /// keeps its handshake request and `auth.refresh` runs the check again with the fresh
    /// token. `#[messages]` sets it to `false` when its block does not define
    /// `validate_connection`; a hand-written implementation keeps the safe default.
    const VALIDATES_CONNECTION: bool = true;

    /// Runs after the socket is registered in presence. An error closes the socket with its
    /// close code (1011 when it has none).
    fn on_connect<'a>(
        &'a self,
        socket: &'a SocketOf<Self>,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send + 'a {
        let _ = socket;
        async { Ok(()) }
    }

    /// Runs when a socket whose `on_connect` succeeded disconnects, before it leaves presence.
    fn on_disconnect<'a>(
        &'a self,
        socket: &'a SocketOf<Self>,
        reason: &'a DisconnectReason,
    ) -> impl Future<Output = ()> + Send + 'a {
        let _ = (socket, reason);
        async {}
    }

    /// `handleConnectionError`: logs an error from a hook, a handler or the protocol.
    fn handle_connection_error(&self, socket: &SocketOf<Self>, operation: Operation<'_>, error: &GatewayError) {
        logging::connection_error(socket, operation, error);
    }

    /// `logConnectionSuccess`: logs a socket that connected.
    fn log_connection_success(&self, socket: &SocketOf<Self>) {
        logging::connection_success(socket);
    }

    /// `logDisconnectionSuccess`: logs a socket that disconnected.
    fn log_disconnection_success(&self, socket: &SocketOf<Self>, reason: &DisconnectReason) {
        logging::disconnection_success(socket, reason);
    }

    /// Whether text frames go to [`on_text`](Self::on_text) instead of being read as JSON
    /// envelopes; `#[messages]` sets it when the block defines `on_text`.
    const READS_TEXT: bool = false;

    /// Receives every text frame, for a gateway that speaks a protocol of its own (defining it
    /// in `#[messages]` turns envelope decoding off). Answer with
    /// [`AuthenticatedSocket::send_text`]; an error is answered with an `error` envelope.
    fn on_text<'a>(
        &'a self,
        socket: &'a SocketOf<Self>,
        text: Utf8Bytes,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send + 'a {
        let _ = (socket, text);
        async { Err(GatewayError::new("unsupported_frame", "this gateway reads JSON envelopes")) }
    }

    /// Receives every binary frame; by default they are refused with an `unsupported_frame`
    /// error envelope.
    fn on_binary<'a>(
        &'a self,
        socket: &'a SocketOf<Self>,
        data: Bytes,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send + 'a {
        let _ = (socket, data);
        async { Err(GatewayError::new("unsupported_frame", "binary frames are not supported; send JSON text frames")) }
    }
}

/// What a handler can take as its payload: any `serde::de::DeserializeOwned` type, read from the
/// message's `data`, or a [`Valid`](crate::validate::Valid) one (feature `validate`). The
/// generated code decodes through this trait so that a type that is not `Deserialize` is
/// reported at the handler's parameter with the fix, instead of deep inside serde's bounds.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the payload of an event handler",
    label = "not `Deserialize`",
    note = "the payload is read from the message's `data`: add `#[derive(serde::Deserialize)]` to `{Self}`, or take `serde_json::Value`"
)]
pub trait Payload: Sized {
    /// What guards see of the payload: the value itself, or the value a wrapper holds.
    type Guarded: ?Sized;

    /// Reads the payload from `request`'s `data`.
    fn decode(request: &Request<'_>) -> Result<Self, GatewayError>;

    /// The payload as guards see it.
    fn guarded(&self) -> &Self::Guarded;
}

impl<T: serde::de::DeserializeOwned> Payload for T {
    type Guarded = T;

    fn decode(request: &Request<'_>) -> Result<Self, GatewayError> {
        request.payload()
    }

    fn guarded(&self) -> &T {
        self
    }
}
