//! Traces over OpenTelemetry: the main example's spans, exported by `venta_ws::otel` over
//! OTLP/HTTP to a collector in the test process that decodes what the exporter sends, as an
//! OpenTelemetry Collector would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message as _;
use serde_json::json;
use tracing_subscriber::prelude::*;
use venta_ws_tests::{Client, TestServer, token};

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter().map(|pair| (pair.key.clone(), text(pair.value.as_ref()))).collect()
}

/// `POST /v1/traces` with an OTLP protobuf body, as a collector serves it.
async fn export(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
    let mut spans = spans.lock().expect("spans");
    for resource in request.resource_spans {
        let resource_attributes = attributes(&resource.resource.map(|r| r.attributes).unwrap_or_default());
        let service = resource_attributes.get("service.name").cloned().unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

async fn collector() -> (SocketAddr, Spans) {
    let spans = Spans::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/v1/traces", post(export)).with_state(Arc::clone(&spans));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("collector serves") });
    (addr, spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_is_a_span_under_its_socket_span_exported_over_otlp() {
    let (collector, spans) = collector().await;
    let traces = venta_ws::otel::Tracing::otlp("location-gateway", Some(&format!("http://{collector}/")))
        .expect("the OTLP exporter builds");
    // The message spans are at DEBUG under their own target, off at a plain `info`.
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info,venta_ws::message=debug"))
        .with(traces.layer())
        .init();

    let server = TestServer::example().await;
    let mut client = Client::connect_with_headers(
        &server.url("/user"),
        &[("authorization", format!("Bearer {}", token("traced-user"))), ("user-agent", "field-app/2.1".to_owned())],
    )
    .await;
    let pong = client.request("ping", json!({"n": 1}), Some(7)).await;
    assert_eq!(pong["event"], "pong");
    let refused = client.request("no.such.event", json!(null), Some(8)).await;
    assert_eq!(refused["data"]["code"], "unknown_event");
    client.close().await;
    server.wait_online("user", &[]).await;

    // The socket span ends with the socket; wait for it, flushing what is batched.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let received = loop {
        let flushed = tokio::task::spawn_blocking({
            let traces = traces.clone();
            move || traces.flush()
        });
        flushed.await.expect("flush task").expect("the exporter flushes");
        let received = spans.lock().expect("spans").clone();
        if received.iter().any(|span| span.name == "socket") {
            break received;
        }
        assert!(tokio::time::Instant::now() < deadline, "no socket span was exported: {received:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let socket = received
        .iter()
        .find(|span| {
            span.name == "socket" && span.attributes.get("entity_id").map(String::as_str) == Some(r#""traced-user""#)
        })
        .unwrap_or_else(|| panic!("the socket's span: {received:#?}"));
    assert_eq!(socket.service, "location-gateway");
    assert_eq!(socket.attributes["namespace"], "user");
    assert_eq!(socket.attributes["transport"], "websocket");
    assert!(socket.attributes["remote_addr"].starts_with("127.0.0.1:"), "{:?}", socket.attributes);
    // Client input (the entity id comes from the token), quoted as every untrusted field is.
    assert_eq!(socket.attributes["user_agent"], r#""field-app/2.1""#);
    assert!(!socket.attributes.values().any(|value| value.contains("eyJ")), "a token in the span: {socket:?}");

    let messages: Vec<&Received> =
        received.iter().filter(|span| span.name == "message" && span.parent_span_id == socket.span_id).collect();
    assert_eq!(messages.len(), 2, "one span per message under the socket's: {received:#?}");
    let ping = messages.iter().find(|span| span.attributes["event"] == "ping").expect("the ping's span");
    assert_eq!(ping.trace_id, socket.trace_id);
    assert_eq!(ping.attributes["id"], "7");
    assert_eq!(ping.attributes["outcome"], "ok");
    assert!(ping.attributes["duration_us"].parse::<u64>().is_ok(), "{:?}", ping.attributes);
    assert!(!ping.attributes.contains_key("code"));
    // An event the gateway does not declare is the client's text, quoted.
    let unknown = messages.iter().find(|span| span.attributes["event"] == r#""no.such.event""#).expect("its span");
    assert_eq!(unknown.attributes["id"], "8");
    assert_eq!(unknown.attributes["outcome"], "error");
    assert_eq!(unknown.attributes["code"], "unknown_event");

    tokio::task::spawn_blocking(move || traces.shutdown()).await.expect("shutdown task").expect("the exporter stops");
}
