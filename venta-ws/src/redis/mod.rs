//! Presence and fan-out across nodes through Redis (feature `redis`).
//!
//! Every node keeps its own sockets in memory and mirrors them into Redis, so "who is online"
//! and "send to all sockets of user X" hold across nodes:
//!
//! - **Presence** lives in Redis sets and hashes, changed by Lua scripts: a connect or a
//!   disconnect costs one round trip, with the socket's meta, its index entries and its rooms,
//!   and an entity's online, offline and updated changes are announced on a pub/sub channel
//!   that the nodes with [`PresenceStore::subscribe`] receivers listen on and relay to them,
//!   with the node they came from as their [`Origin`]. [`PresenceStore::subscribe_local`]
//!   hears each change on one node only. `count` is one `SCARD`; `online_page` walks who is
//!   online with `SSCAN`, a page per call, where `online` reads the whole set.
//! - **Rooms**: a socket's joins and leaves are written to Redis in order through the same
//!   bounded queue as fan-out, each by a script that adds the socket only while it is still
//!   registered, so [`PresenceStore::room_members`] spans every node and a join racing a
//!   disconnect leaves nothing behind.
//! - **Fan-out**: an emit is encoded once, delivered to this node's sockets, and published
//!   once, on the channel of what it is for; the nodes that listen there deliver it to their
//!   own sockets. A node listens on an entity's channel while it holds a socket of that
//!   entity, and on a room's while it holds a member, so an emit to one user wakes only the
//!   nodes that user is connected to; a namespace-wide emit reaches every node once (the
//!   channels are listed in `channels.rs`). A socket's registration waits until its entity's
//!   channel is listened on, so nothing published for it after its connect is missed. A node
//!   ignores its own publications, so every socket gets an event exactly once. Delivery
//!   across nodes is at most once: what is published while Redis is down is not replayed.
//! - **Crashed nodes**: each node refreshes a heartbeat key with a TTL (default 30 s) every
//!   third of it, and removes the sockets of nodes whose heartbeat expired, announcing the
//!   entities that went offline (the node that removes them is the origin of those events).
//!   A node that dies without cleaning up disappears from presence, its metas, index entries
//!   and rooms with it, within about 1⅓ TTL.
//! - **Redis Cluster** ([`RedisConfig::cluster`]): scripts run on the shard of their
//!   namespace's hash slot and publications are sharded (`SPUBLISH`/`SSUBSCRIBE`); a channel
//!   whose slot moves (a failover, a resharding) is subscribed again where it lives now
//!   (`connection.rs`).
//! - **Outages**: while Redis is unreachable, presence and fan-out are local to each node,
//!   and errors are logged at most every 10 s. When Redis answers again, each node writes its
//!   live sockets back, with their metas and rooms, so presence converges.
//!
//! ```no_run
//! # use venta_ws::prelude::*;
//! use venta_ws::redis::{RedisBackend, RedisConfig};
//! # #[derive(WebSocketGateway)]
//! # #[gateway(namespace = "user", auth = Jwt)]
//! # struct UserGateway;
//! # #[venta_ws::messages]
//! # impl UserGateway {}
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = RedisBackend::connect(RedisConfig::new("redis://127.0.0.1:6379").prefix("myapp")).await?;
//! let module = WebSocketModule::builder()
//!     .jwt(JwtConfig::hs256_from_env("JWT_SECRET")?)
//!     .redis(redis)
//!     .gateway(UserGateway)
//!     .build()?;
//! # Ok(())
//! # }
//! ```

mod channels;
mod connection;
mod scripts;

pub use channels::{ClusterStats, Delivery};

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::cluster::{Action, Cluster, ClusterMessage, Target};
use crate::id::SocketId;
use crate::metrics;
use crate::presence::{
    BoxFuture, InMemoryPresence, LocalEvents, OnlinePage, Origin, PresenceEntry, PresenceError, PresenceEvent,
    PresenceMeta, PresenceStatus, PresenceStore, RoomMember, encode_meta, sorted,
};
use channels::{Changes, Channels, Counters, Route, Subscriptions};
use connection::{Commands, Heard, Subscriber, Topology};

/// How often the same Redis error is logged at most.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);
const CHANNEL_CAPACITY: usize = 4096;
/// The most publications sent in one round trip.
const PUBLISH_BATCH: usize = 256;
/// The most channels one SUBSCRIBE or UNSUBSCRIBE names.
const SUBSCRIBE_BATCH: usize = 512;
/// How long after this node moved sockets of other nodes into a room its emits to that room
/// go to every node: a node listens on a room's channel only once it applied the join, so an
/// emit right behind the join, on the room's channel, would miss it. On the broadcast channel
/// it comes behind the join, in order.
const REMOTE_JOIN_WINDOW: Duration = Duration::from_secs(5);

/// Where Redis is and how the nodes share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    topology: Topology,
    prefix: String,
    node_ttl: Duration,
    response_timeout: Duration,
    delivery: Delivery,
}

