//! The module builder (the NestJS `WebSocketModule` analog): auth, presence, limits and
//! gateways in, an `axum::Router` out.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthRegistry, Authenticator, JwtConfig};
use crate::cluster::Cluster;
use crate::error::ModuleError;
use crate::gateway::{GatewayHandlers, GatewayRuntime, OriginPolicy, lifecycle_handshake};
use crate::namespace::{Hub, Namespace};
use crate::presence::{InMemoryPresence, PresenceStore};

/// Per-socket and per-module limits, the same for every gateway of a module.
///
/// Every limit is on by default; the README's "Security and limits" section lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketConfig {
    /// The largest message (and frame) a client may send, in bytes; larger ones close the
    /// socket with 1009. Default 64 KiB.
    pub max_message_size: usize,
    /// How many outgoing frames may wait for a slow client before it is closed with 4429.
    /// Default 256.
    pub send_queue_capacity: usize,
    /// The most bytes of outgoing frames a socket holds for a client that does not read them,
    /// on top of what the kernel's socket buffer holds: past it the socket is closed with 4429,
    /// and the pongs a client's pings ask for are no longer queued. It is also the largest
    /// frame a socket can send. Default 1 MiB; never less than `max_message_size` plus the
    /// 128 KiB gathered before a write, so that a reply as large as the largest message fits.
    pub max_write_buffer_size: usize,
    /// The read buffer each socket allocates up front, in bytes. Messages larger than it
    /// still arrive whole (up to `max_message_size`): the buffer grows while it reads them.
    /// Default 2 KiB, against tungstenite's 128 KiB, which would cost 128 KiB per idle socket;
    /// a larger message takes more `read` calls (a 64 KiB one, 32).
    pub read_buffer_size: usize,
    /// How long a closing socket may take to flush and finish the close handshake. Default 5 s.
    pub close_timeout: Duration,
    /// How often the server pings an idle client. Default 25 s.
    pub ping_interval: Duration,
    /// How long a client may take to answer a ping (with a pong or any frame) before it is
    /// closed with 1008. Default 20 s.
    pub pong_timeout: Duration,
    /// How long before its token expires a socket is sent `auth.expiring`. Default 30 s.
    pub expiry_warning: Duration,
    /// The per-socket message rate limit; `None` turns it off. Default 100/s, bursts of 200.
    pub rate_limit: Option<RateLimit>,
    /// The most sockets one entity may hold in one namespace on this node; more are closed
    /// with 1008. Default 64.
    pub max_connections_per_entity: usize,
    /// The most sockets the module holds in all; more are closed with 1013. Default 100,000.
    pub max_connections: usize,
}

/// How many bytes of outgoing frames a socket gathers before it writes them out, unless it
/// flushes first (it does after every batch of queued frames).
pub(crate) const WRITE_BUFFER_SIZE: usize = 128 * 1024;

impl SocketConfig {
    /// The write buffer's limit as applied: `max_write_buffer_size`, raised when needed so a
    /// frame as large as the largest message fits after what is gathered before a write.
    pub(crate) fn write_buffer_limit(&self) -> usize {
        self.max_write_buffer_size.max(self.max_message_size.saturating_add(WRITE_BUFFER_SIZE + 1))
    }
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            send_queue_capacity: 256,
            max_write_buffer_size: 1024 * 1024,
            read_buffer_size: 2 * 1024,
            close_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(20),
            expiry_warning: Duration::from_secs(30),
            rate_limit: Some(RateLimit::default()),
            max_connections_per_entity: 64,
            max_connections: 100_000,
        }
    }
}

/// A token bucket per socket: `burst` messages at once, refilled at `per_second`.
///
/// A message over the limit is answered with a `rate_limited` error envelope and not handled;
/// after `max_violations` such messages in a row the socket is closed with 1008.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained messages per second.
    pub per_second: u32,
    /// Messages allowed at once.
    pub burst: u32,
    /// Consecutive refused messages before the socket is closed.
    pub max_violations: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { per_second: 100, burst: 200, max_violations: 20 }
    }
}

/// What every gateway of a module shares at run time.
#[derive(Debug)]
pub(crate) struct ModuleState {
    pub(crate) config: SocketConfig,
    /// Every connection task, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// Cancelled when shutdown starts: no new socket is admitted.
    pub(crate) shutdown: CancellationToken,
    /// Sockets attached to any namespace of the module.
    pub(crate) connections: AtomicUsize,
}

