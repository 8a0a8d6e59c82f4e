//! The default logging of the gateway hooks, callable from overrides.
//!
//! Every line of a socket's life is logged inside one `socket` span that carries the same
//! fields everywhere: `namespace`, `socket_id`, `entity_type` and `entity_id`; the events add
//! `event`, `operation`, `code`, `close` and `reason`. A user's own `tracing` calls inside hooks
//! and handlers land in the same span. The token is never logged, nor is the request's query
//! string.

use crate::close::{CloseCode, DisconnectReason};
use crate::error::GatewayError;
use crate::gateway::Operation;
use crate::socket::AuthenticatedSocket;

/// The default `log_connection_success`: an `info` line `socket connected`.
pub fn connection_success<C>(socket: &AuthenticatedSocket<C>) {
    let _ = socket;
    tracing::info!("socket connected");
}

/// The default `log_disconnection_success`: an `info` line `socket disconnected` with its reason.
pub fn disconnection_success<C>(socket: &AuthenticatedSocket<C>, reason: &DisconnectReason) {
    let _ = socket;
    tracing::info!(reason = %reason, "socket disconnected");
}

/// The default `handle_connection_error`: `error` for internal failures, `warn` for the rest.
pub fn connection_error<C>(socket: &AuthenticatedSocket<C>, operation: Operation<'_>, error: &GatewayError) {
    let _ = socket;
    let event = operation.event();
    let close = error.close_code().map(CloseCode::code);
    if error.code() == "internal" {
        tracing::error!(event, operation = %operation, code = error.code(), close, reason = %error, "gateway error");
    } else {
        tracing::warn!(event, operation = %operation, code = error.code(), close, reason = %error, "gateway error");
    }
}

/// Logs a connection refused before it became a socket.
pub(crate) fn connection_rejected(code: CloseCode, reason: &str) {
    tracing::warn!(code = code.code(), reason, "connection rejected");
}