impl RedisConfig {
    /// Redis at `url` (`redis://host:port/db`), prefix `venta`, node TTL 30 s.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            topology: Topology::Single(url.into()),
            prefix: "venta".to_owned(),
            node_ttl: Duration::from_secs(30),
            response_timeout: Duration::from_secs(2),
            delivery: Delivery::Targeted,
        }
    }

    /// A Redis Cluster reached through `nodes` (`redis://host:port` each; one is enough, the
    /// others are found), prefix `venta`, node TTL 30 s. Each script touches one namespace's
    /// hash slot, and publications are sharded (`SPUBLISH`/`SSUBSCRIBE`): a channel lives on
    /// the shard that owns its slot. Needs Redis 7 or later.
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        let mut config = Self::new(String::new());
        config.topology = Topology::Cluster(nodes.into_iter().map(Into::into).collect());
        config
    }

    /// The prefix of every key and channel, so several applications can share one Redis.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a node's heartbeat lives; a node that stops refreshing it is removed from
    /// presence within about 1⅓ of this. Default 30 s; at least 1 s.
    #[must_use]
    pub fn node_ttl(mut self, ttl: Duration) -> Self {
        self.node_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How publications travel between nodes. Default [`Delivery::Targeted`]: only to the
    /// nodes that hold sockets they are for. Every node of an application must deliver the
    /// same way; [`Delivery::Broadcast`] is how nodes of earlier versions deliver, for a
    /// rolling upgrade from them.
    #[must_use]
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// How long one Redis command may take before it counts as a failure. Default 2 s.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }
}

/// Presence and fan-out through Redis: pass it to
/// [`WebSocketModuleBuilder::redis`](crate::WebSocketModuleBuilder::redis). Cloning gives
/// another handle to the same node.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    prefix: String,
    channels: Channels,
    config: RedisConfig,
    connection: Commands,
    /// This node's sockets: the truth written back to Redis after an outage, and the view
    /// served while Redis is down.
    local: InMemoryPresence,
    healthy: AtomicBool,
    /// Every presence change in the cluster, for [`PresenceStore::subscribe`]: while it has
    /// receivers, the node listens on the presence channel.
    events: broadcast::Sender<PresenceEvent>,
    /// The changes this node made, for [`PresenceStore::subscribe_local`], which need no
    /// listening.
    local_events: broadcast::Sender<PresenceEvent>,
    incoming: broadcast::Sender<ClusterMessage>,
    /// Events waiting to be published and room writes waiting to be made, in order, at most
    /// [`CHANNEL_CAPACITY`]: while Redis is slower than the sockets, the newest are dropped
    /// rather than memory growing.
    outgoing: mpsc::Sender<Outgoing>,
    /// The channels this node listens on besides the broadcast channel; shared with the
    /// subscriber task, which must not keep the node alive.
    subscriptions: Arc<Subscriptions>,
    /// The namespaces this node noted it has sockets in (`{p}:node:<node>:namespaces`).
    recorded: Mutex<HashSet<String>>,
    /// Rooms this node recently moved other nodes' sockets into, until when their emits go
    /// to every node ([`REMOTE_JOIN_WINDOW`]).
    remote_joins: Mutex<RemoteJoins>,
    counters: Counters,
    scripts: Scripts,
    errors: ErrorLog,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Scripts {
    register: Script,
    unregister: Script,
    update: Script,
    join: Script,
    leave: Script,
    metas: Script,
    resync: Script,
    reap: Script,
}

/// Rooms by namespace, each with the end of its [`REMOTE_JOIN_WINDOW`].
#[derive(Default)]
struct RemoteJoins {
    rooms: HashMap<String, HashMap<String, Instant>>,
    pruned: Option<Instant>,
}

impl RemoteJoins {
    fn insert(&mut self, namespace: &str, room: &str, now: Instant) {
        // Windows that ended are dropped at most once per window, so a burst of joins does not
        // scan the map each time.
        if self.pruned.is_none_or(|at| now.saturating_duration_since(at) >= REMOTE_JOIN_WINDOW) {
            self.pruned = Some(now);
            for rooms in self.rooms.values_mut() {
                rooms.retain(|_, until| *until > now);
            }
            self.rooms.retain(|_, rooms| !rooms.is_empty());
        }
        self.rooms.entry(namespace.to_owned()).or_default().insert(room.to_owned(), now + REMOTE_JOIN_WINDOW);
    }

    fn holds(&self, namespace: &str, room: &str, now: Instant) -> bool {
        self.rooms.get(namespace).and_then(|rooms| rooms.get(room)).is_some_and(|until| *until > now)
    }
}

/// What the outgoing queue holds.
enum Outgoing {
    /// A pub/sub payload for a channel.
    Publish { channel: String, payload: String },
    /// A pub/sub payload for one socket, published on its entity's channel.
    PublishToSocket { namespace: String, socket_id: String, payload: String },
    /// A socket joins (`true`) or leaves a room.
    Room { join: bool, namespace: String, socket_id: SocketId, room: String },
}

/// What travels on the pub/sub channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Presence { origin: String, ns: String, entity: String, status: WireStatus },
    Fanout { origin: String, message: ClusterMessage },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireStatus {
    Online,
    Offline,
    Updated,
}

