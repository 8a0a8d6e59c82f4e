//! Sockets: the [`AuthenticatedSocket`] handed to hooks and handlers, over the shared
//! [`SocketCore`] (`core.rs`) and its send queue (`outbox.rs`).

mod core;
mod outbox;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes};
use serde::Serialize;

pub(crate) use self::core::{Outbox, SocketCore};
use crate::auth::StandardClaims;
use crate::close::{CloseCode, Closure};
use crate::error::GatewayError;
use crate::id::SocketId;
use crate::namespace::Namespace;
use crate::presence::{PresenceEntry, PresenceError, PresenceMeta};
use crate::protocol;
use crate::transport::Transport;

/// Sending an event failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The data could not be serialized to JSON.
    #[error("cannot serialize event data: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The socket is closed or closing.
    #[error("socket is closed")]
    Closed,
}

/// An emit that failed is the server's failure: `internal`, its text logged.
impl From<EmitError> for GatewayError {
    fn from(error: EmitError) -> Self {
        Self::internal(error)
    }
}

/// A connected, authenticated socket, as passed to hooks and handlers.
///
/// `C` is the claims type of the gateway's authenticator ([`StandardClaims`] for `auth = Jwt`).
pub struct AuthenticatedSocket<C = StandardClaims> {
    core: Arc<SocketCore>,
    namespace: Namespace,
    claims: C,
}

impl<C> AuthenticatedSocket<C> {
    pub(crate) fn new(core: Arc<SocketCore>, namespace: Namespace, claims: C) -> Self {
        Self { core, namespace, claims }
    }

    pub(crate) fn core(&self) -> &Arc<SocketCore> {
        &self.core
    }

    /// The socket's id.
    pub fn id(&self) -> SocketId {
        self.core.id
    }

    /// The entity (user, vendor) the socket belongs to.
    pub fn entity_id(&self) -> &str {
        &self.core.entity_id
    }

    /// The gateway's entity type, such as `User`.
    pub fn entity_type(&self) -> &'static str {
        self.namespace.entity_type()
    }

    /// The claims verified when the socket connected (an `auth.refresh` moves the expiry,
    /// not the claims).
    pub fn claims(&self) -> &C {
        &self.claims
    }

    /// When the socket's credentials expire, in seconds since the Unix epoch; the socket is
    /// closed with 4408 then unless the client refreshed its token.
    pub fn expires_at(&self) -> Option<u64> {
        self.core.expires_at()
    }

    /// The namespace the socket is connected to, for emitting to other sockets and reading
    /// presence.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The protocol this socket speaks to its client: a plain WebSocket or Socket.IO.
    pub fn transport(&self) -> Transport {
        self.core.transport
    }

    /// Sends an event to this socket.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let frame = protocol::encode(event, data, None)?;
        if self.core.deliver(frame) { Ok(()) } else { Err(EmitError::Closed) }
    }

    /// Sends a raw text frame, for a gateway with a protocol of its own (`on_text`).
    pub fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), EmitError> {
        if self.core.deliver(text.into()) { Ok(()) } else { Err(EmitError::Closed) }
    }

    /// Sends a raw binary frame.
    pub fn send_binary(&self, data: impl Into<axum::body::Bytes>) -> Result<(), EmitError> {
        if self.core.enqueue(Message::Binary(data.into())) { Ok(()) } else { Err(EmitError::Closed) }
    }

    /// Sends an event to every other socket of the namespace; returns how many were reached.
    pub fn broadcast<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<usize, EmitError> {
        self.namespace.emit_except(self.core.id, event, data)
    }

    /// Sends an event to every other socket in a room, on every node (socket.io's
    /// `socket.to(room).emit(..)`); returns how many sockets of this node were reached.
    pub fn broadcast_to_room<T: Serialize + ?Sized>(
        &self,
        room: &str,
        event: &str,
        data: &T,
    ) -> Result<usize, EmitError> {
        self.namespace.emit_to_room_except(room, self.core.id, event, data)
    }

    /// Replaces this socket's presence meta (set at connect by the gateway's
    /// [`presence_meta`](crate::GatewayHandlers::presence_meta) hook), moves its entity between
    /// the indexes [`Namespace::online_where`] reads, and announces
    /// [`PresenceStatus::Updated`](crate::presence::PresenceStatus::Updated) for its entity.
    /// Once the socket has left presence, nothing changes.
    pub fn set_presence_meta(
        &self,
        meta: PresenceMeta,
    ) -> impl Future<Output = Result<(), PresenceError>> + Send + 'static {
        let (core, namespace) = (Arc::clone(&self.core), self.namespace.clone());
        async move {
            let entry = PresenceEntry {
                namespace: namespace.name(),
                socket_id: core.id,
                entity_id: &core.entity_id,
                meta: &meta,
            };
            namespace.presence().update_meta(entry).await.map(drop)
        }
    }

    /// Joins a room of this namespace, on this node for delivery and in presence for
    /// [`Namespace::room_members`].
    pub fn join(&self, room: &str) {
        self.namespace.join(&self.core, room);
    }

    /// Leaves a room of this namespace.
    pub fn leave(&self, room: &str) {
        self.namespace.leave(&self.core, room);
    }

    /// The rooms this socket is in, sorted.
    pub fn rooms(&self) -> Vec<String> {
        let mut rooms: Vec<String> = self.core.rooms().iter().map(|room| room.to_string()).collect();
        rooms.sort_unstable();
        rooms
    }

    /// Closes the socket with `code` and its default reason, after the frames already queued.
    pub fn close(&self, code: CloseCode) {
        self.close_with_reason(code, code.default_reason());
    }

    /// Closes the socket with `code` and `reason` (at most 123 bytes are sent).
    pub fn close_with_reason(&self, code: CloseCode, reason: impl Into<Cow<'static, str>>) {
        self.core.close(Closure::Requested { code, reason: reason.into() });
    }

    /// Whether the socket is still open (no close was requested or received).
    pub fn is_connected(&self) -> bool {
        !self.core.is_closing()
    }
}

impl<C> fmt::Debug for AuthenticatedSocket<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedSocket")
            .field("id", &self.core.id)
            .field("namespace", &self.namespace.name())
            .field("entity_type", &self.entity_type())
            .field("entity_id", &self.entity_id())
            .finish_non_exhaustive()
    }
}
