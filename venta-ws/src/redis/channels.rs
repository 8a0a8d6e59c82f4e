//! Which pub/sub channel carries what, and which channels this node listens on.
//!
//! A publication goes only to the nodes that have sockets it is for:
//!
//! - `p:events`: emits and disconnects for a whole namespace; every node listens;
//! - `p:ns:<ns>:e:<entity>`: what is for one entity's sockets (and, found through presence,
//!   for one socket); a node listens while it holds a socket of that entity;
//! - `p:ns:<ns>:r:<room>`: what is for a room; a node listens while it holds a member;
//! - `p:presence`: presence changes (online, offline, updated); a node listens while someone
//!   on it subscribed to presence events.
//!
//! Namespaces hold no `:`, so these names cannot collide. A node that listens on a channel a
//! moment longer than it needs to (a race with the last socket leaving) gets a publication
//! that matches none of its sockets, which it ignores: the target in the message decides,
//! never the channel alone.
//!
//! What the node wants to listen on is kept here; the subscriber task (`mod.rs`) makes Redis
//! match it, in batches, and says up to which change it did, so that a socket's registration
//! can wait until emits for its entity reach this node. The counters of where publications
//! went ([`ClusterStats`]) are here too.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::cluster::Target;

/// How publications travel between nodes
/// ([`RedisConfig::delivery`](super::RedisConfig::delivery)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Each publication goes to the nodes that hold sockets it is for: a channel per entity,
    /// per room, and for presence changes, listened on by the nodes that need them.
    #[default]
    Targeted,
    /// Every publication, presence changes included, goes on one channel every node hears, as
    /// venta-ws delivered before targeted delivery. For a rolling upgrade from nodes that
    /// deliver so (they hear nothing else), and to measure what targeted delivery saves.
    Broadcast,
}

/// The channel names of one prefix.
#[derive(Debug, Clone)]
pub(super) struct Channels {
    prefix: String,
    delivery: Delivery,
}

/// Where a publication goes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// This channel.
    Channel(String),
    /// The channel of the entity that holds this socket, which only Redis knows.
    Socket { namespace: String, socket_id: String },
}

impl Channels {
    pub(super) fn new(prefix: &str, delivery: Delivery) -> Self {
        Self { prefix: prefix.to_owned(), delivery }
    }

    /// Whether nodes listen on channels of their own besides the broadcast channel.
    pub(super) fn targeted(&self) -> bool {
        self.delivery == Delivery::Targeted
    }

