//! The two ways a node reaches Redis: one server (or a primary with replicas), or a Redis
//! Cluster. Commands go through [`Commands`], pub/sub through [`Subscriber`]; the rest of the
//! backend does not tell them apart.
//!
//! On a cluster, publications are sharded (`SPUBLISH`/`SSUBSCRIBE`): a channel lives on the
//! shard that owns its slot, so a publication reaches one shard and the nodes listening there,
//! not the whole cluster. Scripts are routed by their `KEYS[1]` (`scripts.rs` keeps each in
//! one slot).

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSubSink};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, PushKind, RedisFuture, RedisResult, Value};

/// Where Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Topology {
    /// One server, at this URL.
    Single(String),
    /// A Redis Cluster, reached through these nodes (any of them; the others are found).
    Cluster(Vec<String>),
}

impl Topology {
    /// The addresses, for messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Single(url) => url.clone(),
            Self::Cluster(nodes) => format!("the cluster of {}", nodes.join(", ")),
        }
    }
}

/// A connection for commands, cloned per use (both kinds multiplex).
#[derive(Clone)]
pub(super) enum Commands {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Commands {
    pub(super) async fn connect(topology: &Topology, timeout: Duration) -> RedisResult<Self> {
        match topology {
            Topology::Single(url) => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(timeout))
                    .set_connection_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                let client = redis::Client::open(url.as_str())?;
                Ok(Self::Single(client.get_connection_manager_with_config(config).await?))
            }
            Topology::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.clone())
                    .response_timeout(timeout)
                    .connection_timeout(timeout)
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// The command that publishes on `channel`: sharded on a cluster.
    fn publish_command(&self, channel: &str, payload: &str) -> Cmd {
        let mut command = redis::cmd(if self.is_cluster() { "SPUBLISH" } else { "PUBLISH" });
        command.arg(channel).arg(payload);
        command
    }

    fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Publishes `payload` on `channel`; how many listeners Redis delivered it to.
    pub(super) async fn publish(&mut self, channel: &str, payload: &str) -> RedisResult<i64> {
        self.publish_command(channel, payload).query_async(self).await
    }

    /// Publishes each `(channel, payload)` in order, in one round trip on one server; on a
    /// cluster each goes to its shard, all sent before any answer is awaited, so each shard
    /// gets them in order.
    pub(super) async fn publish_all(&mut self, publications: &[(String, String)]) -> RedisResult<Vec<i64>> {
        match self {
            Self::Single(_) => {
                let mut pipe = redis::pipe();
                for (channel, payload) in publications {
                    pipe.add_command(self.publish_command(channel, payload));
                }
                pipe.query_async(self).await
            }
            Self::Cluster(_) => {
                let sends = publications.iter().map(|(channel, payload)| {
                    let (mut connection, command) = (self.clone(), self.publish_command(channel, payload));
                    async move { command.query_async::<i64>(&mut connection).await }
                });
                futures_util::future::join_all(sends).await.into_iter().collect()
            }
        }
    }
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// What a [`Subscriber`] hears.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Heard {
    /// A message's payload.
    Message(String),
    /// Redis stopped this subscription: on a cluster, the shard gave the channel's slot away
    /// (a failover, a resharding), and the channel must be subscribed again where it lives now.
    Dropped(String),
}

/// What a [`Subscriber`] hears, as a stream.
pub(super) type Messages = Pin<Box<dyn Stream<Item = RedisResult<Heard>> + Send>>;

/// A connection that listens on channels.
pub(super) enum Subscriber {
    Single(PubSubSink),
    Cluster(ClusterConnection),
}

impl Subscriber {
    /// Connects and listens on `broadcast`.
    pub(super) async fn connect(
        topology: &Topology,
        broadcast: &str,
        timeout: Duration,
    ) -> RedisResult<(Self, Messages)> {
        match topology {
            Topology::Single(url) => {
                let (mut sink, stream) = redis::Client::open(url.as_str())?.get_async_pubsub().await?.split();
                sink.subscribe(broadcast).await?;
                let messages = stream.map(|message| message.get_payload::<String>().map(Heard::Message));
                Ok((Self::Single(sink), Box::pin(messages)))
            }
            Topology::Cluster(nodes) => {
                let (pushes, received) = tokio::sync::mpsc::unbounded_channel();
                let client = ClusterClientBuilder::new(nodes.clone())
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(pushes)
                    .response_timeout(timeout)
                    .connection_timeout(timeout)
                    .build()?;
                let mut connection = client.get_async_connection().await?;
                connection.ssubscribe(broadcast).await?;
                let messages = tokio_stream_of(received).filter_map(|push: redis::PushInfo| async move {
                    let heard = match push.kind {
                        PushKind::SMessage | PushKind::Message => Heard::Message,
                        PushKind::SUnsubscribe => Heard::Dropped,
                        // Confirmations; after a disconnection the connection subscribes again
                        // by itself.
                        _ => return None,
                    };
                    let index = usize::from(push.kind != PushKind::SUnsubscribe);
                    let text = push.data.into_iter().nth(index)?;
                    Some(redis::from_redis_value::<String>(text).map(heard).map_err(redis::RedisError::from))
                });
                Ok((Self::Cluster(connection), Box::pin(messages)))
            }
        }
    }

    /// Listens on `channels` too.
    pub(super) async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        match self {
            Self::Single(sink) => sink.subscribe(channels).await,
            Self::Cluster(connection) => sharded(connection, channels, true).await,
        }
    }

    /// Stops listening on `channels`.
    pub(super) async fn unsubscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        match self {
            Self::Single(sink) => sink.unsubscribe(channels).await,
            Self::Cluster(connection) => sharded(connection, channels, false).await,
        }
    }
}

/// Subscribes to (or unsubscribes from) sharded `channels`. A sharded subscription names
/// channels of one slot: one command per channel, all sent before any answer is awaited.
async fn sharded(connection: &ClusterConnection, channels: &[String], subscribe: bool) -> RedisResult<()> {
    let commands =
        channels.iter().map(|channel| {
            let mut connection = connection.clone();
            async move {
                if subscribe { connection.ssubscribe(channel).await } else { connection.sunsubscribe(channel).await }
            }
        });
    futures_util::future::try_join_all(commands).await.map(drop)
}

/// The messages of an unbounded channel as a stream.
fn tokio_stream_of<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
