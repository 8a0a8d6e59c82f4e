//! Gateways: the traits the macros implement, the replies handlers return, and the connection
//! lifecycle the module runs for every socket.

mod lifecycle;
mod origin;
mod read;
mod write;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

#[cfg(feature = "testing")]
pub(crate) use lifecycle::socket_span;
pub(crate) use lifecycle::{GatewayRuntime, handshake as lifecycle_handshake};
pub(crate) use origin::OriginPolicy;
pub use origin::validate_origin;

use crate::auth::{Authenticator, ConnectRequest, Identity};
use crate::close::DisconnectReason;
use crate::error::GatewayError;
use crate::logging;
use crate::protocol::{self, Request};
use crate::socket::AuthenticatedSocket;

/// A WebSocket as the lifecycle sees it: frames in, frames out. An upgraded axum socket in
/// production, an in-memory pair in [`crate::testing`].
pub(crate) trait Transport:
    futures_util::Stream<Item = Result<axum::extract::ws::Message, axum::Error>>
    + futures_util::Sink<axum::extract::ws::Message, Error = axum::Error>
    + Send
    + Unpin
    + 'static
{
}

impl<T> Transport for T where
    T: futures_util::Stream<Item = Result<axum::extract::ws::Message, axum::Error>>
        + futures_util::Sink<axum::extract::ws::Message, Error = axum::Error>
        + Send
        + Unpin
        + 'static
{
}

/// A gateway's static configuration, as written in `#[gateway(...)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayDescriptor {
    /// The gateway type's name, for error messages.
    pub type_name: &'static str,
    /// The namespace, such as `user`.
    pub namespace: &'static str,
    /// The path the gateway is mounted at, such as `/user`.
    pub path: &'static str,
    /// The entity type of its sockets, such as `User`.
    pub entity_type: &'static str,
    /// Allowed browser origins; `None` takes the module's.
    pub origins: Option<&'static [&'static str]>,
    /// Whether browsers may send cookies to this gateway (`credentials = true`), so that a
    /// wildcard origin would let any website open sockets as its visitors.
    pub credentials: bool,
}

/// A gateway's configuration: implemented by `#[derive(WebSocketGateway)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket gateway",
    label = "missing `#[derive(WebSocketGateway)]`",
    note = "add `#[derive(WebSocketGateway)]` and `#[gateway(namespace = \"...\", auth = Jwt)]` to `{Self}`"
)]
pub trait WebSocketGateway: Send + Sync + Sized + 'static {
    /// How sockets of this gateway authenticate.
    type Auth: Authenticator;

    /// Namespace, path, entity type and origins.
    const DESCRIPTOR: GatewayDescriptor;
}

/// The claims type of a gateway's sockets.
pub type ClaimsOf<G> = <<G as WebSocketGateway>::Auth as Authenticator>::Claims;

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

/// Which step of a socket's life an error happened in, as passed to
/// [`GatewayHandlers::handle_connection_error`] and logged in the `operation` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// Registering the socket in presence.
    RegisterPresence,
    /// The `on_connect` hook.
    Connect,
    /// Reading a frame as an envelope.
    Decode,
    /// Handling the named event.
    Event(&'a str),
    /// The `on_text` hook, for a gateway with a protocol of its own.
    Text,
    /// The `on_binary` hook.
    Binary,
    /// The `on_disconnect` hook.
    Disconnect,
}

impl Operation<'_> {
    /// The event name, for [`Operation::Event`].
    pub fn event(&self) -> Option<&str> {
        match self {
            Self::Event(event) => Some(event),
            _ => None,
        }
    }
}

impl fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RegisterPresence => f.write_str("register presence"),
            Self::Connect => f.write_str("on_connect"),
            Self::Decode => f.write_str("decode envelope"),
            Self::Event(event) => write!(f, "handle event `{event}`"),
            Self::Text => f.write_str("on_text"),
            Self::Binary => f.write_str("on_binary"),
            Self::Disconnect => f.write_str("on_disconnect"),
        }
    }
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

