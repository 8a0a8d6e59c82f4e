//! What a client's text frame asks for: an envelope decoded and handed to its handler, or
//! `auth.refresh`, which the framework answers itself; and how an error is answered.

use std::borrow::Cow;
use std::time::Instant;

use super::guard::guarded;
use super::lifecycle::GatewayRuntime;
use crate::auth::{Authenticator, ConnectRequest, Token, TokenSource};
use crate::close::Closure;
use crate::error::{GatewayError, Operation};
use crate::filter::{self, ErrorContext};
use crate::gateway::{Dispatch, GatewayHandlers, SocketOf};
use crate::intercept::{MessageContext, run_chain};
use crate::protocol::{self, Expiry, MessageId, REFRESH_EVENT, Request};

pub(super) async fn dispatch_text<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    text: &str,
    handshake: Option<&ConnectRequest>,
) {
    let received_at = Instant::now();
    let request = match Request::decode(text) {
        Ok(request) => request,
        Err(error) => {
            fail(runtime, socket, Operation::Decode, error.to_error(), error.id.as_ref());
            return;
        }
    };
    let handled = async {
        if request.event() == REFRESH_EVENT {
            refresh(runtime, socket, &request, handshake).await
        } else {
            match guarded(runtime.gateway.dispatch(socket, &request)).await {
                Ok(Dispatch::Handled(result)) => result,
                Ok(Dispatch::UnknownEvent) => Err(GatewayError::quoting_input(
                    "unknown_event",
                    format!("no handler for event `{}`", request.event().chars().take(100).collect::<String>()),
                    "no handler for this event",
                )),
                Err(panic) => Err(panic),
            }
        }
    };
    // No interceptor: the handler, directly (an empty-slice check, nothing boxed).
    let interceptors = runtime.interceptors();
    let result = if interceptors.is_empty() {
        handled.await
    } else {
        let core = socket.core();
        let ctx = MessageContext {
            event: request.event(),
            events: G::EVENTS,
            id: request.id(),
            namespace: runtime.namespace.name(),
            socket_id: core.id,
            entity_id: &core.entity_id,
            transport: core.transport,
            payload_size: text.len(),
            received_at,
        };
        match guarded(run_chain(interceptors, &ctx, handled)).await {
            Ok(result) => result,
            Err(panic) => Err(panic),
        }
    };
    match result {
        Ok(Some(frame)) => {
            socket.core().deliver(frame);
        }
        Ok(None) => {}
        Err(error) => fail(runtime, socket, Operation::Event(request.event()), error, request.id()),
    }
}

/// `auth.refresh`: verifies a fresh token for the same entity, passes it through
/// `validate_connection` as a connect would, and moves the socket's expiry.
pub(super) async fn refresh<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    request: &Request<'_>,
    handshake: Option<&ConnectRequest>,
) -> Result<Option<axum::extract::ws::Utf8Bytes>, GatewayError> {
    let rejected = |message: String| GatewayError::new("refresh_rejected", message);
    let token: String = request
        .payload()
        .map_err(|_| rejected("`data` of `auth.refresh` must be the new token as a string".to_owned()))?;
    let token = Token::new(token, TokenSource::Refresh);
    let identity = match guarded(runtime.auth.reauthenticate(&token)).await? {
        Ok(identity) => identity,
        Err(error) => return Err(rejected(error.to_string())),
    };
    if runtime.gateway.get_entity_id(&identity).as_deref() != Some(socket.entity_id()) {
        return Err(rejected("the token belongs to another entity".to_owned()));
    }
    if let Some(handshake) = handshake {
        let request = handshake.refreshed(token);
        if let Err(error) = guarded(runtime.gateway.validate_connection(&request, &identity)).await? {
            let refused = rejected(error.message().to_owned());
            return Err(match error.close_code() {
                Some(code) => refused.closing(code),
                None => refused,
            });
        }
    }
    socket.core().set_expires_at(identity.expires_at);
    let expiry = Expiry { expires_at: identity.expires_at.unwrap_or(0) };
    protocol::encode(REFRESH_EVENT, &expiry, request.id()).map(Some).map_err(GatewayError::internal)
}

/// Logs an error once (as raised), answers it with an `error` envelope (as the error filters
/// make it), and closes when that says so.
pub(super) fn fail<G: GatewayHandlers>(
    runtime: &GatewayRuntime<G>,
    socket: &SocketOf<G>,
    operation: Operation<'_>,
    error: GatewayError,
    id: Option<&MessageId>,
) {
    runtime.gateway.handle_connection_error(socket, operation, &error);
    let error = if runtime.error_filters.is_empty() {
        error
    } else {
        let core = socket.core();
        let ctx = ErrorContext {
            namespace: runtime.namespace.name(),
            socket_id: core.id,
            entity_id: &core.entity_id,
            transport: core.transport,
            operation,
        };
        filter::apply(&runtime.error_filters, &ctx, error)
    };
    socket.core().deliver(protocol::encode_error(&error, id));
    if let Some(code) = error.close_code() {
        socket.core().close(Closure::Error { code, reason: Cow::Owned(error.message().to_owned()) });
    }
}
