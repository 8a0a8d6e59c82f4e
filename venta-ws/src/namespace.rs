//! Namespaces: the sockets of one gateway on this node, rooms, and emitting to them.
//!
//! The registry here is the source of local delivery: an emit reaches the sockets it names
//! on this node, and is published to the other nodes, which deliver it to theirs. Rooms are
//! kept both here, for delivery, and in presence, so that who is in a room can be asked of
//! any node. Room changes the server makes ([`Namespace::add_to_room`] and its kin) travel
//! like emits: applied here, then published, and each node applies them to its own sockets,
//! which write them to presence.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::close::{CloseCode, Closure};
use crate::cluster::{Action, Cluster, ClusterMessage, Target};
use crate::config::{GatewayDescriptor, SocketConfig};
use crate::id::SocketId;
use crate::presence::{OnlinePage, PresenceError, PresenceMeta, PresenceStore, RoomMember};
use crate::protocol;
use crate::socket::{EmitError, SocketCore};
use crate::state::ModuleState;

/// A handle to one gateway's namespace: emit to its sockets, read its presence, disconnect
/// entities. Cheap to clone; get one from a socket ([`AuthenticatedSocket::namespace`]) or
/// from the module's [`Hub`](crate::Hub).
///
/// Emitting serializes the event once and queues the same frame on every socket it reaches.
///
/// # Rooms from the server
///
/// Sockets join rooms themselves ([`AuthenticatedSocket::join`]), or the application puts
/// them in and takes them out: an HTTP route that reassigns an order calls
/// [`add_entity_to_room`](Self::add_entity_to_room) on the namespace of the module's
/// [`Hub`](crate::Hub). Each room change applies to this node's sockets at once and is
/// published to the other nodes, as emits are, so the sockets are in the room on every
/// node; an emit made after it is delivered after it. [`room_members`](Self::room_members)
/// and [`online_in_room`](Self::online_in_room) read presence, so with a shared store they
/// answer for every node.
///
/// ```
/// use venta_ws::prelude::*;
///
/// #[derive(WebSocketGateway)]
/// #[gateway(namespace = "rider", auth = Jwt)]
/// struct RiderGateway;
///
/// #[venta_ws::messages]
/// impl RiderGateway {}
///
/// # #[cfg(not(feature = "testing"))]
/// # fn main() {}
/// # #[cfg(feature = "testing")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use venta_ws::testing;
/// let module = WebSocketModule::builder()
///     .jwt(JwtConfig::hs256("unused in tests, but 32 bytes or more"))
///     .gateway(RiderGateway)
///     .build()?;
/// let mut rider = testing::connect::<RiderGateway>(&module, testing::identity("r1")).await?;
///
/// // What an HTTP route does when order 17 goes to rider r1, on whichever node r1 is.
/// let hub = module.hub();
/// let riders = hub.namespace("rider").expect("the gateway is mounted");
/// riders.add_entity_to_room("r1", "order-17");
/// riders.emit_to_room("order-17", "order.assigned", &17)?;
/// assert_eq!(rider.recv().await?.event, "order.assigned");
/// assert_eq!(riders.online_in_room("order-17").await?, ["r1"]);
///
/// riders.remove_entity_from_room("r1", "order-17");
/// assert!(riders.room_members("order-17").await?.is_empty());
/// # Ok(())
/// # }
/// ```
///
/// [`AuthenticatedSocket::namespace`]: crate::AuthenticatedSocket::namespace
/// [`AuthenticatedSocket::join`]: crate::AuthenticatedSocket::join
#[derive(Clone)]
pub struct Namespace {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    path: String,
    entity_type: &'static str,
    presence: Arc<dyn PresenceStore>,
    cluster: Option<Arc<dyn Cluster>>,
    state: Arc<ModuleState>,
    /// This gateway's limits.
    config: SocketConfig,
    registry: RwLock<Registry>,
    /// The gateway's type, so a lookup by type finds only its own namespace.
    gateway: TypeId,
    /// Every namespace of the module, once it is built: weak, since the module's namespaces
    /// hold this one. The gateway's runtime keeps them alive while it serves sockets.
    module: OnceLock<Weak<BTreeMap<String, Namespace>>>,
}

#[derive(Default)]
struct Registry {
    sockets: HashMap<SocketId, Arc<SocketCore>>,
    entities: HashMap<Arc<str>, Vec<SocketId>>,
    rooms: HashMap<Arc<str>, HashSet<SocketId>>,
}

