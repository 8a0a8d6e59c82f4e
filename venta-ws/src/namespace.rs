//! Namespaces: the sockets of one gateway on this node, rooms, and emitting to them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;

use crate::close::CloseCode;
use crate::presence::{PresenceError, PresenceStore};
use crate::protocol;
use crate::socket::{EmitError, SocketCore, SocketId};

/// A handle to one gateway's namespace: emit to its sockets, read its presence, disconnect
/// entities. Cheap to clone; get one from a socket ([`AuthenticatedSocket::namespace`]) or
/// from the module's [`Hub`].
///
/// Emitting serializes the event once and queues the same frame on every socket it reaches.
///
/// [`AuthenticatedSocket::namespace`]: crate::AuthenticatedSocket::namespace
#[derive(Clone)]
pub struct Namespace {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    path: String,
    entity_type: &'static str,
    presence: Arc<dyn PresenceStore>,
    registry: RwLock<Registry>,
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
    }
}

impl Namespace {
    pub(crate) fn new(name: &str, path: String, entity_type: &'static str, presence: Arc<dyn PresenceStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: Arc::from(name),
                path,
                entity_type,
                presence,
                registry: RwLock::new(Registry::default()),
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

    /// Whether an entity has at least one socket in this namespace.
    pub async fn is_online(&self, entity_id: &str) -> Result<bool, PresenceError> {
        Ok(!self.inner.presence.sockets_of(&self.inner.name, entity_id).await?.is_empty())
    }

    /// How many sockets are connected to this namespace on this node.
    pub fn local_socket_count(&self) -> usize {
        self.read().sockets.len()
    }

    /// The sockets of one entity connected to this namespace on this node.
    pub fn local_sockets_of(&self, entity_id: &str) -> Vec<SocketId> {
        self.read().entities.get(entity_id).cloned().unwrap_or_default()
    }

    /// Sends an event to every socket of the namespace; returns how many were reached.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<usize, EmitError> {
        let frame = protocol::encode(event, data, None)?;
        let registry = self.read();
        Ok(registry.sockets.values().filter(|core| core.deliver(frame.clone())).count())
    }

    /// Sends an event to every socket but one.
    pub fn emit_except<T: Serialize + ?Sized>(
        &self,
        except: SocketId,
        event: &str,
        data: &T,
    ) -> Result<usize, EmitError> {
        let frame = protocol::encode(event, data, None)?;
        let registry = self.read();
        Ok(registry.sockets.values().filter(|core| core.id != except && core.deliver(frame.clone())).count())
    }

    /// Sends an event to every socket of one entity (all its tabs and devices).
    pub fn emit_to_entity<T: Serialize + ?Sized>(
        &self,
        entity_id: &str,
        event: &str,
        data: &T,
    ) -> Result<usize, EmitError> {
        let frame = protocol::encode(event, data, None)?;
        let registry = self.read();
        let ids = registry.entities.get(entity_id).map_or(&[][..], Vec::as_slice);
        Ok(Self::deliver_to(&registry, ids.iter(), &frame))
    }

    /// Sends an event to every socket in a room.
    pub fn emit_to_room<T: Serialize + ?Sized>(&self, room: &str, event: &str, data: &T) -> Result<usize, EmitError> {
        let frame = protocol::encode(event, data, None)?;
        let registry = self.read();
        let Some(members) = registry.rooms.get(room) else { return Ok(0) };
        Ok(Self::deliver_to(&registry, members.iter(), &frame))
    }

    /// Sends an event to one socket; `Ok(false)` when it is not connected here.
    pub fn emit_to_socket<T: Serialize + ?Sized>(
        &self,
        socket_id: SocketId,
        event: &str,
        data: &T,
    ) -> Result<bool, EmitError> {
        let frame = protocol::encode(event, data, None)?;
        Ok(Self::deliver_to(&self.read(), [socket_id].iter(), &frame) == 1)
    }

    fn deliver_to<'a>(
        registry: &Registry,
        ids: impl Iterator<Item = &'a SocketId>,
        frame: &axum::extract::ws::Utf8Bytes,
    ) -> usize {
        ids.filter_map(|id| registry.sockets.get(id)).filter(|core| core.deliver(frame.clone())).count()
    }

    /// Closes every socket of one entity with `code`; returns how many were closed.
    pub fn disconnect_entity(&self, entity_id: &str, code: CloseCode) -> usize {
        let registry = self.read();
        let ids = registry.entities.get(entity_id).map_or(&[][..], Vec::as_slice);
        ids.iter()
            .filter_map(|id| registry.sockets.get(id))
            .inspect(|core| core.close(code, Cow::Borrowed(code.default_reason()), true))
            .count()
    }

    /// Closes one socket with `code`; `false` when it is not connected here.
    pub fn disconnect_socket(&self, socket_id: SocketId, code: CloseCode) -> bool {
        let registry = self.read();
        registry
            .sockets
            .get(&socket_id)
            .inspect(|core| core.close(code, Cow::Borrowed(code.default_reason()), true))
            .is_some()
    }

    /// The rooms of this namespace on this node, with how many sockets each holds.
    pub fn rooms(&self) -> BTreeMap<String, usize> {
        self.read().rooms.iter().map(|(room, members)| (room.to_string(), members.len())).collect()
    }

    pub(crate) fn attach(&self, core: Arc<SocketCore>) -> Attachment {
        {
            let mut registry = self.write();
            registry.entities.entry(Arc::clone(&core.entity_id)).or_default().push(core.id);
            registry.sockets.insert(core.id, Arc::clone(&core));
        }
        Attachment { namespace: self.clone(), core }
    }

    fn detach(&self, core: &SocketCore) {
        let rooms: Vec<Arc<str>> = core.rooms().drain().collect();
        let mut registry = self.write();
        registry.sockets.remove(&core.id);
        if let Some(ids) = registry.entities.get_mut(&core.entity_id) {
            ids.retain(|id| *id != core.id);
            if ids.is_empty() {
                registry.entities.remove(&core.entity_id);
            }
        }
        for room in rooms {
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
        rooms.insert(room);
    }

    pub(crate) fn leave(&self, core: &SocketCore, room: &str) {
        let mut rooms = core.rooms();
        if rooms.remove(room) {
            Self::remove_member(&mut self.write(), room, core.id);
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

/// Every namespace of a module, for emitting from outside a handler (an HTTP route, a job).
#[derive(Clone, Debug)]
pub struct Hub {
    namespaces: Arc<BTreeMap<String, Namespace>>,
    presence: Arc<dyn PresenceStore>,
}

impl Hub {
    pub(crate) fn new(namespaces: BTreeMap<String, Namespace>, presence: Arc<dyn PresenceStore>) -> Self {
        Self { namespaces: Arc::new(namespaces), presence }
    }

    /// The namespace called `name`, if a gateway declares it.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
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
