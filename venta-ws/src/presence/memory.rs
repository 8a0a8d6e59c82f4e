//! The in-memory presence store: one node, no other service.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use super::{
    BoxFuture, OnlinePage, Origin, PresenceEntry, PresenceError, PresenceEvent, PresenceMeta, PresenceStatus,
    PresenceStore, RoomMember, encode_meta, indexed_pairs, page_after, sorted,
};
use crate::id::SocketId;

const EVENT_CAPACITY: usize = 1024;

/// Presence kept in this process. Cloning gives another handle to the same store.
///
/// ```
/// use venta_ws::presence::{InMemoryPresence, PresenceEntry, PresenceMeta, PresenceStore};
/// use venta_ws::SocketId;
///
/// # tokio_test_block_on(async {
/// let presence = InMemoryPresence::default();
/// let (phone, laptop) = (SocketId::next(), SocketId::next());
/// let meta = PresenceMeta::new();
/// let entry = |socket_id| PresenceEntry { namespace: "user", socket_id, entity_id: "u1", meta: &meta };
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

/// One namespace; empty maps are removed, so an emptied namespace holds nothing.
#[derive(Debug, Default)]
struct Namespace {
    sockets: HashMap<SocketId, Socket>,
    entities: HashMap<Arc<str>, Vec<SocketId>>,
    /// Key, then value, then entity: how many of the entity's sockets have that pair.
    index: HashMap<String, HashMap<String, HashMap<Arc<str>, usize>>>,
    /// Room, then its sockets and their entities.
    rooms: HashMap<Arc<str>, BTreeMap<SocketId, Arc<str>>>,
}

#[derive(Debug)]
struct Socket {
    entity: Arc<str>,
    meta: PresenceMeta,
    rooms: Vec<Arc<str>>,
}

/// One registered socket, as the Redis backend writes it back after an outage.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct LocalSocket {
    pub(crate) namespace: String,
    pub(crate) socket_id: SocketId,
    pub(crate) entity_id: String,
    pub(crate) meta: PresenceMeta,
    pub(crate) rooms: Vec<String>,
}

impl Namespace {
    fn index(&mut self, entity: &Arc<str>, meta: &PresenceMeta) {
        for (key, value) in indexed_pairs(meta) {
            let values = self.index.entry(key.to_owned()).or_default();
            *values.entry(value.to_owned()).or_default().entry(Arc::clone(entity)).or_default() += 1;
        }
    }

    fn unindex(&mut self, entity: &str, meta: &PresenceMeta) {
        for (key, value) in indexed_pairs(meta) {
            let Some(values) = self.index.get_mut(key) else { continue };
            if let Some(entities) = values.get_mut(value) {
                if let Some(count) = entities.get_mut(entity) {
                    *count -= 1;
                    if *count == 0 {
                        entities.remove(entity);
                    }
                }
                if entities.is_empty() {
                    values.remove(value);
                }
            }
            if values.is_empty() {
                self.index.remove(key);
            }
        }
    }

