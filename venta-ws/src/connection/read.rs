//! A socket's read half: frames in, one at a time, each through the rate limit and to
//! [`dispatch`](super::dispatch) or the gateway's raw frame hooks, with the socket's
//! deadlines ([`keepalive`](super::keepalive)) firing throughout.

use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio::time::Instant;

use axum::extract::ws::Message;

use super::dispatch::{dispatch_text, fail};
use super::guard::guarded;
use super::keepalive::{Clock, Deadlines, Watch, after, jitter};
use super::lifecycle::GatewayRuntime;
use super::rate_limit::{Bucket, rate_limited};
use super::transport::{FramePipe, closure_for};
use super::write::Writer;
use crate::auth::ConnectRequest;
use crate::close::{Closure, DisconnectReason};
use crate::error::Operation;
use crate::gateway::{GatewayHandlers, SocketOf};
use crate::socket::SocketCore;

pub(super) async fn read_loop<G: GatewayHandlers, T: FramePipe>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    stream: &mut SplitStream<T>,
    writer: &mut Writer<T>,
    handshake: Option<&ConnectRequest>,
) -> DisconnectReason {
    let core = socket.core();
    let config = &runtime.namespace.config();
    let mut bucket = config.rate_limit.map(Bucket::new);
    let watch = Watch {
        ping_interval: config.ping_interval,
        pong_timeout: config.pong_timeout,
        expiry_warning: config.expiry_warning,
        // The first ping comes after a random half to whole interval, so sockets that
        // connected together (after a restart, a connect storm) are not all pinged at once.
        next_ping: after(Instant::now(), config.ping_interval.mul_f64(0.5 + 0.5 * jitter(socket.id()))),
        pong_deadline: None,
        warned_for: None,
    };
    let timer = tokio::time::sleep_until(watch.next_wake(core, Instant::now(), Deadlines::All));
    tokio::pin!(timer);
    let mut clock = Clock { watch, timer };
    loop {
        let message = tokio::select! {
            biased;
            () = core.closing().cancelled() => return server_closed(core),
            () = clock.tick(core, Deadlines::All) => continue,
            () = writer.pushed() => continue,
            message = stream.next() => message,
        };
        let message = match message {
            None => return DisconnectReason::ConnectionLost,
            Some(Err(error)) => {
                if let Some(closure) = closure_for(&error) {
                    core.close(closure);
                    return server_closed(core);
                }
                tracing::debug!(%error, "read failed");
                return DisconnectReason::ConnectionLost;
            }
            Some(Ok(Message::Close(frame))) => {
                core.close(Closure::ClientClosed);
                return DisconnectReason::ClientClosed { code: frame.map(|frame| frame.code) };
            }
            Some(Ok(message)) => message,
        };
        if matches!(message, Message::Pong(_)) {
            clock.watch.ponged();
        }
        // Every frame counts against the rate, pings too: each ping makes the server queue a
        // pong, so a ping flood costs the server as much as a message flood.
        if let Some(bucket) = &mut bucket
            && !bucket.take(Instant::now())
        {
            rate_limited(runtime, socket, bucket, &message);
            clock.write(writer, core).await;
            continue;
        }
        let (operation, result) = match message {
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
            Message::Text(text) if !G::READS_TEXT => {
                // Boxed: a handler's future (and the interceptor chain, and `auth.refresh`) lives only
                // while a message is handled; inline, every idle socket would keep room for the
                // largest of them all its life.
                clock.handle(core, writer, Box::pin(dispatch_text(runtime, socket, text.as_str(), handshake))).await;
                clock.write(writer, core).await;
                continue;
            }
            Message::Text(text) => (
                Operation::Text,
                clock.handle(core, writer, guarded(Box::pin(runtime.gateway.on_text(socket, text)))).await,
            ),
            Message::Binary(data) => (
                Operation::Binary,
                clock.handle(core, writer, guarded(Box::pin(runtime.gateway.on_binary(socket, data)))).await,
            ),
        };
        if let Ok(Err(error)) | Err(error) = result {
            fail(runtime, socket, operation, error, None);
        }
        clock.write(writer, core).await;
    }
}

pub(super) fn server_closed(core: &SocketCore) -> DisconnectReason {
    match core.close_request() {
        Some(request) => DisconnectReason::ServerClosed { code: request.code, reason: request.reason.clone() },
        None => DisconnectReason::ConnectionLost,
    }
}
