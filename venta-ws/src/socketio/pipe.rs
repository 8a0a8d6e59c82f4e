//! One namespace of one Socket.IO client as a socket's frame pipe: Socket.IO events in become
//! venta-ws envelopes for the read loop, and the envelopes the engine writes become Socket.IO
//! packets out. Everything above the pipe (authentication, limits, dispatch, presence, the
//! send queue) is the plain WebSocket's.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use engineioxide::Socket;
use futures_util::task::AtomicWaker;
use futures_util::{Sink, Stream};
use serde_json::value::RawValue;

use super::engine::Session;
use super::packet;
use crate::close::{CloseCode, Closure, ClosureError};
use crate::id::SocketId;
use crate::protocol::{ERROR_EVENT, MessageId, WireEnvelope};

/// The event a Socket.IO client receives before the server closes its socket, with
/// `{ "code", "reason" }`: the close code and reason a plain WebSocket would get in its close
/// frame, so the client can apply the same reconnect policy.
pub const CLOSING_EVENT: &str = "closing";

/// The event errors reach a Socket.IO client as, in the shape NestJS gateways send.
pub const EXCEPTION_EVENT: &str = "exception";

/// The most frames that may wait for the read loop before the client is closed as sending
/// faster than its socket reads (1008, as the rate limit would).
const INBOX_FRAMES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// CONNECT received, not answered yet.
    Connecting,
    /// CONNECT answered; events flow.
    Connected,
    /// Closed by either side; nothing more is sent.
    Closed,
}

#[derive(Debug, Default)]
struct Frames {
    waiting: VecDeque<Message>,
    bytes: usize,
    ended: bool,
    failure: Option<Closure>,
}

/// The client's side of a namespace socket, shared by the engine handler (which feeds it) and
/// the socket's pipe (which reads from it and writes through it).
pub(crate) struct Outlet {
    socket: Arc<Socket<Session>>,
    namespace: Arc<str>,
    phase: Mutex<Phase>,
    frames: Mutex<Frames>,
    waker: AtomicWaker,
    max_message_size: usize,
    max_waiting_bytes: usize,
}

