//! A socket's write half: queued frames out, then the close frame.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::mpsc;

use super::Transport;
use super::lifecycle::close_frame;
use crate::socket::SocketCore;

/// Writes queued frames until a close is requested, then sends the close frame (after the
/// frames already queued, unless the socket is a slow consumer) within `close_timeout`.
pub(super) async fn write_loop<T: Transport>(
    mut sink: SplitSink<T, Message>,
    mut queue: mpsc::Receiver<Message>,
    core: Arc<SocketCore>,
    close_timeout: Duration,
) {
    loop {
        let message = tokio::select! {
            biased;
            () = core.finished().cancelled() => break,
            message = queue.recv() => message,
        };
        let Some(message) = message else { break };
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
            while let Ok(message) = queue.try_recv() {
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
