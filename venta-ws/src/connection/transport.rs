//! The seam between a socket's transport and everything above it. A transport is a stream of
//! frames in and a sink of frames out: today an upgraded axum (tungstenite) WebSocket, and an
//! in-memory pipe in [`crate::testing`]. Authentication, limits, dispatch, presence and
//! logging are written once, above it; a second transport is a new implementation of this
//! trait plus its own handshake, not a fork of the lifecycle. What a transport's errors mean
//! for the socket is decided here too.

use crate::close::{Closure, ClosureError};
use crate::id::SocketId;

/// A socket's connection as the lifecycle sees it: frames in, frames out. An upgraded axum
/// WebSocket, one namespace of a Socket.IO client (`crate::socketio`), or an in-memory pair in
/// [`crate::testing`].
pub(crate) trait FramePipe:
    futures_util::Stream<Item = Result<axum::extract::ws::Message, axum::Error>>
    + futures_util::Sink<axum::extract::ws::Message, Error = axum::Error>
    + Send
    + Unpin
    + 'static
{
    /// The socket was admitted and attached as `id`, and is about to run: a Socket.IO pipe
    /// answers the client's CONNECT here. A socket refused before this point is only closed.
    fn opened(&mut self, id: SocketId) {
        let _ = id;
    }
}

impl FramePipe for axum::extract::ws::WebSocket {}

/// Why a client whose frame could not be read is closed, if it broke a rule rather than the
/// connection.
pub(super) fn closure_for(error: &axum::Error) -> Option<Closure> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(ClosureError(closure)) = current.downcast_ref::<ClosureError>() {
            return Some(closure.clone());
        }
        match current.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => return Some(Closure::MessageTooBig),
            Some(tungstenite::Error::Utf8(_)) => return Some(Closure::InvalidUtf8),
            Some(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
                | tungstenite::error::ProtocolError::SendAfterClosing,
            )) => return None,
            Some(tungstenite::Error::Protocol(_)) => return Some(Closure::ProtocolViolation),
            _ => {}
        }
        source = current.source();
    }
    None
}

/// Whether a write failed because the frames the client left unread filled the write buffer.
pub(super) fn is_write_buffer_full(error: &axum::Error) -> bool {
    let source = std::error::Error::source(error);
    source
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::WriteBufferFull(_)))
        || source
            .and_then(|source| source.downcast_ref::<ClosureError>())
            .is_some_and(|ClosureError(closure)| matches!(closure, Closure::WriteBufferFull))
}
