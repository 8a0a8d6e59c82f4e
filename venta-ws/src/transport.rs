//! Which protocol a socket speaks to its client.

use std::fmt;

/// The protocol a socket speaks: venta-ws's own JSON envelopes over a plain WebSocket, or
/// Socket.IO (protocol v5 over Engine.IO v4, long-polling or WebSocket). Everything above the
/// wire (handlers, presence, rooms, limits, logging) is the same for both; a handler that
/// must tell them apart asks [`AuthenticatedSocket::transport`](crate::AuthenticatedSocket::transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// A plain WebSocket at the gateway's path, speaking JSON envelopes.
    WebSocket,
    /// A Socket.IO socket in the gateway's namespace, on the module's Socket.IO path.
    SocketIo,
}

impl Transport {
    /// The name used in logs and metrics: `websocket` or `socket.io`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::SocketIo => "socket.io",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
