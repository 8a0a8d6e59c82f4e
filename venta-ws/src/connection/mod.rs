//! The connection engine: one socket's life, from the HTTP handshake to the last cleanup.
//! Crate-private; the builder mounts gateways through [`mount`], `testing` serves sockets
//! through [`GatewayRuntime::serve`].
//!
//! The call chain, one file per step:
//!
//! 1. [`handshake`](handshake::handshake) (`handshake.rs`), the axum handler of a gateway's
//!    path: origin policy (`origin.rs`), upgrade, `Authenticator::authenticate` (the token is
//!    extracted in `auth/token.rs`), `get_entity_id`, `validate_connection`. A refusal is
//!    closed there with the code [`Closure`](crate::close::Closure) chooses.
//! 2. [`GatewayRuntime::serve`] (`lifecycle.rs`): the socket is attached to its namespace
//!    (connection limits), it is registered in presence, `on_connect` runs, then the read loop;
//!    afterwards `on_disconnect`, presence cleanup and the close, whatever ended it, panics
//!    included (`guard.rs`). One task per socket does all of it, reading and writing.
//! 3. [`read_loop`](read::read_loop) (`read.rs`): frames in, one at a time, each through the
//!    rate limit (`rate_limit.rs`), while the socket's deadlines fire (`keepalive.rs`).
//! 4. [`dispatch_text`](dispatch::dispatch_text) (`dispatch.rs`): an envelope goes to its
//!    `#[subscribe]` handler through `GatewayHandlers::dispatch`, `auth.refresh` is answered
//!    here; errors are answered with `error` envelopes.
//! 5. `write.rs`: queued frames out, whenever the socket's task waits, then the close frame.
//!
//! `socket_io.rs` is step 1 for a Socket.IO client joining a gateway's namespace
//! (feature `socketio`): the same checks, then the same `serve`, through a Socket.IO pipe.
//!
//! `transport.rs` is the seam below all of it: a socket is any stream and sink of frames (an
//! upgraded axum WebSocket, or the in-memory pipe of `testing`).

mod dispatch;
mod guard;
mod handshake;
mod keepalive;
mod lifecycle;
mod mount;
mod origin;
mod rate_limit;
mod read;
#[cfg(feature = "socketio")]
mod socket_io;
mod transport;
mod write;

#[cfg(feature = "testing")]
pub(crate) use handshake::socket_span;
pub(crate) use lifecycle::GatewayRuntime;
pub(crate) use mount::{MountContext, MountedGateway, OwnHooks, mount};
pub(crate) use origin::OriginPolicy;
#[cfg(feature = "testing")]
pub(crate) use transport::FramePipe;
