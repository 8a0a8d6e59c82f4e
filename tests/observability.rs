//! Observability over real sockets: interceptors around dispatched messages, the metrics a
//! scrape of `/metrics` shows, and the probes during a drain.
//!
//! The `metrics` recorder is process-wide: each test uses a namespace of its own, and
//! asserts on its own series only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::json;
use venta_ws::ModuleError;
use venta_ws::intercept::{BoxFuture, Interceptor, MessageContext, Next, Outcome};
use venta_ws::prelude::*;
use venta_ws_tests::{Client, Placement, SECRET, TestServer, http_get, metric_value, scrape_until};

/// Counts its handler runs; `fail` always errors.
#[derive(WebSocketGateway)]
#[gateway(namespace = "intercepted", auth = Jwt)]
struct InterceptedGateway {
    handled: Arc<AtomicUsize>,
}

#[venta_ws::messages]
impl InterceptedGateway {
    #[subscribe("ping")]
    async fn ping(&self, data: serde_json::Value) -> Reply<serde_json::Value> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        Reply::new("pong", data)
    }

    #[subscribe("fail")]
    async fn fail(&self, _data: serde_json::Value) -> Result<Ack, GatewayError> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        Err(GatewayError::new("boom", "the handler failed"))
    }
}

/// A second gateway, to see that a gateway's own interceptors stay its own.
#[derive(WebSocketGateway)]
#[gateway(namespace = "plain", auth = Jwt)]
struct PlainGateway;

#[venta_ws::messages]
impl PlainGateway {
    #[subscribe("ping")]
    async fn ping(&self, data: serde_json::Value) -> Reply<serde_json::Value> {
        Reply::new("pong", data)
    }
}

type Trace = Arc<Mutex<Vec<String>>>;

/// Writes `name>` before the rest of the chain and `<name` after it.
struct Record {
    name: &'static str,
    trace: Trace,
}

impl Interceptor for Record {
    fn intercept<'a>(&'a self, ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.trace.lock().expect("trace lock").push(format!("{}>{}:{}", self.name, ctx.namespace(), ctx.event()));
            let outcome = next.run().await;
            self.trace.lock().expect("trace lock").push(format!("<{}", self.name));
            outcome
        })
    }
}

/// Refuses `blocked` without running the rest of the chain.
struct Block;

impl Interceptor for Block {
    fn intercept<'a>(&'a self, ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if ctx.event() == "ping" && ctx.payload_size() > 64 {
                return Err(GatewayError::new("too_big", "pings of more than 64 bytes are refused"));
            }
            next.run().await
        })
    }
}

/// Renames every error code to `mapped:<code>`.
struct MapErrors;

impl Interceptor for MapErrors {
    fn intercept<'a>(&'a self, _ctx: &'a MessageContext<'a>, next: Next<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            next.run().await.map_err(|error| {
                let code: &'static str = Box::leak(format!("mapped:{}", error.code()).into_boxed_str());
                GatewayError::new(code, error.message().to_owned())
            })
        })
    }
}

fn record(name: &'static str, trace: &Trace) -> Record {
    Record { name, trace: Arc::clone(trace) }
}

#[tokio::test]
async fn interceptors_run_module_outer_gateway_inner_in_registration_order() {
    let trace = Trace::default();
    let handled = Arc::new(AtomicUsize::new(0));
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .interceptor(record("m1", &trace))
        .gateway_interceptor::<InterceptedGateway>(record("g1", &trace))
        .interceptor(record("m2", &trace))
        .gateway(InterceptedGateway { handled: Arc::clone(&handled) })
        .gateway(PlainGateway)
        .gateway_interceptor::<InterceptedGateway>(record("g2", &trace))
        .build()
        .expect("module builds");
    let server = TestServer::start(module).await;

    let mut client = Client::user(&server, "/intercepted", "u1").await;
    client.assert_answers_ping().await;
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    assert_eq!(
        *trace.lock().expect("trace lock"),
        [
            "m1>intercepted:ping",
            "m2>intercepted:ping",
            "g1>intercepted:ping",
            "g2>intercepted:ping",
            "<g2",
            "<g1",
            "<m2",
            "<m1"
        ]
    );

    trace.lock().expect("trace lock").clear();
    let mut plain = Client::user(&server, "/plain", "u2").await;
    plain.assert_answers_ping().await;
    assert_eq!(*trace.lock().expect("trace lock"), ["m1>plain:ping", "m2>plain:ping", "<m2", "<m1"]);

    // Unknown events go through the chain too, with the name the client sent.
    trace.lock().expect("trace lock").clear();
    let reply = client.request("nope", json!(null), Some(7)).await;
    assert_eq!(reply["data"]["code"], "unknown_event");
    assert_eq!(trace.lock().expect("trace lock")[0], "m1>intercepted:nope");
    drop((client, plain));
    server.shutdown().await;
}

