//! Error filters: what a client gets for an error (NestJS's exception filters).
//!
//! Every error a socket is answered with (a handler's or a guard's, an invalid payload, an
//! unknown event, a malformed envelope, a rate limit) passes through the filters before it
//! is sent: each gets the error and returns the one to send, so it can change the code, the
//! message or the details, add a close code, or hide what should not leave the server.
//!
//! The error is logged as it was raised (with [`GatewayHandlers::handle_connection_error`]),
//! before the filters run, so a filter that rewrites the answer does not hide the cause from
//! the logs. Set filters with [`WebSocketModuleBuilder::error_filter`] (every gateway) and
//! [`WebSocketModuleBuilder::gateway_error_filter`] (one gateway): a gateway's filters run
//! first, then the module's, each in registration order, each on the previous one's result.
//!
//! A closure `Fn(&ErrorContext<'_>, GatewayError) -> GatewayError` is a filter:
//!
//! ```
//! use venta_ws::filter::ErrorContext;
//! use venta_ws::prelude::*;
//!
//! # #[derive(WebSocketGateway)]
//! # #[gateway(namespace = "user", auth = Jwt)]
//! # struct UserGateway;
//! # #[venta_ws::messages]
//! # impl UserGateway {}
//! # fn main() -> Result<(), venta_ws::ModuleError> {
//! let module = WebSocketModule::builder()
//!     .jwt(JwtConfig::hs256("a development secret, 32 bytes or more"))
//!     .gateway(UserGateway)
//!     // The mobile apps show `message` to the user: say something they can act on.
//!     .error_filter(|_: &ErrorContext<'_>, error: GatewayError| match error.code() {
//!         "internal" => error.with_message("something went wrong on our side; try again"),
//!         _ => error,
//!     })
//!     .build()?;
//! # Ok(())
//! # }
//! ```
//!
//! [`GatewayHandlers::handle_connection_error`]: crate::GatewayHandlers::handle_connection_error
//! [`WebSocketModuleBuilder::error_filter`]: crate::WebSocketModuleBuilder::error_filter
//! [`WebSocketModuleBuilder::gateway_error_filter`]: crate::WebSocketModuleBuilder::gateway_error_filter

use std::sync::Arc;

use crate::error::{GatewayError, Operation};
use crate::id::SocketId;
use crate::transport::Transport;

/// Decides what a client gets for an error; see the [module](self) documentation.
pub trait ErrorFilter: Send + Sync + 'static {
    /// The error to send instead of `error` (return it unchanged to let it through).
    fn filter(&self, ctx: &ErrorContext<'_>, error: GatewayError) -> GatewayError;
}

impl<F> ErrorFilter for F
where
    F: Fn(&ErrorContext<'_>, GatewayError) -> GatewayError + Send + Sync + 'static,
{
    fn filter(&self, ctx: &ErrorContext<'_>, error: GatewayError) -> GatewayError {
        self(ctx, error)
    }
}

/// Where an error happened, as filters see it.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) socket_id: SocketId,
    pub(crate) entity_id: &'a str,
    pub(crate) transport: Transport,
    pub(crate) operation: Operation<'a>,
}

impl<'a> ErrorContext<'a> {
    /// The gateway's namespace.
    pub fn namespace(&self) -> &'a str {
        self.namespace
    }

    /// The socket the error is answered to.
    pub fn socket_id(&self) -> SocketId {
        self.socket_id
    }

    /// The entity the socket belongs to.
    pub fn entity_id(&self) -> &'a str {
        self.entity_id
    }

    /// How the socket is carried.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// What failed: the event handled, or decoding the envelope.
    pub fn operation(&self) -> Operation<'a> {
        self.operation
    }
}

/// Runs `error` through `filters`, in order.
pub(crate) fn apply(filters: &[Arc<dyn ErrorFilter>], ctx: &ErrorContext<'_>, error: GatewayError) -> GatewayError {
    filters.iter().fold(error, |error, filter| filter.filter(ctx, error))
}