    /// Namespace-wide emits and disconnects: every node listens.
    pub(super) fn broadcast(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// Presence changes: nodes with presence listeners listen.
    pub(super) fn presence(&self) -> String {
        match self.delivery {
            Delivery::Targeted => format!("{}:presence", self.prefix),
            Delivery::Broadcast => self.broadcast(),
        }
    }

    /// What is for one entity's sockets.
    pub(super) fn entity(&self, namespace: &str, entity_id: &str) -> String {
        format!("{}:ns:{namespace}:e:{entity_id}", self.prefix)
    }

    /// What is for a room's members.
    pub(super) fn room(&self, namespace: &str, room: &str) -> String {
        format!("{}:ns:{namespace}:r:{room}", self.prefix)
    }

    /// The channel of a publication for `target` in `namespace`.
    pub(super) fn route(&self, namespace: &str, target: &Target) -> Route {
        if self.delivery == Delivery::Broadcast {
            return Route::Channel(self.broadcast());
        }
        match target {
            Target::All | Target::Except(_) => Route::Channel(self.broadcast()),
            Target::Entity(entity_id) => Route::Channel(self.entity(namespace, entity_id)),
            Target::Room(room) | Target::RoomExcept { room, .. } => Route::Channel(self.room(namespace, room)),
            Target::Socket(socket_id) => {
                Route::Socket { namespace: namespace.to_owned(), socket_id: socket_id.clone() }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Wanted {
    channels: HashSet<String>,
    /// What changed since the subscriber task last took the changes: each channel with whether
    /// it is wanted now. A change costs the task the channels that changed, not all of them.
    pending: HashMap<String, bool>,
    /// Counts every change of `channels`.
    version: u64,
}

/// The channels this node wants to listen on, besides the broadcast channel.
#[derive(Debug)]
pub(super) struct Subscriptions {
    wanted: Mutex<Wanted>,
    changed: Notify,
    /// The version of `wanted` that Redis matches, as the subscriber task last made it.
    applied: watch::Sender<u64>,
    /// Whether the subscriber task is connected: while it is not, nothing waits for it.
    connected: AtomicBool,
}

/// What the subscriber task must change on its connection.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    pub(super) subscribe: Vec<String>,
    pub(super) unsubscribe: Vec<String>,
    pub(super) version: u64,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Self {
            wanted: Mutex::default(),
            changed: Notify::new(),
            applied: watch::Sender::new(0),
            connected: AtomicBool::new(false),
        }
    }
}

impl Subscriptions {
    fn lock(&self) -> MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Listens on `channel` while `needed()` says so, read under this set's lock so that of
    /// two changes racing, the later decides. Returns the version to wait for, if it changed.
    pub(super) fn set(&self, channel: String, needed: impl FnOnce() -> bool) -> Option<u64> {
        let mut wanted = self.lock();
        let needed = needed();
        let changed = if needed { wanted.channels.insert(channel.clone()) } else { wanted.channels.remove(&channel) };
        if !changed {
            return None;
        }
        wanted.pending.insert(channel, needed);
        wanted.version += 1;
        let version = wanted.version;
        drop(wanted);
        self.changed.notify_one();
        Some(version)
    }

    /// Waits until the subscriber task made Redis match version `version`, for at most
    /// `timeout`; not at all while it is not connected (Redis is down: delivery across nodes is
    /// best effort then, and the task subscribes to everything wanted when it reconnects).
    pub(super) async fn applied(&self, version: u64, timeout: Duration) {
        if !self.connected.load(Ordering::Acquire) {
            return;
        }
        let mut applied = self.applied.subscribe();
        let _ = tokio::time::timeout(timeout, applied.wait_for(|done| *done >= version)).await;
    }

    /// Resolves when the wanted channels changed.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Every wanted channel, for a connection that has none yet; the pending changes are in it.
    pub(super) fn all(&self) -> Changes {
        let mut wanted = self.lock();
        wanted.pending.clear();
        Changes {
            subscribe: wanted.channels.iter().cloned().collect(),
            unsubscribe: Vec::new(),
            version: wanted.version,
        }
    }

    /// The changes since the last call (or [`all`](Self::all)), for a connection that has
    /// everything wanted before them.
    pub(super) fn take_changes(&self) -> Changes {
        let mut wanted = self.lock();
        let mut changes = Changes { version: wanted.version, ..Changes::default() };
        for (channel, needed) in wanted.pending.drain() {
            if needed {
                changes.subscribe.push(channel);
            } else {
                changes.unsubscribe.push(channel);
            }
        }
        changes
    }

    /// The connection matches `version`.
    pub(super) fn done(&self, version: u64) {
        self.applied.send_if_modified(|applied| {
            let newer = version > *applied;
            if newer {
                *applied = version;
            }
            newer
        });
    }

    /// The subscriber task connected (and subscribed to everything wanted), or lost its
    /// connection.
    pub(super) fn connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    /// Whether the node wants to listen on `channel`.
    pub(super) fn wants(&self, channel: &str) -> bool {
        self.lock().channels.contains(channel)
    }

    /// How many channels the node listens on, besides the broadcast channel.
    pub(super) fn len(&self) -> usize {
        self.lock().channels.len()
    }
}

/// What one node published and received through Redis since it connected
/// ([`RedisBackend::stats`](super::RedisBackend::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Publications this node made: emits, disconnects and room changes for sockets on other
    /// nodes, and presence changes.
    pub published: u64,
    /// How many node deliveries Redis reported for this node's emits, disconnects and room
    /// changes: one per node listening on the channel, this node included when it listens.
    pub delivered: u64,
    /// Publications of other nodes that reached this node.
    pub received: u64,
    /// This node's own publications that came back to it on a channel it listens on, and
    /// were ignored.
    pub echoes: u64,
    /// The channels this node listens on besides the one for namespace-wide emits: one per
    /// entity and room it holds sockets of, and the presence channel while it has listeners.
    pub channels: usize,
}

/// The counters behind [`ClusterStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) published: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) echoes: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn read(&self, channels: usize) -> ClusterStats {
        ClusterStats {
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            echoes: self.echoes.load(Ordering::Relaxed),
            channels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_target_has_its_channel() {
        let channels = Channels::new("p", Delivery::Targeted);
        let route = |target| channels.route("user", &target);
        assert_eq!(route(Target::All), Route::Channel("p:events".into()));
        assert_eq!(route(Target::Except("s".into())), Route::Channel("p:events".into()));
        assert_eq!(route(Target::Entity("u:1".into())), Route::Channel("p:ns:user:e:u:1".into()));
        assert_eq!(route(Target::Room("r".into())), Route::Channel("p:ns:user:r:r".into()));
        let except = Target::RoomExcept { room: "r".into(), except: "s".into() };
        assert_eq!(route(except), Route::Channel("p:ns:user:r:r".into()));
        assert_eq!(
            route(Target::Socket("s".into())),
            Route::Socket { namespace: "user".into(), socket_id: "s".into() }
        );
        assert_eq!(channels.presence(), "p:presence");
    }

    #[test]
    fn broadcast_delivery_puts_everything_on_the_one_channel() {
        let channels = Channels::new("p", Delivery::Broadcast);
        for target in [Target::Entity("u1".into()), Target::Room("r".into()), Target::Socket("s".into())] {
            assert_eq!(channels.route("user", &target), Route::Channel("p:events".into()));
        }
        assert_eq!(channels.presence(), "p:events");
        assert!(!channels.targeted());
    }

    #[test]
    fn the_wanted_set_follows_the_latest_decision_and_hands_out_only_what_changed() {
        let subscriptions = Subscriptions::default();
        assert_eq!(subscriptions.set("a".into(), || true), Some(1));
        assert_eq!(subscriptions.set("a".into(), || true), None, "no change, nothing to wait for");
        assert_eq!(subscriptions.set("b".into(), || true), Some(2));
        let sorted = |mut channels: Vec<String>| {
            channels.sort();
            channels
        };
        let all = subscriptions.all();
        assert_eq!(
            (sorted(all.subscribe), all.unsubscribe.len(), all.version),
            (vec!["a".to_owned(), "b".to_owned()], 0, 2)
        );
        assert_eq!(subscriptions.take_changes(), Changes { version: 2, ..Changes::default() }, "all() took them");
        assert_eq!(subscriptions.set("a".into(), || false), Some(3));
        assert_eq!(subscriptions.set("c".into(), || true), Some(4));
        let changes = subscriptions.take_changes();
        assert_eq!(
            (changes.subscribe, changes.unsubscribe, changes.version),
            (vec!["c".to_owned()], vec!["a".to_owned()], 4)
        );
        assert_eq!(subscriptions.take_changes().subscribe.len(), 0, "each change is handed out once");
        assert_eq!(subscriptions.len(), 2);
    }

    #[tokio::test]
    async fn a_registration_waits_for_its_version() {
        let subscriptions = std::sync::Arc::new(Subscriptions::default());
        subscriptions.connected(true);
        let version = subscriptions.set("a".into(), || true).expect("changed");
        let waiter = tokio::spawn({
            let subscriptions = std::sync::Arc::clone(&subscriptions);
            async move { subscriptions.applied(version, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        subscriptions.done(version);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("woken").expect("no panic");
    }
}
