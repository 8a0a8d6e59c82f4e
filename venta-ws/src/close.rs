//! Close codes and disconnect reasons, and [`Closure`]: the one place where the framework
//! chooses which code, and which reason, a socket is closed or refused with.

use std::borrow::Cow;
use std::fmt;

use axum::extract::ws::{CloseFrame, Utf8Bytes};

/// A WebSocket close code the framework sends, with what a client should do about it.
///
/// [`CloseCode::reconnect`] is the one source of what a client should do after each code: the
/// table of [`docs::close_codes`](crate::docs::close_codes) is checked against it by a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: the conversation is over.
    Normal,
    /// 1001: the server is going away (shutdown or drain).
    GoingAway,
    /// 1002: the client broke the WebSocket protocol (bad framing, reserved bits, opcodes).
    ProtocolError,
    /// 1007: a text frame was not valid UTF-8.
    InvalidPayload,
    /// 1008: a policy was violated (message rate, connections per entity, unanswered pings).
    PolicyViolation,
    /// 1009: a message was larger than the configured maximum.
    MessageTooBig,
    /// 1011: the server hit an internal error.
    InternalError,
    /// 1013: the server is at its connection limit; try again later.
    TryAgainLater,
    /// 4401: the token was missing, invalid or rejected.
    Unauthorized,
    /// 4403: authenticated, but not allowed on this gateway.
    Forbidden,
    /// 4408: the token expired while the socket was connected.
    TokenExpired,
    /// 4429: the client did not read fast enough: its send queue or write buffer filled up.
    SlowConsumer,
    /// An application-defined code in `4000..=4999`.
    Application(u16),
}

/// What a client should do after a close: the advice of the close code table
/// ([`docs::close_codes`](crate::docs::close_codes)), which is written as this type's `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reconnect {
    /// Reconnect, after a random wait that grows with each failed attempt.
    WithBackoff,
    /// Reconnect with a freshly fetched token (at once after 4408); a fresh token refused
    /// again with 4401 is final.
    WithFreshToken,
    /// Do not reconnect on its own: the server meant it, or the entity may not connect.
    No,
}

impl fmt::Display for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WithBackoff => "yes, with backoff",
            Self::WithFreshToken => "with a fresh token",
            Self::No => "no",
        })
    }
}

impl CloseCode {
    /// Every named code, in numeric order.
    pub const ALL: [Self; 12] = [
        Self::Normal,
        Self::GoingAway,
        Self::ProtocolError,
        Self::InvalidPayload,
        Self::PolicyViolation,
        Self::MessageTooBig,
        Self::InternalError,
        Self::TryAgainLater,
        Self::Unauthorized,
        Self::Forbidden,
        Self::TokenExpired,
        Self::SlowConsumer,
    ];

    /// The numeric code sent in the close frame.
    pub const fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::GoingAway => 1001,
            Self::ProtocolError => 1002,
            Self::InvalidPayload => 1007,
            Self::PolicyViolation => 1008,
            Self::MessageTooBig => 1009,
            Self::InternalError => 1011,
            Self::TryAgainLater => 1013,
            Self::Unauthorized => 4401,
            Self::Forbidden => 4403,
            Self::TokenExpired => 4408,
            Self::SlowConsumer => 4429,
            Self::Application(code) => code,
        }
    }

    /// The close code for a number received or configured, if it is one this framework knows
    /// or lies in the application range `4000..=4999`.
    pub const fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1000 => Self::Normal,
            1001 => Self::GoingAway,
            1002 => Self::ProtocolError,
            1007 => Self::InvalidPayload,
            1008 => Self::PolicyViolation,
            1009 => Self::MessageTooBig,
            1011 => Self::InternalError,
            1013 => Self::TryAgainLater,
            4401 => Self::Unauthorized,
            4403 => Self::Forbidden,
            4408 => Self::TokenExpired,
            4429 => Self::SlowConsumer,
            4000..=4999 => Self::Application(code),
            _ => return None,
        })
    }

    /// What a client should do after receiving this code. An application code tells it to
    /// stop unless the application documents otherwise.
    pub const fn reconnect(self) -> Reconnect {
        match self {
            Self::GoingAway
            | Self::ProtocolError
            | Self::InvalidPayload
            | Self::PolicyViolation
            | Self::MessageTooBig
            | Self::InternalError
            | Self::TryAgainLater
            | Self::SlowConsumer => Reconnect::WithBackoff,
            Self::Unauthorized | Self::TokenExpired => Reconnect::WithFreshToken,
            Self::Normal | Self::Forbidden | Self::Application(_) => Reconnect::No,
        }
    }

    /// A short default reason sent in the close frame when no other is given.
    pub const fn default_reason(self) -> &'static str {
        match self {
            Self::Normal => "normal closure",
            Self::GoingAway => "server going away",
            Self::ProtocolError => "protocol error",
            Self::InvalidPayload => "invalid UTF-8",
            Self::PolicyViolation => "policy violation",
            Self::MessageTooBig => "message too big",
            Self::InternalError => "internal error",
            Self::TryAgainLater => "try again later",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::TokenExpired => "token expired",
            Self::SlowConsumer => "slow consumer",
            Self::Application(_) => "closed by application",
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.default_reason())
    }
}

