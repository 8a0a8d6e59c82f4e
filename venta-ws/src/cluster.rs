//! Fan-out across nodes: what one node publishes so every other node delivers an emit, a
//! disconnect or a room change to its own sockets.
//!
//! A node delivers to its local sockets itself and publishes the same, already encoded frame
//! once; the other nodes it reaches deliver it to their local sockets. Each socket lives on one
//! node, so each gets the event exactly once; a node never delivers its own publications again.
//! A transport may bring a message to every node, or only to the nodes that hold sockets its
//! [`Target`] names (the Redis backend routes by entity and room): a node that gets a message
//! none of its sockets match does nothing with it.

use std::fmt;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Which sockets of a namespace an emit, a disconnect or a room change is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every socket.
    All,
    /// Every socket but this one (the sender of a broadcast).
    Except(String),
    /// Every socket of this entity.
    Entity(String),
    /// Every socket in this room.
    Room(String),
    /// This one socket.
    Socket(String),
    /// Every socket in a room but one (the sender of a room broadcast).
    RoomExcept {
        /// The room.
        room: String,
        /// The socket left out.
        except: String,
    },
}

/// What to do with the target sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// Send this encoded envelope.
    Emit {
        /// The envelope, encoded once by the publishing node.
        frame: String,
    },
    /// Close with this code.
    Disconnect {
        /// The close code.
        code: u16,
    },
    /// Join this room.
    Join {
        /// The room.
        room: String,
    },
    /// Leave this room.
    Leave {
        /// The room.
        room: String,
    },
}

/// One publication between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMessage {
    /// The namespace of the target sockets.
    pub namespace: String,
    /// Which sockets.
    pub target: Target,
    /// What to do.
    pub action: Action,
}

/// A transport between the nodes of one application, such as
/// [`RedisBackend`](crate::redis::RedisBackend) (feature `redis`).
///
/// `publish` must not block and must keep the order of one node's publications; `incoming`
/// yields the publications of the other nodes only.
pub trait Cluster: Send + Sync + 'static {
    /// This node's id, unique in the cluster.
    fn node_id(&self) -> &str;

    /// Sends a message to the other nodes, at least to every one that holds a socket its
    /// target names; best effort.
    fn publish(&self, message: ClusterMessage);

    /// The messages other nodes publish, from now on.
    fn incoming(&self) -> broadcast::Receiver<ClusterMessage>;

    /// Why the transport cannot reach the other nodes right now, if it cannot: readiness
    /// ([`Hub::readiness`](crate::Hub::readiness)) reports it. Default: always reachable.
    fn unavailable(&self) -> Option<&'static str> {
        None
    }
}

impl fmt::Debug for dyn Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster").field("node_id", &self.node_id()).finish()
    }
}