    fn leave(&mut self, room: &str, socket_id: SocketId) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&socket_id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    fn indexed(&self, key: &str, value: &str) -> Option<&HashMap<Arc<str>, usize>> {
        self.index.get(key)?.get(value)
    }
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
        // Nobody listens: nothing to build.
        if self.inner.events.receiver_count() == 0 {
            return;
        }
        let event = PresenceEvent { namespace: namespace.into(), entity_id, status, origin: Origin::Local };
        // No subscriber is not an error.
        let _ = self.inner.events.send(event);
    }

    fn register_now(&self, entry: PresenceEntry<'_>) -> Result<bool, PresenceError> {
        check_meta(entry.meta)?;
        let came_online = {
            let mut namespaces = self.lock();
            if !namespaces.contains_key(entry.namespace) {
                namespaces.insert(entry.namespace.into(), Namespace::default());
            }
            let Some(ns) = namespaces.get_mut(entry.namespace) else { return Ok(false) };
            if ns.sockets.contains_key(&entry.socket_id) {
                return Ok(false);
            }
            let entity = match ns.entities.get_key_value(entry.entity_id) {
                Some((key, _)) => Arc::clone(key),
                None => Arc::from(entry.entity_id),
            };
            ns.index(&entity, entry.meta);
            let socket = Socket { entity: Arc::clone(&entity), meta: entry.meta.clone(), rooms: Vec::new() };
            ns.sockets.insert(entry.socket_id, socket);
            let sockets = ns.entities.entry(Arc::clone(&entity)).or_default();
            sockets.push(entry.socket_id);
            (sockets.len() == 1).then_some(entity)
        };
        Ok(match came_online {
            Some(entity) => {
                self.publish(entry.namespace, entity, PresenceStatus::Online);
                true
            }
            None => false,
        })
    }

    fn unregister_now(&self, entry: PresenceEntry<'_>) -> bool {
        let went_offline = {
            let mut namespaces = self.lock();
            let Some(ns) = namespaces.get_mut(entry.namespace) else { return false };
            let Some(socket) = ns.sockets.remove(&entry.socket_id) else { return false };
            ns.unindex(&socket.entity, &socket.meta);
            for room in &socket.rooms {
                ns.leave(room, entry.socket_id);
            }
            let last = match ns.entities.get_mut(&socket.entity) {
                Some(sockets) => {
                    sockets.retain(|id| *id != entry.socket_id);
                    sockets.is_empty()
                }
                None => false,
            };
            if last {
                ns.entities.remove(&socket.entity);
            }
            if ns.sockets.is_empty() {
                namespaces.remove(entry.namespace);
            }
            last.then_some(socket.entity)
        };
        match went_offline {
            Some(entity) => {
                self.publish(entry.namespace, entity, PresenceStatus::Offline);
                true
            }
            None => false,
        }
    }

    fn update_meta_now(&self, entry: PresenceEntry<'_>) -> Result<bool, PresenceError> {
        check_meta(entry.meta)?;
        let updated = {
            let mut namespaces = self.lock();
            let Some(ns) = namespaces.get_mut(entry.namespace) else { return Ok(false) };
            let Some(socket) = ns.sockets.get_mut(&entry.socket_id) else { return Ok(false) };
            let old = std::mem::replace(&mut socket.meta, entry.meta.clone());
            let entity = Arc::clone(&socket.entity);
            ns.unindex(&entity, &old);
            ns.index(&entity, entry.meta);
            entity
        };
        self.publish(entry.namespace, updated, PresenceStatus::Updated);
        Ok(true)
    }

    /// Every registered socket, with its meta and rooms.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn entries(&self) -> Vec<LocalSocket> {
        let namespaces = self.lock();
        namespaces
            .iter()
            .flat_map(|(ns, state)| {
                state.sockets.iter().map(|(id, socket)| LocalSocket {
                    namespace: ns.to_string(),
                    socket_id: *id,
                    entity_id: socket.entity.to_string(),
                    meta: socket.meta.clone(),
                    rooms: socket.rooms.iter().map(|room| room.to_string()).collect(),
                })
            })
            .collect()
    }

    /// Whether a socket of `entity_id` is registered here.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn holds_entity(&self, namespace: &str, entity_id: &str) -> bool {
        self.read(namespace, |ns| ns.entities.contains_key(entity_id), false)
    }

    /// Whether a socket registered here is in `room`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn holds_room(&self, namespace: &str, room: &str) -> bool {
        self.read(namespace, |ns| ns.rooms.contains_key(room), false)
    }

    /// The rooms a socket registered here is in.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn rooms_of(&self, namespace: &str, socket_id: SocketId) -> Vec<Arc<str>> {
        self.read(
            namespace,
            |ns| ns.sockets.get(&socket_id).map(|socket| socket.rooms.clone()).unwrap_or_default(),
            Vec::new(),
        )
    }

    fn read<T>(&self, namespace: &str, f: impl FnOnce(&Namespace) -> T, empty: T) -> T {
        self.lock().get(namespace).map_or(empty, f)
    }
}