type Mount = Box<dyn FnOnce(&MountContext<'_>, SocketConfig) -> Result<MountedGateway, ModuleError> + Send>;
type Configure = Box<dyn FnOnce(SocketConfig) -> SocketConfig + Send>;

struct PendingGateway {
    type_name: &'static str,
    namespace: &'static str,
    path: &'static str,
    configure: Option<Configure>,
    mount: Mount,
}

struct MountContext<'a> {
    auth: &'a AuthRegistry,
    presence: &'a Arc<dyn PresenceStore>,
    cluster: &'a Option<Arc<dyn Cluster>>,
    origins: &'a OriginPolicy,
    state: &'a Arc<ModuleState>,
}

struct MountedGateway {
    namespace: Namespace,
    router: Router,
    runtime: (TypeId, Arc<dyn Any + Send + Sync>),
}

/// Builds a [`WebSocketModule`]; see [`WebSocketModule::builder`].
#[must_use]
pub struct WebSocketModuleBuilder {
    auth: AuthRegistry,
    presence: Option<Arc<dyn PresenceStore>>,
    cluster: Option<Arc<dyn Cluster>>,
    origins: Option<Vec<String>>,
    config: SocketConfig,
    gateways: Vec<PendingGateway>,
}

/// The gateways of an application, mounted on an `axum::Router`, with a [`Hub`] to reach
/// their sockets from anywhere.
///
/// ```
/// use venta_ws::prelude::*;
///
/// #[derive(WebSocketGateway)]
/// #[gateway(namespace = "user", auth = Jwt)]
/// struct UserGateway;
///
/// #[venta_ws::messages]
/// impl UserGateway {
///     #[subscribe("ping")]
///     async fn ping(&self, data: serde_json::Value) -> Reply<serde_json::Value> {
///         Reply::new("pong", data)
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let module = WebSocketModule::builder()
///     .jwt(JwtConfig::hs256("a development secret, 32 bytes or more"))
///     .allowed_origins(["http://localhost:3000"])
///     .gateway(UserGateway)
///     .build()?;
/// let hub = module.hub();            // emit from HTTP routes, jobs, ...
/// let app: axum::Router = module.into_router();
/// # let _ = (hub, app);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct WebSocketModule {
    router: Router,
    hub: Hub,
    /// Each gateway's runtime by the gateway's type, for [`crate::testing`].
    runtimes: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl WebSocketModule {
    /// A builder with in-memory presence, any origin, and default limits.
    pub fn builder() -> WebSocketModuleBuilder {
        WebSocketModuleBuilder {
            auth: AuthRegistry::default(),
            presence: None,
            cluster: None,
            origins: None,
            config: SocketConfig::default(),
            gateways: Vec::new(),
        }
    }

    /// The router serving every gateway at its path; merge it into your application.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The router, consuming the module.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// The handle to every namespace and the presence store.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// The runtime of gateway `G`, if the module mounts one.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn runtime<G: GatewayHandlers>(&self) -> Option<Arc<GatewayRuntime<G>>> {
        self.runtimes.get(&TypeId::of::<G>()).cloned().and_then(|any| any.downcast().ok())
    }
}

impl From<WebSocketModule> for Router {
    fn from(module: WebSocketModule) -> Self {
        module.router
    }
}

impl fmt::Debug for WebSocketModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketModule").field("hub", &self.hub).finish_non_exhaustive()
    }
}

impl WebSocketModuleBuilder {
    /// Verifies tokens of `auth = Jwt` gateways with this configuration.
    pub fn jwt(mut self, config: JwtConfig) -> Self {
        self.auth.set_jwt(config);
        self
    }

    /// Registers a custom authenticator for gateways declaring `auth = A`.
    pub fn auth<A: Authenticator>(mut self, authenticator: A) -> Self {
        self.auth.insert(authenticator);
        self
    }

    /// Keeps presence in `store` (default: [`InMemoryPresence`]).
    pub fn presence(mut self, store: impl PresenceStore) -> Self {
        self.presence = Some(Arc::new(store));
        self
    }

    /// Fans emits and disconnects out to the other nodes of the application through
    /// `cluster`; without one, they reach this node's sockets only.
    pub fn cluster(mut self, cluster: impl Cluster) -> Self {
        self.cluster = Some(Arc::new(cluster));
        self
    }

