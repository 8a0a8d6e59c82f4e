//! A gateway's static configuration ([`GatewayDescriptor`], from `#[gateway(...)]`), and the
//! per-socket and per-module limits with their defaults and the checks `build` runs on them.
//! Below everything but the error `build` reports.

use std::time::Duration;

use crate::error::ModuleError;

/// Per-socket and per-module limits, the same for every gateway of a module.
///
/// Every limit is on by default; [`docs::limits`](crate::docs::limits) lists them with their
/// close codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketConfig {
    /// The largest message (and frame) a client may send, in bytes; larger ones close the
    /// socket with 1009. Default 64 KiB.
    pub max_message_size: usize,
    /// How many outgoing frames may wait for a slow client before it is closed with 4429.
    /// Default 4,096.
    pub send_queue_capacity: usize,
    /// How many bytes of outgoing frames may wait for a slow client before it is closed with
    /// 4429 (a single larger frame still goes out). Default 1 MiB: room for bursts of small
    /// pushes to a client that reads them, not for a client that stopped reading.
    pub send_queue_bytes: usize,
    /// The most bytes of outgoing frames a socket holds for a client that does not read them,
    /// on top of what the kernel's socket buffer holds: past it the socket is closed with 4429,
    /// and the pongs a client's pings ask for are no longer queued. It is also the largest
    /// frame a socket can send. Default 1 MiB; never less than `max_message_size` plus the
    /// 128 KiB gathered before a write, so that a reply as large as the largest message fits.
    pub max_write_buffer_size: usize,
    /// The read buffer each socket allocates up front, in bytes. Messages larger than it
    /// still arrive whole (up to `max_message_size`): the buffer grows while it reads them.
    /// Default 2 KiB, against tungstenite's 128 KiB, which would cost 128 KiB per idle socket;
    /// a larger message takes more `read` calls (a 64 KiB one, 32).
    pub read_buffer_size: usize,
    /// How long a closing socket may take to flush and finish the close handshake. Default 5 s.
    pub close_timeout: Duration,
    /// How often the server pings an idle client. Default 25 s.
    pub ping_interval: Duration,
    /// How long a client may take to answer a ping (with a pong or any frame) before it is
    /// closed with 1008. Default 20 s.
    pub pong_timeout: Duration,
    /// How long before its token expires a socket is sent `auth.expiring`. Default 30 s.
    pub expiry_warning: Duration,
    /// The per-socket message rate limit; `None` turns it off. Default 100/s, bursts of 200.
    pub rate_limit: Option<RateLimit>,
    /// The most sockets one entity may hold in one namespace on this node; more are closed
    /// with 1008. Default 64.
    pub max_connections_per_entity: usize,
    /// The most sockets the module holds in all; more are closed with 1013. Default 100,000.
    pub max_connections: usize,
    /// Whether Socket.IO clients reach the gateway too, in its namespace on the module's
    /// Socket.IO path (with the feature `socketio`; without it, there is no Socket.IO
    /// endpoint). Default `true`; `false` per gateway with
    /// [`gateway_with`](crate::WebSocketModuleBuilder::gateway_with), or for every gateway with
    /// [`socket_config`](crate::WebSocketModuleBuilder::socket_config).
    pub socket_io: bool,
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            send_queue_capacity: 4096,
            send_queue_bytes: 1024 * 1024,
            max_write_buffer_size: 1024 * 1024,
            read_buffer_size: 2 * 1024,
            close_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(20),
            expiry_warning: Duration::from_secs(30),
            rate_limit: Some(RateLimit::default()),
            max_connections_per_entity: 64,
            max_connections: 100_000,
            socket_io: true,
        }
    }
}

/// How many bytes of outgoing frames a socket gathers before it writes them out, unless it
/// flushes first (it does after every batch of queued frames).
pub(crate) const WRITE_BUFFER_SIZE: usize = 128 * 1024;

impl SocketConfig {
    /// The write buffer's limit as applied: `max_write_buffer_size`, raised when needed so a
    /// frame as large as the largest message fits after what is gathered before a write.
    pub(crate) fn write_buffer_limit(&self) -> usize {
        self.max_write_buffer_size.max(self.max_message_size.saturating_add(WRITE_BUFFER_SIZE + 1))
    }
}

/// A token bucket per socket: `burst` messages at once, refilled at `per_second`.
///
/// A message over the limit is answered with a `rate_limited` error envelope and not handled;
/// after `max_violations` such messages in a row the socket is closed with 1008.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained messages per second.
    pub per_second: u32,
    /// Messages allowed at once.
    pub burst: u32,
    /// Consecutive refused messages before the socket is closed.
    pub max_violations: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { per_second: 100, burst: 200, max_violations: 20 }
    }
}

pub(crate) fn validate(config: &SocketConfig) -> Result<(), ModuleError> {
    let invalid = |name, reason| Err(ModuleError::InvalidLimit { name, reason });
    if config.max_message_size == 0 {
        return invalid("max_message_size", "must be at least 1 byte");
    }
    if config.send_queue_capacity == 0 {
        return invalid("send_queue_capacity", "must be at least 1 frame");
    }
    if config.send_queue_bytes == 0 {
        return invalid("send_queue_bytes", "must be at least 1 byte");
    }
    if config.read_buffer_size == 0 {
        return invalid("read_buffer_size", "must be at least 1 byte");
    }
    if config.max_connections == 0 || config.max_connections_per_entity == 0 {
        return invalid("max_connections", "must allow at least 1 socket");
    }
    if config.ping_interval.is_zero() || config.pong_timeout.is_zero() {
        return invalid("ping_interval", "must be longer than zero");
    }
    match config.rate_limit {
        Some(limit) if limit.per_second == 0 || limit.burst == 0 => invalid(
            "rate_limit",
            "must allow at least 1 message per second and a burst of 1; use `None` to turn it off",
        ),
        _ => Ok(()),
    }
}

/// A gateway's static configuration, as written in `#[gateway(...)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayDescriptor {
    /// The gateway type's name, for error messages.
    pub type_name: &'static str,
    /// The namespace, such as `user`.
    pub namespace: &'static str,
    /// The path the gateway is mounted at, such as `/user`.
    pub path: &'static str,
    /// The entity type of its sockets, such as `User`.
    pub entity_type: &'static str,
    /// Allowed browser origins; `None` takes the module's.
    pub origins: Option<&'static [&'static str]>,
    /// Whether browsers may send cookies to this gateway (`credentials = true`), so that a
    /// wildcard origin would let any website open sockets as its visitors.
    pub credentials: bool,
}
