//! A socket's write half: queued frames out, then the close frame.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;

use super::Transport;
use super::lifecycle::close_frame;
use crate::socket::SocketCore;

/// Closes the socket's queue however the writer ends, so no frame is queued for nobody.
struct CloseOutbox(Arc<SocketCore>);

impl Drop for CloseOutbox {
    fn drop(&mut self) {
        self.0.outbox().close();
    }
}

/// Writes queued frames until a close is requested, then sends the close frame (after the
/// frames already queued, unless the socket is a slow consumer) within `close_timeout`.
pub(super) async fn write_loop<T: Transport>(
    mut sink: SplitSink<T, Message>,
    core: Arc<SocketCore>,
    close_timeout: Duration,
) {
    let core = CloseOutbox(core);
    let core = &core.0;
    loop {
        let message = tokio::select! {
            biased;
            () = core.finished().cancelled() => break,
            message = core.outbox().pop() => message,
        };
        let sent = tokio::select! {
            biased;
            () = core.finished().cancelled() => break,
            sent = sink.send(message) => sent,
        };
        if sent.is_err() {
            return;
        }
    }
    let Some(request) = core.close_request().cloned() else { return };
    let _ = tokio::time::timeout(close_timeout, async {
        if request.flush {
            while let Some(message) = core.outbox().try_pop() {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
        }
        let _ = sink.send(Message::Close(Some(close_frame(request.code, &request.reason)))).await;
        let _ = sink.close().await;
    })
    .await;
}
