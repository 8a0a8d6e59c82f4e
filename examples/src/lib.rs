//! The main example: the user and vendor location gateways in one server.
//!
//! Users and vendors (food trucks, couriers) connect with a JWT whose `sub` is their id and
//! whose `kind` claim says which they are ([`ExampleClaims`]): `/vendor` admits vendor tokens
//! only, `/user` user tokens only (a token without `kind` is a user's), in each gateway's
//! `validate_connection`. Both share a [`LocationService`]; when a vendor moves, every
//! connected user is told. Every gateway answers `ping` with `pong` and `presence.online`
//! with the ids online in its namespace.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use venta_ws::guard::{HasRoles, Roles};
use venta_ws::prelude::*;
use venta_ws::redis::{RedisBackend, RedisConfig, RedisConnectError};
use venta_ws::validate::Valid;
use venta_ws::{ModuleError, WebSocketModuleBuilder};

pub mod demo;
pub mod echo;

/// The development secret used when `JWT_SECRET` is not set. Never use it in production.
pub const DEVELOPMENT_SECRET: &str = "venta-ws-development-secret-do-not-use-in-production";

/// The example's configuration, read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `VENTA_ADDR`: where to listen (default `127.0.0.1:3000`).
    pub addr: SocketAddr,
    /// `JWT_SECRET`: the HS256 secret (default: [`DEVELOPMENT_SECRET`], with a warning).
    pub jwt_secret: String,
    /// Whether `JWT_SECRET` was unset and the development secret is in use.
    pub development_secret: bool,
    /// `JWT_ISSUER`: the required `iss`, if set.
    pub jwt_issuer: Option<String>,
    /// `JWT_AUDIENCE`: the required `aud`, if set.
    pub jwt_audience: Option<String>,
    /// `ALLOWED_ORIGINS`: comma-separated browser origins (default `http://localhost:3000`).
    pub allowed_origins: Vec<String>,
    /// `REDIS_URL`: presence and fan-out across nodes, when set.
    pub redis_url: Option<String>,
    /// `REDIS_PREFIX`: the prefix of every Redis key and channel (default `venta`).
    pub redis_prefix: String,
    /// `VENTA_NODE_TTL_SECS`: how long a node's Redis heartbeat lives (default 30).
    pub node_ttl: std::time::Duration,
    /// `VENTA_PROBES_ADDR`: where `/livez`, `/readyz` and `/metrics` are served (default
    /// `127.0.0.1:9090`; `off` serves none).
    pub probes_addr: Option<SocketAddr>,
    /// `VENTA_DEV_MODE`: serve the token endpoint of the presence page, see [`demo`] (default off).
    pub dev_mode: bool,
}