/// Logs a failure at most once per [`ERROR_LOG_INTERVAL`], counting the rest.
#[derive(Default)]
struct ErrorLog {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl ErrorLog {
    fn report(&self, what: &str, error: &dyn fmt::Display) {
        metrics::cluster_error();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < ERROR_LOG_INTERVAL) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        tracing::error!(
            error = %error,
            suppressed,
            "redis unavailable while trying to {what}: presence and fan-out are local to this node until it answers again"
        );
    }
}

/// Connecting to Redis failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis at {url}: {source}")]
pub struct RedisConnectError {
    url: String,
    source: redis::RedisError,
}

fn node_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(SocketId::next().as_u128());
    format!("{:016x}", hasher.finish())
}

impl RedisBackend {
    /// Connects, registers this node, and starts its heartbeat and its subscription.
    pub async fn connect(config: RedisConfig) -> Result<Self, RedisConnectError> {
        let url = config.topology.describe();
        let error = |source| RedisConnectError { url: url.clone(), source };
        let connection = Commands::connect(&config.topology, config.response_timeout).await.map_err(error)?;
        let (outgoing, outbox) = mpsc::channel(CHANNEL_CAPACITY);
        let inner = Arc::new(Inner {
            node: node_id(),
            channels: Channels::new(&config.prefix, config.delivery),
            prefix: config.prefix.clone(),
            config,
            connection,
            local: InMemoryPresence::default(),
            healthy: AtomicBool::new(true),
            events: broadcast::channel(CHANNEL_CAPACITY).0,
            local_events: broadcast::channel(CHANNEL_CAPACITY).0,
            incoming: broadcast::channel(CHANNEL_CAPACITY).0,
            outgoing,
            subscriptions: Arc::default(),
            recorded: Mutex::default(),
            remote_joins: Mutex::default(),
            counters: Counters::default(),
            scripts: Scripts {
                register: Script::new(&scripts::register()),
                unregister: Script::new(&scripts::unregister()),
                update: Script::new(&scripts::update()),
                join: Script::new(&scripts::join()),
                leave: Script::new(&scripts::leave()),
                metas: Script::new(&scripts::metas()),
                resync: Script::new(&scripts::resync()),
                reap: Script::new(&scripts::reap()),
            },
            errors: ErrorLog::default(),
            stop: CancellationToken::new(),
        });
        inner.heartbeat().await.map_err(error)?;
        metrics::redis_up(true);
        let (ready, subscribed) = tokio::sync::oneshot::channel();
        let subscriptions = Arc::clone(&inner.subscriptions);
        tokio::spawn(subscribe_loop(Arc::downgrade(&inner), subscriptions, inner.stop.clone(), Some(ready)));
        tokio::spawn(outgoing_loop(Arc::downgrade(&inner), inner.stop.clone(), outbox));
        tokio::spawn(heartbeat_loop(Arc::downgrade(&inner), inner.stop.clone()));
        // Events published before the subscription is in place would be missed.
        let _ = tokio::time::timeout(inner.config.response_timeout, subscribed).await;
        Ok(Self { inner })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// Whether Redis answered the last command.
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Acquire)
    }

    /// What this node published and received through Redis since it connected, and how many
    /// channels it listens on now: the figures that show where an emit went.
    pub fn stats(&self) -> ClusterStats {
        self.inner.counters.read(self.inner.subscriptions.len())
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("node", &self.inner.node)
            .field("prefix", &self.inner.prefix)
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// A key of `namespace` (`scripts.rs` lists them).
    fn key(&self, namespace: &str, suffix: &str) -> String {
        scripts::namespace_key(&self.prefix, namespace, suffix)
    }

    /// The index of the sockets whose meta holds `value` at `key` (`scripts.rs`, `index_key`).
    fn index_key(&self, namespace: &str, key: &str, value: &str) -> String {
        self.key(namespace, &format!("idx:{key}\u{1f}{value}"))
    }

    /// A key of the nodes (`scripts.rs` lists them).
    fn node_key(&self, suffix: &str) -> String {
        scripts::node_key(&self.prefix, suffix)
    }

    /// Invokes `script` in `namespace`'s slot with `args`.
    fn invocation<'s>(&self, script: &'s Script, namespace: &str) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.key(namespace, "sockets")).arg(&self.prefix);
        invocation
    }

    fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn failed(&self, what: &str, error: &dyn fmt::Display) {
        self.healthy.store(false, Ordering::Release);
        metrics::redis_up(false);
        self.errors.report(what, error);
    }

    /// Whether `message` is for a room this node moved other nodes' sockets into within
    /// [`REMOTE_JOIN_WINDOW`]; a join of other nodes' sockets starts that window.
    fn joined_remotely(&self, message: &ClusterMessage) -> bool {
        let joins = || self.remote_joins.lock().unwrap_or_else(PoisonError::into_inner);
        if let Action::Join { room } = &message.action {
            joins().insert(&message.namespace, room, Instant::now());
            return false;
        }
        // Only a room's messages look: an entity's or a namespace's take no lock.
        let (Target::Room(room) | Target::RoomExcept { room, .. }) = &message.target else { return false };
        joins().holds(&message.namespace, room, Instant::now())
    }

    /// Counts a publication, or reports why it failed.
    fn published(&self, result: Result<i64, redis::RedisError>) {
        match result {
            Ok(receivers) => {
                metrics::cluster_published();
                Counters::add(&self.counters.published, 1);
                Counters::add(&self.counters.delivered, u64::try_from(receivers).unwrap_or(0));
            }
            Err(error) => self.failed("publish an event to the other nodes", &error),
        }
    }

    fn announce_locally(&self, namespace: &str, entity_id: &str, status: PresenceStatus, origin: Origin) {
        let event = PresenceEvent { namespace: namespace.into(), entity_id: entity_id.into(), status, origin };
        if event.origin.is_local() {
            let _ = self.local_events.send(event.clone());
        }
        let _ = self.events.send(event);
    }

    /// Queues a publication or a room write; a full queue drops it and says so at most every
    /// 10 s.
    fn queue(&self, outgoing: Outgoing) {
        let room_write = matches!(outgoing, Outgoing::Room { .. });
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outgoing.try_send(outgoing) {
            if room_write {
                // Redis now misses a membership this node holds: marked unhealthy, the node
                // writes its rooms back at its next heartbeat.
                self.failed(
                    "write a room membership",
                    &format_args!("{CHANNEL_CAPACITY} writes are already waiting; this one was dropped"),
                );
            } else {
                self.errors.report(
                    "publish an event to the other nodes",
                    &format_args!(
                        "{CHANNEL_CAPACITY} events are already waiting to be published; this one was dropped"
                    ),
                );
            }
        }
    }

    /// Refreshes this node's heartbeat; after an outage, writes its sockets back first.
    async fn heartbeat(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        let ttl = u64::try_from(self.config.node_ttl.as_millis()).unwrap_or(u64::MAX);
        redis::pipe()
            .atomic()
            .set_ex::<_, _>(self.node_key(&format!("node:{}", self.node)), 1, ttl.div_ceil(1000))
            .sadd(self.node_key("nodes"), &self.node)
            .query_async::<()>(&mut connection)
            .await?;
        if !self.is_healthy() {
            self.resync().await?;
            self.healthy.store(true, Ordering::Release);
            metrics::redis_up(true);
            tracing::info!("redis answers again: this node's sockets are written back to presence");
        }
        Ok(())
    }

    /// Notes, once per namespace, that this node has sockets there, so that a node that reaps
    /// it knows where to look.
    async fn record_namespace(&self, namespace: &str) -> Result<(), redis::RedisError> {
        if self.namespaces().contains(namespace) {
            return Ok(());
        }
        let key = self.node_key(&format!("node:{}:namespaces", self.node));
        self.connection.clone().sadd::<_, _, ()>(key, namespace).await?;
        self.namespaces().insert(namespace.to_owned());
        Ok(())
    }

    fn namespaces(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes Redis hold exactly this node's live sockets, namespace by namespace, and announces
    /// the entities that changed meanwhile.
    async fn resync(&self) -> Result<(), redis::RedisError> {
        let mut by_namespace: HashMap<String, Vec<_>> = HashMap::new();
        for socket in self.local.entries() {
            by_namespace.entry(socket.namespace.clone()).or_default().push(socket);
        }
        // Namespaces where it had sockets before, but has none now, are emptied too.
        let recorded: Vec<String> = self.namespaces().iter().cloned().collect();
        for namespace in recorded {
            by_namespace.entry(namespace).or_default();
        }
        self.namespaces().clear();
        for (namespace, sockets) in by_namespace {
            self.record_namespace(&namespace).await?;
            let mut invocation = self.invocation(&self.scripts.resync, &namespace);
            invocation.arg(&self.node).arg(&namespace);
            for socket in sockets {
                // The local store refused every meta that does not encode.
                let meta = encode_meta(&socket.meta).unwrap_or_else(|_| "{}".to_owned());
                invocation.arg(socket.socket_id.to_string()).arg(socket.entity_id).arg(meta);
                invocation.arg(socket.rooms.len()).arg(socket.rooms);
            }
            let changed: Vec<String> = invocation.invoke_async(&mut self.connection.clone()).await?;
            for pair in changed.chunks_exact(2) {
                let status = if pair[0] == "online" { PresenceStatus::Online } else { PresenceStatus::Offline };
                self.announce(&namespace, &pair[1], status);
            }
        }
        Ok(())
    }

    /// Removes the sockets of nodes whose heartbeat expired.
    async fn reap(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        let nodes: Vec<String> = connection.smembers(self.node_key("nodes")).await?;
        for dead in nodes.iter().filter(|node| **node != self.node) {
            if connection.exists::<_, bool>(self.node_key(&format!("node:{dead}"))).await? {
                continue;
            }
            let namespaces_key = self.node_key(&format!("node:{dead}:namespaces"));
            let namespaces: Vec<String> = connection.smembers(&namespaces_key).await?;
            let mut removed = 0;
            for namespace in &namespaces {
                let mut invocation = self.invocation(&self.scripts.reap, namespace);
                invocation.arg(dead).arg(namespace);
                let offline: Vec<String> = invocation.invoke_async(&mut connection).await?;
                removed += offline.len();
                for entity in offline {
                    self.announce(namespace, &entity, PresenceStatus::Offline);
                }
            }
            let _: () = connection.del(&namespaces_key).await?;
            let _: () = connection.srem(self.node_key("nodes"), dead).await?;
            if removed > 0 {
                tracing::warn!(node = dead.as_str(), entities = removed, "removed the sockets of a node that stopped");
            }
        }
        Ok(())
    }

    /// Announces a presence change this node made: to its own listeners, and on the presence
    /// channel to the other nodes'.
    fn announce(&self, namespace: &str, entity_id: &str, status: PresenceStatus) {
        self.announce_locally(namespace, entity_id, status, Origin::Local);
        let status = match status {
            PresenceStatus::Online => WireStatus::Online,
            PresenceStatus::Offline => WireStatus::Offline,
            PresenceStatus::Updated => WireStatus::Updated,
        };
        let wire = Wire::Presence {
            origin: self.node.clone(),
            ns: namespace.to_owned(),
            entity: entity_id.to_owned(),
            status,
        };
        if let Ok(payload) = serde_json::to_string(&wire) {
            self.queue(Outgoing::Publish { channel: self.channels.presence(), payload });
        }
    }

    fn on_wire(&self, payload: &str) {
        match serde_json::from_str::<Wire>(payload) {
            Ok(Wire::Presence { origin, .. } | Wire::Fanout { origin, .. }) if origin == self.node => {
                Counters::add(&self.counters.echoes, 1);
            }
            Ok(Wire::Presence { origin, ns, entity, status }) => {
                metrics::cluster_received();
                Counters::add(&self.counters.received, 1);
                // The last listener may have gone since: stop listening.
                self.listen_to_presence();
                let status = match status {
                    WireStatus::Online => PresenceStatus::Online,
                    WireStatus::Offline => PresenceStatus::Offline,
                    WireStatus::Updated => PresenceStatus::Updated,
                };
                self.announce_locally(&ns, &entity, status, Origin::Node(origin.into()));
            }
            Ok(Wire::Fanout { message, .. }) => {
                metrics::cluster_received();
                Counters::add(&self.counters.received, 1);
                let _ = self.incoming.send(message);
            }
            // Not the error itself: it may quote the message, and a fan-out message holds a payload.
            Err(error) => tracing::warn!(
                line = error.line(),
                column = error.column(),
                "ignored a pub/sub message that is not from venta-ws"
            ),
        }
    }

    /// Listens on the presence channel while someone on this node subscribed to presence
    /// events.
    fn listen_to_presence(&self) {
        if self.channels.targeted() {
            self.subscriptions.set(self.channels.presence(), || self.events.receiver_count() > 0);
        }
    }

    /// Listens on an entity's channel while this node holds a socket of it; the version to
    /// wait for when that changed.
    fn listen_to_entity(&self, namespace: &str, entity_id: &str) -> Option<u64> {
        if !self.channels.targeted() {
            return None;
        }
        self.subscriptions
            .set(self.channels.entity(namespace, entity_id), || self.local.holds_entity(namespace, entity_id))
    }

    /// Listens on a room's channel while this node holds a member of it.
    fn listen_to_room(&self, namespace: &str, room: &str) {
        if self.channels.targeted() {
            self.subscriptions.set(self.channels.room(namespace, room), || self.local.holds_room(namespace, room));
        }
    }
}

