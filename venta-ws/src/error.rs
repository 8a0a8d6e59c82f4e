//! Errors: what handlers return, and what building a module can fail with.

use std::borrow::Cow;
use std::fmt;

use crate::close::{CloseCode, Closure};

/// An error from a hook or an event handler, answered to the client as an `error` envelope.
///
/// `code`, `message` and `details` are sent to the client; `source` is only logged. The
/// socket stays open unless the error carries a close code ([`GatewayError::closing`]).
///
/// # Converting errors
///
/// Your own error types convert with `?` once you say how: `impl From<OrderError> for
/// GatewayError` picks the code and message a client gets for each case. The crate's own
/// errors, [`std::io::Error`], [`serde_json::Error`], `Box<dyn Error>` and (feature `anyhow`)
/// `anyhow::Error` convert into an `internal` error, so their text never reaches the client.
/// Any other error converts with [`ResultExt::internal`] (`.internal()?`) or
/// `.map_err(GatewayError::internal)?`.
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
    details: Vec<FieldError>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// One problem with one field of a payload, as listed in the `details` of an `error`
/// envelope: `{"field": "items[0].qty", "message": "greater than 0 expected"}`.
///
/// `field` is the path of the field in the payload (empty for the payload as a whole).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// The path of the field, such as `lat` or `items[0].qty`; empty for the whole payload.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl GatewayError {
    /// An error with an application-defined code and message, both sent to the client.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            logged: None,
            close: None,
            details: Vec::new(),
            source: None,
        }
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

    /// The payload was read but is not valid (code `invalid_payload`), with a problem per
    /// field in `details`.
    pub fn invalid_payload(
        message: impl Into<Cow<'static, str>>,
        details: impl IntoIterator<Item = FieldError>,
    ) -> Self {
        Self::new("invalid_payload", message).with_details(details)
    }

    /// The same error with another code; its message, details, close code and source stay.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = code.into();
        self
    }

    /// The same error with another message sent to the client; its source stays, for logs.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self.logged = None;
        self
    }

    /// The same error listing these problems in `details`, after any it had.
    #[must_use]
    pub fn with_details(mut self, details: impl IntoIterator<Item = FieldError>) -> Self {
        self.details.extend(details);
        self
    }

    /// The same error with a source, logged but never sent to the client.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
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

    /// The problems per field sent in the `error` envelope's `details` (empty: no `details`).
    pub fn details(&self) -> &[FieldError] {
        &self.details
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

/// Errors that convert with `?` into an `internal` error: their text is logged, never sent.
macro_rules! internal_from {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for GatewayError {
            fn from(error: $ty) -> Self {
                Self::internal(error)
            }
        }
    )*};
}

internal_from!(std::io::Error, serde_json::Error, Box<dyn std::error::Error + Send + Sync>);

impl From<Box<dyn std::error::Error>> for GatewayError {
    /// An error that is not `Send` cannot travel with the socket's task, so its text is kept
    /// as the (logged) source.
    fn from(error: Box<dyn std::error::Error>) -> Self {
        Self::internal(error.to_string())
    }
}

#[cfg(feature = "anyhow")]
impl From<anyhow::Error> for GatewayError {
    fn from(error: anyhow::Error) -> Self {
        Self::internal(Box::<dyn std::error::Error + Send + Sync>::from(error))
    }
}

/// `.internal()?` on any `Result` whose error is a [`std::error::Error`]: a failure on the
/// server's side, logged with its text and answered to the client as `internal`.
///
/// ```
/// use venta_ws::{GatewayError, ResultExt};
///
/// fn parse(input: &str) -> Result<u32, GatewayError> {
///     Ok(input.parse::<u32>().internal()?)
/// }
/// assert_eq!(parse("x").unwrap_err().code(), "internal");
/// ```
pub trait ResultExt<T> {
    /// Turns the error into [`GatewayError::internal`].
    fn internal(self) -> Result<T, GatewayError>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn internal(self) -> Result<T, GatewayError> {
        self.map_err(GatewayError::internal)
    }
}

/// What a handler or hook may return as its error: anything `GatewayError` converts from.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a handler or hook",
    label = "`GatewayError` has no conversion from `{Self}`",
    note = "say what a client gets for it with `impl From<{Self}> for GatewayError`, or return `GatewayError` and convert with `.internal()?` (`venta_ws::ResultExt`) or `.map_err(GatewayError::internal)?`",
    note = "`Box<dyn Error + Send + Sync>`, `std::io::Error` and `serde_json::Error` convert as they are; for `anyhow::Error`, turn on venta-ws's feature `anyhow`"
)]
pub trait IntoGatewayError {
    /// The error, as answered to the client.
    fn into_gateway_error(self) -> GatewayError;
}

#[diagnostic::do_not_recommend]
impl<E> IntoGatewayError for E
where
    GatewayError: From<E>,
{
    fn into_gateway_error(self) -> GatewayError {
        GatewayError::from(self)
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
            .field("details", &self.details)
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
    /// An error filter was set for a gateway the module does not mount.
    #[error(
        "an error filter was set for gateway `{gateway}` with `gateway_error_filter`, but the module has no such gateway; add it with `.gateway(...)`"
    )]
    FilterWithoutGateway {
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
    fn io_and_boxed_errors_convert_with_question_mark_and_hide_their_text_from_the_client() {
        fn read() -> Result<u32, GatewayError> {
            Err(std::io::Error::other("disk on fire"))?
        }
        fn boxed() -> Result<u32, GatewayError> {
            let error: Box<dyn std::error::Error + Send + Sync> = "pool exhausted".into();
            Err(error)?
        }
        for err in [read().expect_err("fails"), boxed().expect_err("fails")] {
            assert_eq!((err.code(), err.message()), ("internal", "internal error"));
            assert!(err.source().is_some());
            assert_eq!(err.close_code(), None);
        }
        let parsed: Result<u32, GatewayError> = "x".parse::<u32>().internal();
        assert_eq!(parsed.expect_err("fails").to_string(), "internal: internal error (invalid digit found in string)");
    }

    #[test]
    fn an_application_error_type_converts_as_its_own_impl_says() {
        #[derive(Debug, thiserror::Error)]
        #[error("order {0} not found")]
        struct OrderMissing(u32);
        impl From<OrderMissing> for GatewayError {
            fn from(error: OrderMissing) -> Self {
                GatewayError::not_found(error.to_string())
            }
        }
        fn load(id: u32) -> Result<(), GatewayError> {
            Err(OrderMissing(id))?
        }
        let err = load(17).expect_err("fails");
        assert_eq!((err.code(), err.message()), ("not_found", "order 17 not found"));
    }

    #[test]
    fn modifiers_keep_what_they_do_not_change() {
        let err = GatewayError::internal(std::io::Error::other("down"))
            .with_code("store_down")
            .with_message("the store is down")
            .with_details([FieldError::new("", "retry later")])
            .closing(CloseCode::InternalError);
        assert_eq!((err.code(), err.message()), ("store_down", "the store is down"));
        assert_eq!(err.details(), [FieldError::new("", "retry later")]);
        assert_eq!(err.close_code(), Some(CloseCode::InternalError));
        assert!(err.source().is_some(), "the source is still logged");
    }
}
