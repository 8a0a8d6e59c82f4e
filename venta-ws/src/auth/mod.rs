//! Authentication of connecting sockets: token extraction, the [`Authenticator`] trait, JWT.
//!
//! A client presents its token in one of three places, tried in this order:
//!
//! 1. the `Authorization: Bearer <token>` header (servers, mobile apps, Node clients);
//! 2. the `Sec-WebSocket-Protocol` header as a subprotocol `bearer.<token>`, next to the
//!    subprotocol `venta-ws`, which the server selects (browsers, which cannot set headers:
//!    `new WebSocket(url, ["venta-ws", "bearer." + token])`);
//! 3. the `token` query parameter (`wss://host/user?token=<token>`), for clients that can do
//!    neither. The framework never logs the query string, but proxies in front of it may.
//!
//! The first place that holds a token is the only one verified: a bad `Bearer` token is
//! refused (4401) even when a good one waits in the subprotocol or the query string, and a bad
//! subprotocol token hides a query-string one. A place that holds no token is skipped: an
//! `Authorization` header of another scheme (`Basic ...`), a `Bearer` with nothing after it,
//! or a header that is not visible ASCII; an empty `bearer.` subprotocol; an empty `token=`.
//! Only the first `Authorization` header, the first `bearer.` subprotocol and the first
//! `token` parameter count. [`ConnectRequest::token`] is the token so found.

mod jwt;
mod kept;
mod token;

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, Uri};

pub use jwt::{DEFAULT_LEEWAY_SECS, Jwt, JwtConfig, JwtConfigError, StandardClaims};
pub use token::{SUBPROTOCOL, SUBPROTOCOL_TOKEN_PREFIX, Token, TokenSource};

use crate::close::{CloseCode, Closure};

/// What an authenticator sees of a connecting client: the handshake request and the token
/// found in it.
#[derive(Debug)]
pub struct ConnectRequest {
    headers: HeaderMap,
    uri: Uri,
    remote_addr: Option<SocketAddr>,
    token: Option<Token>,
}

impl ConnectRequest {
    /// Builds the request from the handshake's parts, extracting the token.
    pub fn new(headers: HeaderMap, uri: Uri, remote_addr: Option<SocketAddr>) -> Self {
        let token = Token::extract(&headers, &uri);
        Self { headers, uri, remote_addr, token }
    }

    /// The request of a Socket.IO client joining a namespace: its Engine.IO handshake, and
    /// the token of its CONNECT `auth` payload, if any (see `Token::extract_socket_io`).
    #[cfg(feature = "socketio")]
    pub(crate) fn socket_io(parts: &axum::http::request::Parts, auth_token: Option<String>) -> Self {
        let remote_addr =
            parts.extensions.get::<axum::extract::connect_info::ConnectInfo<SocketAddr>>().map(|info| info.0);
        let token = Token::extract_socket_io(auth_token, &parts.headers, &parts.uri);
        Self { headers: parts.headers.clone(), uri: parts.uri.clone(), remote_addr, token }
    }

    /// The handshake request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The path requested, without the query string (which may hold a token).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The client's address, when the server was started with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The token the client presented, if any: from the first of the `Authorization: Bearer`
    /// header, the `bearer.<token>` subprotocol and the `token` query parameter that holds one
    /// (see the [module documentation](self) for what holds a token).
    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// Whether the client offered the `venta-ws` subprotocol, which the server then selects.
    pub(crate) fn offers_subprotocol(&self) -> bool {
        token::offers_subprotocol(&self.headers)
    }
}

/// Who a socket belongs to, as an authenticator established it.
#[derive(Debug, Clone)]
pub struct Identity<C> {
    /// The entity id (user id, vendor id) the socket is registered under in presence.
    pub entity_id: Option<String>,
    /// The verified claims.
    pub claims: C,
    /// The deadline the socket is held to, in seconds since the Unix epoch: it is sent
    /// `auth.expiring` (with this value as `expiresAt`) shortly before, and closed with 4408
    /// when it comes, unless the client refreshed its token. `None`: never.
    ///
    /// [`Jwt`] sets it to the token's `exp` plus the configured leeway
    /// ([`JwtConfig::leeway_secs`]), saturating at `u64::MAX`, and accepts a token only before
    /// it, so a token accepted inside the leeway is not closed the moment it connects. The
    /// `exp` claim itself stays in the claims ([`StandardClaims::exp`]). A custom
    /// authenticator should likewise give a time it would still accept the credentials at.
    pub expires_at: Option<u64>,
}

/// Why a connecting client was not authenticated. Every variant but
/// [`AuthError::Unavailable`] closes the socket with 4401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token in the header, the subprotocol or the query string.
    #[error("missing token")]
    MissingToken,
    /// The token is not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match the configured key.
    #[error("invalid signature")]
    InvalidSignature,
    /// The token's `alg` is not the one configured for the key.
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The token's header lists extensions in `crit`, which a recipient that does not
    /// understand them must refuse (RFC 7515 §4.1.11); venta-ws understands none.
    #[error("token header lists critical extensions (`crit`), which this server does not support")]
    CriticalExtension,
    /// The token's `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The token's `nbf` lies in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// The token's `iss` is not the configured issuer.
    #[error("invalid issuer")]
    InvalidIssuer,
    /// The token's `aud` does not contain the configured audience.
    #[error("invalid audience")]
    InvalidAudience,
    /// A claim the configuration requires is missing.
    #[error("missing claim `{0}`")]
    MissingClaim(String),
    /// A claim holds a value of the wrong type (a fractional `sub`, say).
    #[error("invalid claim `{claim}`: {reason}")]
    InvalidClaim {
        /// The claim.
        claim: String,
        /// What its value must be.
        reason: &'static str,
    },
    /// The claims do not deserialize into the configured claims type.
    #[error("invalid claims")]
    InvalidClaims,
    /// The authenticator refused the credentials for its own reason.
    #[error("{0}")]
    Rejected(Cow<'static, str>),
    /// The authenticator could not decide (its backend is down); closes with 1011.
    #[error("authentication unavailable")]
    Unavailable,
}