/// Why the framework closes or refuses a socket. Each cause's code, reason and whether the
/// frames already queued are sent first are chosen here and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Closure {
    /// The client sent a close frame, which is answered.
    ClientClosed,
    /// The socket's life is over and its writer sends whatever close was asked for.
    Finished,
    /// The server is shutting down, or was already when the socket connected.
    GoingAway,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The socket's token expired.
    TokenExpired,
    /// The client sent more than its rate allows, too many times in a row.
    RateLimited,
    /// The client's send queue filled up.
    SendQueueFull,
    /// The frames the client left unread filled the write buffer.
    WriteBufferFull,
    /// A message was larger than the limit.
    MessageTooBig,
    /// A text frame was not valid UTF-8.
    InvalidUtf8,
    /// The client broke the WebSocket protocol.
    ProtocolViolation,
    /// The entity already holds as many sockets as it may, in this namespace on this node.
    EntityLimit,
    /// The module holds as many sockets as it may.
    ModuleLimit,
    /// The verified token names no entity (`get_entity_id` gave none).
    NoEntity,
    /// The authenticator refused the credentials, for this reason.
    Unauthenticated(Cow<'static, str>),
    /// The authenticator could not decide.
    AuthenticationUnavailable,
    /// `validate_connection` refused the socket, for this reason.
    Rejected(Cow<'static, str>),
    /// A hook failed for this reason, or panicked.
    HookFailed(Cow<'static, str>),
    /// Presence could not register the socket.
    PresenceUnavailable,
    /// An error with a close code of its own, from a hook or handler.
    Error {
        /// The code the error carries.
        code: CloseCode,
        /// Its message.
        reason: Cow<'static, str>,
    },
    /// The application closed the socket (`AuthenticatedSocket::close`, `disconnect_entity`).
    Requested {
        /// The code it asked for.
        code: CloseCode,
        /// Its reason.
        reason: Cow<'static, str>,
    },
}

/// A transport's read or write error that means a closure of its own: how a transport other
/// than tungstenite (the Socket.IO pipe) says "too big", "too many", "the client stopped
/// reading", for the engine to close the socket as it would a plain WebSocket.
#[derive(Debug)]
pub(crate) struct ClosureError(pub(crate) Closure);

impl fmt::Display for ClosureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.code().code(), self.0.reason())
    }
}

impl std::error::Error for ClosureError {}

impl Closure {
    /// A close the application asked for with `code` alone, on this node or, as the number
    /// `code`, relayed by another (an unknown number closes with 1008).
    pub(crate) fn requested(code: CloseCode) -> Self {
        Self::Requested { code, reason: Cow::Borrowed(code.default_reason()) }
    }

    /// A close another node relayed as a number.
    pub(crate) fn relayed(code: u16) -> Self {
        Self::requested(CloseCode::from_code(code).unwrap_or(CloseCode::PolicyViolation))
    }

    /// The code sent in the close frame.
    pub(crate) fn code(&self) -> CloseCode {
        match self {
            Self::ClientClosed | Self::Finished => CloseCode::Normal,
            Self::GoingAway => CloseCode::GoingAway,
            Self::PingTimeout | Self::RateLimited | Self::EntityLimit => CloseCode::PolicyViolation,
            Self::TokenExpired => CloseCode::TokenExpired,
            Self::SendQueueFull | Self::WriteBufferFull => CloseCode::SlowConsumer,
            Self::MessageTooBig => CloseCode::MessageTooBig,
            Self::InvalidUtf8 => CloseCode::InvalidPayload,
            Self::ProtocolViolation => CloseCode::ProtocolError,
            Self::ModuleLimit => CloseCode::TryAgainLater,
            Self::NoEntity | Self::Unauthenticated(_) => CloseCode::Unauthorized,
            Self::Rejected(_) => CloseCode::Forbidden,
            Self::AuthenticationUnavailable | Self::HookFailed(_) | Self::PresenceUnavailable => {
                CloseCode::InternalError
            }
            Self::Error { code, .. } | Self::Requested { code, .. } => *code,
        }
    }