/// A configuration or start-up error of the example.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An environment variable holds a value that cannot work.
    #[error("invalid {name}: {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The module refused the configuration.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// Redis could not be reached at start-up.
    #[error(transparent)]
    Redis(#[from] RedisConnectError),
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, AppError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AppError> {
        let non_empty = |name: &str| lookup(name).map(|value| value.trim().to_owned()).filter(|v| !v.is_empty());
        let addr = match non_empty("VENTA_ADDR") {
            Some(addr) => addr.parse().map_err(|err| AppError::InvalidEnv {
                name: "VENTA_ADDR",
                reason: format!("`{addr}` is not a socket address such as 127.0.0.1:3000 ({err})"),
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let probes_addr = match non_empty("VENTA_PROBES_ADDR").as_deref() {
            Some("off") => None,
            Some(addr) => Some(addr.parse().map_err(|err| AppError::InvalidEnv {
                name: "VENTA_PROBES_ADDR",
                reason: format!("`{addr}` is not a socket address such as 127.0.0.1:9090, nor `off` ({err})"),
            })?),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
        };
        let secret = non_empty("JWT_SECRET");
        let allowed_origins = match non_empty("ALLOWED_ORIGINS") {
            Some(list) => list.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect(),
            None => vec!["http://localhost:3000".to_owned()],
        };
        let mut config = Self {
            addr,
            probes_addr,
            development_secret: secret.is_none(),
            jwt_secret: secret.unwrap_or_else(|| DEVELOPMENT_SECRET.to_owned()),
            jwt_issuer: non_empty("JWT_ISSUER"),
            jwt_audience: non_empty("JWT_AUDIENCE"),
            allowed_origins,
            redis_url: non_empty("REDIS_URL"),
            redis_prefix: non_empty("REDIS_PREFIX").unwrap_or_else(|| "venta".to_owned()),
            node_ttl: match non_empty("VENTA_NODE_TTL_SECS") {
                Some(secs) => std::time::Duration::from_secs(secs.parse().map_err(|_| AppError::InvalidEnv {
                    name: "VENTA_NODE_TTL_SECS",
                    reason: format!("`{secs}` is not a whole number of seconds"),
                })?),
                None => std::time::Duration::from_secs(30),
            },
            dev_mode: false,
        };
        if demo::parse_dev_mode(&lookup(demo::DEV_MODE_ENV).unwrap_or_default())? {
            config.enable_dev_mode();
        }
        Ok(config)
    }

    /// The JWT verification this configuration asks for.
    pub fn jwt(&self) -> JwtConfig {
        let mut jwt = JwtConfig::hs256(&self.jwt_secret);
        if let Some(issuer) = &self.jwt_issuer {
            jwt = jwt.issuer(issuer);
        }
        if let Some(audience) = &self.jwt_audience {
            jwt = jwt.audience(audience);
        }
        jwt
    }
}

/// Which kind of entity a token is for, and so which gateway it may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A user, on `/user`.
    User,
    /// A vendor, on `/vendor`.
    Vendor,
}

impl Kind {
    /// The gateway's path.
    pub fn path(self) -> &'static str {
        match self {
            Self::User => "/user",
            Self::Vendor => "/vendor",
        }
    }

    /// The value of the `kind` claim: `user` or `vendor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Vendor => "vendor",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims the example reads from a verified token (`auth = Jwt<ExampleClaims>`): `sub`,
/// `exp`, `iss` and `aud` are checked by the JWT authenticator as for any token; `kind` says
/// whether it belongs to a user or a vendor, and `role` grants `admin` to support staff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExampleClaims {
    /// `"user"` or `"vendor"`; a token without it is a user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `"admin"` for support staff, who may disconnect a user (`admin.disconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// What [`Roles`] guards read: the `role` claim.
impl HasRoles for ExampleClaims {
    fn has_role(&self, role: &str) -> bool {
        self.role.as_deref() == Some(role)
    }
}

impl ExampleClaims {
    /// Claims of a token for `kind`.
    pub fn of(kind: Kind) -> Self {
        Self { kind: Some(kind.as_str().to_owned()), role: None }
    }

    /// A verified identity for `entity_id` of `kind`, as the JWT authenticator gives for a
    /// valid token: for in-process tests with `venta_ws::testing::connect`.
    pub fn identity(entity_id: &str, kind: Kind) -> Identity<Self> {
        Identity { entity_id: Some(entity_id.to_owned()), claims: Self::of(kind), expires_at: None }
    }

    /// The kind the token is for, or the `kind` claim as written when it names neither.
    pub fn kind(&self) -> Result<Kind, &str> {
        match self.kind.as_deref() {
            None | Some("user") => Ok(Kind::User),
            Some("vendor") => Ok(Kind::Vendor),
            Some(other) => Err(other),
        }
    }

    /// `validate_connection` of the gateway for `expected`: a token of another kind is refused
    /// with 4403 and a reason that names both.
    pub fn admit(&self, expected: Kind) -> Result<(), GatewayError> {
        let path = expected.path();
        match self.kind() {
            Ok(kind) if kind == expected => Ok(()),
            Ok(kind) => Err(GatewayError::forbidden(format!("{path} takes {expected} tokens only, not {kind} tokens"))),
            Err(other) => {
                // The close reason is cut at 123 bytes; keep the claim's share of it short.
                let shown: String = other.chars().take(32).collect();
                Err(GatewayError::forbidden(format!(
                    "{path} takes {expected} tokens only; this token's kind is `{shown}`"
                )))
            }
        }
    }
}

/// A position reported by a user or a vendor; handlers take it as `Valid<Location>`, so one out
/// of range is answered with `invalid_payload` and a `details` entry per field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, garde::Validate)]
pub struct Location {
    /// Latitude in degrees, `-90..=90`.
    #[garde(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    /// Longitude in degrees, `-180..=180`.
    #[garde(range(min = -180.0, max = 180.0))]
    pub lng: f64,
}

/// The data of `admin.disconnect`.
#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectRequest {
    /// The user to disconnect.
    #[garde(length(min = 1, max = 64))]
    pub entity_id: String,
}

/// A vendor's position, as pushed to users in `vendor.location` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorLocation {
    /// The vendor's id.
    pub vendor_id: String,
    /// Where the vendor is.
    #[serde(flatten)]
    pub location: Location,
}

