//! A socket's write half: queued frames out, then the close frame.
//!
//! A socket has one task, which reads and writes. It writes what its handler queued as soon as
//! the handler returns, and what other tasks queue (emits from other sockets, the hub) while
//! it waits for the client's next frame or for a handler still running: the read loop and
//! [`Clock`](super::keepalive::Clock) poll [`Writer::pushed`] beside their other work. A
//! second task per socket only for writing would cost every connect a spawn and a wake-up of
//! another thread, and every idle socket the room of that task.
//!
//! Every write here is cancel-safe: a frame leaves the queue only when the sink takes it, and
//! a flush cut short is finished by the next write, so whatever interrupts a write (a deadline,
//! a handler returning, a close) loses nothing.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;

use super::transport::{FramePipe, is_write_buffer_full};
use crate::close::{Closure, close_frame};
use crate::metrics;
use crate::socket::SocketCore;

/// A socket's write half, owned by its task.
pub(super) struct Writer<T> {
    sink: SplitSink<T, Message>,
    core: Arc<SocketCore>,
    sent: metrics::Sent,
    close_timeout: Duration,
    /// Frames were handed to the sink since its last flush.
    unflushed: bool,
    /// A write failed: nothing more is written but the close frame.
    broken: bool,
    /// The close frame was sent, or given up on.
    closed: bool,
}

impl<T> Drop for Writer<T> {
    /// However the socket's task ends, its queue is closed, so no frame is queued for nobody.
    fn drop(&mut self) {
        self.core.outbox().close();
    }
}

impl<T: FramePipe> Writer<T> {
    pub(super) fn new(
        sink: SplitSink<T, Message>,
        core: Arc<SocketCore>,
        sent: metrics::Sent,
        close_timeout: Duration,
    ) -> Self {
        Self { sink, core, sent, close_timeout, unflushed: false, broken: false, closed: false }
    }

    /// Writes every queued frame and flushes. Cancel-safe (see the module's docs).
    pub(super) async fn drain(&mut self) {
        if self.broken {
            return;
        }
        if let Err(error) = self.write_queued().await {
            self.broken = true;
            // A write that failed because the client left its frames unread past the write
            // buffer's limit closes the socket as a slow consumer. Other failures are the
            // connection's, and the read side sees them too.
            if is_write_buffer_full(&error) {
                self.core.close(Closure::WriteBufferFull);
            }
        }
    }

    async fn write_queued(&mut self) -> Result<(), axum::Error> {
        loop {
            poll_fn(|cx| self.sink.poll_ready_unpin(cx)).await?;
            let Some(message) = self.core.outbox().try_pop() else { break };
            let counted = matches!(message, Message::Text(_) | Message::Binary(_));
            self.sink.start_send_unpin(message)?;
            self.unflushed = true;
            if counted {
                self.sent.add(1);
            }
        }
        if self.unflushed {
            poll_fn(|cx| self.sink.poll_flush_unpin(cx)).await?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// Waits until another task queues a frame, then writes the queue. Never resolves once a
    /// write failed.
    pub(super) async fn pushed(&mut self) {
        if self.broken {
            return std::future::pending().await;
        }
        self.core.outbox().ready().await;
        self.drain().await;
    }

    /// Runs `work` to its end, writing what is queued meanwhile.
    pub(super) async fn alongside<F: Future + Unpin>(&mut self, mut work: F) -> F::Output {
        loop {
            tokio::select! {
                biased;
                output = &mut work => return output,
                () = self.pushed() => {}
            }
        }
    }

    /// Sends the close frame the socket's close request asks for (after the frames already
    /// queued, unless it does not flush), within the close timeout; once.
    pub(super) async fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        let Some(request) = self.core.close_request().cloned() else { return };
        // Boxed: the close runs once, and inline every idle socket would keep room for its
        // timer and writes all its life.
        let closing = async {
            if request.flush && !self.broken {
                while let Some(message) = self.core.outbox().try_pop() {
                    // A frame that cannot go out (the client's close came first) ends the
                    // flush, not the close: the close frame, or the answer to the client's,
                    // still goes.
                    if self.sink.feed(message).await.is_err() {
                        break;
                    }
                }
            }
            let _ = self.sink.send(Message::Close(Some(close_frame(request.code, &request.reason)))).await;
            let _ = self.sink.close().await;
        };
        let _ = Box::pin(tokio::time::timeout(self.close_timeout, closing)).await;
        self.core.outbox().close();
    }
}
