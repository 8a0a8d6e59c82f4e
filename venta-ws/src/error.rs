//! Errors: what handlers return, and what building a module can fail with.

use std::borrow::Cow;
use std::fmt;

use crate::close::{CloseCode, Closure};

/// An error from a hook or an event handler, answered to the client as an `error` envelope.
///
/// `code` and `message` are sent to the client; `source` is only logged. The socket stays
/// open unless the error carries a close code ([`GatewayError::closing`]). Any
/// [`std::error::Error`] converts into an `internal` error with `?`, so its text never
/// reaches the client.
///
/// Its `Display` is what logs show: `code: message (source)`. An error the framework makes
/// from what a client sent (a payload that does not deserialize, a malformed envelope) tells
/// the client what was wrong in `message`, which may quote the client's input; its `Display`
/// says the same without the input, so no payload reaches a log.
///
/// ```
/// use venta_ws::{CloseCode, GatewayError};
///
/// let err = GatewayError::bad_request("latitude must be within -90..=90");
/// assert_eq!(err.code(), "bad_request");
///
/// let err = GatewayError::forbidden("vendors only").closing(CloseCode::Forbidden);
/// assert_eq!(err.close_code(), Some(CloseCode::Forbidden));
/// ```
pub struct GatewayError {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    /// What logs show instead of `message`, when `message` quotes the client's input.
    logged: Option<Cow<'static, str>>,
    close: Option<CloseCode>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl GatewayError {
    /// An error with an application-defined code and message, both sent to the client.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self { code: code.into(), message: message.into(), logged: None, close: None, source: None }
    }

    /// An error whose `message` quotes what the client sent: logs show `logged` instead.
    pub(crate) fn quoting_input(
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        logged: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self { logged: Some(logged.into()), ..Self::new(code, message) }
    }

    /// The client sent something the handler cannot accept (code `bad_request`).
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("bad_request", message)
    }

    /// The client may not do this (code `forbidden`).
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("forbidden", message)
    }

    /// What the client asked for does not exist (code `not_found`).
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("not_found", message)
    }

    /// A failure on the server's side (code `internal`); `source` is logged, not sent.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { source: Some(source.into()), ..Self::new("internal", "internal error") }
    }

    /// Close the socket with `code` after sending this error.
    #[must_use]
    pub fn closing(mut self, code: CloseCode) -> Self {
        self.close = Some(code);
        self
    }

    /// The machine-readable code sent in the `error` envelope.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message sent in the `error` envelope.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The closure this error asks for: its own close code when it carries one, else
    /// `otherwise`, with its message as the reason.
    pub(crate) fn closure(&self, otherwise: fn(Cow<'static, str>) -> Closure) -> Closure {
        let reason = Cow::Owned(self.message.to_string());
        match self.close {
            Some(code) => Closure::Error { code, reason },
            None => otherwise(reason),
        }
    }

    /// The close code the socket is closed with after this error, if any.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.close
    }

    /// The underlying error, logged but never sent to the client.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl<E> From<E> for GatewayError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self::internal(error)
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.logged.as_ref().unwrap_or(&self.message))?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("logged", &self.logged)
            .field("close", &self.close)
            .field("source", &self.source)
            .finish()
    }
}

