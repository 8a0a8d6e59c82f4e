//! Close codes and disconnect reasons.

use std::borrow::Cow;
use std::fmt;

/// A WebSocket close code the framework sends, with what a client should do about it.
///
/// The table in the README lists every code; [`CloseCode::reconnect`] gives the same advice
/// in code.
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
    /// 4429: the client did not read fast enough and its send queue filled up.
    SlowConsumer,
    /// An application-defined code in `4000..=4999`.
    Application(u16),
}

/// What a client should do after a close, as the README's close code table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// Reconnect right away.
    Immediately,
    /// Reconnect, waiting longer after each failed attempt.
    WithBackoff,
    /// Reconnect only with a new token.
    WithFreshToken,
    /// Do not reconnect with the same credentials.
    No,
}

impl CloseCode {
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

    /// What a client should do after receiving this code.
    pub const fn reconnect(self) -> Reconnect {
        match self {
            Self::Normal | Self::MessageTooBig | Self::ProtocolError | Self::InvalidPayload => Reconnect::Immediately,
            Self::GoingAway
            | Self::PolicyViolation
            | Self::InternalError
            | Self::TryAgainLater
            | Self::SlowConsumer
            | Self::Application(_) => Reconnect::WithBackoff,
            Self::TokenExpired => Reconnect::WithFreshToken,
            Self::Unauthorized | Self::Forbidden => Reconnect::No,
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
        for code in [
            CloseCode::Normal,
            CloseCode::GoingAway,
            CloseCode::ProtocolError,
            CloseCode::InvalidPayload,
            CloseCode::PolicyViolation,
            CloseCode::MessageTooBig,
            CloseCode::InternalError,
            CloseCode::TryAgainLater,
            CloseCode::Unauthorized,
            CloseCode::Forbidden,
            CloseCode::TokenExpired,
            CloseCode::SlowConsumer,
            CloseCode::Application(4100),
        ] {
            assert_eq!(CloseCode::from_code(code.code()), Some(code));
        }
        assert_eq!(CloseCode::from_code(1005), None);
        assert_eq!(CloseCode::from_code(5000), None);
    }

    #[test]
    fn auth_failures_tell_clients_not_to_retry_with_the_same_token() {
        assert_eq!(CloseCode::Unauthorized.reconnect(), Reconnect::No);
        assert_eq!(CloseCode::TokenExpired.reconnect(), Reconnect::WithFreshToken);
        assert_eq!(CloseCode::GoingAway.reconnect(), Reconnect::WithBackoff);
    }
}
