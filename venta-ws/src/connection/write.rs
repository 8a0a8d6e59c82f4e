//! A socket's write half: queued frames out, then the close frame.
//!
//! The sink is shared by the socket's two tasks. The reading task writes what its handler
//! queued as soon as the handler returns, so a reply needs no wake-up of another task; the
//! writing task writes what arrives while no handler runs or while one is still running (pushes
//! from other sockets), and the close frame at the end. Whoever holds the sink takes frames from
//! the queue, so they go out in the order they were queued.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::Mutex;

use super::transport::{FramePipe, is_write_buffer_full};
use crate::close::{Closure, close_frame};
use crate::metrics;
use crate::socket::SocketCore;

/// The write half of a socket, shared by its reading and writing tasks.
pub(super) type SharedSink<T> = Arc<Writer<T>>;

/// A socket's write half, and the count of the frames it wrote.
pub(super) struct Writer<T> {
    sink: Mutex<SplitSink<T, Message>>,
    sent: metrics::Sent,
}

impl<T> Writer<T> {
    pub(super) fn shared(sink: SplitSink<T, Message>, sent: metrics::Sent) -> SharedSink<T> {
        Arc::new(Self { sink: Mutex::new(sink), sent })
    }
}

/// Closes the socket's queue however the writer ends, so no frame is queued for nobody.
pub(super) struct CloseOutbox(Arc<SocketCore>);

impl Drop for CloseOutbox {
    fn drop(&mut self) {
        self.0.outbox().close();
    }
}

/// Writes every queued frame and flushes; `Ok(false)` when there was none.
pub(super) async fn drain<T: FramePipe>(
    sink: &mut SplitSink<T, Message>,
    core: &SocketCore,
    sent: &metrics::Sent,
) -> Result<bool, axum::Error> {
    let (mut wrote, mut frames) = (false, 0);
    while let Some(message) = core.outbox().try_pop() {
        frames += u64::from(matches!(message, Message::Text(_) | Message::Binary(_)));
        sink.feed(message).await.inspect_err(|error| write_failed(core, error))?;
        wrote = true;
    }
    if wrote {
        sink.flush().await.inspect_err(|error| write_failed(core, error))?;
        sent.add(frames);
    }
    Ok(wrote)
}

/// A write that failed because the client left its frames unread past the write buffer's
/// limit closes the socket as a slow consumer. Other failures are the connection's, and the
/// read side sees them too.
pub(super) fn write_failed(core: &SocketCore, error: &axum::Error) {
    if is_write_buffer_full(error) {
        core.close(Closure::WriteBufferFull);
    }
}

/// Writes what the reading task's handler queued, unless the socket is being torn down.
pub(super) async fn write_queued<T: FramePipe>(sink: &SharedSink<T>, core: &SocketCore) {
    if core.outbox().is_empty() {
        return;
    }
    let finished = core.finished();
    let mut locked = tokio::select! {
        biased;
        () = finished.cancelled() => return,
        locked = sink.sink.lock() => locked,
    };
    tokio::select! {
        biased;
        () = finished.cancelled() => {}
        // A failed write shows on the read side as well, which ends the socket.
        _ = drain(&mut locked, core, &sink.sent) => {}
    }
}

/// Writes queued frames until a close is requested, then sends the close frame (after the
/// frames already queued, unless the socket is a slow consumer) within `close_timeout`.
pub(super) async fn write_loop<T: FramePipe>(sink: SharedSink<T>, core: Arc<SocketCore>, close_timeout: Duration) {
    let core = CloseOutbox(core);
    let core = &core.0;
    loop {
        tokio::select! {
            biased;
            () = core.finished().cancelled() => break,
            () = core.outbox().ready() => {}
        }
        let mut guard = tokio::select! {
            biased;
            () = core.finished().cancelled() => break,
            guard = sink.sink.lock() => guard,
        };
        let written = tokio::select! {
            biased;
            () = core.finished().cancelled() => break,
            written = drain(&mut guard, core, &sink.sent) => written,
        };
        if written.is_err() {
            // The client's close may have come first, and its answer still waits in the
            // transport: once the read side has ended the socket, the close below sends it.
            drop(guard);
            core.finished().cancelled().await;
            break;
        }
    }
    let Some(request) = core.close_request().cloned() else { return };
    // Boxed: the close runs once, and inline every idle socket's writer would keep room for
    // its timer and writes all its life.
    let closing = async {
        let mut sink = sink.sink.lock().await;
        if request.flush {
            while let Some(message) = core.outbox().try_pop() {
                // A frame that cannot go out (the client's close came first) ends the flush,
                // not the close: the close frame, or the answer to the client's, still goes.
                if sink.feed(message).await.is_err() {
                    break;
                }
            }
        }
        let _ = sink.send(Message::Close(Some(close_frame(request.code, &request.reason)))).await;
        let _ = sink.close().await;
    };
    let _ = Box::pin(tokio::time::timeout(close_timeout, closing)).await;
}