#[tokio::test]
async fn an_interceptor_short_circuits_and_another_maps_errors() {
    let handled = Arc::new(AtomicUsize::new(0));
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        // Outer: sees the inner refusal and the handler's error alike.
        .interceptor(MapErrors)
        .gateway_interceptor::<InterceptedGateway>(Block)
        .gateway(InterceptedGateway { handled: Arc::clone(&handled) })
        .build()
        .expect("module builds");
    let server = TestServer::start(module).await;
    let mut client = Client::user(&server, "/intercepted", "u1").await;

    let big = "x".repeat(100);
    let reply = client.request("ping", json!(big), Some(1)).await;
    assert_eq!(
        reply,
        json!({"event": "error", "data": {"code": "mapped:too_big", "message": "pings of more than 64 bytes are refused"}, "id": 1})
    );
    assert_eq!(handled.load(Ordering::SeqCst), 0, "the short-circuited handler did not run");

    let reply = client.request("fail", json!(null), Some(2)).await;
    assert_eq!(reply["data"]["code"], "mapped:boom");
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    // What passes is untouched, and the socket still serves.
    client.assert_answers_ping().await;
    assert_eq!(handled.load(Ordering::SeqCst), 2);
    drop(client);
    server.shutdown().await;
}

#[test]
fn an_interceptor_for_a_gateway_the_module_lacks_is_refused() {
    let err = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(PlainGateway)
        .gateway_interceptor::<InterceptedGateway>(MapErrors)
        .build()
        .expect_err("no such gateway");
    assert!(matches!(err, ModuleError::InterceptorWithoutGateway { .. }), "{err:?}");
    assert!(err.to_string().contains("InterceptedGateway"), "{err}");
}

/// A gateway of its own for the metrics test: `ping` and `fail` are its declared events.
#[derive(WebSocketGateway)]
#[gateway(namespace = "metered", auth = Jwt)]
struct MeteredGateway;

#[venta_ws::messages]
impl MeteredGateway {
    #[subscribe("ping")]
    async fn ping(&self, data: serde_json::Value) -> Reply<serde_json::Value> {
        Reply::new("pong", data)
    }

    #[subscribe("fail")]
    async fn fail(&self, _data: serde_json::Value) -> Result<Ack, GatewayError> {
        Err(GatewayError::new("boom", "the handler failed"))
    }

    /// Queues `count` frames for the sender at once, more than its send queue holds.
    #[subscribe("flood")]
    async fn flood(&self, socket: &AuthenticatedSocket, count: usize) {
        for n in 0..count {
            if socket.emit("flooded", &n).is_err() {
                break;
            }
        }
    }
}

/// For the drain test.
#[derive(WebSocketGateway)]
#[gateway(namespace = "drained", auth = Jwt)]
struct DrainedGateway;

#[venta_ws::messages]
impl DrainedGateway {}

fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| venta_ws::metrics::install().expect("the only recorder")).clone()
}

/// Serves `router` on a free loopback port.
async fn serve_probes(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("probes serve") });
    addr
}

