//! The seam between a socket's transport and everything above it. A transport is a stream of
//! frames in and a sink of frames out: today an upgraded axum (tungstenite) WebSocket, and an
//! in-memory pipe in [`crate::testing`]. Authentication, limits, dispatch, presence and
//! logging are written once, above it; a second transport is a new implementation of this
//! trait plus its own handshake, not a fork of the lifecycle. What a transport's errors mean
//! for the socket is decided here too.

use crate::close::Closure;

/// A WebSocket as the lifecycle sees it: frames in, frames out. An upgraded axum socket in
/// production, an in-memory pair in [`crate::testing`].
pub(crate) trait FramePipe:
    futures_util::Stream<Item = Result<axum::extract::ws::Message, axum::Error>>
    + futures_util::Sink<axum::extract::ws::Message, Error = axum::Error>
    + Send
    + Unpin
    + 'static
{
}

impl<T> FramePipe for T where
    T: futures_util::Stream<Item = Result<axum::extract::ws::Message, axum::Error>>
        + futures_util::Sink<axum::extract::ws::Message, Error = axum::Error>
        + Send
        + Unpin
        + 'static
{
}

/// Why a client whose frame could not be read is closed, if it broke a rule rather than the
/// connection.
pub(super) fn closure_for(error: &axum::Error) -> Option<Closure> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
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
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::WriteBufferFull(_)))
}