/// The last known location of every user and vendor; shared by both gateways.
#[derive(Debug, Default)]
pub struct LocationService {
    users: Mutex<HashMap<String, Location>>,
    vendors: Mutex<HashMap<String, Location>>,
}

impl LocationService {
    /// The last location a user reported.
    pub fn user(&self, user_id: &str) -> Option<Location> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner).get(user_id).copied()
    }

    /// The last location a vendor reported.
    pub fn vendor(&self, vendor_id: &str) -> Option<Location> {
        self.vendors.lock().unwrap_or_else(PoisonError::into_inner).get(vendor_id).copied()
    }

    fn set_user(&self, user_id: &str, location: Location) {
        self.users.lock().unwrap_or_else(PoisonError::into_inner).insert(user_id.to_owned(), location);
    }

    fn forget_user(&self, user_id: &str) {
        self.users.lock().unwrap_or_else(PoisonError::into_inner).remove(user_id);
    }

    fn set_vendor(&self, vendor_id: &str, location: Location) {
        self.vendors.lock().unwrap_or_else(PoisonError::into_inner).insert(vendor_id.to_owned(), location);
    }
}

/// `pong` carrying the `data` of the `ping`.
fn pong(data: Value) -> Reply<Value> {
    Reply::new("pong", data)
}

/// `presence.online` with the entity ids online in the socket's namespace.
async fn online(socket: &AuthenticatedSocket<ExampleClaims>) -> Result<Reply<Vec<String>>, GatewayError> {
    Ok(Reply::new("presence.online", socket.namespace().online().await?))
}

/// The seed's gateway: users sharing their location and watching vendors move. Admits user
/// tokens only (`kind` absent or `"user"`); support staff (`"role": "admin"`) may also
/// disconnect a user.
#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt<ExampleClaims>, entity = "User")]
pub struct UserLocationGateway {
    locations: Arc<LocationService>,
}

impl UserLocationGateway {
    /// The namespace, as declared in `#[gateway]`.
    pub const NAMESPACE: &'static str = "user";

    /// A user gateway sharing `locations`.
    pub fn new(locations: Arc<LocationService>) -> Self {
        Self { locations }
    }
}

#[venta_ws::messages]
impl UserLocationGateway {
    async fn validate_connection(
        &self,
        _request: &ConnectRequest,
        identity: &Identity<ExampleClaims>,
    ) -> Result<(), GatewayError> {
        identity.claims.admit(Kind::User)
    }

    async fn on_disconnect(&self, socket: &AuthenticatedSocket<ExampleClaims>, _reason: &DisconnectReason) {
        // Another tab or device may still be sharing; forget the user once the last one leaves.
        let others = socket.namespace().local_sockets_of(socket.entity_id());
        if others.iter().all(|id| *id == socket.id()) {
            self.locations.forget_user(socket.entity_id());
        }
    }

    #[subscribe("ping")]
    async fn ping(&self, data: Value) -> Reply<Value> {
        pong(data)
    }

    #[subscribe("presence.online")]
    async fn online(&self, socket: &AuthenticatedSocket<ExampleClaims>) -> Result<Reply<Vec<String>>, GatewayError> {
        online(socket).await
    }

    #[subscribe("location.update")]
    async fn update_location(
        &self,
        socket: &AuthenticatedSocket<ExampleClaims>,
        Valid(location): Valid<Location>,
    ) -> Ack<Location> {
        self.locations.set_user(socket.entity_id(), location);
        Ack(location)
    }

    /// Closes every socket of a user with 4403, on every node; acks how many were on this one.
    #[subscribe("admin.disconnect")]
    #[guard(Roles::any(&["admin"]))]
    async fn disconnect(
        &self,
        socket: &AuthenticatedSocket<ExampleClaims>,
        Valid(request): Valid<DisconnectRequest>,
    ) -> Ack<usize> {
        tracing::info!(target_entity = request.entity_id.as_str(), "disconnected by an administrator");
        Ack(socket.namespace().disconnect_entity(&request.entity_id, CloseCode::Forbidden))
    }

    #[subscribe("vendor.location")]
    async fn vendor_location(&self, vendor_id: String) -> Result<Ack<Location>, GatewayError> {
        self.locations
            .vendor(&vendor_id)
            .map(Ack)
            .ok_or_else(|| GatewayError::not_found(format!("no location for vendor `{vendor_id}`")))
    }
}

