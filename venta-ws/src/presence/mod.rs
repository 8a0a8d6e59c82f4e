//! Presence: which sockets belong to which entity, which entities are online, what each socket
//! says about itself, and who is in which room (the NestJS `PresenceService` analog).
//!
//! An entity (a user, a vendor) is online in a namespace from the registration of its first
//! socket to the removal of its last, however many tabs or devices it connects from. The
//! module registers a socket before the gateway's `on_connect` runs and removes it after
//! `on_disconnect`, also when a hook fails or panics.
//!
//! # Meta
//!
//! Each socket carries a [`PresenceMeta`], a JSON object, as Phoenix Presence's metas do: the
//! gateway's [`presence_meta`](crate::GatewayHandlers::presence_meta) hook sets it from the
//! verified identity before the socket is registered, so the online event and the indexes are
//! right from the start, and [`AuthenticatedSocket::set_presence_meta`] replaces it later (an
//! [`PresenceStatus::Updated`] event follows). [`PresenceStore::metas`] lists the metas of an
//! entity's sockets.
//!
//! Top-level **string** values are indexed: `{"tenant": "acme"}` puts the entity under
//! `tenant = acme`, so [`PresenceStore::online_where`] and [`PresenceStore::count_where`] read
//! one index instead of scanning every socket. Everything else (numbers, booleans, arrays,
//! nested objects, and keys holding the control character U+001F, which the Redis index keys
//! use as a separator) is kept but not indexed. Put what changes often there (a counter, a
//! position, a "last active" time, as a number or inside an object): every change of an
//! indexed pair moves the entity between two indexes. A meta takes at most [`MAX_META_BYTES`]
//! as JSON and nests at most [`MAX_META_DEPTH`] levels; a bigger or deeper one is refused
//! ([`PresenceError::MetaTooLarge`], [`PresenceError::MetaTooDeep`]).
//!
//! # Origins: acting once per cluster
//!
//! Every node's [`PresenceStore::subscribe`] sees every change in the cluster, so a listener
//! that sends a notification for each `Online` runs on every node. A [`PresenceEvent`] says
//! where the change was made in its [`origin`](PresenceEvent::origin): exactly one node is
//! the origin of each change (the node that registered, updated or removed the socket, or the
//! first node to remove a crashed node's sockets). **To act once per cluster, act on the
//! events whose origin is this node**: [`PresenceStore::subscribe_local`] delivers only those.
//! With [`InMemoryPresence`] every event is local.
//!
//! # Room presence
//!
//! A room a socket joins ([`AuthenticatedSocket::join`], or from the server with
//! [`Namespace::add_to_room`](crate::Namespace::add_to_room)) is recorded in presence too, so
//! [`PresenceStore::room_members`] and
//! [`Namespace::online_in_room`](crate::Namespace::online_in_room) answer for every node. A
//! join stays synchronous: a shared store applies room writes in order, after the socket's
//! registration, and only while the socket is registered, and removing a socket removes it
//! from every room, so a join racing a disconnect leaves nothing behind. A namespace delivers
//! room emits from its own registry; presence answers who is in a room.
//!
//! ```
//! use serde_json::json;
//! use venta_ws::presence::{InMemoryPresence, PresenceEntry, PresenceMeta, PresenceStatus, PresenceStore};
//! use venta_ws::SocketId;
//!
//! # tokio_test_block_on(async {
//! let presence = InMemoryPresence::default();
//! let mut once = presence.subscribe_local();
//! let meta = |tenant: &str| json!({"tenant": tenant, "battery": 80}).as_object().cloned().unwrap_or_default();
//! let (phone, laptop) = (SocketId::next(), SocketId::next());
//! let (acme, globex, none) = (meta("acme"), meta("globex"), PresenceMeta::new());
//! let entry = |socket_id, meta| PresenceEntry { namespace: "rider", socket_id, entity_id: "r1", meta };
//!
//! presence.register(entry(phone, &acme)).await?;
//! presence.register(entry(laptop, &globex)).await?;
//! assert_eq!(presence.online_where("rider", "tenant", "acme").await?, ["r1"]);
//! assert_eq!(presence.count_where("rider", "battery", "80").await?, 0, "numbers are not indexed");
//! assert_eq!(presence.metas("rider", "r1").await?.len(), 2);
//!
//! presence.join_room("rider", phone, "order-17");
//! assert_eq!(presence.room_members("rider", "order-17").await?[0].entity_id, "r1");
//!
//! presence.update_meta(entry(laptop, &none)).await?;
//! assert_eq!(presence.count_where("rider", "tenant", "globex").await?, 0);
//! presence.unregister(entry(phone, &acme)).await?;
//! assert!(presence.room_members("rider", "order-17").await?.is_empty(), "a removed socket leaves its rooms");
//!
//! let event = once.recv().await?;
//! assert_eq!((&*event.entity_id, event.status, event.origin.is_local()), ("r1", PresenceStatus::Online, true));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! [`AuthenticatedSocket::set_presence_meta`]: crate::AuthenticatedSocket::set_presence_meta
//! [`AuthenticatedSocket::join`]: crate::AuthenticatedSocket::join