impl AuthError {
    /// The close code the socket is closed with.
    pub fn close_code(&self) -> CloseCode {
        self.closure().code()
    }

    /// Why a socket refused with this error is closed.
    pub(crate) fn closure(&self) -> Closure {
        match self {
            Self::Unavailable => Closure::AuthenticationUnavailable,
            other => Closure::Unauthenticated(Cow::Owned(other.to_string())),
        }
    }
}

/// Verifies a connecting client's credentials. Implemented by [`Jwt`] and [`Anonymous`];
/// implement it to plug in another scheme (API keys, session lookups).
///
/// A gateway names its authenticator in `#[gateway(auth = ...)]`; the module builder provides
/// the instance: [`Jwt`] from [`WebSocketModuleBuilder::jwt`](crate::WebSocketModuleBuilder::jwt),
/// any other type from [`WebSocketModuleBuilder::auth`](crate::WebSocketModuleBuilder::auth).
///
/// ```
/// use venta_ws::auth::{AuthError, Authenticator, ConnectRequest, Identity};
///
/// /// Accepts `Authorization: Bearer key-<vendor id>`.
/// struct ApiKey;
///
/// impl Authenticator for ApiKey {
///     type Claims = ();
///
///     async fn authenticate(&self, request: &ConnectRequest) -> Result<Identity<()>, AuthError> {
///         let token = request.token().ok_or(AuthError::MissingToken)?;
///         let vendor = token.expose().strip_prefix("key-").ok_or(AuthError::Malformed)?;
///         Ok(Identity { entity_id: Some(vendor.to_owned()), claims: (), expires_at: None })
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot authenticate sockets",
    label = "this type does not implement `venta_ws::auth::Authenticator`",
    note = "use `auth = Jwt` for JSON Web Tokens, `auth = Anonymous` for public gateways, or implement `venta_ws::auth::Authenticator` for `{Self}`"
)]
pub trait Authenticator: Send + Sync + 'static {
    /// The claims a verified socket carries, available to hooks and handlers.
    type Claims: Send + Sync + 'static;

    /// Verifies the request's credentials.
    fn authenticate(
        &self,
        request: &ConnectRequest,
    ) -> impl Future<Output = Result<Identity<Self::Claims>, AuthError>> + Send;

    /// Verifies a fresh token sent in-band with `auth.refresh` while the socket is connected.
    /// The default refuses: an authenticator whose credentials never expire has nothing to
    /// refresh.
    fn reauthenticate(&self, token: &Token) -> impl Future<Output = Result<Identity<Self::Claims>, AuthError>> + Send {
        let _ = token;
        async { Err(AuthError::Rejected(Cow::Borrowed("this gateway does not refresh tokens"))) }
    }

    /// Finds this authenticator in the module's configuration; `None` makes `build` fail with
    /// [`ModuleError::MissingAuth`](crate::ModuleError::MissingAuth) and `SETUP_HINT`. The
    /// builder's plumbing, hidden: implementors keep the default, which finds the instance
    /// given to `WebSocketModule::builder().auth(..)`.
    #[doc(hidden)]
    fn from_registry(registry: &AuthRegistry) -> Option<Arc<Self>>
    where
        Self: Sized,
    {
        registry.get::<Self>()
    }

    /// What to call on the module builder when this authenticator is missing; hidden with
    /// `from_registry`.
    #[doc(hidden)]
    const SETUP_HINT: &'static str = "register an instance with `WebSocketModule::builder().auth(..)`";
}

/// Accepts every client, giving each socket an entity id of its own. For public gateways
/// (`#[gateway(auth = Anonymous)]`); needs no configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl Authenticator for Anonymous {
    type Claims = ();

    async fn authenticate(&self, _request: &ConnectRequest) -> Result<Identity<()>, AuthError> {
        Ok(Identity { entity_id: Some(crate::id::SocketId::next().to_string()), claims: (), expires_at: None })
    }

    fn from_registry(_registry: &AuthRegistry) -> Option<Arc<Self>> {
        Some(Arc::new(Self))
    }
}

/// The authenticators and JWT configuration given to the module builder.
#[derive(Default)]
#[doc(hidden)]
pub struct AuthRegistry {
    jwt: Option<Arc<JwtConfig>>,
    custom: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl AuthRegistry {
    /// The JWT configuration, if one was given.
    pub fn jwt(&self) -> Option<&JwtConfig> {
        self.jwt.as_deref()
    }

    /// The registered authenticator of type `A`, if any.
    pub fn get<A: Any + Send + Sync>(&self) -> Option<Arc<A>> {
        self.custom.get(&TypeId::of::<A>()).cloned().and_then(|any| any.downcast::<A>().ok())
    }

    pub(crate) fn set_jwt(&mut self, config: JwtConfig) {
        self.jwt = Some(Arc::new(config));
    }

    pub(crate) fn insert<A: Any + Send + Sync>(&mut self, authenticator: A) {
        self.custom.insert(TypeId::of::<A>(), Arc::new(authenticator));
    }
}

impl fmt::Debug for AuthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRegistry").field("jwt", &self.jwt.is_some()).field("custom", &self.custom.len()).finish()
    }
}