/// Keeps this node subscribed: to the broadcast channel always, and to the channels it wants
/// (`channels.rs`), in batches, as they change; after a lost connection, to all of them again.
async fn subscribe_loop(
    inner: Weak<Inner>,
    subscriptions: Arc<Subscriptions>,
    stop: CancellationToken,
    mut ready: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let (topology, broadcast) = (strong.config.topology.clone(), strong.channels.broadcast());
        let timeout = strong.config.response_timeout;
        let incoming = strong.incoming.clone();
        drop(strong);
        let subscribed = async {
            let (mut subscriber, messages) = Subscriber::connect(&topology, &broadcast, timeout).await?;
            apply(&subscriptions, &mut subscriber, subscriptions.all()).await?;
            Ok::<_, redis::RedisError>((subscriber, messages))
        };
        match tokio::select! { () = stop.cancelled() => return, result = subscribed => result } {
            Ok((mut subscriber, mut messages)) => {
                backoff = Duration::from_millis(100);
                subscriptions.connected(true);
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                let lost = loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = subscriptions.changed() => {
                            if let Err(error) = apply(&subscriptions, &mut subscriber, subscriptions.take_changes()).await {
                                break format!("{error}");
                            }
                        }
                        message = messages.next() => {
                            let Some(message) = message else { break "the connection closed".to_owned() };
                            let Some(strong) = inner.upgrade() else { return };
                            match message {
                                Ok(Heard::Message(payload)) => strong.on_wire(&payload),
                                Ok(Heard::Dropped(channel)) => {
                                    drop(strong);
                                    let wanted = channel == broadcast || subscriptions.wants(&channel);
                                    if wanted && let Err(error) = subscriber.subscribe(&[channel]).await {
                                        break format!("{error}");
                                    }
                                    continue;
                                }
                                Err(error) => strong.failed("read a pub/sub message", &error),
                            }
                            drop(strong);
                            caught_up(&incoming, &stop).await;
                        }
                    }
                };
                subscriptions.connected(false);
                if let Some(strong) = inner.upgrade() {
                    strong.failed("stay subscribed to the pub/sub channels", &lost);
                }
            }
            Err(error) => {
                if let Some(strong) = inner.upgrade() {
                    strong.failed("subscribe to the pub/sub channels", &error);
                }
            }
        }
        tokio::select! { () = stop.cancelled() => return, () = tokio::time::sleep(backoff) => {} }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Waits while the node's delivery of what other nodes published is more than half a channel