mod memory;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

pub use memory::InMemoryPresence;

use crate::id::SocketId;

/// A boxed future, as returned by [`PresenceStore`] methods so the store can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one socket says about itself in presence, like Phoenix Presence's metas: top-level
/// string values are indexed for [`PresenceStore::online_where`], the rest is only kept.
pub type PresenceMeta = serde_json::Map<String, serde_json::Value>;

/// The most a socket's [`PresenceMeta`] may take, encoded as JSON: 4 KiB.
pub const MAX_META_BYTES: usize = 4096;

/// How deep a socket's [`PresenceMeta`] may nest, the meta itself being level 1: 64, so that
/// every backend reads it back (serde_json stops at 128 levels).
pub const MAX_META_DEPTH: usize = 64;

/// One socket of one entity in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceEntry<'a> {
    /// The gateway's namespace.
    pub namespace: &'a str,
    /// The socket.
    pub socket_id: SocketId,
    /// The entity the socket belongs to.
    pub entity_id: &'a str,
    /// The socket's meta: read by `register` and `update_meta`, ignored by `unregister`.
    pub meta: &'a PresenceMeta,
}

/// What changed about an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceStatus {
    /// Its first socket was registered.
    Online,
    /// Its last socket was removed.
    Offline,
    /// The meta of one of its sockets was replaced.
    Updated,
}

/// Where a presence change was made.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// On this node: it registered, updated or removed the socket, or removed the sockets of
    /// a node that stopped.
    Local,
    /// On another node, with this id.
    Node(Arc<str>),
}

impl Origin {
    /// Whether this node made the change: exactly one node of the cluster sees each change as
    /// local.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local)
    }
}

/// A change in presence, as delivered by [`PresenceStore::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PresenceEvent {
    /// The namespace the change happened in.
    pub namespace: Arc<str>,
    /// The entity that came online, went offline or was updated.
    pub entity_id: Arc<str>,
    /// Which of the three.
    pub status: PresenceStatus,
    /// Where the change was made.
    pub origin: Origin,
}

/// A socket in a room, as [`PresenceStore::room_members`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomMember {
    /// The socket.
    pub socket_id: SocketId,
    /// The entity it belongs to.
    pub entity_id: String,
}

/// One page of the entities online in a namespace, from [`PresenceStore::online_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnlinePage {
    /// The entities of this page.
    pub entities: Vec<String>,
    /// Where the next page starts; `None` once the walk is done.
    pub next: Option<String>,
}

/// A presence store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// The backend cannot be reached or answered with an error.
    #[error("presence backend unavailable: {0}")]
    Unavailable(String),
    /// A meta takes this many bytes as JSON, more than [`MAX_META_BYTES`].
    #[error("presence meta takes {0} bytes as JSON, more than the {MAX_META_BYTES} allowed")]
    MetaTooLarge(usize),
    /// A meta nests arrays and objects deeper than [`MAX_META_DEPTH`] levels.
    #[error("presence meta nests deeper than the {MAX_META_DEPTH} levels allowed")]
    MetaTooDeep,
}

/// An empty meta, for an entry whose meta is not read (`unregister`).
pub(crate) fn no_meta() -> &'static PresenceMeta {
    static NONE: LazyLock<PresenceMeta> = LazyLock::new(PresenceMeta::new);
    &NONE
}

/// A meta as JSON, or why it is refused.
pub(crate) fn encode_meta(meta: &PresenceMeta) -> Result<String, PresenceError> {
    fn too_deep<'a>(mut values: impl Iterator<Item = &'a serde_json::Value>, room: usize) -> bool {
        values.any(|value| match value {
            serde_json::Value::Array(items) => room == 0 || too_deep(items.iter(), room - 1),
            serde_json::Value::Object(fields) => room == 0 || too_deep(fields.values(), room - 1),
            _ => false,
        })
    }
    if too_deep(meta.values(), MAX_META_DEPTH - 1) {
        return Err(PresenceError::MetaTooDeep);
    }
    // A map of strings to JSON values always serializes.
    let json = serde_json::to_string(meta).unwrap_or_default();
    if json.len() > MAX_META_BYTES {
        return Err(PresenceError::MetaTooLarge(json.len()));
    }
    Ok(json)
}

/// The `(key, value)` pairs of a meta that are indexed: its top-level string values, under
/// keys without U+001F. The Redis scripts (`redis/scripts.rs`, `each_indexed`) apply the
/// same rule.
pub(crate) fn indexed_pairs(meta: &PresenceMeta) -> impl Iterator<Item = (&str, &str)> {
    meta.iter()
        .filter(|(key, _)| !key.contains('\u{1f}'))
        .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)))
}

/// Entity ids in order, as the stores list them.
/// The page of at most `limit` (at least 1) of `ids` that follow `after`, sorted.
pub(crate) fn page_after(mut ids: Vec<String>, after: Option<&str>, limit: usize) -> OnlinePage {
    let limit = limit.max(1);
    if let Some(after) = after {
        ids.retain(|id| id.as_str() > after);
    }
    if ids.len() > limit {
        ids.select_nth_unstable(limit);
        ids.truncate(limit);
        ids.sort_unstable();
        let next = ids.last().cloned();
        return OnlinePage { entities: ids, next };
    }
    ids.sort_unstable();
    OnlinePage { entities: ids, next: None }
}