impl std::fmt::Debug for Outlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outlet").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its state consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outlet {
    pub(crate) fn new(
        socket: Arc<Socket<Session>>,
        namespace: Arc<str>,
        max_message_size: usize,
        max_waiting_bytes: usize,
    ) -> Self {
        Self {
            socket,
            namespace,
            phase: Mutex::new(Phase::Connecting),
            frames: Mutex::new(Frames::default()),
            waker: AtomicWaker::new(),
            max_message_size,
            max_waiting_bytes,
        }
    }

    pub(crate) fn namespace(&self) -> &Arc<str> {
        &self.namespace
    }

    /// The largest event (its argument array, or its attachments) the gateway takes.
    pub(crate) fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    // ---- in: from the engine handler ----

    /// An event the client emitted: `arguments` is its JSON array `["event", ...args]`.
    pub(crate) fn receive(&self, id: Option<u64>, arguments: &str) {
        if arguments.len() > self.max_message_size {
            self.fail(Closure::MessageTooBig);
            return;
        }
        match packet::split_arguments(arguments) {
            Ok((event, data)) => self.push(Message::Text(envelope(&event, data.as_deref(), id).into())),
            // Answered like a malformed envelope, and an ack asked for is still answered.
            Err(error) => self.reply_error(id, "malformed_envelope", error.0),
        }
    }

    /// The client left the namespace (DISCONNECT): the read loop sees a normal close.
    pub(crate) fn client_left(&self) {
        *lock(&self.phase) = Phase::Closed;
        self.push(Message::Close(Some(CloseFrame { code: CloseCode::Normal.code(), reason: Utf8Bytes::default() })));
        self.end();
    }

    /// The client's Engine.IO connection is gone: the read loop sees the connection end.
    pub(crate) fn lost(&self) {
        *lock(&self.phase) = Phase::Closed;
        self.end();
    }

    /// Closes the socket as `closure` would a plain WebSocket (too big, too fast).
    pub(crate) fn fail(&self, closure: Closure) {
        let mut frames = lock(&self.frames);
        if frames.failure.is_none() && !frames.ended {
            frames.failure = Some(closure);
        }
        drop(frames);
        self.waker.wake();
    }

    fn push(&self, message: Message) {
        let mut frames = lock(&self.frames);
        if frames.ended || frames.failure.is_some() {
            return;
        }
        let len = match &message {
            Message::Text(text) => text.len(),
            _ => 0,
        };
        if frames.waiting.len() >= INBOX_FRAMES || frames.bytes.saturating_add(len) > self.max_waiting_bytes {
            frames.failure = Some(Closure::RateLimited);
        } else {
            frames.bytes += len;
            frames.waiting.push_back(message);
        }
        drop(frames);
        self.waker.wake();
    }

    fn end(&self) {
        lock(&self.frames).ended = true;
        self.waker.wake();
    }

    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, axum::Error>>> {
        let mut frames = lock(&self.frames);
        if let Some(message) = frames.waiting.pop_front() {
            if let Message::Text(text) = &message {
                frames.bytes -= text.len();
            }
            if frames.waiting.is_empty() && frames.waiting.capacity() > 4 {
                frames.waiting = VecDeque::new();
            }
            return Poll::Ready(Some(Ok(message)));
        }
        if let Some(closure) = frames.failure.take() {
            frames.ended = true;
            return Poll::Ready(Some(Err(axum::Error::new(ClosureError(closure)))));
        }
        if frames.ended {
            return Poll::Ready(None);
        }
        self.waker.register(cx.waker());
        Poll::Pending
    }

    // ---- out: from the socket's writer ----

    /// Answers the CONNECT: the socket was admitted as `id`.
    pub(crate) fn connect(&self, id: SocketId) {
        let mut phase = lock(&self.phase);
        if *phase == Phase::Connecting {
            *phase = Phase::Connected;
            let _ = self.socket.emit(packet::connected(&self.namespace, &id.to_string()));
        }
    }

    /// Sends one frame the engine wrote.
    fn send(&self, message: Message) -> Result<(), axum::Error> {
        match message {
            Message::Text(text) => self.send_envelope(&text),
            Message::Close(frame) => {
                self.close(frame);
                Ok(())
            }
            // Liveness is Engine.IO's: the engine closes a session whose client misses its
            // heartbeat, which ends this pipe. The engine's own keepalive pings are answered here.
            Message::Ping(payload) => {
                self.push(Message::Pong(payload));
                Ok(())
            }
            Message::Pong(_) => Ok(()),
            Message::Binary(_) => {
                tracing::debug!("a binary frame is not sent to a Socket.IO client");
                Ok(())
            }
        }
    }

    fn send_envelope(&self, text: &str) -> Result<(), axum::Error> {
        if *lock(&self.phase) != Phase::Connected {
            return Err(axum::Error::new(ClosureError(Closure::Finished)));
        }
        match serde_json::from_str::<WireEnvelope<'_>>(text) {
            Ok(outgoing) if outgoing.event == ERROR_EVENT => {
                let body = exception(outgoing.data);
                let id = numeric(outgoing.id.as_ref());
                self.emit(packet::event(&self.namespace, EXCEPTION_EVENT, Some(&body)))?;
                match id {
                    Some(id) => self.emit(packet::ack(&self.namespace, id, Some(&body))),
                    None => Ok(()),
                }
            }
            Ok(outgoing) => {
                let data = outgoing.data.map(RawValue::get);
                match numeric(outgoing.id.as_ref()) {
                    Some(id) => self.emit(packet::ack(&self.namespace, id, data)),
                    None => self.emit(packet::event(&self.namespace, &outgoing.event, data)),
                }
            }
            // A raw frame of a gateway with a protocol of its own (`send_text`).
            Err(_) => {
                let data = serde_json::to_string(text).map_err(axum::Error::new)?;
                self.emit(packet::event(&self.namespace, "message", Some(&data)))
            }
        }
    }

    fn reply_error(&self, id: Option<u64>, code: &str, message: &str) {
        if *lock(&self.phase) != Phase::Connected {
            return;
        }
        let body = serde_json::json!({ "status": "error", "message": message, "code": code }).to_string();
        let _ = self.emit(packet::event(&self.namespace, EXCEPTION_EVENT, Some(&body)));
        if let Some(id) = id {
            let _ = self.emit(packet::ack(&self.namespace, id, Some(&body)));
        }
    }

    fn emit(&self, packet: String) -> Result<(), axum::Error> {
        use tokio::sync::mpsc::error::TrySendError;
        match self.socket.emit(packet) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(axum::Error::new(ClosureError(Closure::WriteBufferFull))),
            Err(TrySendError::Closed(_)) => Err(axum::Error::new(ClosureError(Closure::Finished))),
        }
    }

    /// The engine closes the socket: a refused CONNECT is answered with CONNECT_ERROR, an open
    /// socket gets the `closing` event and a DISCONNECT.
    fn close(&self, frame: Option<CloseFrame>) {
        let (code, reason) = frame.map_or((CloseCode::Normal.code(), Utf8Bytes::default()), |f| (f.code, f.reason));
        let phase = std::mem::replace(&mut *lock(&self.phase), Phase::Closed);
        match phase {
            Phase::Connecting => {
                let _ = self.socket.emit(packet::connect_error(&self.namespace, &reason, Some(code)));
            }
            Phase::Connected => {
                let body = serde_json::json!({ "code": code, "reason": reason.as_str() }).to_string();
                let _ = self.socket.emit(packet::event(&self.namespace, CLOSING_EVENT, Some(&body)));
                let _ = self.socket.emit(packet::disconnect(&self.namespace));
            }
            Phase::Closed => {}
        }
        // Not by namespace: a client that left and joined again at once has a new socket there.
        self.socket.data.forget(self);
        self.end();
    }
}

