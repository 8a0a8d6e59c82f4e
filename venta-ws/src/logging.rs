//! The default logging of the gateway hooks, callable from overrides.
//!
//! Every line of a socket's life is logged inside one `socket` span that carries the same
//! fields everywhere: `namespace`, `socket_id`, `entity_type` and `entity_id`; the events add
//! `event`, `operation`, `code`, `close` and `reason`. A user's own `tracing` calls inside hooks
//! and handlers land in the same span. The socket span also carries `transport`,
//! `remote_addr` (when the server has connect info: [`crate::serve`] gives it) and
//! `user_agent`.
//!
//! Each dispatched message runs in a `message` span inside it, with `event`, `id`, and once
//! handled, `outcome`, `code` (of an error) and `duration_us`; a line `message handled` ends
//! it. Both are at DEBUG under the target [`MESSAGE_TARGET`] (`venta_ws::message`), so they
//! cost nothing at INFO; `RUST_LOG=info,venta_ws::message=debug` turns them on. With a trace
//! exporter ([`crate::docs::observability`]) this is one operation per message under the
//! socket's. The token is never logged, nor is the request's query string, nor a message's
//! payload.
//!
//! Every text field that can carry what a client sent (an event name, an error's reason, an
//! origin, an entity id) is written through [`Untrusted`]: quoted, with control characters
//! escaped, and cut at [`MAX_LOGGED_CHARS`], so a client can neither forge a log line nor
//! flood the log.

use std::fmt::{self, Write as _};

use tracing::Instrument;

use crate::close::{CloseCode, DisconnectReason};
use crate::error::GatewayError;
use crate::error::Operation;
use crate::intercept::{BoxFuture, Interceptor, MessageContext, Next, Outcome};
use crate::protocol::MessageId;
use crate::socket::AuthenticatedSocket;

/// The most characters of one text field a log line shows; the rest is counted, not written.
pub const MAX_LOGGED_CHARS: usize = 200;

/// Text that may come from a client, written as a log field: in double quotes, with control
/// characters, quotes and backslashes escaped as Rust's `{:?}` does, and at most
/// [`MAX_LOGGED_CHARS`] characters of it, followed by how many bytes were left out.
///
/// ```
/// use venta_ws::logging::Untrusted;
///
/// assert_eq!(Untrusted("a\nb").to_string(), r#""a\nb""#);
/// let long = "x".repeat(1000);
/// assert!(Untrusted(&long).to_string().ends_with("…\" (+800 bytes)"));
/// ```
pub struct Untrusted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Untrusted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        let mut escaper = Escaper { out: f, shown: 0, hidden: 0 };
        write!(escaper, "{}", self.0)?;
        let hidden = escaper.hidden;
        if hidden > 0 { write!(f, "…\" (+{hidden} bytes)") } else { f.write_char('"') }
    }
}

impl<T: fmt::Display> fmt::Debug for Untrusted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Escapes what is written through it and stops showing it past [`MAX_LOGGED_CHARS`].
struct Escaper<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    shown: usize,
    hidden: usize,
}

impl fmt::Write for Escaper<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            if self.shown >= MAX_LOGGED_CHARS {
                self.hidden += c.len_utf8();
                continue;
            }
            self.shown += 1;
            if c == '\'' {
                self.out.write_char(c)?;
            } else {
                for escaped in c.escape_debug() {
                    self.out.write_char(escaped)?;
                }
            }
        }
        Ok(())
    }
}

/// The default `log_connection_success`: an `info` line `socket connected`.
pub fn connection_success<C>(socket: &AuthenticatedSocket<C>) {
    let _ = socket;
    tracing::info!("socket connected");
}

/// The default `log_disconnection_success`: an `info` line `socket disconnected` with its reason.
pub fn disconnection_success<C>(socket: &AuthenticatedSocket<C>, reason: &DisconnectReason) {
    let _ = socket;
    tracing::info!(reason = %Untrusted(reason), "socket disconnected");
}

