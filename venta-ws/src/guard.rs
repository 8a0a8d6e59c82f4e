//! Guards: a check that runs before a handler and may refuse the message (NestJS's
//! `@UseGuards`).
//!
//! A guard implements [`Guard<C, P>`] for the gateway's claims `C` and the handler's payload
//! `P` (`()` for a handler without one). It sees the socket, its claims, the event and the
//! payload, already read and validated, and refuses with a [`GatewayError`]:
//! [`GatewayError::forbidden`] is the usual answer. A refusal is answered like any handler
//! error (an `error` envelope, or a Socket.IO `exception` or ack) and leaves the socket open
//! unless the error carries a close code.
//!
//! Put guards on a handler, or on the whole `#[messages]` block to guard every handler of the
//! gateway; each `#[guard(..)]` takes an expression, evaluated for each message, so it can be a
//! value (`Roles::any(&["admin"])`) or use the gateway (`self.orders.ownership()`):
//!
//! ```
//! use serde::Deserialize;
//! use venta_ws::guard::{Guard, GuardContext, Roles};
//! use venta_ws::prelude::*;
//!
//! #[derive(Deserialize)]
//! struct JoinOrder { order_id: u64 }
//!
//! /// Only the customer of an order may join its room.
//! struct OwnsOrder;
//!
//! impl Guard<StandardClaims, JoinOrder> for OwnsOrder {
//!     async fn check(&self, ctx: GuardContext<'_, StandardClaims, JoinOrder>) -> Result<(), GatewayError> {
//!         let owner = format!("customer-of-{}", ctx.payload().order_id); // a lookup, in a real service
//!         if ctx.entity_id() == owner { Ok(()) } else { Err(GatewayError::forbidden("not your order")) }
//!     }
//! }
//!
//! #[derive(WebSocketGateway)]
//! #[gateway(namespace = "customer", auth = Jwt)]
//! struct CustomerGateway;
//!
//! #[venta_ws::messages]
//! #[guard(Roles::any(&["customer", "admin"]))] // every handler of the gateway
//! impl CustomerGateway {
//!     #[subscribe("order.join")]
//!     #[guard(OwnsOrder)] // this handler, after the gateway's guards
//!     async fn join(&self, socket: &AuthenticatedSocket, order: JoinOrder) -> Ack {
//!         socket.join(&format!("order:{}", order.order_id));
//!         Ack(())
//!     }
//! }
//! ```
//!
//! # Order
//!
//! For each message: its payload is read (and validated, for [`Valid`] payloads), then the
//! block's guards run in the order written, then the handler's, then the handler. Guards run
//! inside the interceptors, so the message span and metrics cover them. A guard sees a
//! validated payload, so an ownership guard can trust the shape of the id it looks up.
//!
//! [`Valid`]: crate::validate::Valid

use std::future::Future;

use crate::auth::StandardClaims;
use crate::error::GatewayError;
use crate::socket::AuthenticatedSocket;

/// A check before a handler that may refuse the message; see the [module](self) documentation.
///
/// Implement it with an `async fn check`. A guard for any payload is generic over it:
/// `impl<C: HasRoles + Sync, P: ?Sized + Sync> Guard<C, P> for MyGuard`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot guard a handler of claims `{C}` and payload `{P}`",
    label = "not a `Guard<{C}, {P}>`",
    note = "a guard implements `Guard<C, P>` for the gateway's claims `C` and the handler's payload `P` (`()` without one); one that guards any handler is generic: `impl<C: Sync, P: ?Sized + Sync> Guard<C, P> for ..`"
)]
pub trait Guard<C, P: ?Sized = ()>: Send + Sync {
    /// `Ok(())` lets the message through; an error refuses it and is answered to the client.
    fn check(&self, ctx: GuardContext<'_, C, P>) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// What a guard sees of one message: the socket, its claims, the event and the payload.
pub struct GuardContext<'a, C, P: ?Sized> {
    socket: &'a AuthenticatedSocket<C>,
    event: &'a str,
    payload: &'a P,
}

impl<C, P: ?Sized> Clone for GuardContext<'_, C, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C, P: ?Sized> Copy for GuardContext<'_, C, P> {}

impl<'a, C, P: ?Sized> GuardContext<'a, C, P> {
    pub(crate) fn new(socket: &'a AuthenticatedSocket<C>, event: &'a str, payload: &'a P) -> Self {
        Self { socket, event, payload }
    }

    /// The socket that sent the message.
    pub fn socket(&self) -> &'a AuthenticatedSocket<C> {
        self.socket
    }

    /// The claims verified when the socket connected.
    pub fn claims(&self) -> &'a C {
        self.socket.claims()
    }

    /// The entity the socket belongs to.
    pub fn entity_id(&self) -> &'a str {
        self.socket.entity_id()
    }

    /// The event the message is for.
    pub fn event(&self) -> &'a str {
        self.event
    }

    /// The payload, as the handler will get it (`&()` for a handler without one).
    pub fn payload(&self) -> &'a P {
        self.payload
    }
}

/// Claims that carry roles, for [`Roles`]. Implement it for your claims type, in one line:
/// `fn has_role(&self, role: &str) -> bool { self.role == role }`.
pub trait HasRoles {
    /// Whether the claims grant `role`.
    fn has_role(&self, role: &str) -> bool;
}

/// The `role` claim (a string) and the `roles` claim (an array of strings) of a token.
impl HasRoles for StandardClaims {
    fn has_role(&self, role: &str) -> bool {
        let named = |value: &serde_json::Value| value.as_str() == Some(role);
        self.extra.get("role").is_some_and(named)
            || self
                .extra
                .get("roles")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|roles| roles.iter().any(named))
    }
}

/// A guard that lets a message through when the socket's claims grant one of the roles:
/// `#[guard(Roles::any(&["admin", "dispatcher"]))]`. It refuses with `forbidden`, naming the
/// roles it asked for.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    any: &'static [&'static str],
}

impl Roles {
    /// Any one of `roles`.
    pub const fn any(roles: &'static [&'static str]) -> Self {
        Self { any: roles }
    }
}

impl<C: HasRoles + Sync, P: ?Sized + Sync> Guard<C, P> for Roles {
    async fn check(&self, ctx: GuardContext<'_, C, P>) -> Result<(), GatewayError> {
        if self.any.iter().any(|role| ctx.claims().has_role(role)) {
            return Ok(());
        }
        Err(GatewayError::forbidden(match self.any {
            [role] => format!("`{}` requires the role `{role}`", ctx.event()),
            roles => format!("`{}` requires one of the roles: {}", ctx.event(), roles.join(", ")),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(extra: serde_json::Value) -> StandardClaims {
        serde_json::from_value(extra).expect("claims")
    }

    #[test]
    fn standard_claims_grant_their_role_and_roles_claims() {
        assert!(claims(json!({"role": "admin"})).has_role("admin"));
        assert!(claims(json!({"roles": ["rider", "admin"]})).has_role("admin"));
        assert!(!claims(json!({"roles": ["rider"]})).has_role("admin"));
        assert!(!claims(json!({"role": ["admin"]})).has_role("admin"), "`role` is one string");
        assert!(!claims(json!({})).has_role("admin"));
    }
}