    /// The reason sent in the close frame (at most 123 bytes of it).
    pub(crate) fn reason(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::ClientClosed | Self::Finished => "",
            Self::PingTimeout => "ping timeout",
            Self::RateLimited => RATE_LIMITED,
            Self::SendQueueFull => "send queue full",
            Self::WriteBufferFull => "send buffer full",
            Self::InvalidUtf8 => "invalid UTF-8",
            Self::EntityLimit => "too many connections for this entity",
            Self::ModuleLimit => "server at its connection limit",
            Self::NoEntity => "token names no entity",
            Self::AuthenticationUnavailable => "authentication unavailable",
            Self::PresenceUnavailable => "presence unavailable",
            Self::GoingAway | Self::TokenExpired | Self::MessageTooBig | Self::ProtocolViolation => {
                self.code().default_reason()
            }
            Self::Unauthenticated(reason)
            | Self::Rejected(reason)
            | Self::HookFailed(reason)
            | Self::Error { reason, .. }
            | Self::Requested { reason, .. } => return reason.clone(),
        })
    }

    /// Whether the frames already queued are sent before the close frame: not to a client
    /// that does not read them, nor to one that stopped answering, nor to one that closed
    /// (after its close frame only the answer to it may be sent).
    pub(crate) fn flushes(&self) -> bool {
        !matches!(self, Self::ClientClosed | Self::PingTimeout | Self::SendQueueFull | Self::WriteBufferFull)
    }
}

/// What a client over its message rate is told, in the error envelope and the close frame.
pub(crate) const RATE_LIMITED: &str = "too many messages; slow down";

/// The longest close reason a close frame can carry, in bytes.
const MAX_CLOSE_REASON: usize = 123;

/// The close frame for `code` and `reason`, the reason cut to what a frame can carry.
pub(crate) fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame { code: code.code(), reason: Utf8Bytes::from(&reason[..end]) }
}

impl CloseCode {
    /// Whether a socket closed with this code may have left the rest of a frame unread, so
    /// that closing the connection at once would reset it before the client reads the code.
    pub(crate) fn leaves_input_unread(self) -> bool {
        matches!(self, Self::MessageTooBig | Self::ProtocolError | Self::InvalidPayload)
    }
}

/// Why a socket was disconnected, as passed to `on_disconnect` and logged in the `reason` field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client sent a close frame.
    ClientClosed {
        /// The code the client sent, if any.
        code: Option<u16>,
    },
    /// The connection dropped without a close frame (network loss, reset, read error).
    ConnectionLost,
    /// The server closed the socket.
    ServerClosed {
        /// The code sent to the client.
        code: CloseCode,
        /// The reason sent to the client.
        reason: Cow<'static, str>,
    },
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientClosed { code: Some(code) } => write!(f, "client closed ({code})"),
            Self::ClientClosed { code: None } => f.write_str("client closed"),
            Self::ConnectionLost => f.write_str("connection lost"),
            Self::ServerClosed { code, reason } => {
                write!(f, "server closed ({}: {reason})", code.code())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_round_trips_through_its_number() {
        for code in CloseCode::ALL.into_iter().chain([CloseCode::Application(4100)]) {
            assert_eq!(CloseCode::from_code(code.code()), Some(code));
        }
        assert!(CloseCode::ALL.windows(2).all(|pair| pair[0].code() < pair[1].code()));
        assert_eq!(CloseCode::from_code(1005), None);
        assert_eq!(CloseCode::from_code(5000), None);
    }

    #[test]
    fn auth_failures_tell_clients_not_to_retry_with_the_same_token() {
        assert_eq!(CloseCode::Unauthorized.reconnect(), Reconnect::WithFreshToken);
        assert_eq!(CloseCode::Forbidden.reconnect(), Reconnect::No);
        assert_eq!(CloseCode::TokenExpired.reconnect(), Reconnect::WithFreshToken);
        assert_eq!(CloseCode::GoingAway.reconnect(), Reconnect::WithBackoff);
    }

    #[test]
    fn the_close_code_table_gives_the_advice_of_the_code() {
        let section = include_str!("../docs/close-codes.md");
        let rows: Vec<Vec<&str>> = section
            .lines()
            .skip_while(|line| !line.starts_with("|---"))
            .skip(1)
            .take_while(|line| line.starts_with('|'))
            .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
            .collect();
        let listed: Vec<&str> = rows.iter().map(|row| row[0]).collect();
        let mut expected: Vec<String> = CloseCode::ALL.iter().map(|code| code.code().to_string()).collect();
        expected.push("4000–4999".to_owned());
        assert_eq!(listed, expected, "the table lists every code once, in order");
        for row in &rows {
            let code = row[0]
                .parse()
                .map_or(CloseCode::Application(4000), |code| CloseCode::from_code(code).expect("a known code"));
            assert_eq!(row[2], code.reconnect().to_string(), "the advice for {}", row[0]);
        }
    }
}
