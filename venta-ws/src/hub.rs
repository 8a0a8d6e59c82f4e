//! The [`Hub`]: every namespace of a module, its presence, and graceful shutdown.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::close::Closure;
use crate::cluster::Cluster;
use crate::gateway::WebSocketGateway;
use crate::namespace::Namespace;
use crate::presence::PresenceStore;
use crate::socket::AuthenticatedSocket;
use crate::state::ModuleState;

/// Every namespace of a module, for emitting from outside a handler (an HTTP route, a job),
/// and for shutting the module down.
#[derive(Clone, Debug)]
pub struct Hub {
    namespaces: Arc<BTreeMap<String, Namespace>>,
    presence: Arc<dyn PresenceStore>,
    cluster: Option<Arc<dyn Cluster>>,
    state: Arc<ModuleState>,
}

/// Whether a node takes new sockets, as [`Hub::readiness`] says and `GET /readyz` serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// It accepts sockets.
    Ready,
    /// [`Hub::shutdown`] has started: it refuses new sockets and closes the open ones.
    Draining,
    /// Its cluster transport cannot reach the other nodes, for this reason (`redis
    /// unreachable`): its sockets would miss what other nodes send them.
    Unavailable(&'static str),
}

impl Readiness {
    /// The reason a node is not ready, as `GET /readyz` answers it; `None` when ready.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::Ready => None,
            Self::Draining => Some("draining"),
            Self::Unavailable(reason) => Some(reason),
        }
    }
}

/// What [`Hub::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Sockets sent a 1001 close.
    pub closed: usize,
    /// Whether every socket finished (handlers, `on_disconnect`, presence) within the timeout.
    pub completed: bool,
}

impl Hub {
    pub(crate) fn new(
        namespaces: BTreeMap<String, Namespace>,
        presence: Arc<dyn PresenceStore>,
        cluster: Option<Arc<dyn Cluster>>,
        state: Arc<ModuleState>,
    ) -> Self {
        let namespaces = Arc::new(namespaces);
        for namespace in namespaces.values() {
            namespace.set_module(&namespaces);
        }
        Self { namespaces, presence, cluster, state }
    }

    /// The hub of the module `namespace` belongs to.
    pub(crate) fn of(namespace: &Namespace) -> Self {
        // A socket's runtime keeps its module's namespaces alive, so this finds them; only a
        // namespace outliving its module would not, and it then gets a hub of itself alone.
        let namespaces = namespace
            .module()
            .unwrap_or_else(|| Arc::new(BTreeMap::from([(namespace.name().to_owned(), namespace.clone())])));
        Self {
            namespaces,
            presence: Arc::clone(namespace.presence()),
            cluster: namespace.cluster().cloned(),
            state: Arc::clone(namespace.state()),
        }
    }

    /// Whether this node takes new sockets: not once shutdown has started (readiness turns
    /// first, then the sockets are closed), nor while its cluster transport (Redis) is
    /// unreachable.
    pub fn readiness(&self) -> Readiness {
        if self.is_shutting_down() {
            return Readiness::Draining;
        }
        match self.cluster.as_ref().and_then(|cluster| cluster.unavailable()) {
            Some(reason) => Readiness::Unavailable(reason),
            None => Readiness::Ready,
        }
    }

    /// Shuts every gateway down: refuses new sockets (closing them with 1001), closes every
    /// socket with 1001 in batches, and waits up to `timeout` for in-flight handlers, the
    /// `on_disconnect` hooks and presence cleanup to finish.
    ///
    /// An HTTP server's own graceful shutdown does not close upgraded sockets; call this (or
    /// serve with [`crate::serve`], which does) when the process is asked to stop.
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.state.shutdown.cancel();
        let mut closed = 0;
        for namespace in self.namespaces.values() {
            closed += namespace.close_all(Closure::GoingAway).await;
        }
        self.state.tasks.close();
        let completed = tokio::time::timeout(timeout, self.state.tasks.wait()).await.is_ok();
        ShutdownReport { closed, completed }
    }

    /// Delivers what another node published to this node's sockets, until shutdown.
    pub(crate) async fn follow(self, cluster: Arc<dyn Cluster>) {
        let mut incoming = cluster.incoming();
        loop {
            let message = tokio::select! {
                () = self.state.shutdown.cancelled() => return,
                message = incoming.recv() => message,
            };
            match message {
                Ok(message) => {
                    if let Some(namespace) = self.namespaces.get(&message.namespace) {
                        namespace.apply(&message);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "fell behind the cluster; some events from other nodes were not delivered");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Whether [`Hub::shutdown`] has started.
    pub fn is_shutting_down(&self) -> bool {
        self.state.shutdown.is_cancelled()
    }

    /// How many sockets the module holds on this node.
    pub fn connection_count(&self) -> usize {
        self.state.connections.load(Ordering::Acquire)
    }

    /// The namespace called `name`, if a gateway declares it.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
    }

    /// The namespace of gateway `G`, if the module mounts it: typed, so a misspelt gateway
    /// does not compile, where a misspelt name would be `None` at run time.
    ///
    /// ```
    /// # use venta_ws::prelude::*;
    /// # #[derive(WebSocketGateway)]
    /// # #[gateway(namespace = "customer", auth = Jwt)]
    /// # struct CustomerGateway;
    /// # #[venta_ws::messages]
    /// # impl CustomerGateway {}
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let module = WebSocketModule::builder()
    ///     .jwt(JwtConfig::hs256("a development secret, 32 bytes or more"))
    ///     .gateway(CustomerGateway)
    ///     .build()?;
    /// let customers = module.hub().gateway::<CustomerGateway>().expect("mounted").clone();
    /// customers.emit_to_entity("c-17", "order.updated", &17)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn gateway<G: WebSocketGateway>(&self) -> Option<&Namespace> {
        self.namespaces.get(G::DESCRIPTOR.namespace).filter(|namespace| namespace.is_of(TypeId::of::<G>()))
    }

    /// Every namespace, by name.
    pub fn namespaces(&self) -> impl Iterator<Item = &Namespace> {
        self.namespaces.values()
    }

    /// The module's presence store.
    pub fn presence(&self) -> &Arc<dyn PresenceStore> {
        &self.presence
    }
}

impl<C> AuthenticatedSocket<C> {
    /// The hub of the socket's module: every namespace, for a handler or hook that reaches
    /// another gateway's sockets (`socket.hub().gateway::<VendorGateway>()`), with no
    /// `OnceLock<Hub>` set after `build()`.
    pub fn hub(&self) -> Hub {
        Hub::of(self.namespace())
    }
}