/// Why [`WebSocketModuleBuilder::build`](crate::WebSocketModuleBuilder::build) refused a
/// configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// Two gateways declare the same namespace.
    #[error(
        "gateways `{first}` and `{second}` both use namespace `{namespace}`; give each gateway its own `#[gateway(namespace = \"...\")]`"
    )]
    DuplicateNamespace {
        /// The namespace both declare.
        namespace: String,
        /// The gateway registered first.
        first: &'static str,
        /// The gateway registered second.
        second: &'static str,
    },
    /// Two gateways would be mounted at the same path.
    #[error(
        "gateways `{first}` and `{second}` are both mounted at `{path}`; set a distinct `#[gateway(path = \"...\")]`"
    )]
    DuplicatePath {
        /// The path both use.
        path: String,
        /// The gateway registered first.
        first: &'static str,
        /// The gateway registered second.
        second: &'static str,
    },
    /// The Socket.IO path is not one a Socket.IO endpoint can be served at, or a gateway's
    /// path lies under it.
    #[error("Socket.IO path `{path}`: {reason}")]
    InvalidSocketIoPath {
        /// The path given to `socket_io_path`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A gateway's authenticator was not configured on the builder.
    #[error("gateway `{gateway}` uses `auth = {auth}`, but the module has no configuration for it; {hint}")]
    MissingAuth {
        /// The gateway type.
        gateway: &'static str,
        /// The authenticator type.
        auth: &'static str,
        /// What to call on the builder.
        hint: &'static str,
    },
    /// An allowed origin is not of the form `scheme://host[:port]`.
    #[error(
        "allowed origin `{origin}` is not of the form `scheme://host[:port]` (for example `https://app.example.com`)"
    )]
    InvalidOrigin {
        /// The origin as given.
        origin: String,
    },
    /// A gateway that accepts browser credentials would accept them from any origin.
    #[error(
        "gateway `{gateway}` has `credentials = true`, so browsers send it cookies, but allows any origin; list its origins with `#[gateway(origins = [...])]` or `.allowed_origins([...])`"
    )]
    AnyOriginWithCredentials {
        /// The gateway type.
        gateway: &'static str,
    },
    /// An interceptor was set for a gateway the module does not mount.
    #[error(
        "an interceptor was set for gateway `{gateway}` with `gateway_interceptor`, but the module has no such gateway; add it with `.gateway(...)`"
    )]
    InterceptorWithoutGateway {
        /// The gateway type.
        gateway: &'static str,
    },
    /// A module with a cluster was built outside a tokio runtime.
    #[error(
        "a module with a cluster must be built inside a tokio runtime (it starts a task that delivers other nodes' events)"
    )]
    NoRuntime,
    /// The JWT configuration's HMAC secret is shorter than its algorithm's hash output
    /// (RFC 7518 §3.2), so tokens signed with it could be forged by guessing it.
    #[error(
        "the {algorithm:?} secret is {len} bytes; HMAC keys must be at least {min} bytes (RFC 7518 §3.2): set a longer secret, for example `openssl rand -base64 {min}`"
    )]
    ShortJwtSecret {
        /// The algorithm the secret is for.
        algorithm: jsonwebtoken::Algorithm,
        /// The secret's length, in bytes.
        len: usize,
        /// The shortest secret the algorithm allows, in bytes.
        min: usize,
    },
    /// A limit was set to a value that cannot work.
    #[error("invalid limit `{name}`: {reason}")]
    InvalidLimit {
        /// The limit's name.
        name: &'static str,
        /// Why the value cannot work.
        reason: &'static str,
    },
}

/// Which step of a socket's life an error happened in, as passed to
/// [`GatewayHandlers::handle_connection_error`](crate::GatewayHandlers::handle_connection_error) and logged in the `operation` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// Registering the socket in presence.
    RegisterPresence,
    /// The `on_connect` hook.
    Connect,
    /// Reading a frame as an envelope.
    Decode,
    /// Handling the named event.
    Event(&'a str),
    /// The `on_text` hook, for a gateway with a protocol of its own.
    Text,
    /// The `on_binary` hook.
    Binary,
    /// The `on_disconnect` hook.
    Disconnect,
}

impl Operation<'_> {
    /// The event name, for [`Operation::Event`].
    pub fn event(&self) -> Option<&str> {
        match self {
            Self::Event(event) => Some(event),
            _ => None,
        }
    }
}

impl fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RegisterPresence => f.write_str("register presence"),
            Self::Connect => f.write_str("on_connect"),
            Self::Decode => f.write_str("decode envelope"),
            Self::Event(event) => write!(f, "handle event `{event}`"),
            Self::Text => f.write_str("on_text"),
            Self::Binary => f.write_str("on_binary"),
            Self::Disconnect => f.write_str("on_disconnect"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_converted_with_question_mark_hide_their_text_from_the_client() {
        fn parse(input: &str) -> Result<u32, GatewayError> {
            Ok(input.parse::<u32>()?)
        }
        let err = parse("not a number").expect_err("must fail");
        assert_eq!(err.code(), "internal");
        assert_eq!(err.message(), "internal error");
        assert!(err.source().is_some());
        assert_eq!(err.close_code(), None);
    }
}