    /// Presence and fan-out across nodes through Redis (feature `redis`).
    #[cfg(feature = "redis")]
    pub fn redis(mut self, backend: crate::redis::RedisBackend) -> Self {
        self.presence = Some(Arc::new(backend.clone()));
        self.cluster = Some(Arc::new(backend));
        self
    }

    /// Keeps presence in a store already shared elsewhere.
    pub fn shared_presence(mut self, store: Arc<dyn PresenceStore>) -> Self {
        self.presence = Some(store);
        self
    }

    /// The browser origins allowed by gateways that do not list their own (`"*"` allows any;
    /// default: any). Each must be `scheme://host[:port]`; `build` refuses others.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Sets every per-socket limit at once.
    pub fn socket_config(mut self, config: SocketConfig) -> Self {
        self.config = config;
        self
    }

    /// The largest message a client may send, in bytes (default 64 KiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// How many frames may wait for a slow client (default 256).
    pub fn send_queue_capacity(mut self, frames: usize) -> Self {
        self.config.send_queue_capacity = frames;
        self
    }

    /// How long a close may take (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// How often idle clients are pinged, and how long they have to answer (defaults 25 s, 20 s).
    pub fn ping(mut self, interval: Duration, timeout: Duration) -> Self {
        self.config.ping_interval = interval;
        self.config.pong_timeout = timeout;
        self
    }

    /// The per-socket message rate limit (default 100/s, bursts of 200); `None` turns it off.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.config.rate_limit = limit;
        self
    }

    /// The most sockets per entity per namespace (default 64) and in all (default 100,000).
    pub fn max_connections(mut self, per_entity: usize, total: usize) -> Self {
        self.config.max_connections_per_entity = per_entity;
        self.config.max_connections = total;
        self
    }

    /// Adds a gateway, mounted at its path, with the module's limits.
    pub fn gateway<G: GatewayHandlers>(self, gateway: G) -> Self {
        self.add_gateway(gateway, None)
    }

    /// Adds a gateway whose limits differ from the module's: `configure` receives the
    /// module's [`SocketConfig`] and returns this gateway's. `max_connections` stays the
    /// module's total.
    ///
    /// ```
    /// # use venta_ws::prelude::*;
    /// # #[derive(WebSocketGateway)]
    /// # #[gateway(namespace = "upload", auth = Jwt)]
    /// # struct UploadGateway;
    /// # #[venta_ws::messages]
    /// # impl UploadGateway {}
    /// let module = WebSocketModule::builder()
    ///     .jwt(JwtConfig::hs256("a development secret, 32 bytes or more"))
    ///     .gateway_with(UploadGateway, |mut config| {
    ///         config.max_message_size = 1024 * 1024;
    ///         config.rate_limit = None;
    ///         config
    ///     })
    ///     .build();
    /// # assert!(module.is_ok());
    /// ```
    pub fn gateway_with<G: GatewayHandlers>(
        self,
        gateway: G,
        configure: impl FnOnce(SocketConfig) -> SocketConfig + Send + 'static,
    ) -> Self {
        self.add_gateway(gateway, Some(Box::new(configure)))
    }

    fn add_gateway<G: GatewayHandlers>(mut self, gateway: G, configure: Option<Configure>) -> Self {
        let descriptor = G::DESCRIPTOR;
        let mount: Mount = Box::new(move |context: &MountContext<'_>, config: SocketConfig| {
            let auth = G::Auth::from_registry(context.auth).ok_or(ModuleError::MissingAuth {
                gateway: descriptor.type_name,
                auth: std::any::type_name::<G::Auth>(),
                hint: <G::Auth as Authenticator>::SETUP_HINT,
            })?;
            let origins = match descriptor.origins {
                Some(origins) => OriginPolicy::from_list(origins.iter())?,
                None => context.origins.clone(),
            };
            if descriptor.credentials && origins == OriginPolicy::Any {
                // Cookies sent from any site make the gateway open to cross-site hijacking.
                return Err(ModuleError::AnyOriginWithCredentials { gateway: descriptor.type_name });
            }
            let namespace = Namespace::new(
                descriptor.namespace,
                descriptor.path.to_owned(),
                descriptor.entity_type,
                Arc::clone(context.presence),
                context.cluster.clone(),
                Arc::clone(context.state),
                config,
            );
            let runtime = GatewayRuntime {
                gateway,
                auth,
                namespace: namespace.clone(),
                origins,
                state: Arc::clone(context.state),
            };
            let runtime = Arc::new(runtime);
            let router =
                Router::new().route(descriptor.path, get(lifecycle_handshake::<G>)).with_state(Arc::clone(&runtime));
            Ok(MountedGateway { namespace, router, runtime: (TypeId::of::<G>(), runtime) })
        });
        self.gateways.push(PendingGateway {
            type_name: descriptor.type_name,
            namespace: descriptor.namespace,
            path: descriptor.path,
            configure,
            mount,
        });
        self
    }

    /// Checks the configuration and mounts every gateway.
    ///
    /// Refuses, among other mistakes, a [`JwtConfig`] whose HMAC secret is shorter than its
    /// algorithm's hash output ([`ModuleError::ShortJwtSecret`]).
    pub fn build(self) -> Result<WebSocketModule, ModuleError> {
        validate(&self.config)?;
        if let Some(jwt) = self.auth.jwt() {
            jwt.check_key()?;
        }
        for (index, later) in self.gateways.iter().enumerate() {
            if let Some(earlier) = self.gateways[..index].iter().find(|earlier| earlier.namespace == later.namespace) {
                return Err(ModuleError::DuplicateNamespace {
                    namespace: later.namespace.to_owned(),
                    first: earlier.type_name,
                    second: later.type_name,
                });
            }
            if let Some(earlier) = self.gateways[..index].iter().find(|earlier| earlier.path == later.path) {
                return Err(ModuleError::DuplicatePath {
                    path: later.path.to_owned(),
                    first: earlier.type_name,
                    second: later.type_name,
                });
            }
        }
        let origins = match &self.origins {
            Some(origins) => OriginPolicy::from_list(origins)?,
            None => OriginPolicy::Any,
        };
        let presence: Arc<dyn PresenceStore> = self.presence.unwrap_or_else(|| Arc::new(InMemoryPresence::default()));
        let state = Arc::new(ModuleState {
            config: self.config,
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            connections: AtomicUsize::new(0),
        });
        let runtime = match &self.cluster {
            Some(_) => Some(tokio::runtime::Handle::try_current().map_err(|_| ModuleError::NoRuntime)?),
            None => None,
        };
        let context = MountContext {
            auth: &self.auth,
            presence: &presence,
            cluster: &self.cluster,
            origins: &origins,
            state: &state,
        };
        let mut router = Router::new();
        let mut namespaces = BTreeMap::new();
        let mut runtimes = HashMap::new();
        for pending in self.gateways {
            let config = match pending.configure {
                Some(configure) => configure(self.config),
                None => self.config,
            };
            validate(&config)?;
            let mounted = (pending.mount)(&context, config)?;
            namespaces.insert(pending.namespace.to_owned(), mounted.namespace);
            runtimes.insert(mounted.runtime.0, mounted.runtime.1);
            router = router.merge(mounted.router);
        }
        let hub = Hub::new(namespaces, presence, state);
        if let (Some(cluster), Some(runtime)) = (self.cluster, runtime) {
            runtime.spawn(hub.clone().follow(cluster));
        }
        Ok(WebSocketModule { router, hub, runtimes: Arc::new(runtimes) })
    }
}