/// Keeps a socket in its namespace's registry; dropping it removes the socket from the
/// registry and from every room, whatever way the connection ends.
pub(crate) struct Attachment {
    namespace: Namespace,
    core: Arc<SocketCore>,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.namespace.detach(&self.core);
        self.namespace.inner.state.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Namespace {
    pub(crate) fn new(
        gateway: TypeId,
        descriptor: &GatewayDescriptor,
        presence: Arc<dyn PresenceStore>,
        cluster: Option<Arc<dyn Cluster>>,
        state: Arc<ModuleState>,
        config: SocketConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: Arc::from(descriptor.namespace),
                path: descriptor.path.to_owned(),
                entity_type: descriptor.entity_type,
                presence,
                cluster,
                state,
                config,
                registry: RwLock::new(Registry::default()),
                gateway,
                module: OnceLock::new(),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        // Every critical section leaves the maps consistent, so a poisoned lock is still valid.
        self.inner.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.inner.registry.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The namespace's name, such as `user`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The path the gateway is mounted at, such as `/user`.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The entity type of the gateway's sockets, such as `User`.
    pub fn entity_type(&self) -> &'static str {
        self.inner.entity_type
    }

    /// This gateway's limits.
    pub fn config(&self) -> &SocketConfig {
        &self.inner.config
    }

    /// Whether this is the namespace of gateway type `gateway`.
    pub(crate) fn is_of(&self, gateway: TypeId) -> bool {
        self.inner.gateway == gateway
    }

    /// Every namespace of the module, when it is still served.
    pub(crate) fn module(&self) -> Option<Arc<BTreeMap<String, Namespace>>> {
        self.inner.module.get().and_then(Weak::upgrade)
    }

    /// Remembers every namespace of the module, once it is built.
    pub(crate) fn set_module(&self, namespaces: &Arc<BTreeMap<String, Namespace>>) {
        let _ = self.inner.module.set(Arc::downgrade(namespaces));
    }

    /// The cluster transport this namespace publishes to, if any.
    pub(crate) fn cluster(&self) -> Option<&Arc<dyn Cluster>> {
        self.inner.cluster.as_ref()
    }

    /// What every gateway of the module shares.
    pub(crate) fn state(&self) -> &Arc<ModuleState> {
        &self.inner.state
    }

    /// The presence store behind this namespace.
    pub fn presence(&self) -> &Arc<dyn PresenceStore> {
        &self.inner.presence
    }

    /// The entities online in this namespace (on every node, with a shared presence store).
    pub async fn online(&self) -> Result<Vec<String>, PresenceError> {
        self.inner.presence.online(&self.inner.name).await
    }

    /// How many entities are online in this namespace.
    pub async fn online_count(&self) -> Result<usize, PresenceError> {
        self.inner.presence.count(&self.inner.name).await
    }

    /// A page of about `limit` entities online in this namespace, for walking a large one:
    /// start with `None`, then pass each page's `next` until it is `None`
    /// ([`PresenceStore::online_page`] says what a walk guarantees).
    ///
    /// ```no_run
    /// # async fn walk(users: &venta_ws::Namespace) -> Result<(), venta_ws::presence::PresenceError> {
    /// let mut cursor = None;
    /// loop {
    ///     let page = users.online_page(cursor.as_deref(), 500).await?;
    ///     for entity in &page.entities {
    ///         println!("{entity} is online");
    ///     }
    ///     match page.next {
    ///         Some(next) => cursor = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn online_page(&self, cursor: Option<&str>, limit: usize) -> Result<OnlinePage, PresenceError> {
        self.inner.presence.online_page(&self.inner.name, cursor, limit).await
    }

    /// Whether an entity has at least one socket in this namespace.
    pub async fn is_online(&self, entity_id: &str) -> Result<bool, PresenceError> {
        Ok(!self.inner.presence.sockets_of(&self.inner.name, entity_id).await?.is_empty())
    }

    /// The meta of each socket of one entity, by socket id (Phoenix Presence's `list`).
    pub async fn metas(&self, entity_id: &str) -> Result<Vec<(SocketId, PresenceMeta)>, PresenceError> {
        self.inner.presence.metas(&self.inner.name, entity_id).await
    }

    /// The entities with a socket whose meta holds the string `value` at `key`, sorted, such
    /// as who is online in a tenant: `online_where("tenant", "acme")`.
    pub async fn online_where(&self, key: &str, value: &str) -> Result<Vec<String>, PresenceError> {
        self.inner.presence.online_where(&self.inner.name, key, value).await
    }