/// The default `handle_connection_error`: `error` for internal failures, `warn` for the rest.
///
/// The `reason` is the error's [`Display`](GatewayError#impl-Display-for-GatewayError), which
/// never quotes a payload.
pub fn connection_error<C>(socket: &AuthenticatedSocket<C>, operation: Operation<'_>, error: &GatewayError) {
    let _ = socket;
    let event = operation.event().map(|event| tracing::field::display(Untrusted(event)));
    let operation = Untrusted(operation);
    let close = error.close_code().map(CloseCode::code);
    let code = error.code();
    let reason = Untrusted(error);
    if code == "internal" {
        tracing::error!(event, %operation, code, close, %reason, "gateway error");
    } else {
        tracing::warn!(event, %operation, code, close, %reason, "gateway error");
    }
}

/// Logs a connection refused before it became a socket.
pub(crate) fn connection_rejected(code: CloseCode, reason: &str) {
    tracing::warn!(code = code.code(), reason = %Untrusted(reason), "connection rejected");
}

/// The target of the `message` spans and of the `message handled` lines: at DEBUG, so that
/// a subscriber at INFO (the usual production level) creates no span per message, as
/// tower-http's request spans are at DEBUG. `RUST_LOG=info,venta_ws::message=debug` turns them
/// on, for a trace exporter for example.
pub const MESSAGE_TARGET: &str = "venta_ws::message";

/// Whether a subscriber would record `message` spans now.
pub(crate) fn message_spans_enabled() -> bool {
    tracing::span_enabled!(target: MESSAGE_TARGET, tracing::Level::DEBUG, "message")
}

/// The `message` span of every dispatched message, inside its socket's span: `event` (the
/// declared name, or the client's quoted through [`Untrusted`]), `id`, and once the handler
/// is done, `outcome` (`ok` or `error`), the error's `code` and `duration_us`; a DEBUG line
/// `message handled` closes it. Set by the module on every gateway, outer to every other
/// interceptor, unless turned off with
/// [`WebSocketModuleBuilder::message_spans`](crate::WebSocketModuleBuilder::message_spans).
pub(crate) struct MessageSpans;

impl Interceptor for MessageSpans {
    fn intercept<'a>(&'a self, ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome> {
        let span = tracing::debug_span!(
            target: MESSAGE_TARGET,
            "message",
            event = tracing::field::Empty,
            id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            code = tracing::field::Empty,
            duration_us = tracing::field::Empty,
        );
        if span.is_disabled() {
            return Box::pin(next.run());
        }
        match ctx.declared_event() {
            Some(event) => span.record("event", event),
            None => span.record("event", tracing::field::display(Untrusted(ctx.event()))),
        };
        match ctx.id() {
            Some(MessageId::Number(id)) => span.record("id", id),
            Some(MessageId::Text(id)) => span.record("id", tracing::field::display(Untrusted(id))),
            None => &span,
        };
        Box::pin(async move {
            let outcome = next.run().instrument(span.clone()).await;
            let duration_us = u64::try_from(ctx.received_at().elapsed().as_micros()).unwrap_or(u64::MAX);
            span.record("duration_us", duration_us);
            match &outcome {
                Ok(_) => span.record("outcome", "ok"),
                Err(error) => span.record("outcome", "error").record("code", error.code()),
            };
            span.in_scope(|| tracing::debug!(target: MESSAGE_TARGET, duration_us, "message handled"));
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_break_a_line_or_grow_it_without_bound() {
        let forged = "x\n2026-01-01T00:00:00Z  INFO socket connected entity_id=\"admin\"\r\u{1b}[31m";
        let written = Untrusted(forged).to_string();
        assert!(!written.contains(['\n', '\r', '\u{1b}']), "{written}");
        assert_eq!(written, r#""x\n2026-01-01T00:00:00Z  INFO socket connected entity_id=\"admin\"\r\u{1b}[31m""#);
        assert_eq!(Untrusted("it's").to_string(), "\"it's\"");

        let flood = "é".repeat(30_000);
        let written = Untrusted(&flood).to_string();
        assert_eq!(written.chars().filter(|c| *c == 'é').count(), MAX_LOGGED_CHARS);
        assert!(written.ends_with(&format!("…\" (+{} bytes)", 2 * (30_000 - MAX_LOGGED_CHARS))), "{written}");
    }
}
