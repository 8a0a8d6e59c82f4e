//! The metrics of venta-ws, through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): every name and label is here, and nowhere else.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `venta_ws_connections` | gauge | `namespace`, `transport` |
//! | `venta_ws_connections_accepted_total` | counter | `namespace`, `transport` |
//! | `venta_ws_connections_rejected_total` | counter | `namespace`, `code` |
//! | `venta_ws_disconnects_total` | counter | `namespace`, `code` |
//! | `venta_ws_messages_received_total` | counter | `namespace`, `event` |
//! | `venta_ws_handler_duration_seconds` | histogram | `namespace`, `event` |
//! | `venta_ws_handler_errors_total` | counter | `namespace`, `event`, `code` |
//! | `venta_ws_messages_sent_total` | counter | `namespace` |
//! | `venta_ws_handshake_duration_seconds` | histogram | `namespace` |
//! | `venta_ws_rate_limited_total` | counter | `namespace` |
//! | `venta_ws_send_queue_full_total` | counter | `namespace` |
//! | `venta_ws_presence_entities` | gauge | `namespace` |
//! | `venta_ws_cluster_published_total` | counter | |
//! | `venta_ws_cluster_received_total` | counter | |
//! | `venta_ws_cluster_errors_total` | counter | |
//! | `venta_ws_redis_up` | gauge | |
//!
//! `event` is one of the events the gateway declares ([`GatewayHandlers::EVENTS`]), or
//! `"unknown"` for anything else a client sends, so clients cannot create series.
//! `code` of a disconnect is the close code, `"none"` when the client sent none and
//! `"lost"` when the connection dropped without a close.
//!
//! Without the feature every function here is an empty inline one. With it, the per-message
//! metrics are recorded by an [`Interceptor`](crate::intercept::Interceptor), the same hook
//! applications use, set outermost on every gateway.
//!
//! [`install`] sets a Prometheus recorder as the process's global one and returns the handle
//! that renders its text (what `GET /metrics` of [`crate::probes`] serves).
//!
//! [`GatewayHandlers::EVENTS`]: crate::GatewayHandlers::EVENTS

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::*;
#[cfg(feature = "metrics")]
pub use enabled::*;

/// The gauge of open sockets.
pub const CONNECTIONS: &str = "venta_ws_connections";
/// Sockets admitted.
pub const CONNECTIONS_ACCEPTED: &str = "venta_ws_connections_accepted_total";
/// Sockets refused, by close code.
pub const CONNECTIONS_REJECTED: &str = "venta_ws_connections_rejected_total";
/// Sockets that ended after being admitted, by close code.
pub const DISCONNECTS: &str = "venta_ws_disconnects_total";
/// Envelopes received, by declared event.
pub const MESSAGES_RECEIVED: &str = "venta_ws_messages_received_total";
/// How long handlers took, by declared event.
pub const HANDLER_DURATION: &str = "venta_ws_handler_duration_seconds";
/// Handler errors, by declared event and error code.
pub const HANDLER_ERRORS: &str = "venta_ws_handler_errors_total";
/// Frames written to sockets.
pub const MESSAGES_SENT: &str = "venta_ws_messages_sent_total";
/// How long a handshake took, from the request to the verdict (admitted or refused).
pub const HANDSHAKE_DURATION: &str = "venta_ws_handshake_duration_seconds";
/// Frames refused by the rate limit.
pub const RATE_LIMITED: &str = "venta_ws_rate_limited_total";
/// Sockets closed because their send queue was full (close code 4429).
pub const SEND_QUEUE_FULL: &str = "venta_ws_send_queue_full_total";
/// Entities online in a namespace, as this node's presence store sees them (with Redis,
/// across the cluster).
pub const PRESENCE_ENTITIES: &str = "venta_ws_presence_entities";
/// Messages this node published to the cluster (feature `redis`).
pub const CLUSTER_PUBLISHED: &str = "venta_ws_cluster_published_total";
/// Messages this node received from the cluster.
pub const CLUSTER_RECEIVED: &str = "venta_ws_cluster_received_total";
/// Failed cluster operations: a publish, a presence write, a lost subscription.
pub const CLUSTER_ERRORS: &str = "venta_ws_cluster_errors_total";
/// 1 while this node's Redis answers, 0 while it does not.
pub const REDIS_UP: &str = "venta_ws_redis_up";

/// Every metric name above, for dashboards and checks.
pub const NAMES: &[&str] = &[
    CONNECTIONS,
    CONNECTIONS_ACCEPTED,
    CONNECTIONS_REJECTED,
    DISCONNECTS,
    MESSAGES_RECEIVED,
    MESSAGES_SENT,
    HANDLER_DURATION,
    HANDLER_ERRORS,
    HANDSHAKE_DURATION,
    RATE_LIMITED,
    SEND_QUEUE_FULL,
    PRESENCE_ENTITIES,
    CLUSTER_PUBLISHED,
    CLUSTER_RECEIVED,
    CLUSTER_ERRORS,
    REDIS_UP,
];