/// Vendors publishing where they are; every move is pushed to connected users. Admits vendor
/// tokens only (`"kind": "vendor"`).
#[derive(WebSocketGateway)]
#[gateway(namespace = "vendor", auth = Jwt<ExampleClaims>, entity = "Vendor")]
pub struct VendorGateway {
    locations: Arc<LocationService>,
}

impl VendorGateway {
    /// A vendor gateway sharing `locations`.
    pub fn new(locations: Arc<LocationService>) -> Self {
        Self { locations }
    }
}

#[venta_ws::messages]
impl VendorGateway {
    async fn validate_connection(
        &self,
        _request: &ConnectRequest,
        identity: &Identity<ExampleClaims>,
    ) -> Result<(), GatewayError> {
        identity.claims.admit(Kind::Vendor)
    }

    #[subscribe("ping")]
    async fn ping(&self, data: Value) -> Reply<Value> {
        pong(data)
    }

    #[subscribe("presence.online")]
    async fn online(&self, socket: &AuthenticatedSocket<ExampleClaims>) -> Result<Reply<Vec<String>>, GatewayError> {
        online(socket).await
    }

    /// Stores the vendor's location and pushes it to every connected user, on the other
    /// gateway (reached through the socket's hub, by type).
    #[subscribe("location.update")]
    async fn update_location(
        &self,
        socket: &AuthenticatedSocket<ExampleClaims>,
        Valid(location): Valid<Location>,
    ) -> Result<Ack<Location>, GatewayError> {
        self.locations.set_vendor(socket.entity_id(), location);
        if let Some(users) = socket.hub().gateway::<UserLocationGateway>() {
            let update = VendorLocation { vendor_id: socket.entity_id().to_owned(), location };
            users.emit("vendor.location", &update)?;
        }
        Ok(Ack(location))
    }
}

/// Signs an HS256 token for `subject` of `kind`, valid for `ttl_secs`, as an identity
/// provider would.
pub fn mint_token(config: &Config, subject: &str, kind: Kind, ttl_secs: u64) -> String {
    let mut claims = serde_json::json!({
        "sub": subject,
        "kind": kind.as_str(),
        "iat": jsonwebtoken::get_current_timestamp(),
        "exp": jsonwebtoken::get_current_timestamp() + ttl_secs,
    });
    if let Some(issuer) = &config.jwt_issuer {
        claims["iss"] = issuer.as_str().into();
    }
    if let Some(audience) = &config.jwt_audience {
        claims["aud"] = audience.as_str().into();
    }
    let key = jsonwebtoken::EncodingKey::from_secret(config.jwt_secret.as_bytes());
    // HS256 over a JSON object with a valid key cannot fail.
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap_or_default()
}

/// How to run the token minter.
pub const TOKEN_USAGE: &str = "usage: cargo run --example token -- [--vendor] <entity-id> [ttl-secs]";

/// What `cargo run --example token` was asked for: `[--vendor | --user] <entity-id>
/// [ttl-secs]`, a user token valid for an hour unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenArgs {
    /// `--vendor` for a vendor token; a user token otherwise.
    pub kind: Kind,
    /// The entity id, the token's `sub`.
    pub subject: String,
    /// How long the token is valid, in seconds (default 3600).
    pub ttl_secs: u64,
}

impl TokenArgs {
    /// Reads the minter's command-line arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut kind = Kind::User;
        let mut positional = Vec::new();
        for arg in args {
            match arg.as_str() {
                "--vendor" => kind = Kind::Vendor,
                "--user" => kind = Kind::User,
                flag if flag.starts_with("--") => return Err(format!("unknown option `{flag}`\n{TOKEN_USAGE}")),
                _ => positional.push(arg),
            }
        }
        let mut positional = positional.into_iter();
        let subject = positional.next().filter(|s| !s.is_empty()).ok_or(TOKEN_USAGE)?;
        let ttl_secs = match positional.next() {
            Some(ttl) => match ttl.parse() {
                Ok(ttl) if ttl > 0 => ttl,
                _ => return Err(format!("ttl `{ttl}` is not a positive number of seconds")),
            },
            None => 3600,
        };
        if let Some(extra) = positional.next() {
            return Err(format!("unexpected argument `{extra}`\n{TOKEN_USAGE}"));
        }
        Ok(Self { kind, subject, ttl_secs })
    }
}