#[tokio::test]
async fn a_scrape_counts_sockets_refusals_messages_and_disconnects() {
    let handle = prometheus();
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(MeteredGateway)
        .send_queue_capacity(64)
        .build()
        .expect("module builds");
    let server = TestServer::start(module).await;
    let probes = serve_probes(venta_ws::probes::router_with_metrics(server.hub.clone(), handle)).await;
    let ns = ("namespace", "metered");
    let ws = ("transport", "websocket");

    let mut clients = Vec::new();
    for sub in ["a", "b", "c"] {
        clients.push(Client::user(&server, "/metered", sub).await);
    }
    server.wait_online("metered", &["a", "b", "c"]).await;
    let text = scrape_until(probes, |text| metric_value(text, "venta_ws_connections", &[ns, ws]) == 3.0).await;
    assert_eq!(metric_value(&text, "venta_ws_connections_accepted_total", &[ns, ws]), 3.0);
    assert_eq!(metric_value(&text, "venta_ws_presence_entities", &[ns]), 3.0, "read from presence at the scrape");
    assert_eq!(metric_value(&text, "venta_ws_handshake_duration_seconds_count", &[ns]), 3.0);
    let sent_before = metric_value(&text, "venta_ws_messages_sent_total", &[ns]);

    // Two refusals without a token, by code.
    for _ in 0..2 {
        let mut refused = Client::connect(&server.url("/metered"), None, Placement::Header).await;
        assert_eq!(refused.closed().await.code, Some(4401));
    }

    clients[0].assert_answers_ping().await;
    clients[1].assert_answers_ping().await;
    let reply = clients[2].request("fail", json!(null), Some(1)).await;
    assert_eq!(reply["data"]["code"], "boom");
    for n in 0..3 {
        let reply = clients[2].request(&format!("made-up-event-{n}"), json!(null), Some(2)).await;
        assert_eq!(reply["data"]["code"], "unknown_event");
    }

    let text = scrape_until(probes, |text| {
        metric_value(text, "venta_ws_connections_rejected_total", &[ns, ("code", "4401")]) == 2.0
            && metric_value(text, "venta_ws_messages_received_total", &[ns, ("event", "unknown")]) == 3.0
    })
    .await;
    // Refused handshakes are timed too.
    assert_eq!(metric_value(&text, "venta_ws_handshake_duration_seconds_count", &[ns]), 5.0);
    // Two pongs, one `boom` and three `unknown_event` errors went out.
    assert_eq!(metric_value(&text, "venta_ws_messages_sent_total", &[ns]) - sent_before, 6.0);
    assert_eq!(metric_value(&text, "venta_ws_messages_received_total", &[ns, ("event", "ping")]), 2.0);
    assert_eq!(metric_value(&text, "venta_ws_messages_received_total", &[ns, ("event", "fail")]), 1.0);
    assert_eq!(metric_value(&text, "venta_ws_handler_duration_seconds_count", &[ns, ("event", "ping")]), 2.0);
    assert_eq!(metric_value(&text, "venta_ws_handler_duration_seconds_count", &[ns, ("event", "unknown")]), 3.0);
    assert_eq!(metric_value(&text, "venta_ws_handler_errors_total", &[ns, ("event", "fail"), ("code", "boom")]), 1.0);
    assert_eq!(
        metric_value(&text, "venta_ws_handler_errors_total", &[ns, ("event", "unknown"), ("code", "unknown_event")]),
        3.0
    );
    assert!(!text.contains("made-up-event"), "client-chosen event names make no series:\n{text}");
    assert!(text.contains("venta_ws_handler_duration_seconds_bucket{"), "explicit buckets:\n{text}");
    assert!(text.contains("le=\"0.0005\""), "the first bucket:\n{text}");

    // Two leave with 1000, one with a close frame without a code.
    let mut clients = clients.into_iter();
    clients.next().expect("a").close_with(1000).await;
    clients.next().expect("b").close_with(1000).await;
    clients.next().expect("c").close().await;
    let text = scrape_until(probes, |text| metric_value(text, "venta_ws_connections", &[ns, ws]) == 0.0).await;
    assert_eq!(metric_value(&text, "venta_ws_disconnects_total", &[ns, ("code", "1000")]), 2.0);
    assert_eq!(metric_value(&text, "venta_ws_disconnects_total", &[ns, ("code", "none")]), 1.0);
    assert_eq!(metric_value(&text, "venta_ws_presence_entities", &[ns]), 0.0);
    assert_eq!(metric_value(&text, "venta_ws_send_queue_full_total", &[ns]), 0.0);

    // A socket that is sent more than its queue holds is closed as a slow consumer.
    let mut slow = Client::user(&server, "/metered", "slow").await;
    slow.send("flood", json!(1000), None).await;
    assert_eq!(slow.closed().await.code, Some(4429));
    let text = scrape_until(probes, |text| metric_value(text, "venta_ws_connections", &[ns, ws]) == 0.0).await;
    assert_eq!(metric_value(&text, "venta_ws_send_queue_full_total", &[ns]), 1.0);
    assert_eq!(metric_value(&text, "venta_ws_disconnects_total", &[ns, ("code", "4429")]), 1.0);
    server.shutdown().await;
}

#[tokio::test]
async fn readiness_turns_503_when_the_drain_starts_while_liveness_stays_200() {
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(DrainedGateway)
        .build()
        .expect("module builds");
    let server = TestServer::start(module).await;
    let probes = serve_probes(venta_ws::probes::router(server.hub.clone())).await;
    assert_eq!(http_get(probes, "/livez").await, (200, "ok".to_owned()));
    assert_eq!(http_get(probes, "/readyz").await, (200, "ready".to_owned()));

    let mut client = Client::user(&server, "/drained", "a").await;
    server.wait_online("drained", &["a"]).await;
    let hub = server.hub.clone();
    let drain = tokio::spawn(async move { hub.shutdown(Duration::from_secs(5)).await });
    assert_eq!(client.closed().await.code, Some(1001));
    assert_eq!(http_get(probes, "/readyz").await, (503, "draining".to_owned()));
    assert_eq!(http_get(probes, "/livez").await, (200, "ok".to_owned()));
    assert!(drain.await.expect("drain").completed);
}
