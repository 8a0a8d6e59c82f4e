//! The in-memory presence store: one node, no other service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use super::{BoxFuture, PresenceEntry, PresenceError, PresenceEvent, PresenceStatus, PresenceStore};
use crate::id::SocketId;

const EVENT_CAPACITY: usize = 1024;

/// Presence kept in this process. Cloning gives another handle to the same store.
///
/// ```
/// use venta_ws::presence::{InMemoryPresence, PresenceEntry, PresenceStore};
/// use venta_ws::SocketId;
///
/// # tokio_test_block_on(async {
/// let presence = InMemoryPresence::default();
/// let (phone, laptop) = (SocketId::next(), SocketId::next());
/// let entry = |socket_id| PresenceEntry { namespace: "user", socket_id, entity_id: "u1" };
///
/// assert!(presence.register(entry(phone)).await?);    // u1 comes online
/// assert!(!presence.register(entry(laptop)).await?);  // already online
/// assert!(!presence.unregister(entry(phone)).await?); // still online on the laptop
/// assert_eq!(presence.online("user").await?, ["u1"]);
/// assert!(presence.unregister(entry(laptop)).await?); // last socket: offline
/// assert_eq!(presence.count("user").await?, 0);
/// # Ok::<_, venta_ws::presence::PresenceError>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryPresence {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    namespaces: Mutex<HashMap<Arc<str>, Namespace>>,
    events: broadcast::Sender<PresenceEvent>,
}

#[derive(Debug, Default)]
struct Namespace {
    sockets: HashMap<SocketId, Arc<str>>,
    entities: HashMap<Arc<str>, Vec<SocketId>>,
}

impl Default for InMemoryPresence {
    fn default() -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self { inner: Arc::new(Inner { namespaces: Mutex::new(HashMap::new()), events }) }
    }
}