/// Resolves when the process is asked to stop: Ctrl-C, or SIGTERM (what container runtimes
/// and systemd send).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C shuts down gracefully");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The example's application on its main address: the gateways (plain WebSocket and
/// Socket.IO), the live presence page, and with a handle `GET /metrics` (what the page's
/// counters read, see [`venta_ws::probes::metrics_router`]). The probes have an address of their own
/// (`VENTA_PROBES_ADDR`), which serves `/metrics` too.
pub fn app(module: &WebSocketModule, config: &Config, metrics: Option<PrometheusHandle>) -> axum::Router {
    let app = module.router().merge(demo::router(config));
    match metrics {
        Some(handle) => app.merge(venta_ws::probes::metrics_router(module.hub(), handle)),
        None => app,
    }
}

/// The example's module with in-memory presence, for one node.
pub fn module(config: &Config, locations: &Arc<LocationService>) -> Result<WebSocketModule, AppError> {
    if config.redis_url.is_some() {
        return Err(AppError::InvalidEnv {
            name: "REDIS_URL",
            reason: "`module` keeps presence in memory; use `connect_module` to use Redis".to_owned(),
        });
    }
    finish(builder(config, locations))
}

/// The example's module: through Redis when `REDIS_URL` is set, in memory otherwise.
pub async fn connect_module(config: &Config, locations: &Arc<LocationService>) -> Result<WebSocketModule, AppError> {
    let mut builder = builder(config, locations);
    if let Some(url) = &config.redis_url {
        let redis = RedisConfig::new(url).prefix(&config.redis_prefix).node_ttl(config.node_ttl);
        let backend = RedisBackend::connect(redis).await?;
        tracing::info!(
            node = backend.node_id(),
            prefix = config.redis_prefix.as_str(),
            "presence and fan-out through Redis"
        );
        builder = builder.redis(backend);
    }
    finish(builder)
}

fn builder(config: &Config, locations: &Arc<LocationService>) -> WebSocketModuleBuilder {
    WebSocketModule::builder()
        .jwt(config.jwt())
        .allowed_origins(config.allowed_origins.iter().cloned())
        .gateway(UserLocationGateway::new(Arc::clone(locations)))
        .gateway(VendorGateway::new(Arc::clone(locations)))
}

fn finish(builder: WebSocketModuleBuilder) -> Result<WebSocketModule, AppError> {
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(args: &[&str]) -> Result<TokenArgs, String> {
        TokenArgs::parse(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn the_minter_makes_user_tokens_unless_told_vendor() {
        let user = TokenArgs { kind: Kind::User, subject: "user-1".to_owned(), ttl_secs: 3600 };
        assert_eq!(args(&["user-1"]), Ok(user.clone()));
        assert_eq!(args(&["--user", "user-1"]), Ok(user));
        let vendor = TokenArgs { kind: Kind::Vendor, subject: "truck-1".to_owned(), ttl_secs: 60 };
        assert_eq!(args(&["--vendor", "truck-1", "60"]), Ok(vendor.clone()));
        assert_eq!(args(&["truck-1", "60", "--vendor"]), Ok(vendor));
        assert_eq!(args(&[]), Err(TOKEN_USAGE.to_owned()));
        assert!(args(&["--admin", "x"]).is_err_and(|e| e.contains("--admin")));
        assert!(args(&["x", "soon"]).is_err_and(|e| e.contains("soon")));
        assert!(args(&["x", "0"]).is_err());
        assert!(args(&["x", "1", "2"]).is_err_and(|e| e.contains("`2`")));
    }

    #[test]
    fn each_gateway_admits_its_own_kind_of_token_only() {
        let claims = |kind: Option<&str>| ExampleClaims { kind: kind.map(str::to_owned), role: None };
        assert!(claims(None).admit(Kind::User).is_ok(), "no kind is a user");
        assert!(ExampleClaims::of(Kind::User).admit(Kind::User).is_ok());
        assert!(ExampleClaims::of(Kind::Vendor).admit(Kind::Vendor).is_ok());
        for (claims, gateway) in [
            (claims(None), Kind::Vendor),
            (ExampleClaims::of(Kind::User), Kind::Vendor),
            (ExampleClaims::of(Kind::Vendor), Kind::User),
            (claims(Some("admin")), Kind::User),
            (claims(Some("Vendor")), Kind::Vendor),
        ] {
            let error = claims.admit(gateway).expect_err("refused");
            assert_eq!(error.close_code(), None, "validate_connection refuses with 4403 when no code is given");
            assert_eq!(error.code(), "forbidden");
            assert!(error.message().starts_with(gateway.path()), "{}", error.message());
        }
        let long = claims(Some(&"k".repeat(500))).admit(Kind::User).expect_err("refused");
        assert!(long.message().len() < 123, "fits a close reason: {}", long.message());
    }
}