/// Refuses a meta too big or too deep to keep; an empty one, the usual, is not encoded.
fn check_meta(meta: &PresenceMeta) -> Result<(), PresenceError> {
    if meta.is_empty() { Ok(()) } else { encode_meta(meta).map(drop) }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, Result<T, PresenceError>> {
    Box::pin(std::future::ready(Ok(value)))
}

impl PresenceStore for InMemoryPresence {
    fn register<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        Box::pin(std::future::ready(self.register_now(entry)))
    }

    fn unregister<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        ready(self.unregister_now(entry))
    }

    fn update_meta<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        Box::pin(std::future::ready(self.update_meta_now(entry)))
    }

    fn entity_of<'a>(
        &'a self,
        namespace: &'a str,
        socket_id: SocketId,
    ) -> BoxFuture<'a, Result<Option<String>, PresenceError>> {
        ready(self.read(namespace, |ns| ns.sockets.get(&socket_id).map(|socket| socket.entity.to_string()), None))
    }

    fn sockets_of<'a>(
        &'a self,
        namespace: &'a str,
        entity_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SocketId>, PresenceError>> {
        ready(self.read(namespace, |ns| ns.entities.get(entity_id).cloned().unwrap_or_default(), Vec::new()))
    }

    fn metas<'a>(
        &'a self,
        namespace: &'a str,
        entity_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(SocketId, PresenceMeta)>, PresenceError>> {
        let mut metas = self.read(
            namespace,
            |ns| {
                let ids = ns.entities.get(entity_id).map_or(&[][..], Vec::as_slice);
                ids.iter().filter_map(|id| Some((*id, ns.sockets.get(id)?.meta.clone()))).collect()
            },
            Vec::new(),
        );
        metas.sort_unstable_by_key(|(id, _)| *id);
        ready(metas)
    }

    fn online<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<String>, PresenceError>> {
        ready(sorted(self.read(namespace, |ns| ns.entities.keys().map(|id| id.to_string()).collect(), Vec::new())))
    }

    fn count<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<usize, PresenceError>> {
        ready(self.read(namespace, |ns| ns.entities.len(), 0))
    }

    fn online_page<'a>(
        &'a self,
        namespace: &'a str,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<OnlinePage, PresenceError>> {
        // Only the entities after the cursor are copied, and only a page of them is sorted.
        let after = |id: &&Arc<str>| cursor.is_none_or(|cursor| &***id > cursor);
        let ids =
            self.read(namespace, |ns| ns.entities.keys().filter(after).map(|id| id.to_string()).collect(), Vec::new());
        ready(page_after(ids, None, limit))
    }

    fn online_where<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, PresenceError>> {
        let ids = self.read(
            namespace,
            |ns| ns.indexed(key, value).map(|entities| entities.keys().map(|id| id.to_string()).collect()),
            None,
        );
        ready(sorted(ids.unwrap_or_default()))
    }

    fn count_where<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<usize, PresenceError>> {
        ready(self.read(namespace, |ns| ns.indexed(key, value).map_or(0, HashMap::len), 0))
    }

    fn join_room(&self, namespace: &str, socket_id: SocketId, room: &str) {
        let mut namespaces = self.lock();
        let Some(ns) = namespaces.get_mut(namespace) else { return };
        let Some(socket) = ns.sockets.get_mut(&socket_id) else { return };
        if socket.rooms.iter().any(|joined| **joined == *room) {
            return;
        }
        let room: Arc<str> = match ns.rooms.get_key_value(room) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(room),
        };
        socket.rooms.push(Arc::clone(&room));
        let entity = Arc::clone(&socket.entity);
        ns.rooms.entry(room).or_default().insert(socket_id, entity);
    }

    fn leave_room(&self, namespace: &str, socket_id: SocketId, room: &str) {
        let mut namespaces = self.lock();
        let Some(ns) = namespaces.get_mut(namespace) else { return };
        let Some(socket) = ns.sockets.get_mut(&socket_id) else { return };
        let before = socket.rooms.len();
        socket.rooms.retain(|joined| **joined != *room);
        if socket.rooms.len() != before {
            ns.leave(room, socket_id);
        }
    }

    fn room_members<'a>(
        &'a self,
        namespace: &'a str,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Vec<RoomMember>, PresenceError>> {
        ready(self.read(
            namespace,
            |ns| {
                let members = ns.rooms.get(room).into_iter().flatten();
                members.map(|(id, entity)| RoomMember { socket_id: *id, entity_id: entity.to_string() }).collect()
            },
            Vec::new(),
        ))
    }

    fn subscribe(&self) -> broadcast::Receiver<PresenceEvent> {
        self.inner.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry<'a>(namespace: &'a str, socket_id: SocketId, entity_id: &'a str) -> PresenceEntry<'a> {
        PresenceEntry { namespace, socket_id, entity_id, meta: super::super::no_meta() }
    }

    fn meta(value: serde_json::Value) -> PresenceMeta {
        value.as_object().cloned().expect("an object")
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
        assert_eq!((&*first.entity_id, first.status, first.origin), ("u1", PresenceStatus::Online, Origin::Local));
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

    #[tokio::test]
    async fn the_index_counts_sockets_per_entity_and_drops_emptied_entries() {
        let presence = InMemoryPresence::default();
        let (a, b, c) = (SocketId::next(), SocketId::next(), SocketId::next());
        let (acme, globex) = (meta(json!({"tenant": "acme", "n": 1})), meta(json!({"tenant": "globex"})));
        let with = |socket_id, entity_id, meta| PresenceEntry { namespace: "rider", socket_id, entity_id, meta };
        presence.register(with(a, "r1", &acme)).await.expect("ok");
        presence.register(with(b, "r1", &acme)).await.expect("ok");
        presence.register(with(c, "r2", &globex)).await.expect("ok");
        {
            let namespaces = presence.lock();
            let ns = namespaces.get("rider").expect("namespace");
            assert_eq!(ns.indexed("tenant", "acme").and_then(|e| e.get("r1")), Some(&2), "two sockets, one entity");
            assert!(!ns.index.contains_key("n"), "numbers are not indexed");
        }

        presence.unregister(with(a, "r1", &acme)).await.expect("ok");
        assert_eq!(presence.online_where("rider", "tenant", "acme").await.expect("ok"), ["r1"], "b still has it");
        assert!(presence.update_meta(with(b, "r1", &globex)).await.expect("ok"));
        assert_eq!(presence.online_where("rider", "tenant", "globex").await.expect("ok"), ["r1", "r2"]);
        assert_eq!(presence.count_where("rider", "tenant", "acme").await.expect("ok"), 0);
        {
            let namespaces = presence.lock();
            let values = namespaces.get("rider").and_then(|ns| ns.index.get("tenant")).expect("tenant index");
            assert!(!values.contains_key("acme"), "an emptied value leaves no entry");
        }

        presence.unregister(with(b, "r1", &globex)).await.expect("ok");
        presence.unregister(with(c, "r2", &globex)).await.expect("ok");
        assert!(presence.lock().is_empty(), "no index outlives its sockets");
    }

    #[tokio::test]
    async fn rooms_hold_registered_sockets_only_and_a_removed_socket_leaves_them() {
        let presence = InMemoryPresence::default();
        let (a, b, gone) = (SocketId::next(), SocketId::next(), SocketId::next());
        presence.register(entry("rider", a, "r1")).await.expect("ok");
        presence.register(entry("rider", b, "r2")).await.expect("ok");
        presence.join_room("rider", a, "order");
        presence.join_room("rider", a, "order");
        presence.join_room("rider", b, "order");
        presence.join_room("rider", gone, "order");
        let members = presence.room_members("rider", "order").await.expect("ok");
        let mut expected = vec![
            RoomMember { socket_id: a, entity_id: "r1".into() },
            RoomMember { socket_id: b, entity_id: "r2".into() },
        ];
        expected.sort();
        assert_eq!(members, expected, "once each, and not the unregistered socket");

        presence.leave_room("rider", b, "order");
        presence.unregister(entry("rider", a, "r1")).await.expect("ok");
        assert!(presence.room_members("rider", "order").await.expect("ok").is_empty());
        assert!(presence.lock().get("rider").is_some_and(|ns| ns.rooms.is_empty()), "an emptied room is removed");
    }

    #[tokio::test]
    async fn pages_walk_every_online_entity_once_in_order() {
        let presence = InMemoryPresence::default();
        let ids: Vec<String> = (0..250).map(|i| format!("u{i:03}")).collect();
        for id in &ids {
            presence.register(entry("user", SocketId::next(), id)).await.expect("registered");
        }
        let (mut walked, mut cursor, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = presence.online_page("user", cursor.as_deref(), 100).await.expect("a page");
            assert!(page.entities.len() <= 100);
            walked.extend(page.entities);
            pages += 1;
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!((walked, pages), (ids, 3));
        let empty = presence.online_page("nobody", None, 10).await.expect("a page");
        assert_eq!(empty, OnlinePage::default());
    }

    #[tokio::test]
    async fn a_meta_over_the_limit_is_refused_and_nothing_is_registered() {
        let presence = InMemoryPresence::default();
        let big = meta(json!({"note": "x".repeat(super::super::MAX_META_BYTES)}));
        let id = SocketId::next();
        let refused =
            presence.register(PresenceEntry { namespace: "rider", socket_id: id, entity_id: "r1", meta: &big });
        assert!(matches!(refused.await, Err(PresenceError::MetaTooLarge(size)) if size > 4096));
        assert_eq!(presence.count("rider").await.expect("ok"), 0);

        let nested = |levels: usize| {
            let inner = (1..levels).fold(json!(1), |value, _| json!([value]));
            meta(json!({"deep": inner}))
        };
        let (deepest, too_deep) = (nested(super::super::MAX_META_DEPTH), nested(super::super::MAX_META_DEPTH + 1));
        let entry = |meta| PresenceEntry { namespace: "rider", socket_id: id, entity_id: "r1", meta };
        assert!(presence.register(entry(&deepest)).await.expect("64 levels, the meta included"));
        assert_eq!(presence.update_meta(entry(&too_deep)).await, Err(PresenceError::MetaTooDeep));
        assert_eq!(presence.metas("rider", "r1").await.expect("ok"), [(id, deepest)], "the meta is unchanged");
    }
}