/// behind, so that a burst is delivered late rather than dropped: meanwhile Redis keeps the
/// messages for this node (up to its pub/sub output buffer limit).
async fn caught_up(incoming: &broadcast::Sender<ClusterMessage>, stop: &CancellationToken) {
    while incoming.len() > CHANNEL_CAPACITY / 2 && !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Makes the connection's subscriptions follow `changes`. On a failure the connection is
/// dropped and the next one subscribes to everything wanted then, so nothing is half applied.
async fn apply(
    subscriptions: &Subscriptions,
    subscriber: &mut Subscriber,
    changes: Changes,
) -> Result<(), redis::RedisError> {
    // Never an empty UNSUBSCRIBE: that would end every subscription, the broadcast's too.
    for batch in changes.subscribe.chunks(SUBSCRIBE_BATCH) {
        subscriber.subscribe(batch).await?;
    }
    for batch in changes.unsubscribe.chunks(SUBSCRIBE_BATCH) {
        subscriber.unsubscribe(batch).await?;
    }
    subscriptions.done(changes.version);
    Ok(())
}

/// Publishes and writes room memberships in the order they were queued. While Redis is
/// unreachable they are skipped: fan-out is at most once, and the resync writes rooms back.
async fn outgoing_loop(inner: Weak<Inner>, stop: CancellationToken, mut outbox: mpsc::Receiver<Outgoing>) {
    // What a batch of publications took from the queue after them, to go next.
    let mut next = None;
    loop {
        let outgoing = match next.take() {
            Some(outgoing) => Some(outgoing),
            None => tokio::select! { () = stop.cancelled() => return, outgoing = outbox.recv() => outgoing },
        };
        let Some(outgoing) = outgoing else { return };
        let Some(strong) = inner.upgrade() else { return };
        if !strong.is_healthy() {
            continue;
        }
        let mut connection = strong.connection.clone();
        match outgoing {
            Outgoing::Publish { channel, payload } => {
                // The publications queued behind it go in the same round trip, in order.
                let mut batch = vec![(channel, payload)];
                while batch.len() < PUBLISH_BATCH {
                    match outbox.try_recv() {
                        Ok(Outgoing::Publish { channel, payload }) => batch.push((channel, payload)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match connection.publish_all(&batch).await {
                    Ok(receivers) => receivers.into_iter().for_each(|receivers| strong.published(Ok(receivers))),
                    Err(error) => strong.published(Err(error)),
                }
            }
            Outgoing::PublishToSocket { namespace, socket_id, payload } => {
                // The socket's entity, then its channel: two slots on a Redis Cluster, so two
                // commands rather than one script.
                let entity =
                    connection.hget::<_, _, Option<String>>(strong.key(&namespace, "sockets"), socket_id).await;
                match entity {
                    // No node holds the socket: nothing to publish.
                    Ok(None) => {}
                    Ok(Some(entity)) => {
                        let channel = strong.channels.entity(&namespace, &entity);
                        let published = connection.publish(&channel, &payload).await;
                        strong.published(published);
                    }
                    Err(error) => strong.published(Err(error)),
                }
            }
            Outgoing::Room { join, namespace, socket_id, room } => {
                let script = if join { &strong.scripts.join } else { &strong.scripts.leave };
                let mut invocation = strong.invocation(script, &namespace);
                invocation.arg(&namespace).arg(socket_id.to_string()).arg(room);
                if let Err(error) = invocation.invoke_async::<i64>(&mut connection).await {
                    strong.failed("write a room membership", &error);
                }
            }
        }
    }
}

async fn heartbeat_loop(inner: Weak<Inner>, stop: CancellationToken) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let period = strong.config.node_ttl / 3;
        drop(strong);
        tokio::select! { () = stop.cancelled() => return, () = tokio::time::sleep(period) => {} }
        let Some(strong) = inner.upgrade() else { return };
        match strong.heartbeat().await {
            Ok(()) => {
                if let Err(error) = strong.reap().await {
                    strong.failed("remove the sockets of stopped nodes", &error);
                }
            }
            Err(error) => strong.failed("refresh this node's heartbeat", &error),
        }
    }
}

impl RedisBackend {
    /// Registers, updates or removes a socket: in this node's memory always, in Redis while it
    /// answers; announces the entity's change to this node's subscribers.
    async fn change(&self, entry: PresenceEntry<'_>, status: PresenceStatus) -> Result<bool, PresenceError> {
        let inner = &self.inner;
        // The rooms it leaves with it, whose channels this node may no longer need.
        let rooms = match status {
            PresenceStatus::Offline => inner.local.rooms_of(entry.namespace, entry.socket_id),
            _ => Vec::new(),
        };
        let (local, script, what) = match status {
            PresenceStatus::Online => {
                (inner.local.register(entry).await?, &inner.scripts.register, "register a socket")
            }
            PresenceStatus::Offline => {
                (inner.local.unregister(entry).await?, &inner.scripts.unregister, "remove a socket")
            }
            PresenceStatus::Updated => {
                (inner.local.update_meta(entry).await?, &inner.scripts.update, "update a socket's meta")
            }
        };
        let mut changed = local;
        // A new entity here is listened for before the socket counts as registered, so an emit
        // made for it anywhere from now on reaches it.
        let listening = match status {
            PresenceStatus::Updated => None,
            _ => inner.listen_to_entity(entry.namespace, entry.entity_id),
        };
        for room in rooms {
            inner.listen_to_room(entry.namespace, &room);
        }
        if status == PresenceStatus::Online
            && inner.is_healthy()
            && let Err(error) = inner.record_namespace(entry.namespace).await
        {
            inner.failed(what, &error);
        }
        if inner.is_healthy() {
            let mut invocation = inner.invocation(script, entry.namespace);
            if status != PresenceStatus::Updated {
                invocation.arg(&inner.node);
            }
            invocation.arg(entry.namespace).arg(entry.socket_id.to_string());
            if status == PresenceStatus::Online {
                invocation.arg(entry.entity_id);
            }
            if status != PresenceStatus::Offline {
                // The local store refused a meta that does not encode.
                invocation.arg(encode_meta(entry.meta)?);
            }
            let mut connection = inner.connection.clone();
            let script = invocation.invoke_async::<i64>(&mut connection);
            let subscribed = async {
                if let (PresenceStatus::Online, Some(version)) = (status, listening) {
                    inner.subscriptions.applied(version, inner.config.response_timeout).await;
                }
            };
            match futures_util::future::join(script, subscribed).await.0 {
                Ok(result) => changed = result == 1,
                Err(error) => inner.failed(what, &error),
            }
        }
        if changed {
            inner.announce(entry.namespace, entry.entity_id, status);
        }
        Ok(changed)
    }

    /// Reads Redis while it answers, else this node's memory.
    async fn read<'a, T, R>(
        &'a self,
        what: &str,
        redis: impl Future<Output = Result<R, redis::RedisError>>,
        parse: impl FnOnce(R) -> T,
        local: impl FnOnce(&'a InMemoryPresence) -> BoxFuture<'a, Result<T, PresenceError>>,
    ) -> Result<T, PresenceError> {
        let inner = &self.inner;
        if inner.is_healthy() {
            match redis.await {
                Ok(found) => return Ok(parse(found)),
                Err(error) => inner.failed(what, &error),
            }
        }
        local(&inner.local).await
    }

    fn queue_room_write(&self, join: bool, namespace: &str, socket_id: SocketId, room: &str) {
        let (namespace, room) = (namespace.to_owned(), room.to_owned());
        self.inner.queue(Outgoing::Room { join, namespace, socket_id, room });
    }
}

impl PresenceStore for RedisBackend {
    fn register<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        Box::pin(self.change(entry, PresenceStatus::Online))
    }

    fn unregister<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        Box::pin(self.change(entry, PresenceStatus::Offline))
    }

    fn update_meta<'a>(&'a self, entry: PresenceEntry<'a>) -> BoxFuture<'a, Result<bool, PresenceError>> {
        Box::pin(self.change(entry, PresenceStatus::Updated))
    }

    fn entity_of<'a>(
        &'a self,
        namespace: &'a str,
        socket_id: SocketId,
    ) -> BoxFuture<'a, Result<Option<String>, PresenceError>> {
        let key = self.inner.key(namespace, "sockets");
        let redis = async move { self.inner.connection.clone().hget(key, socket_id.to_string()).await };
        Box::pin(self.read(
            "look up a socket",
            redis,
            |entity| entity,
            move |local| local.entity_of(namespace, socket_id),
        ))
    }

    fn sockets_of<'a>(
        &'a self,
        namespace: &'a str,
        entity_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SocketId>, PresenceError>> {
        let key = self.inner.key(namespace, &format!("entity:{entity_id}"));
        let redis = async move { self.inner.connection.clone().smembers::<_, Vec<String>>(key).await };
        let parse = |ids: Vec<String>| ids.iter().filter_map(|id| id.parse().ok()).collect();
        Box::pin(
            self.read("list an entity's sockets", redis, parse, move |local| local.sockets_of(namespace, entity_id)),
        )
    }

    fn metas<'a>(
        &'a self,
        namespace: &'a str,
        entity_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(SocketId, PresenceMeta)>, PresenceError>> {
        let redis = async move {
            let mut invocation = self.inner.invocation(&self.inner.scripts.metas, namespace);
            invocation.arg(namespace).arg(entity_id);
            invocation.invoke_async::<Vec<String>>(&mut self.inner.connection.clone()).await
        };
        let parse = |found: Vec<String>| {
            let mut metas: Vec<(SocketId, PresenceMeta)> = found
                .chunks_exact(2)
                .filter_map(|pair| Some((pair[0].parse().ok()?, serde_json::from_str(&pair[1]).unwrap_or_default())))
                .collect();
            metas.sort_unstable_by_key(|(id, _)| *id);
            metas
        };
        Box::pin(self.read("list an entity's metas", redis, parse, move |local| local.metas(namespace, entity_id)))
    }

    fn online<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<String>, PresenceError>> {
        let key = self.inner.key(namespace, "online");
        let redis = async move { self.inner.connection.clone().smembers(key).await };
        Box::pin(self.read("list who is online", redis, sorted, move |local| local.online(namespace)))
    }

    fn count<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<usize, PresenceError>> {
        let key = self.inner.key(namespace, "online");
        let redis = async move { self.inner.connection.clone().scard(key).await };
        Box::pin(self.read("count who is online", redis, |count| count, move |local| local.count(namespace)))
    }

    fn online_page<'a>(
        &'a self,
        namespace: &'a str,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<OnlinePage, PresenceError>> {
        let key = self.inner.key(namespace, "online");
        let redis = async move {
            // A cursor this store did not hand out starts the walk over.
            let position = cursor.and_then(|cursor| cursor.parse::<u64>().ok()).unwrap_or(0);
            redis::cmd("SSCAN")
                .arg(key)
                .arg(position)
                .arg("COUNT")
                .arg(limit.max(1))
                .query_async::<(u64, Vec<String>)>(&mut self.inner.connection.clone())
                .await
        };
        let parse =
            |(next, entities): (u64, Vec<String>)| OnlinePage { entities, next: (next != 0).then(|| next.to_string()) };
        // While Redis is down, this node's own entities, in one page.
        Box::pin(self.read("page through who is online", redis, parse, move |local| {
            local.online_page(namespace, None, usize::MAX)
        }))
    }

    fn online_where<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, PresenceError>> {
        let index = self.inner.index_key(namespace, key, value);
        let redis = async move { self.inner.connection.clone().hkeys(index).await };
        let local = move |local: &'a InMemoryPresence| local.online_where(namespace, key, value);
        Box::pin(self.read("list who is online with a meta", redis, sorted, local))
    }

    fn count_where<'a>(
        &'a self,
        namespace: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<usize, PresenceError>> {
        let index = self.inner.index_key(namespace, key, value);
        let redis = async move { self.inner.connection.clone().hlen(index).await };
        let local = move |local: &'a InMemoryPresence| local.count_where(namespace, key, value);
        Box::pin(self.read("count who is online with a meta", redis, |count| count, local))
    }

    fn join_room(&self, namespace: &str, socket_id: SocketId, room: &str) {
        self.inner.local.join_room(namespace, socket_id, room);
        self.inner.listen_to_room(namespace, room);
        self.queue_room_write(true, namespace, socket_id, room);
    }

    fn leave_room(&self, namespace: &str, socket_id: SocketId, room: &str) {
        self.inner.local.leave_room(namespace, socket_id, room);
        self.inner.listen_to_room(namespace, room);
        self.queue_room_write(false, namespace, socket_id, room);
    }

    fn room_members<'a>(
        &'a self,
        namespace: &'a str,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Vec<RoomMember>, PresenceError>> {
        let key = self.inner.key(namespace, &format!("room:{room}"));
        let redis = async move { self.inner.connection.clone().hgetall::<_, Vec<(String, String)>>(key).await };
        let parse = |found: Vec<(String, String)>| {
            let mut members: Vec<RoomMember> = found
                .into_iter()
                .filter_map(|(id, entity_id)| Some(RoomMember { socket_id: id.parse().ok()?, entity_id }))
                .collect();
            members.sort_unstable();
            members
        };
        Box::pin(self.read("list a room's members", redis, parse, move |local| local.room_members(namespace, room)))
    }

    fn subscribe(&self) -> broadcast::Receiver<PresenceEvent> {
        let receiver = self.inner.events.subscribe();
        self.inner.listen_to_presence();
        receiver
    }

    fn subscribe_local(&self) -> LocalEvents {
        LocalEvents::new(self.inner.local_events.subscribe())
    }
}

impl Cluster for RedisBackend {
    fn node_id(&self) -> &str {
        &self.inner.node
    }

    fn publish(&self, message: ClusterMessage) {
        let route = match self.inner.joined_remotely(&message) {
            true => Route::Channel(self.inner.channels.broadcast()),
            false => self.inner.channels.route(&message.namespace, &message.target),
        };
        let wire = Wire::Fanout { origin: self.inner.node.clone(), message };
        let Ok(payload) = serde_json::to_string(&wire) else { return };
        self.inner.queue(match route {
            Route::Channel(channel) => Outgoing::Publish { channel, payload },
            Route::Socket { namespace, socket_id } => Outgoing::PublishToSocket { namespace, socket_id, payload },
        });
    }

    fn incoming(&self) -> broadcast::Receiver<ClusterMessage> {
        self.inner.incoming.subscribe()
    }

    fn unavailable(&self) -> Option<&'static str> {
        (!self.is_healthy()).then_some("redis unreachable")
    }
}