/// What a handler can return: `()`, [`Ack`], [`Reply`], or a `Result` of one of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by an event handler",
    label = "not a reply",
    note = "return `()`, `Ack<T>`, `Reply<T>`, or `Result<_, E>` of one of them, where `T: Serialize` and `E: Into<GatewayError>`"
)]
pub trait IntoReply {
    /// Encodes the reply to `request`, or `None` when nothing is sent.
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError>;
}

/// What a handler can take as its payload: any `serde::de::DeserializeOwned` type, read from the
/// message's `data`. The generated code decodes through this trait so that a type that is not
/// `Deserialize` is reported at the handler's parameter with the fix, instead of deep inside
/// serde's bounds.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the payload of an event handler",
    label = "not `Deserialize`",
    note = "the payload is read from the message's `data`: add `#[derive(serde::Deserialize)]` to `{Self}`, or take `serde_json::Value`"
)]
pub trait Payload: Sized {
    /// Reads the payload from `request`'s `data`.
    fn decode(request: &Request<'_>) -> Result<Self, GatewayError>;
}

impl<T: serde::de::DeserializeOwned> Payload for T {
    fn decode(request: &Request<'_>) -> Result<Self, GatewayError> {
        request.payload()
    }
}

/// Acknowledges the message with `data`, when the client asked for an ack with an `id`.
///
/// The ack is `{"event": <the request's event>, "data": <data>, "id": <the request's id>}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ack<T = ()>(pub T);

/// Answers with an event of its own name, whether or not the client sent an `id`
/// (the `id` is carried when it did): `Reply::new("pong", data)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<T> {
    event: Cow<'static, str>,
    data: T,
}

impl<T> Reply<T> {
    /// A reply event called `event` carrying `data`.
    pub fn new(event: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self { event: event.into(), data }
    }
}

fn encode_reply<T: Serialize + ?Sized>(
    event: &str,
    data: &T,
    request: &Request<'_>,
) -> Result<Option<Utf8Bytes>, GatewayError> {
    protocol::encode(event, data, request.id()).map(Some).map_err(GatewayError::internal)
}

impl IntoReply for () {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        Ack(()).into_reply(request)
    }
}

impl<T: Serialize> IntoReply for Ack<T> {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        match request.id() {
            Some(_) => encode_reply(request.event(), &self.0, request),
            None => Ok(None),
        }
    }
}

impl<T: Serialize> IntoReply for Reply<T> {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        encode_reply(&self.event, &self.data, request)
    }
}

impl<R: IntoReply, E: Into<GatewayError>> IntoReply for Result<R, E> {
    fn into_reply(self, request: &Request<'_>) -> Result<Option<Utf8Bytes>, GatewayError> {
        self.map_err(Into::into)?.into_reply(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_sent_only_when_asked_for_and_replies_always() {
        let with_id = Request::decode(r#"{"event":"a","id":4}"#).expect("valid");
        let without = Request::decode(r#"{"event":"a"}"#).expect("valid");

        let ack = Ack(5).into_reply(&with_id).expect("ok").expect("sent");
        assert_eq!(ack.as_str(), r#"{"event":"a","data":5,"id":4}"#);
        assert!(Ack(5).into_reply(&without).expect("ok").is_none());
        assert_eq!(().into_reply(&with_id).expect("ok").expect("sent").as_str(), r#"{"event":"a","data":null,"id":4}"#);

        let reply = Reply::new("pong", 1).into_reply(&without).expect("ok").expect("sent");
        assert_eq!(reply.as_str(), r#"{"event":"pong","data":1}"#);

        let failed: Result<Ack<u8>, GatewayError> = Err(GatewayError::bad_request("no"));
        assert_eq!(failed.into_reply(&with_id).expect_err("error").code(), "bad_request");
    }
}
