//! Mounting one gateway: its authenticator found, its origin policy settled, its namespace
//! made, and its route set up. The builder calls this for each gateway it was given.

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::routing::get;

use super::handshake::handshake;
use super::lifecycle::GatewayRuntime;
use super::origin::OriginPolicy;
use crate::auth::{AuthRegistry, Authenticator};
use crate::cluster::Cluster;
use crate::config::SocketConfig;
use crate::error::ModuleError;
use crate::filter::ErrorFilter;
use crate::gateway::GatewayHandlers;
use crate::hub::Hub;
use crate::intercept::Interceptor;
use crate::namespace::Namespace;
use crate::presence::PresenceStore;
use crate::state::ModuleState;

/// What the builder hands the engine to mount one gateway.
pub(crate) struct MountContext<'a> {
    pub(crate) auth: &'a AuthRegistry,
    pub(crate) presence: &'a Arc<dyn PresenceStore>,
    pub(crate) cluster: &'a Option<Arc<dyn Cluster>>,
    pub(crate) origins: &'a OriginPolicy,
    pub(crate) state: &'a Arc<ModuleState>,
    /// The module's interceptors, outer to every gateway's own.
    pub(crate) interceptors: &'a [Arc<dyn Interceptor>],
    /// The module's error filters, run after every gateway's own.
    pub(crate) error_filters: &'a [Arc<dyn ErrorFilter>],
    /// Whether every message gets its own span.
    pub(crate) message_spans: bool,
}

/// What was set on the builder for one gateway only.
pub(crate) struct OwnHooks {
    pub(crate) interceptors: Vec<Arc<dyn Interceptor>>,
    pub(crate) error_filters: Vec<Arc<dyn ErrorFilter>>,
}

/// A mounted gateway: its namespace, its route, and its run-time state for the test harness.
pub(crate) struct MountedGateway {
    pub(crate) namespace: Namespace,
    pub(crate) router: Router,
    pub(crate) runtime: (TypeId, Arc<dyn Any + Send + Sync>),
    /// Gives the runtime the module's hub once it is built.
    pub(crate) keep_hub: Box<dyn FnOnce(&Hub) + Send>,
    /// The gateway as the Socket.IO endpoint reaches it.
    #[cfg(feature = "socketio")]
    pub(crate) socket_io: Arc<dyn crate::socketio::SocketIoGateway>,
}

/// Mounts `gateway` with the module's `context` and its own `config`.
pub(crate) fn mount<G: GatewayHandlers>(
    gateway: G,
    context: &MountContext<'_>,
    config: SocketConfig,
    own: OwnHooks,
) -> Result<MountedGateway, ModuleError> {
    let descriptor = G::DESCRIPTOR;
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
        TypeId::of::<G>(),
        &descriptor,
        Arc::clone(context.presence),
        context.cluster.clone(),
        Arc::clone(context.state),
        config,
    );
    let runtime = Arc::new(GatewayRuntime {
        gateway,
        auth,
        namespace: namespace.clone(),
        origins,
        state: Arc::clone(context.state),
        spans_first: context.message_spans,
        interceptors: builtin_interceptors::<G>(context.message_spans)
            .chain(context.interceptors.iter().cloned())
            .chain(own.interceptors)
            .collect(),
        error_filters: own.error_filters.into_iter().chain(context.error_filters.iter().cloned()).collect(),
        metrics: crate::metrics::GatewayMetrics::new(descriptor.namespace),
        hub: OnceLock::new(),
    });
    let keeps_hub = Arc::clone(&runtime);
    let keep_hub: Box<dyn FnOnce(&Hub) + Send> = Box::new(move |hub| {
        let _ = keeps_hub.hub.set(hub.clone());
    });
    let router = Router::new().route(descriptor.path, get(handshake::<G>)).with_state(Arc::clone(&runtime));
    #[cfg(feature = "socketio")]
    let socket_io: Arc<dyn crate::socketio::SocketIoGateway> = runtime.clone();
    let runtime: Arc<dyn Any + Send + Sync> = runtime;
    Ok(MountedGateway {
        namespace,
        keep_hub,
        router,
        runtime: (TypeId::of::<G>(), runtime),
        #[cfg(feature = "socketio")]
        socket_io,
    })
}

/// The crate's own interceptors, outer to the application's and in this order: the message
/// span (unless turned off), then the message metrics (feature `metrics`).
fn builtin_interceptors<G: GatewayHandlers>(message_spans: bool) -> impl Iterator<Item = Arc<dyn Interceptor>> {
    let spans = message_spans.then(|| Arc::new(crate::logging::MessageSpans) as Arc<dyn Interceptor>);
    #[cfg(feature = "metrics")]
    let metrics =
        Some(Arc::new(crate::metrics::MessageMetrics::new(G::DESCRIPTOR.namespace, G::EVENTS)) as Arc<dyn Interceptor>);
    #[cfg(not(feature = "metrics"))]
    let metrics = None;
    spans.into_iter().chain(metrics)
}
