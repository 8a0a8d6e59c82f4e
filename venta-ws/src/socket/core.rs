//! The part of a socket shared by its connection task, its namespace and its handles: its
//! send queue, its expiry, and the close requested for it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::extract::ws::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

pub(crate) use super::outbox::Outbox;
use super::outbox::PushError;
use crate::close::{CloseCode, Closure};
use crate::id::SocketId;
use crate::transport::Transport;

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
    pub(crate) transport: Transport,
    outbox: Outbox,
    /// When the credentials expire, in Unix seconds; 0 for never. Moved by `auth.refresh`.
    expires_at: AtomicU64,
    close: OnceLock<CloseRequest>,
    /// Cancelled when a close is requested: the read loop stops after the handler in flight.
    closing: CancellationToken,
    /// Set when the close frame must be sent: after the read loop ended, or at once for a close
    /// that does not flush (a slow consumer, a dead client). Only read, never awaited: the
    /// socket's own task sends the close.
    finished: AtomicBool,
    pub(crate) rooms: Mutex<HashSet<Arc<str>>>,
}

impl SocketCore {
    pub(crate) fn new(
        id: SocketId,
        entity_id: Arc<str>,
        outbox: Outbox,
        expires_at: Option<u64>,
        transport: Transport,
    ) -> Self {
        Self {
            id,
            entity_id,
            transport,
            outbox,
            expires_at: AtomicU64::new(expires_at.unwrap_or(0)),
            close: OnceLock::new(),
            closing: CancellationToken::new(),
            finished: AtomicBool::new(false),
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
        if self.is_finished() {
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
            self.finished.store(true, Ordering::Release);
        }
    }

    /// Tells the writer to send the close frame now; nothing more is queued.
    pub(crate) fn finish(&self) {
        self.close(Closure::Finished);
        self.finished.store(true, Ordering::Release);
    }

    /// The frames waiting for the writer.
    pub(crate) fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Whether the close frame must be sent now ([`finish`](Self::finish), or a close that
    /// does not flush).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_closes_the_socket_as_a_slow_consumer() {
        let core =
            SocketCore::new(SocketId::next(), Arc::from("u1"), Outbox::new(1, usize::MAX), None, Transport::WebSocket);
        assert!(core.deliver(Utf8Bytes::from_static("a")));
        assert!(!core.deliver(Utf8Bytes::from_static("b")));
        let request = core.close_request().expect("closed");
        assert_eq!((request.code, request.flush), (CloseCode::SlowConsumer, false));
        assert!(!core.deliver(Utf8Bytes::from_static("c")), "nothing is queued after a close without flush");
    }
}