/// The ack id of a reply: Socket.IO's are numbers, which the pipe passes to the engine as such.
fn numeric(id: Option<&MessageId>) -> Option<u64> {
    match id {
        Some(MessageId::Number(id)) => Some(*id),
        _ => None,
    }
}

/// An `error` envelope's data (`{ code, message, .. }`) as NestJS's exception shape:
/// `{ "status": "error", "message", "code", .. }`.
fn exception(data: Option<&RawValue>) -> String {
    let mut body = serde_json::Map::new();
    body.insert("status".into(), "error".into());
    if let Some(serde_json::Value::Object(fields)) = data.and_then(|data| serde_json::from_str(data.get()).ok()) {
        body.extend(fields);
    }
    serde_json::Value::Object(body).to_string()
}

/// The venta-ws envelope of a Socket.IO event.
fn envelope(event: &str, data: Option<&str>, id: Option<u64>) -> String {
    let event = serde_json::to_string(event).unwrap_or_default();
    let mut out = String::with_capacity(event.len() + data.map_or(0, str::len) + 40);
    out.push_str(r#"{"event":"#);
    out.push_str(&event);
    if let Some(data) = data {
        out.push_str(r#","data":"#);
        out.push_str(data);
    }
    if let Some(id) = id {
        out.push_str(r#","id":"#);
        out.push_str(&id.to_string());
    }
    out.push('}');
    out
}

/// A namespace socket's frame pipe.
pub(crate) struct SocketIoPipe {
    outlet: Arc<Outlet>,
}

impl SocketIoPipe {
    pub(crate) fn new(outlet: Arc<Outlet>) -> Self {
        Self { outlet }
    }
}

impl Stream for SocketIoPipe {
    type Item = Result<Message, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.outlet.poll_frame(cx)
    }
}

impl Sink<Message> for SocketIoPipe {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        self.outlet.send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

impl SocketIoPipe {
    /// Answers the client's CONNECT: the socket was admitted as `id`.
    pub(crate) fn opened(&self, id: SocketId) {
        self.outlet.connect(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_envelopes() {
        assert_eq!(envelope("ping", Some(r#"{"a":1}"#), Some(4)), r#"{"event":"ping","data":{"a":1},"id":4}"#);
        assert_eq!(envelope("a\"b", None, None), r#"{"event":"a\"b"}"#);
    }

    #[test]
    fn errors_take_the_nestjs_shape_with_their_code() {
        let data = RawValue::from_string(r#"{"code":"unknown_event","message":"no handler"}"#.into()).expect("json");
        let body: serde_json::Value = serde_json::from_str(&exception(Some(&data))).expect("json");
        assert_eq!(body, serde_json::json!({"status": "error", "code": "unknown_event", "message": "no handler"}));
    }
}
