//! The module builder (the NestJS `WebSocketModule` analog): auth, presence, limits and
//! gateways in, an `axum::Router` out. It only builds: each gateway is mounted by the
//! connection engine ([`crate::connection::mount`]) from what the builder hands it.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthRegistry, Authenticator, JwtConfig};
use crate::cluster::Cluster;
use crate::config::{RateLimit, SocketConfig, validate};
use crate::connection::{GatewayRuntime, MountContext, MountedGateway, OriginPolicy, OwnHooks, mount};
use crate::error::ModuleError;
use crate::filter::ErrorFilter;
use crate::gateway::GatewayHandlers;
use crate::hub::Hub;
use crate::intercept::Interceptor;
use crate::presence::{InMemoryPresence, PresenceStore};
use crate::state::ModuleState;

type Mount = Box<dyn FnOnce(&MountContext<'_>, SocketConfig, OwnHooks) -> Result<MountedGateway, ModuleError> + Send>;
type Configure = Box<dyn FnOnce(SocketConfig) -> SocketConfig + Send>;

struct PendingGateway {
    type_name: &'static str,
    namespace: &'static str,
    path: &'static str,
    gateway: TypeId,
    configure: Option<Configure>,
    mount: Mount,
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
    interceptors: Vec<Arc<dyn Interceptor>>,
    /// Each gateway's own interceptors, by the gateway's type, in registration order.
    gateway_interceptors: Vec<(TypeId, &'static str, Arc<dyn Interceptor>)>,
    error_filters: Vec<Arc<dyn ErrorFilter>>,
    /// Each gateway's own error filters, by the gateway's type, in registration order.
    gateway_error_filters: Vec<(TypeId, &'static str, Arc<dyn ErrorFilter>)>,
    message_spans: bool,
    #[cfg(feature = "socketio")]
    socket_io_path: String,
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
            interceptors: Vec::new(),
            gateway_interceptors: Vec::new(),
            error_filters: Vec::new(),
            gateway_error_filters: Vec::new(),
            message_spans: true,
            #[cfg(feature = "socketio")]
            socket_io_path: crate::socketio::DEFAULT_PATH.to_owned(),
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

    /// How many frames may wait for a slow client (default 4,096).
    pub fn send_queue_capacity(mut self, frames: usize) -> Self {
        self.config.send_queue_capacity = frames;
        self
    }

    /// How many bytes of outgoing frames may wait for a slow client (default 1 MiB).
    pub fn send_queue_bytes(mut self, bytes: usize) -> Self {
        self.config.send_queue_bytes = bytes;
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

    /// Adds an interceptor around every message of every gateway of the module. Module
    /// interceptors are outer to the gateways' own, and run in registration order; see
    /// [`crate::intercept`].
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Whether every dispatched message gets a `message` span inside its socket's span (event,
    /// id, outcome, error code, duration; see [`crate::logging`]), what a trace exporter shows
    /// as one operation per message. Default `true`. The span is an interceptor outer to every
    /// other, left out of a message's dispatch while no subscriber would record it (at
    /// `info`); `false` removes it for good. Without it (and without the feature `metrics`)
    /// a module sets no interceptor of its own, so dispatch calls handlers directly.
    pub fn message_spans(mut self, enabled: bool) -> Self {
        self.message_spans = enabled;
        self
    }

    /// Adds an interceptor around every message of gateway `G` only, inner to the module's
    /// interceptors, in registration order; see [`crate::intercept`]. `build` refuses it if
    /// the module has no gateway `G` ([`ModuleError::InterceptorWithoutGateway`]).
    pub fn gateway_interceptor<G: GatewayHandlers>(mut self, interceptor: impl Interceptor) -> Self {
        self.gateway_interceptors.push((TypeId::of::<G>(), G::DESCRIPTOR.type_name, Arc::new(interceptor)));
        self
    }

    /// Adds an error filter for every gateway of the module: it decides what a client gets for
    /// an error, after the gateway's own filters; see [`crate::filter`].
    pub fn error_filter(mut self, filter: impl ErrorFilter) -> Self {
        self.error_filters.push(Arc::new(filter));
        self
    }

    /// Adds an error filter for gateway `G` only, run before the module's; see
    /// [`crate::filter`]. `build` refuses it if the module has no gateway `G`
    /// ([`ModuleError::FilterWithoutGateway`]).
    pub fn gateway_error_filter<G: GatewayHandlers>(mut self, filter: impl ErrorFilter) -> Self {
        self.gateway_error_filters.push((TypeId::of::<G>(), G::DESCRIPTOR.type_name, Arc::new(filter)));
        self
    }

    fn add_gateway<G: GatewayHandlers>(mut self, gateway: G, configure: Option<Configure>) -> Self {
        let descriptor = G::DESCRIPTOR;
        let mount: Mount =
            Box::new(move |context: &MountContext<'_>, config: SocketConfig, own| mount(gateway, context, config, own));
        self.gateways.push(PendingGateway {
            type_name: descriptor.type_name,
            namespace: descriptor.namespace,
            path: descriptor.path,
            gateway: TypeId::of::<G>(),
            configure,
            mount,
        });
        self
    }

    /// Whether Socket.IO clients reach the module's gateways (feature `socketio`; default
    /// on): sets [`SocketConfig::socket_io`] for every gateway, which
    /// [`gateway_with`](Self::gateway_with) may still set otherwise for one.
    #[cfg(feature = "socketio")]
    pub fn socket_io(mut self, enabled: bool) -> Self {
        self.config.socket_io = enabled;
        self
    }

    /// Serves Socket.IO clients at `path` instead of `/socket.io` (socket.io-client's `path`
    /// option; feature `socketio`). Every gateway whose [`SocketConfig::socket_io`] is on
    /// (the default) is reachable there in its namespace.
    #[cfg(feature = "socketio")]
    pub fn socket_io_path(mut self, path: impl Into<String>) -> Self {
        self.socket_io_path = path.into();
        self
    }

    /// Checks the configuration and mounts every gateway.
    ///
    /// Refuses, among other mistakes, a [`JwtConfig`] whose HMAC secret is shorter than its
    /// algorithm's hash output ([`ModuleError::ShortJwtSecret`]).
    pub fn build(self) -> Result<WebSocketModule, ModuleError> {
        validate(&self.config)?;
        #[cfg(feature = "socketio")]
        let socket_io_path = self.checked_socket_io_path()?;
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
        if let Some((_, gateway, _)) =
            self.gateway_interceptors.iter().find(|(id, ..)| !self.gateways.iter().any(|g| g.gateway == *id))
        {
            return Err(ModuleError::InterceptorWithoutGateway { gateway });
        }
        if let Some((_, gateway, _)) =
            self.gateway_error_filters.iter().find(|(id, ..)| !self.gateways.iter().any(|g| g.gateway == *id))
        {
            return Err(ModuleError::FilterWithoutGateway { gateway });
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
            interceptors: &self.interceptors,
            error_filters: &self.error_filters,
            message_spans: self.message_spans,
        };
        #[cfg(feature = "socketio")]
        let mut socket_io = Vec::new();
        #[cfg(feature = "socketio")]
        let paths: Vec<(&'static str, &'static str)> = self.gateways.iter().map(|g| (g.type_name, g.path)).collect();
        let mut router = Router::new();
        let mut namespaces = BTreeMap::new();
        let mut runtimes = HashMap::new();
        let mut keep_hub = Vec::new();
        for pending in self.gateways {
            let config = match pending.configure {
                Some(configure) => configure(self.config),
                None => self.config,
            };
            validate(&config)?;
            let own = OwnHooks {
                interceptors: own_of(&self.gateway_interceptors, pending.gateway),
                error_filters: own_of(&self.gateway_error_filters, pending.gateway),
            };
            let mounted = (pending.mount)(&context, config, own)?;
            #[cfg(feature = "socketio")]
            if config.socket_io {
                socket_io.push((pending.namespace, mounted.socket_io, config));
            }
            namespaces.insert(pending.namespace.to_owned(), mounted.namespace);
            runtimes.insert(mounted.runtime.0, mounted.runtime.1);
            keep_hub.push(mounted.keep_hub);
            router = router.merge(mounted.router);
        }
        #[cfg(feature = "socketio")]
        if !socket_io.is_empty() {
            let under = format!("{socket_io_path}/");
            if let Some((type_name, path)) =
                paths.iter().find(|(_, path)| *path == socket_io_path || path.starts_with(&under))
            {
                return Err(ModuleError::InvalidSocketIoPath {
                    path: socket_io_path,
                    reason: format!(
                        "gateway `{type_name}` is mounted at `{path}`; choose another `socket_io_path`, or another path for the gateway"
                    ),
                });
            }
            router = router.merge(crate::socketio::router(&socket_io_path, socket_io, &state));
        }
        let hub = Hub::new(namespaces, presence, self.cluster.clone(), state);
        for keep in keep_hub {
            keep(&hub);
        }
        if let (Some(cluster), Some(runtime)) = (self.cluster, runtime) {
            runtime.spawn(hub.clone().follow(cluster));
        }
        Ok(WebSocketModule { router, hub, runtimes: Arc::new(runtimes) })
    }
}

#[cfg(feature = "socketio")]
impl WebSocketModuleBuilder {
    /// The Socket.IO path without its trailing slash, checked: a plain path other than `/`.
    fn checked_socket_io_path(&self) -> Result<String, ModuleError> {
        let given = &self.socket_io_path;
        let invalid =
            |reason: &str| ModuleError::InvalidSocketIoPath { path: given.clone(), reason: reason.to_owned() };
        let path = given.trim_end_matches('/');
        if !given.starts_with('/') || path.is_empty() {
            return Err(invalid("must start with `/` and name a path other than `/`, such as `/socket.io`"));
        }
        if path.contains(['{', '}', '*', '?', '#']) {
            return Err(invalid("must be a plain path, without `{`, `}`, `*`, `?` or `#`"));
        }
        Ok(path.to_owned())
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

/// What was registered for the gateway of type `gateway`, in registration order.
fn own_of<T: ?Sized>(registered: &[(TypeId, &'static str, Arc<T>)], gateway: TypeId) -> Vec<Arc<T>> {
    registered.iter().filter(|(id, ..)| *id == gateway).map(|(_, _, hook)| Arc::clone(hook)).collect()
}