/// The buckets of [`HANDLER_DURATION`] and [`HANDSHAKE_DURATION`], in seconds.
pub const DURATION_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The `event` label of an event the gateway does not declare.
pub const UNKNOWN_EVENT: &str = "unknown";

#[cfg(not(feature = "metrics"))]
mod disabled {
    use crate::close::DisconnectReason;
    use crate::transport::Transport;

    pub(crate) struct OpenConnection;

    pub(crate) struct GatewayMetrics;

    impl GatewayMetrics {
        #[inline(always)]
        pub(crate) fn new(_namespace: &'static str) -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn connection_opened(&self, _transport: Transport) -> OpenConnection {
            OpenConnection
        }

        #[inline(always)]
        pub(crate) fn handshake_finished(&self, _started: std::time::Instant) {}

        #[inline(always)]
        pub(crate) fn sent(&self) -> Sent {
            Sent
        }
    }

    #[inline(always)]
    pub(crate) fn connection_rejected(_namespace: &'static str, _code: u16) {}

    #[inline(always)]
    pub(crate) fn disconnected(_namespace: &'static str, _reason: &DisconnectReason) {}

    #[inline(always)]
    pub(crate) fn rate_limited(_namespace: &'static str) {}

    pub(crate) struct Sent;

    impl Sent {
        #[inline(always)]
        pub(crate) fn add(&self, _frames: u64) {}
    }

    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn cluster_published() {}

    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn cluster_received() {}

    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn cluster_error() {}

    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn redis_up(_up: bool) {}
}

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::OnceLock;

    use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

    use super::*;
    use crate::close::{CloseCode, DisconnectReason};
    use crate::hub::Hub;
    use crate::intercept::{BoxFuture, Interceptor, MessageContext, Next, Outcome};
    use crate::transport::Transport;

    /// Sets a Prometheus recorder, with [`DURATION_BUCKETS`] for the histograms, as the
    /// process's global recorder, and returns the handle that renders its text. Fails when
    /// another recorder is already set.
    ///
    /// The recorder keeps histogram samples until they are folded into their buckets; a
    /// thread of its own does that every [`UPKEEP_INTERVAL`], so memory stays bounded however
    /// rarely `/metrics` is scraped.
    pub fn install() -> Result<PrometheusHandle, BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)?
            .install_recorder()?;
        let upkeep = handle.clone();
        // The recorder is the process's for good, and so is this thread.
        let spawned = std::thread::Builder::new().name("venta-ws-metrics-upkeep".to_owned()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the metrics upkeep thread: histogram samples are folded only at scrapes");
        }
        Ok(handle)
    }

    /// How often [`install`]'s recorder folds histogram samples into their buckets.
    pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

    /// Sets the gauges that are read from state rather than counted as things happen:
    /// [`PRESENCE_ENTITIES`] of every namespace of `hub` (with Redis, one count per namespace
    /// across the cluster, not a scan). `GET /metrics` of
    /// [`crate::probes::router_with_metrics`] calls it before each render; call it before
    /// rendering where you serve the text yourself.
    pub async fn refresh(hub: &Hub) {
        for namespace in hub.namespaces() {
            if let Ok(count) = namespace.online_count().await {
                #[allow(clippy::cast_precision_loss, reason = "a gauge is an f64; counts stay far below 2^53")]
                metrics::gauge!(PRESENCE_ENTITIES, "namespace" => namespace.name().to_owned()).set(count as f64);
            }
        }
    }

    /// An open socket, counted in [`CONNECTIONS`] until dropped.
    pub(crate) struct OpenConnection {
        gauge: metrics::Gauge,
    }

    impl Drop for OpenConnection {
        fn drop(&mut self) {
            self.gauge.decrement(1.0);
        }
    }

    /// One gateway's per-connection handles, looked up once, at its first connection (when
    /// the application has installed its recorder), instead of at every connection.
    pub(crate) struct GatewayMetrics {
        namespace: &'static str,
        /// [`CONNECTIONS_ACCEPTED`] and [`CONNECTIONS`] per transport, then
        /// [`HANDSHAKE_DURATION`] and [`MESSAGES_SENT`].
        handles: OnceLock<Handles>,
    }

    struct Handles {
        opened: [(metrics::Counter, metrics::Gauge); 2],
        handshake: metrics::Histogram,
        sent: metrics::Counter,
    }

    impl GatewayMetrics {
        pub(crate) fn new(namespace: &'static str) -> Self {
            Self { namespace, handles: OnceLock::new() }
        }

        fn handles(&self) -> &Handles {
            self.handles.get_or_init(|| {
                let namespace = self.namespace;
                let opened = [Transport::WebSocket, Transport::SocketIo].map(|transport| {
                    let labels = [("namespace", namespace), ("transport", transport.as_str())];
                    (metrics::counter!(CONNECTIONS_ACCEPTED, &labels), metrics::gauge!(CONNECTIONS, &labels))
                });
                Handles {
                    opened,
                    handshake: metrics::histogram!(HANDSHAKE_DURATION, "namespace" => namespace),
                    sent: metrics::counter!(MESSAGES_SENT, "namespace" => namespace),
                }
            })
        }