    /// How many entities [`online_where`](Self::online_where) would list.
    pub async fn count_where(&self, key: &str, value: &str) -> Result<usize, PresenceError> {
        self.inner.presence.count_where(&self.inner.name, key, value).await
    }

    /// The sockets in a room, on every node with a shared presence store, sorted by socket id.
    pub async fn room_members(&self, room: &str) -> Result<Vec<RoomMember>, PresenceError> {
        self.inner.presence.room_members(&self.inner.name, room).await
    }

    /// The entities with a socket in a room, sorted.
    pub async fn online_in_room(&self, room: &str) -> Result<Vec<String>, PresenceError> {
        let mut entities: Vec<String> =
            self.room_members(room).await?.into_iter().map(|member| member.entity_id).collect();
        entities.sort_unstable();
        entities.dedup();
        Ok(entities)
    }

    /// How many sockets are connected to this namespace on this node.
    pub fn local_socket_count(&self) -> usize {
        self.read().sockets.len()
    }

    /// The sockets of one entity connected to this namespace on this node.
    pub fn local_sockets_of(&self, entity_id: &str) -> Vec<SocketId> {
        self.read().entities.get(entity_id).cloned().unwrap_or_default()
    }

    /// Sends an event to every socket of the namespace, on every node; returns how many
    /// sockets of this node were reached.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<usize, EmitError> {
        self.send(Target::All, event, data)
    }

    /// Sends an event to every socket but one.
    pub fn emit_except<T: Serialize + ?Sized>(
        &self,
        except: SocketId,
        event: &str,
        data: &T,
    ) -> Result<usize, EmitError> {
        self.send(Target::Except(except.to_string()), event, data)
    }

    /// Sends an event to every socket of one entity (all its tabs and devices, on every node).
    pub fn emit_to_entity<T: Serialize + ?Sized>(
        &self,
        entity_id: &str,
        event: &str,
        data: &T,
    ) -> Result<usize, EmitError> {
        self.send(Target::Entity(entity_id.to_owned()), event, data)
    }

    /// Sends an event to every socket in a room, on every node.
    pub fn emit_to_room<T: Serialize + ?Sized>(&self, room: &str, event: &str, data: &T) -> Result<usize, EmitError> {
        self.send(Target::Room(room.to_owned()), event, data)
    }

    /// Sends an event to every socket in a room but one (socket.io's
    /// `socket.to(room).emit(..)` from the server), on every node.
    pub fn emit_to_room_except<T: Serialize + ?Sized>(
        &self,
        room: &str,
        except: SocketId,
        event: &str,
        data: &T,
    ) -> Result<usize, EmitError> {
        self.send(Target::RoomExcept { room: room.to_owned(), except: except.to_string() }, event, data)
    }

    /// Sends an event to one socket, wherever it is connected; `Ok(true)` when it is
    /// connected to this node.
    pub fn emit_to_socket<T: Serialize + ?Sized>(
        &self,
        socket_id: SocketId,
        event: &str,
        data: &T,
    ) -> Result<bool, EmitError> {
        self.send(Target::Socket(socket_id.to_string()), event, data).map(|reached| reached == 1)
    }

    /// Encodes once, delivers here, and publishes to the other nodes.
    fn send<T: Serialize + ?Sized>(&self, target: Target, event: &str, data: &T) -> Result<usize, EmitError> {
        let frame = protocol::encode(event, data, None)?;
        let reached = self.deliver_local(&target, &frame);
        self.publish(target, reached, || Action::Emit { frame: frame.as_str().to_owned() });
        Ok(reached)
    }

    /// Publishes to the other nodes what was done for `target` here, to `local` sockets: all
    /// of it, unless it was for one socket and that socket is here.
    fn publish(&self, target: Target, local: usize, action: impl FnOnce() -> Action) {
        if matches!(target, Target::Socket(_)) && local > 0 {
            return;
        }
        if let Some(cluster) = &self.inner.cluster {
            cluster.publish(ClusterMessage { namespace: self.inner.name.to_string(), target, action: action() });
        }
    }

    /// The local sockets `target` names, under the registry's read lock.
    fn for_each_target(&self, target: &Target, mut apply: impl FnMut(&Arc<SocketCore>) -> bool) -> usize {
        let registry = self.read();
        let mut count = 0;
        let mut visit = |core: &Arc<SocketCore>| count += usize::from(apply(core));
        match target {
            Target::All => registry.sockets.values().for_each(visit),
            Target::Except(except) => {
                let except = except.parse::<SocketId>().ok();
                registry.sockets.values().filter(|core| Some(core.id) != except).for_each(visit);
            }
            Target::Entity(entity) => {
                let ids = registry.entities.get(entity.as_str()).map_or(&[][..], Vec::as_slice);
                ids.iter().filter_map(|id| registry.sockets.get(id)).for_each(visit);
            }
            Target::Room(room) => {
                if let Some(members) = registry.rooms.get(room.as_str()) {
                    members.iter().filter_map(|id| registry.sockets.get(id)).for_each(visit);
                }
            }
            Target::RoomExcept { room, except } => {
                let except = except.parse::<SocketId>().ok();
                if let Some(members) = registry.rooms.get(room.as_str()) {
                    let others = members.iter().filter(|id| Some(**id) != except);
                    others.filter_map(|id| registry.sockets.get(id)).for_each(visit);
                }
            }
            Target::Socket(id) => {
                if let Some(core) = id.parse::<SocketId>().ok().and_then(|id| registry.sockets.get(&id)) {
                    visit(core);
                }
            }
        }
        count
    }

    fn deliver_local(&self, target: &Target, frame: &Utf8Bytes) -> usize {
        self.for_each_target(target, |core| core.deliver(frame.clone()))
    }

    fn disconnect_local(&self, target: &Target, closure: &Closure) -> usize {
        self.for_each_target(target, |core| {
            core.close(closure.clone());
            true
        })
    }

    /// Carries out a message another node published.
    pub(crate) fn apply(&self, message: &ClusterMessage) {
        match &message.action {
            Action::Emit { frame } => {
                self.deliver_local(&message.target, &Utf8Bytes::from(frame.as_str()));
            }
            Action::Disconnect { code } => {
                self.disconnect_local(&message.target, &Closure::relayed(*code));
            }
            Action::Join { room } => {
                self.move_local(&message.target, room, true);
            }
            Action::Leave { room } => {
                self.move_local(&message.target, room, false);
            }
        }
    }

    /// Puts the local sockets `target` names into `room` or takes them out of it; returns how
    /// many there were.
    fn move_local(&self, target: &Target, room: &str, join: bool) -> usize {
        let mut cores = Vec::new();
        // Collected first: joining takes the registry's write lock.
        self.for_each_target(target, |core| {
            cores.push(Arc::clone(core));
            true
        });
        for core in &cores {
            if join {
                self.join(core, room);
            } else {
                self.leave(core, room);
            }
        }
        cores.len()
    }

    /// Applies a room change here and publishes it to the other nodes.
    fn move_to(&self, target: Target, room: &str, join: bool) -> usize {
        let moved = self.move_local(&target, room, join);
        let room = room.to_owned();
        self.publish(target, moved, || if join { Action::Join { room } } else { Action::Leave { room } });
        moved
    }

    /// Puts one socket into a room, wherever it is connected; `true` when it is connected to
    /// this node.
    pub fn add_to_room(&self, socket_id: SocketId, room: &str) -> bool {
        self.move_to(Target::Socket(socket_id.to_string()), room, true) == 1
    }

    /// Takes one socket out of a room, wherever it is connected; `true` when it is connected
    /// to this node.
    pub fn remove_from_room(&self, socket_id: SocketId, room: &str) -> bool {
        self.move_to(Target::Socket(socket_id.to_string()), room, false) == 1
    }

    /// Puts every socket of one entity into a room, on every node; returns how many of them
    /// are connected to this node. Sockets the entity opens later are not in the room.
    pub fn add_entity_to_room(&self, entity_id: &str, room: &str) -> usize {
        self.move_to(Target::Entity(entity_id.to_owned()), room, true)
    }

    /// Takes every socket of one entity out of a room, on every node; returns how many of them
    /// are connected to this node.
    pub fn remove_entity_from_room(&self, entity_id: &str, room: &str) -> usize {
        self.move_to(Target::Entity(entity_id.to_owned()), room, false)
    }

    /// Closes every socket of one entity with `code`, on every node; returns how many were
    /// closed on this node.
    pub fn disconnect_entity(&self, entity_id: &str, code: CloseCode) -> usize {
        let target = Target::Entity(entity_id.to_owned());
        let closed = self.disconnect_local(&target, &Closure::requested(code));
        self.publish(target, closed, || Action::Disconnect { code: code.code() });
        closed
    }

    /// Closes one socket with `code`, wherever it is connected; `true` when it was on this node.
    pub fn disconnect_socket(&self, socket_id: SocketId, code: CloseCode) -> bool {
        let target = Target::Socket(socket_id.to_string());
        let closed = self.disconnect_local(&target, &Closure::requested(code));
        self.publish(target, closed, || Action::Disconnect { code: code.code() });
        closed == 1
    }

    /// The rooms of this namespace on this node, with how many sockets each holds.
    pub fn rooms(&self) -> BTreeMap<String, usize> {
        self.read().rooms.iter().map(|(room, members)| (room.to_string(), members.len())).collect()
    }

    /// Registers a socket here, within the module's connection limits.
    pub(crate) fn attach(&self, core: Arc<SocketCore>) -> Result<Attachment, Closure> {
        let mut registry = self.write();
        let entity_sockets = registry.entities.get(&core.entity_id).map_or(0, Vec::len);
        if entity_sockets >= self.inner.config.max_connections_per_entity {
            return Err(Closure::EntityLimit);
        }
        let connections = &self.inner.state.connections;
        if connections.fetch_add(1, Ordering::AcqRel) >= self.inner.state.config.max_connections {
            connections.fetch_sub(1, Ordering::AcqRel);
            return Err(Closure::ModuleLimit);
        }
        registry.entities.entry(Arc::clone(&core.entity_id)).or_default().push(core.id);
        registry.sockets.insert(core.id, Arc::clone(&core));
        drop(registry);
        Ok(Attachment { namespace: self.clone(), core })
    }

    /// Closes every socket for `closure`, a batch at a time so a very large namespace does not
    /// hold its lock or the runtime for long; returns how many were asked to close.
    pub(crate) async fn close_all(&self, closure: Closure) -> usize {
        const BATCH: usize = 1024;
        let sockets: Vec<Arc<SocketCore>> = self.read().sockets.values().cloned().collect();
        for batch in sockets.chunks(BATCH) {
            for core in batch {
                core.close(closure.clone());
            }
            tokio::task::yield_now().await;
        }
        sockets.len()
    }

    fn detach(&self, core: &SocketCore) {
        // Both locks, in the order `join` takes them: a join from another task (a room change
        // the server makes) comes before and is undone here, or after and finds no socket.
        let mut rooms = core.rooms();
        let mut registry = self.write();
        registry.sockets.remove(&core.id);
        if let Some(ids) = registry.entities.get_mut(&core.entity_id) {
            ids.retain(|id| *id != core.id);
            if ids.is_empty() {
                registry.entities.remove(&core.entity_id);
            }
        }
        for room in rooms.drain() {
            Self::remove_member(&mut registry, &room, core.id);
        }
    }

    pub(crate) fn join(&self, core: &SocketCore, room: &str) {
        let mut rooms = core.rooms();
        if rooms.contains(room) || core.is_closing() {
            return;
        }
        let mut registry = self.write();
        if !registry.sockets.contains_key(&core.id) {
            return;
        }
        let room: Arc<str> = match registry.rooms.get_key_value(room) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(room),
        };
        registry.rooms.entry(Arc::clone(&room)).or_default().insert(core.id);
        drop(registry);
        // Under the socket's room lock, so presence sees its joins and leaves in order.
        self.inner.presence.join_room(&self.inner.name, core.id, &room);
        rooms.insert(room);
    }

    pub(crate) fn leave(&self, core: &SocketCore, room: &str) {
        let mut rooms = core.rooms();
        if rooms.remove(room) {
            Self::remove_member(&mut self.write(), room, core.id);
            self.inner.presence.leave_room(&self.inner.name, core.id, room);
        }
    }

    /// Once presence registered a socket: writes there the rooms it joined before, which
    /// presence refused, as it takes rooms of registered sockets only.
    pub(crate) fn registered(&self, core: &SocketCore) {
        let rooms = core.rooms();
        for room in rooms.iter() {
            self.inner.presence.join_room(&self.inner.name, core.id, room);
        }
    }

    fn remove_member(registry: &mut Registry, room: &str, id: SocketId) {
        if let Some(members) = registry.rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                registry.rooms.remove(room);
            }
        }
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.inner.name)
            .field("path", &self.inner.path)
            .field("entity_type", &self.inner.entity_type)
            .field("local_sockets", &self.local_socket_count())
            .finish()
    }
}