pub(crate) fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_unstable();
    ids
}

/// A presence store that fails is the server's failure: `internal`, its text logged.
impl From<PresenceError> for crate::error::GatewayError {
    fn from(error: PresenceError) -> Self {
        Self::internal(error)
    }
}

/// Where presence is kept: [`InMemoryPresence`] for one node, or a shared backend for many.
///
/// Implementations must make `register` and `unregister` idempotent, must report an entity
/// online exactly while at least one of its sockets is registered, and must keep metas, their
/// indexes and room memberships only for registered sockets.
pub trait PresenceStore: Send + Sync + 'static {
    /// Registers a socket with its meta; resolves to `true` when this made its entity come
    /// online. A meta over [`MAX_META_BYTES`] is refused.
    fn register<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>>;

    /// Removes a socket, its meta and its room memberships; resolves to `true` when this made
    /// its entity go offline.
    fn unregister<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>>;

    /// Replaces a registered socket's meta and announces [`PresenceStatus::Updated`]; resolves
    /// to `false`, changing nothing, when the socket is not registered.
    fn update_meta<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>>;

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

    /// The meta of each socket of one entity, by socket id (Phoenix Presence's `list`).
    fn metas<'a>(
        &'a self,
        namespace: &'a str,
        entity_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(SocketId, PresenceMeta)>, PresenceError>>;

    /// The entities online in a namespace, sorted.
    fn online<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<String>, PresenceError>>;

    /// How many entities are online in a namespace.
    fn count<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<usize, PresenceError>>;

    /// A page of about `limit` entities online in a namespace, starting at `cursor` (`None` for
    /// the first page, then the page's [`next`](OnlinePage::next)), so that a large namespace
    /// is walked without moving it whole through one call. An entity online for the whole walk
    /// is listed at least once; one that comes or goes meanwhile may or may not be. In memory
    /// the pages are sorted and exact; the Redis store walks its set with `SSCAN`, whose pages
    /// are unordered, about `limit` long, and may list an entity twice.
    ///
    /// The default pages over [`online`](Self::online), for stores that have nothing better.
    fn online_page<'a>(
        &'a self,
        namespace: &'a str,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<OnlinePage, PresenceError>> {
        Box::pin(async move { Ok(page_after(self.online(namespace).await?, cursor, limit)) })
    }

    /// The entities with a socket whose meta holds the string `value` at `key`, sorted: one
    /// index read, not a scan.
    fn online_where<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, PresenceError>>;

    /// How many entities [`online_where`](Self::online_where) would list.
    fn count_where<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<usize, PresenceError>>;

    /// Records that a registered socket joined a room. Synchronous: a shared store applies
    /// it later, in order with the socket's other room writes, and not once the socket is
    /// removed.
    fn join_room(&self, namespace: &str, socket_id: SocketId, room: &str);

    /// Records that a socket left a room, as [`join_room`](Self::join_room) does.
    fn leave_room(&self, namespace: &str, socket_id: SocketId, room: &str);

    /// The sockets in a room, sorted by socket id.
    fn room_members<'a>(
        &'a self,
        namespace: &'a str,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Vec<RoomMember>, PresenceError>>;

    /// A stream of every presence change in the cluster, from now on, on every node. A
    /// receiver that falls more than its channel's capacity behind gets `RecvError::Lagged`
    /// and can resynchronise with [`PresenceStore::online`].
    fn subscribe(&self) -> broadcast::Receiver<PresenceEvent>;

    /// The changes this node made ([`Origin::Local`]): each change in the cluster reaches the
    /// listeners of exactly one node, so what they do happens once per cluster.
    fn subscribe_local(&self) -> LocalEvents {
        LocalEvents { events: self.subscribe() }
    }
}

impl fmt::Debug for dyn PresenceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresenceStore")
    }
}

/// The presence changes made on this node, from [`PresenceStore::subscribe_local`]: across the
/// cluster, each change is delivered to one node's receivers only.
#[derive(Debug)]
pub struct LocalEvents {
    events: broadcast::Receiver<PresenceEvent>,
}

impl LocalEvents {
    /// Changes made on this node, read from `events` (which may carry other nodes' too).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn new(events: broadcast::Receiver<PresenceEvent>) -> Self {
        Self { events }
    }

    /// The next change made on this node; errors as [`broadcast::Receiver::recv`] does.
    pub async fn recv(&mut self) -> Result<PresenceEvent, RecvError> {
        loop {
            let event = self.events.recv().await?;
            if event.origin.is_local() {
                return Ok(event);
            }
        }
    }

    /// The next change made on this node if one is waiting; errors as
    /// [`broadcast::Receiver::try_recv`] does.
    pub fn try_recv(&mut self) -> Result<PresenceEvent, TryRecvError> {
        loop {
            let event = self.events.try_recv()?;
            if event.origin.is_local() {
                return Ok(event);
            }
        }
    }
}
