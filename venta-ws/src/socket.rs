//! Sockets: ids, the per-socket send queue, and the [`AuthenticatedSocket`] handed to hooks
//! and handlers.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::extract::ws::{Message, Utf8Bytes};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::auth::StandardClaims;
use crate::close::{CloseCode, Closure};
use crate::id::SocketId;
use crate::namespace::Namespace;
use crate::outbox::{Outbox, PushError};
use crate::protocol;

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

#[derive(Debug, Clone)]
pub(crate) struct CloseRequest {
    pub(crate) code: CloseCode,
    pub(crate) reason: Cow<'static, str>,
    /// Whether frames already queued are sent before the close frame.
    pub(crate) flush: bool,
}

/// The part of a socket shared between its connection task, its namespace and its handles.
#[derive(Debug)]
pub(crate) struct SocketCore {
    pub(crate) id: SocketId,
    pub(crate) entity_id: Arc<str>,
    outbox: Outbox,
    /// When the credentials expire, in Unix seconds; 0 for never. Moved by `auth.refresh`.
    expires_at: AtomicU64,
    close: OnceLock<CloseRequest>,
    /// Cancelled when a close is requested: the read loop stops after the handler in flight.
    closing: CancellationToken,
    /// Cancelled when the writer must send the close frame: after the read loop ended, or at
    /// once for a close that does not flush (a slow consumer, a dead client).
    finished: CancellationToken,
    pub(crate) rooms: Mutex<HashSet<Arc<str>>>,
}

impl SocketCore {
    pub(crate) fn new(id: SocketId, entity_id: Arc<str>, send_queue_capacity: usize, expires_at: Option<u64>) -> Self {
        Self {
            id,
            entity_id,
            outbox: Outbox::new(send_queue_capacity),
            expires_at: AtomicU64::new(expires_at.unwrap_or(0)),
            close: OnceLock::new(),
            closing: CancellationToken::new(),
            finished: CancellationToken::new(),
            rooms: Mutex::new(HashSet::new()),
        }
    }

    /// Queues a frame; a full queue closes the socket as a slow consumer.
    pub(crate) fn deliver(&self, frame: Utf8Bytes) -> bool {
        self.enqueue(Message::Text(frame))
    }

    /// Queues a ping; a full queue closes the socket as a slow consumer.
    pub(crate) fn ping(&self) -> bool {
        self.enqueue(Message::Ping(Default::default()))
    }

    pub(crate) fn enqueue(&self, message: Message) -> bool {
        if self.finished.is_cancelled() {
            return false;
        }
        match self.outbox.push(message) {
            Ok(()) => true,
            Err(PushError::Full) => {
                self.close(Closure::SendQueueFull);
                false
            }
            Err(PushError::Closed) => false,
        }
    }

    /// Asks the connection to close; the first request wins. When the closure flushes, the
    /// handler in flight finishes and what it queued is sent before the close frame.
    pub(crate) fn close(&self, closure: Closure) {
        let flush = closure.flushes();
        let _ = self.close.set(CloseRequest { code: closure.code(), reason: closure.reason(), flush });
        self.closing.cancel();
        if !flush {
            self.finished.cancel();
        }
    }

    /// Tells the writer to send the close frame now; nothing more is queued.
    pub(crate) fn finish(&self) {
        self.close(Closure::Finished);
        self.finished.cancel();
    }

    /// The frames waiting for the writer.
    pub(crate) fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub(crate) fn finished(&self) -> &CancellationToken {
        &self.finished
    }

    pub(crate) fn close_request(&self) -> Option<&CloseRequest> {
        self.close.get()
    }

    pub(crate) fn closing(&self) -> &CancellationToken {
        &self.closing
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }

    pub(crate) fn expires_at(&self) -> Option<u64> {
        Some(self.expires_at.load(Ordering::Acquire)).filter(|at| *at != 0)
    }

    pub(crate) fn set_expires_at(&self, expires_at: Option<u64>) {
        self.expires_at.store(expires_at.unwrap_or(0), Ordering::Release);
    }

    pub(crate) fn rooms(&self) -> std::sync::MutexGuard<'_, HashSet<Arc<str>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// Joins a room of this namespace.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_closes_the_socket_as_a_slow_consumer() {
        let core = SocketCore::new(SocketId::next(), Arc::from("u1"), 1, None);
        assert!(core.deliver(Utf8Bytes::from_static("a")));
        assert!(!core.deliver(Utf8Bytes::from_static("b")));
        let request = core.close_request().expect("closed");
        assert_eq!((request.code, request.flush), (CloseCode::SlowConsumer, false));
        assert!(!core.deliver(Utf8Bytes::from_static("c")), "nothing is queued after a close without flush");
    }
}