impl InMemoryPresence {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Namespace>> {
        // Every critical section leaves the maps consistent, so a poisoned lock is still valid.
        self.inner.namespaces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, namespace: &str, entity_id: Arc<str>, status: PresenceStatus) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(PresenceEvent { namespace: namespace.into(), entity_id, status });
    }

    fn register_now(&self, entry: PresenceEntry<'_>) -> bool {
        let came_online = {
            let mut namespaces = self.lock();
            if !namespaces.contains_key(entry.namespace) {
                namespaces.insert(entry.namespace.into(), Namespace::default());
            }
            let Some(ns) = namespaces.get_mut(entry.namespace) else { return false };
            if ns.sockets.contains_key(&entry.socket_id) {
                return false;
            }
            let entity = match ns.entities.get_key_value(entry.entity_id) {
                Some((key, _)) => Arc::clone(key),
                None => Arc::from(entry.entity_id),
            };
            ns.sockets.insert(entry.socket_id, Arc::clone(&entity));
            let sockets = ns.entities.entry(Arc::clone(&entity)).or_default();
            sockets.push(entry.socket_id);
            (sockets.len() == 1).then_some(entity)
        };
        match came_online {
            Some(entity) => {
                self.publish(entry.namespace, entity, PresenceStatus::Online);
                true
            }
            None => false,
        }
    }

    fn unregister_now(&self, entry: PresenceEntry<'_>) -> bool {
        let went_offline = {
            let mut namespaces = self.lock();
            let Some(ns) = namespaces.get_mut(entry.namespace) else { return false };
            let Some(entity) = ns.sockets.remove(&entry.socket_id) else { return false };
            let last = match ns.entities.get_mut(&entity) {
                Some(sockets) => {
                    sockets.retain(|id| *id != entry.socket_id);
                    sockets.is_empty()
                }
                None => false,
            };
            if last {
                ns.entities.remove(&entity);
            }
            if ns.sockets.is_empty() {
                namespaces.remove(entry.namespace);
            }
            last.then_some(entity)
        };
        match went_offline {
            Some(entity) => {
                self.publish(entry.namespace, entity, PresenceStatus::Offline);
                true
            }
            None => false,
        }
    }

    /// Every registered socket: namespace, socket, entity.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn entries(&self) -> Vec<(String, SocketId, String)> {
        let namespaces = self.lock();
        namespaces
            .iter()
            .flat_map(|(ns, state)| state.sockets.iter().map(|(id, entity)| (ns.to_string(), *id, entity.to_string())))
            .collect()
    }

    fn read<T>(&self, namespace: &str, f: impl FnOnce(&Namespace) -> T, empty: T) -> T {
        self.lock().get(namespace).map_or(empty, f)
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, Result<T, PresenceError>> {
    Box::pin(std::future::ready(Ok(value)))
}

impl PresenceStore for InMemoryPresence {
    fn register<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        ready(self.register_now(entry))
    }

    fn unregister<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        ready(self.unregister_now(entry))
    }

    fn entity_of<'a>(
        &'a self,
        namespace: &'a str,
        socket_id: SocketId,
    ) -> BoxFuture<'a, Result<Option<String>, PresenceError>> {
        ready(self.read(namespace, |ns| ns.sockets.get(&socket_id).map(|id| id.to_string()), None))
    }

    fn sockets_of<'a>(
        &'a self,
        namespace: &'a str,
        entity_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SocketId>, PresenceError>> {
        ready(self.read(namespace, |ns| ns.entities.get(entity_id).cloned().unwrap_or_default(), Vec::new()))
    }

    fn online<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<String>, PresenceError>> {
        let mut ids = self.read(namespace, |ns| ns.entities.keys().map(|id| id.to_string()).collect(), Vec::new());
        ids.sort_unstable();
        ready(ids)
    }

    fn count<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<usize, PresenceError>> {
        ready(self.read(namespace, |ns| ns.entities.len(), 0))
    }

    fn subscribe(&self) -> broadcast::Receiver<PresenceEvent> {
        self.inner.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(namespace: &'a str, socket_id: SocketId, entity_id: &'a str) -> PresenceEntry<'a> {
        PresenceEntry { namespace, socket_id, entity_id }
    }

    #[tokio::test]
    async fn an_entity_is_online_from_its_first_socket_to_its_last() {
        let presence = InMemoryPresence::default();
        let mut events = presence.subscribe();
        let (a, b) = (SocketId::next(), SocketId::next());

        assert!(presence.register(entry("user", a, "u1")).await.expect("ok"));
        assert!(!presence.register(entry("user", b, "u1")).await.expect("ok"));
        assert_eq!(presence.sockets_of("user", "u1").await.expect("ok"), [a, b]);
        assert_eq!(presence.entity_of("user", b).await.expect("ok").as_deref(), Some("u1"));
        assert!(!presence.unregister(entry("user", a, "u1")).await.expect("ok"));
        assert_eq!(presence.online("user").await.expect("ok"), ["u1"]);
        assert!(presence.unregister(entry("user", b, "u1")).await.expect("ok"));
        assert_eq!(presence.online("user").await.expect("ok"), Vec::<String>::new());

        let first = events.recv().await.expect("online event");
        assert_eq!((&*first.entity_id, first.status), ("u1", PresenceStatus::Online));
        let second = events.recv().await.expect("offline event");
        assert_eq!((&*second.entity_id, second.status), ("u1", PresenceStatus::Offline));
        assert!(events.try_recv().is_err(), "exactly one online and one offline event");
    }

    #[tokio::test]
    async fn namespaces_are_separate_and_registration_is_idempotent() {
        let presence = InMemoryPresence::default();
        let (a, b) = (SocketId::next(), SocketId::next());
        presence.register(entry("user", a, "x")).await.expect("ok");
        assert!(!presence.register(entry("user", a, "x")).await.expect("ok"));
        presence.register(entry("vendor", b, "x")).await.expect("ok");
        assert_eq!(presence.count("user").await.expect("ok"), 1);
        assert_eq!(presence.count("vendor").await.expect("ok"), 1);

        assert!(presence.unregister(entry("user", a, "x")).await.expect("ok"));
        assert!(!presence.unregister(entry("user", a, "x")).await.expect("ok"));
        assert_eq!(presence.count("user").await.expect("ok"), 0);
        assert_eq!(presence.online("vendor").await.expect("ok"), ["x"]);
        assert!(presence.lock().get("user").is_none(), "an emptied namespace leaves nothing behind");
    }
}