        pub(crate) fn connection_opened(&self, transport: Transport) -> OpenConnection {
            let index = match transport {
                Transport::WebSocket => 0,
                Transport::SocketIo => 1,
            };
            let (accepted, gauge) = &self.handles().opened[index];
            accepted.increment(1);
            gauge.increment(1.0);
            OpenConnection { gauge: gauge.clone() }
        }

        pub(crate) fn handshake_finished(&self, started: std::time::Instant) {
            self.handles().handshake.record(started.elapsed().as_secs_f64());
        }

        /// [`MESSAGES_SENT`] of one socket.
        pub(crate) fn sent(&self) -> Sent {
            Sent(self.handles().sent.clone())
        }
    }

    pub(crate) fn connection_rejected(namespace: &'static str, code: u16) {
        metrics::counter!(CONNECTIONS_REJECTED, "namespace" => namespace, "code" => code.to_string()).increment(1);
    }

    pub(crate) fn disconnected(namespace: &'static str, reason: &DisconnectReason) {
        let code = match reason {
            DisconnectReason::ClientClosed { code: Some(code) } => code.to_string(),
            DisconnectReason::ClientClosed { code: None } => "none".to_owned(),
            DisconnectReason::ServerClosed { code, .. } => code.code().to_string(),
            DisconnectReason::ConnectionLost => "lost".to_owned(),
        };
        if let DisconnectReason::ServerClosed { code: CloseCode::SlowConsumer, .. } = reason {
            metrics::counter!(SEND_QUEUE_FULL, "namespace" => namespace).increment(1);
        }
        metrics::counter!(DISCONNECTS, "namespace" => namespace, "code" => code).increment(1);
    }

    pub(crate) fn rate_limited(namespace: &'static str) {
        metrics::counter!(RATE_LIMITED, "namespace" => namespace).increment(1);
    }

    /// [`MESSAGES_SENT`] of one socket, its handle taken from its gateway's.
    pub(crate) struct Sent(metrics::Counter);

    impl Sent {
        pub(crate) fn add(&self, frames: u64) {
            if frames > 0 {
                self.0.increment(frames);
            }
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn cluster_published() {
        metrics::counter!(CLUSTER_PUBLISHED).increment(1);
    }

    #[cfg(feature = "redis")]
    pub(crate) fn cluster_received() {
        metrics::counter!(CLUSTER_RECEIVED).increment(1);
    }

    #[cfg(feature = "redis")]
    pub(crate) fn cluster_error() {
        metrics::counter!(CLUSTER_ERRORS).increment(1);
    }

    #[cfg(feature = "redis")]
    pub(crate) fn redis_up(up: bool) {
        metrics::gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
    }

    /// Records [`MESSAGES_RECEIVED`], [`HANDLER_DURATION`] and [`HANDLER_ERRORS`] of one
    /// gateway: the interceptor set on every gateway, outer to the application's.
    ///
    /// The counter and histogram of each declared event (and of `unknown`) are registered
    /// once, at the gateway's first message, so a message costs no label lookup: the
    /// recorder must be installed before the server serves, as with every `metrics` handle.
    pub(crate) struct MessageMetrics {
        namespace: &'static str,
        events: &'static [&'static str],
        /// One entry per declared event, in `events`' order, then `unknown`.
        handles: std::sync::OnceLock<Box<[EventMetrics]>>,
    }

    struct EventMetrics {
        received: metrics::Counter,
        duration: metrics::Histogram,
    }

    impl MessageMetrics {
        pub(crate) fn new(namespace: &'static str, events: &'static [&'static str]) -> Self {
            Self { namespace, events, handles: std::sync::OnceLock::new() }
        }

        /// The declared event `ctx` is for (or `unknown`), with its handles.
        fn handles(&self, ctx: &MessageContext<'_>) -> (&'static str, &EventMetrics) {
            let handles = self.handles.get_or_init(|| {
                self.events
                    .iter()
                    .chain([&UNKNOWN_EVENT])
                    .map(|event| {
                        let labels = [("namespace", self.namespace), ("event", *event)];
                        EventMetrics {
                            received: metrics::counter!(MESSAGES_RECEIVED, &labels),
                            duration: metrics::histogram!(HANDLER_DURATION, &labels),
                        }
                    })
                    .collect()
            });
            match self.events.iter().position(|declared| *declared == ctx.event()) {
                Some(index) => (self.events[index], &handles[index]),
                None => (UNKNOWN_EVENT, &handles[self.events.len()]),
            }
        }
    }

    impl Interceptor for MessageMetrics {
        fn intercept<'a>(&'a self, ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome> {
            Box::pin(async move {
                let (event, handles) = self.handles(ctx);
                handles.received.increment(1);
                let outcome = next.run().await;
                handles.duration.record(ctx.received_at.elapsed().as_secs_f64());
                if let Err(error) = &outcome {
                    let code = error.code().to_owned();
                    metrics::counter!(HANDLER_ERRORS, "namespace" => self.namespace, "event" => event, "code" => code)
                        .increment(1);
                }
                outcome
            })
        }
    }
}
