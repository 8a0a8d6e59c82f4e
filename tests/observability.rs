//! Observability over real sockets: interceptors around dispatched messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use venta_ws::ModuleError;
use venta_ws::intercept::{BoxFuture, Interceptor, MessageContext, Next, Outcome};
use venta_ws::prelude::*;
use venta_ws_tests::{Client, SECRET, TestServer};

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
            self.trace.lock().unwrap().push(format!("{}>{}:{}", self.name, ctx.namespace(), ctx.event()));
            let outcome = next.run().await;
            self.trace.lock().unwrap().push(format!("<{}", self.name));
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
        *trace.lock().unwrap(),
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

    trace.lock().unwrap().clear();
    let mut plain = Client::user(&server, "/plain", "u2").await;
    plain.assert_answers_ping().await;
    assert_eq!(*trace.lock().unwrap(), ["m1>plain:ping", "m2>plain:ping", "<m2", "<m1"]);

    // Unknown events go through the chain too, with the name the client sent.
    trace.lock().unwrap().clear();
    let reply = client.request("nope", json!(null), Some(7)).await;
    assert_eq!(reply["data"]["code"], "unknown_event");
    assert_eq!(trace.lock().unwrap()[0], "m1>intercepted:nope");
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
