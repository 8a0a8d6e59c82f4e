//! Presence: which sockets belong to which entity, and which entities are online (the NestJS
//! `PresenceService` analog).
//!
//! An entity (a user, a vendor) is online in a namespace from the registration of its first
//! socket to the removal of its last, however many tabs or devices it connects from. The
//! module registers a socket before the gateway's `on_connect` runs and removes it after
//! `on_disconnect`, also when a hook fails or panics.

mod memory;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::broadcast;

pub use memory::InMemoryPresence;

use crate::id::SocketId;

/// A boxed future, as returned by [`PresenceStore`] methods so the store can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One socket of one entity in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceEntry<'a> {
    /// The gateway's namespace.
    pub namespace: &'a str,
    /// The socket.
    pub socket_id: SocketId,
    /// The entity the socket belongs to.
    pub entity_id: &'a str,
}

/// Whether an entity came online or went offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceStatus {
    /// Its first socket was registered.
    Online,
    /// Its last socket was removed.
    Offline,
}

/// A change in who is online, as delivered by [`PresenceStore::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PresenceEvent {
    /// The namespace the change happened in.
    pub namespace: Arc<str>,
    /// The entity that came online or went offline.
    pub entity_id: Arc<str>,
    /// Which of the two.
    pub status: PresenceStatus,
}

/// A presence store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// The backend cannot be reached or answered with an error.
    #[error("presence backend unavailable: {0}")]
    Unavailable(String),
}

/// A presence store that fails is the server's failure: `internal`, its text logged.
impl From<PresenceError> for crate::error::GatewayError {
    fn from(error: PresenceError) -> Self {
        Self::internal(error)
    }
}

/// Where presence is kept: [`InMemoryPresence`] for one node, or a shared backend for many.
///
/// Implementations must make `register` and `unregister` idempotent, and must report an
/// entity online exactly while at least one of its sockets is registered.
pub trait PresenceStore: Send + Sync + 'static {
    /// Registers a socket; resolves to `true` when this made its entity come online.
    fn register<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>>;

    /// Removes a socket; resolves to `true` when this made its entity go offline.
    fn unregister<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>>;

    /// The entity a socket belongs to.
    fn entity_of<'a>(
        &'a self,
        namespace: &'a str,
        socket_id: SocketId,
    ) -> BoxFuture<'a, Result<Option<String>, PresenceError>>;

    /// The sockets of one entity.
    fn sockets_of<'a>(
        &'a self,
        namespace: &'a str,
        entity_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SocketId>, PresenceError>>;

    /// The entities online in a namespace, sorted.
    fn online<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<String>, PresenceError>>;

    /// How many entities are online in a namespace.
    fn count<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<usize, PresenceError>>;

    /// A stream of online and offline changes, from now on. A receiver that falls more than
    /// its channel's capacity behind gets `RecvError::Lagged` and can resynchronise with
    /// [`PresenceStore::online`].
    fn subscribe(&self) -> broadcast::Receiver<PresenceEvent>;
}

impl fmt::Debug for dyn PresenceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresenceStore")
    }
}
