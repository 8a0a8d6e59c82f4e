//! Interceptors: a hook around every message a gateway dispatches, to observe it, refuse it
//! with a [`GatewayError`], or change its result.
//!
//! An [`Interceptor`] receives the message's [`MessageContext`] (event, socket, payload size,
//! when it was received) and the [`Next`] step of the chain; it calls [`Next::run`] to go on
//! (and gets the handler's result back to look at or map), or returns without calling it to
//! short-circuit the handler.
//!
//! # Order
//!
//! Outermost are the crate's own, which use this same hook: the `message` span (see
//! [`crate::logging`]; [`WebSocketModuleBuilder::message_spans`] turns it off), then the
//! message metrics (feature `metrics`). Then module interceptors
//! ([`WebSocketModuleBuilder::interceptor`]), then a gateway's own
//! ([`WebSocketModuleBuilder::gateway_interceptor`]); within each, in registration order: the
//! first registered sees the message first and the result last. So an application's
//! interceptors run inside the message span, and what they log carries its fields.
//!
//! # Cost
//!
//! With no interceptor set (no feature `metrics`, none registered, and message spans off or
//! disabled: a subscriber at `info`, the usual production level, records none, and dispatch
//! then leaves their interceptor out), dispatch checks an empty slice and calls the handler
//! directly: no allocation, no virtual call. With interceptors, each message costs one boxed future for the handler and one per
//! interceptor; BENCHMARKS.md gives the measured cost.
//!
//! # Why an async "around" hook
//!
//! A before/after pair could not hold state across the handler (a timer, a span guard, a
//! permit) without a side table, and could not decide the result from what happened on both
//! sides. One async method gets all of that in a single place; the price is the boxed future
//! above, paid only when an interceptor is set. The trait returns a [`BoxFuture`] rather than
//! being an `async fn` so that interceptors can be stored as `Arc<dyn Interceptor>`.
//!
//! ```
//! use venta_ws::intercept::{BoxFuture, Interceptor, MessageContext, Next, Outcome};
//! use venta_ws::GatewayError;
//!
//! /// Refuses `admin.*` events from everyone.
//! struct NoAdmin;
//!
//! impl Interceptor for NoAdmin {
//!     fn intercept<'a>(&'a self, ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome> {
//!         Box::pin(async move {
//!             if ctx.event().starts_with("admin.") {
//!                 return Err(GatewayError::new("forbidden", "admin events are not allowed"));
//!             }
//!             next.run().await
//!         })
//!     }
//! }
//! ```
//!
//! [`WebSocketModuleBuilder::interceptor`]: crate::WebSocketModuleBuilder::interceptor
//! [`WebSocketModuleBuilder::message_spans`]: crate::WebSocketModuleBuilder::message_spans
//! [`WebSocketModuleBuilder::gateway_interceptor`]: crate::WebSocketModuleBuilder::gateway_interceptor

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;

use crate::error::GatewayError;
use crate::id::SocketId;
use crate::protocol::MessageId;
use crate::transport::Transport;

/// A boxed, sendable future, what [`Interceptor::intercept`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a dispatched message came to: the frame answered to the client (if any), or the
/// error answered with an `error` envelope (and a close, when it carries a close code).
pub type Outcome = Result<Option<Utf8Bytes>, GatewayError>;

/// A hook around every message a gateway dispatches; see the [module](self) documentation.
pub trait Interceptor: Send + Sync + 'static {
    /// Handles one message: call `next.run().await` to go on to the next interceptor and, at
    /// the end of the chain, the handler; return without calling it to short-circuit.
    fn intercept<'a>(&'a self, ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome>;
}

/// One message, as interceptors see it.
#[derive(Debug)]
pub struct MessageContext<'a> {
    pub(crate) event: &'a str,
    /// The events the gateway declares.
    pub(crate) events: &'static [&'static str],
    pub(crate) id: Option<&'a MessageId>,
    pub(crate) namespace: &'a str,
    pub(crate) socket_id: SocketId,
    pub(crate) entity_id: &'a str,
    pub(crate) transport: Transport,
    pub(crate) payload_size: usize,
    pub(crate) received_at: Instant,
}

impl MessageContext<'_> {
    /// The event name the client sent (any string: not only events the gateway declares).
    pub fn event(&self) -> &str {
        self.event
    }

    /// The event name when the gateway declares it (has a handler for it), `None` for any
    /// other name: a label of bounded cardinality for metrics, as a client can send any name.
    pub fn declared_event(&self) -> Option<&'static str> {
        self.events.iter().copied().find(|event| *event == self.event)
    }

    /// The message's `id`, when the client asked for an answer.
    pub fn id(&self) -> Option<&MessageId> {
        self.id
    }

    /// The gateway's namespace.
    pub fn namespace(&self) -> &str {
        self.namespace
    }

    /// The socket that sent the message.
    pub fn socket_id(&self) -> SocketId {
        self.socket_id
    }

    /// The entity the socket belongs to.
    pub fn entity_id(&self) -> &str {
        self.entity_id
    }

    /// How the socket is carried.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The size of the frame that carried the message, in bytes.
    pub fn payload_size(&self) -> usize {
        self.payload_size
    }

    /// When the frame was read; `received_at().elapsed()` after [`Next::run`] is the
    /// message's duration.
    pub fn received_at(&self) -> Instant {
        self.received_at
    }
}

/// The rest of an interceptor chain: the interceptors after this one, then the handler.
#[must_use = "the handler runs only if `next.run()` is awaited"]
pub struct Next<'a> {
    rest: &'a [Arc<dyn Interceptor>],
    ctx: &'a MessageContext<'a>,
    handler: BoxFuture<'a, Outcome>,
}

impl<'a> Next<'a> {
    /// Runs the rest of the chain and returns its outcome.
    pub async fn run(self) -> Outcome {
        match self.rest.split_first() {
            None => self.handler.await,
            Some((first, rest)) => first.intercept(self.ctx, Next { rest, ctx: self.ctx, handler: self.handler }).await,
        }
    }
}

impl std::fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").field("remaining", &self.rest.len()).finish_non_exhaustive()
    }
}

/// Runs `handler` through `chain`; with an empty chain, just `handler`.
pub(crate) async fn run_chain<'a, F>(
    chain: &'a [Arc<dyn Interceptor>],
    ctx: &'a MessageContext<'a>,
    handler: F,
) -> Outcome
where
    F: Future<Output = Outcome> + Send + 'a,
{
    if chain.is_empty() {
        return handler.await;
    }
    Next { rest: chain, ctx, handler: Box::pin(handler) }.run().await
}