fn validate(config: &SocketConfig) -> Result<(), ModuleError> {
    let invalid = |name, reason| Err(ModuleError::InvalidLimit { name, reason });
    if config.max_message_size == 0 {
        return invalid("max_message_size", "must be at least 1 byte");
    }
    if config.send_queue_capacity == 0 {
        return invalid("send_queue_capacity", "must be at least 1 frame");
    }
    if config.read_buffer_size == 0 {
        return invalid("read_buffer_size", "must be at least 1 byte");
    }
    if config.max_connections == 0 || config.max_connections_per_entity == 0 {
        return invalid("max_connections", "must allow at least 1 socket");
    }
    if config.ping_interval.is_zero() || config.pong_timeout.is_zero() {
        return invalid("ping_interval", "must be longer than zero");
    }
    match config.rate_limit {
        Some(limit) if limit.per_second == 0 || limit.burst == 0 => invalid(
            "rate_limit",
            "must allow at least 1 message per second and a burst of 1; use `None` to turn it off",
        ),
        _ => Ok(()),
    }
}

impl fmt::Debug for WebSocketModuleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketModuleBuilder")
            .field("auth", &self.auth)
            .field("origins", &self.origins)
            .field("config", &self.config)
            .field("gateways", &self.gateways.iter().map(|g| g.type_name).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
