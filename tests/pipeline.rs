//! What NestJS gateway teams reach for around their handlers, over real sockets: guards on a
//! gateway and on a handler, validated payloads with a `details` list, domain errors that
//! convert with `?`, error filters, the hub reached from a handler with a typed handle, and
//! tokens minted with `testing::TokenMinter` for a crate's own tests.
//!
//! The gateways are a small delivery-tracking service: riders (custom claims with `role` and
//! `tenant`, a room per order) and customers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::{Value, json};
use venta_ws::filter::ErrorContext;
use venta_ws::guard::{Guard, GuardContext, HasRoles, Roles};
use venta_ws::prelude::*;
use venta_ws::testing::{self, TokenMinter};
use venta_ws::validate::Valid;
use venta_ws::{FieldError, Hub, SocketOf};
use venta_ws_tests::{Client, LogCapture, Placement, SECRET, SocketIoClient, SocketIoToken, TestServer, WAIT};

#[derive(Debug, Clone, Deserialize)]
struct RiderClaims {
    role: String,
    tenant: String,
}

impl HasRoles for RiderClaims {
    fn has_role(&self, role: &str) -> bool {
        self.role == role
    }
}

#[derive(Debug, Deserialize, garde::Validate)]
struct JoinOrder {
    #[garde(range(min = 1, max = 1_000_000))]
    order_id: u64,
    #[garde(length(max = 20))]
    #[serde(default)]
    note: String,
}

/// A domain error: a `std::error::Error`, converted as the application says.
#[derive(Debug)]
enum OrderError {
    Missing(u64),
    Store(&'static str),
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(id) => write!(f, "order {id} does not exist"),
            Self::Store(why) => write!(f, "order store: {why}"),
        }
    }
}

impl std::error::Error for OrderError {}

impl From<OrderError> for GatewayError {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::Missing(_) => GatewayError::not_found(error.to_string()),
            OrderError::Store(_) => GatewayError::internal(error),
        }
    }
}

/// Orders 1..=9 are assigned to `rider-1`, the rest to `rider-2`; 404 does not exist.
fn assigned_rider(order_id: u64) -> Result<&'static str, OrderError> {
    match order_id {
        404 => Err(OrderError::Missing(order_id)),
        500 => Err(OrderError::Store("connection reset")),
        1..=9 => Ok("rider-1"),
        _ => Ok("rider-2"),
    }
}

/// Only the rider an order is assigned to may join its room; counts the checks it runs.
struct AssignedRider {
    checks: Arc<AtomicUsize>,
}

impl Guard<RiderClaims, JoinOrder> for AssignedRider {
    async fn check(&self, ctx: GuardContext<'_, RiderClaims, JoinOrder>) -> Result<(), GatewayError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        if assigned_rider(ctx.payload().order_id)? == ctx.entity_id() {
            Ok(())
        } else {
            Err(GatewayError::forbidden(format!("order {} is assigned to another rider", ctx.payload().order_id)))
        }
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt<RiderClaims>, entity = "Rider")]
struct RiderGateway {
    checks: Arc<AtomicUsize>,
}

#[venta_ws::messages]
#[guard(Roles::any(&["rider", "dispatcher"]))]
impl RiderGateway {
    #[subscribe("whoami")]
    async fn whoami(&self, socket: &SocketOf<Self>) -> Ack<Value> {
        Ack(json!({ "rider": socket.entity_id(), "tenant": socket.claims().tenant }))
    }

    #[subscribe("order.join")]
    #[guard(AssignedRider { checks: Arc::clone(&self.checks) })]
    async fn join(&self, socket: &SocketOf<Self>, order: Valid<JoinOrder>) -> Ack<Vec<String>> {
        socket.join(&format!("order:{}", order.order_id));
        Ack(socket.rooms())
    }

    #[subscribe("order.find")]
    async fn find(&self, order_id: u64) -> Result<Ack<&'static str>, OrderError> {
        assigned_rider(order_id).map(Ack)
    }

    #[subscribe("dispatch.only")]
    #[guard(Roles::any(&["dispatcher"]))]
    async fn dispatch_only(&self) -> Ack<&'static str> {
        Ack("dispatched")
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "customer", auth = Jwt, entity = "Customer")]
struct CustomerGateway;

#[venta_ws::messages]
impl CustomerGateway {
    /// Tells the order's rider, on the other gateway, that the customer is waiting.
    #[subscribe("order.waiting")]
    async fn waiting(&self, socket: &AuthenticatedSocket, order_id: u64) -> Result<Ack<usize>, GatewayError> {
        let rider = assigned_rider(order_id)?;
        let hub = socket.hub();
        let riders = hub.gateway::<RiderGateway>().ok_or_else(|| GatewayError::not_found("no rider gateway"))?;
        let reached = riders.emit_to_entity(
            rider,
            "customer.waiting",
            &json!({ "order": order_id, "customer": socket.entity_id() }),
        )?;
        Ok(Ack(reached))
    }
}

fn minter() -> TokenMinter {
    TokenMinter::hs256(SECRET)
}

fn rider_token(rider: &str, role: &str) -> String {
    minter().token_with(rider, json!({ "role": role, "tenant": "acme" }))
}

fn module_with(checks: &Arc<AtomicUsize>) -> venta_ws::WebSocketModuleBuilder {
    WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(RiderGateway { checks: Arc::clone(checks) })
        .gateway(CustomerGateway)
}

async fn server() -> (TestServer, Arc<AtomicUsize>) {
    let checks = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(module_with(&checks).build().expect("module")).await;
    (server, checks)
}

async fn rider(server: &TestServer, rider: &str, role: &str) -> Client {
    Client::connect(&server.url("/rider"), Some(&rider_token(rider, role)), Placement::Header).await
}

fn error(answer: &Value) -> (&str, &str) {
    assert_eq!(answer["event"], "error", "{answer}");
    (answer["data"]["code"].as_str().unwrap_or_default(), answer["data"]["message"].as_str().unwrap_or_default())
}

#[tokio::test]
async fn a_gateway_guard_refuses_every_handler_to_a_token_without_the_role_and_the_socket_stays_open() {
    let (server, checks) = server().await;
    let mut customer_token_on_rider_gateway = rider(&server, "c-1", "customer").await;

    let refused = customer_token_on_rider_gateway.request("whoami", json!(null), Some(1)).await;
    assert_eq!(error(&refused), ("forbidden", "`whoami` requires one of the roles: rider, dispatcher"));
    assert_eq!(refused["id"], 1, "the refusal answers the request");
    let refused = customer_token_on_rider_gateway.request("order.join", json!({"order_id": 3}), Some(2)).await;
    assert_eq!(error(&refused).0, "forbidden");
    assert_eq!(checks.load(Ordering::SeqCst), 0, "the gateway's guard runs before the handler's");

    let mut rider_1 = rider(&server, "rider-1", "rider").await;
    let me = rider_1.request("whoami", json!(null), Some(3)).await;
    assert_eq!(me["data"], json!({"rider": "rider-1", "tenant": "acme"}));
    let refused = rider_1.request("dispatch.only", json!(null), Some(4)).await;
    assert_eq!(error(&refused), ("forbidden", "`dispatch.only` requires the role `dispatcher`"));
    let mut dispatcher = rider(&server, "d-1", "dispatcher").await;
    assert_eq!(dispatcher.request("dispatch.only", json!(null), Some(5)).await["data"], "dispatched");

    // Refused, not disconnected: the same socket goes on.
    let again = customer_token_on_rider_gateway.request("whoami", json!(null), Some(6)).await;
    assert_eq!(error(&again).0, "forbidden");
}

#[tokio::test]
async fn a_handler_guard_sees_the_validated_payload_and_refuses_orders_of_other_riders() {
    let (server, checks) = server().await;
    let mut rider_1 = rider(&server, "rider-1", "rider").await;

    let joined = rider_1.request("order.join", json!({"order_id": 3}), Some(1)).await;
    assert_eq!(joined["data"], json!(["order:3"]));
    let refused = rider_1.request("order.join", json!({"order_id": 12}), Some(2)).await;
    assert_eq!(error(&refused), ("forbidden", "order 12 is assigned to another rider"));
    // A guard's own `?` converts a domain error as the application says.
    let missing = rider_1.request("order.join", json!({"order_id": 404}), Some(3)).await;
    assert_eq!(error(&missing), ("not_found", "order 404 does not exist"));
    assert_eq!(checks.load(Ordering::SeqCst), 3);

    let rooms = server.hub.gateway::<RiderGateway>().expect("mounted").rooms();
    assert_eq!(rooms.into_iter().collect::<Vec<_>>(), [("order:3".to_owned(), 1)], "only the allowed join happened");
}

#[tokio::test]
async fn an_invalid_payload_lists_every_broken_rule_in_details_and_no_guard_runs() {
    let (server, checks) = server().await;
    let mut rider_1 = rider(&server, "rider-1", "rider").await;

    let invalid = rider_1
        .request("order.join", json!({"order_id": 0, "note": "a note far longer than twenty characters"}), Some(7))
        .await;
    let (code, message) = error(&invalid);
    assert_eq!(code, "invalid_payload");
    assert!(message.starts_with("`data` of event `order.join` is not valid: "), "{message}");
    assert!(message.ends_with("(and 1 more)"), "{message}");
    let details: Vec<FieldError> = serde_json::from_value(invalid["data"]["details"].clone()).expect("details");
    let mut fields: Vec<&str> = details.iter().map(|detail| detail.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["note", "order_id"]);
    let first = &details[0];
    assert!(message.contains(&format!("{}: {}", first.field, first.message)), "the message names the first problem");
    assert!(details.iter().all(|detail| !detail.message.is_empty()));
    assert_eq!(invalid["id"], 7);

    // A payload that does not deserialize is the same code, without details.
    let mistyped = rider_1.request("order.join", json!({"order_id": "three"}), Some(8)).await;
    assert_eq!(error(&mistyped).0, "invalid_payload");
    assert!(mistyped["data"].get("details").is_none(), "{mistyped}");
    assert_eq!(checks.load(Ordering::SeqCst), 0, "guards see validated payloads only");
}

#[tokio::test]
async fn socket_io_clients_get_the_details_in_the_exception_and_in_their_ack() {
    let (server, _) = server().await;
    let token = rider_token("rider-1", "rider");
    let (mut client, answer) = SocketIoClient::join(&server, "/socket.io", "rider", SocketIoToken::Auth(&token)).await;
    assert!(answer.starts_with("40/rider,"), "{answer}");

    client.send(r#"42/rider,5["order.join",{"order_id":0}]"#).await;
    let exception = client.packet().await;
    let body = exception.strip_prefix(r#"42/rider,["exception","#).and_then(|rest| rest.strip_suffix(']'));
    let body: Value = serde_json::from_str(body.expect("an exception event")).expect("json");
    assert_eq!((&body["status"], &body["code"]), (&json!("error"), &json!("invalid_payload")));
    assert_eq!(body["details"][0]["field"], "order_id");
    let ack = client.packet().await;
    let acked: Value = serde_json::from_str(ack.strip_prefix("43/rider,5").expect("the ack")).expect("json");
    assert_eq!(acked[0], body, "the ack callback gets the same error");
}

#[tokio::test]
async fn domain_errors_convert_with_question_mark_as_the_application_says_and_hide_internal_ones() {
    let (server, _) = server().await;
    let mut rider_1 = rider(&server, "rider-1", "rider").await;

    assert_eq!(rider_1.request("order.find", json!(3), Some(1)).await["data"], "rider-1");
    let missing = rider_1.request("order.find", json!(404), Some(2)).await;
    assert_eq!(error(&missing), ("not_found", "order 404 does not exist"));
    let store = rider_1.request("order.find", json!(500), Some(3)).await;
    assert_eq!(error(&store), ("internal", "internal error"), "an internal error's text stays on the server");
}

#[tokio::test]
async fn error_filters_rewrite_answers_gateway_first_and_logs_keep_what_was_raised() {
    // The one test of this file that reads logs sets the process's subscriber.
    let capture = LogCapture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).init();

    let checks = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen_by_filter = Arc::clone(&seen);
    let module = module_with(&checks)
        // The module's filter runs second: it sees what the gateway's made of the error.
        .error_filter(|_: &ErrorContext<'_>, error: GatewayError| match error.code() {
            "internal" => error.with_message("something went wrong on our side; try again"),
            _ => error,
        })
        .gateway_error_filter::<RiderGateway>(move |ctx: &ErrorContext<'_>, error: GatewayError| {
            seen_by_filter.lock().expect("lock").push((
                ctx.namespace().to_owned(),
                ctx.entity_id().to_owned(),
                ctx.operation().to_string(),
            ));
            match error.code() {
                "forbidden" => {
                    error.with_code("not_allowed").with_details([FieldError::new("role", "ask a dispatcher")])
                }
                "not_found" => GatewayError::internal(std::io::Error::other("masked")).with_code("internal"),
                _ => error,
            }
        })
        .build()
        .expect("module");
    let server = TestServer::start(module).await;
    let mut rider_1 = rider(&server, "rider-1", "rider").await;

    let refused = rider_1.request("dispatch.only", json!(null), Some(1)).await;
    assert_eq!(error(&refused), ("not_allowed", "`dispatch.only` requires the role `dispatcher`"));
    assert_eq!(refused["data"]["details"], json!([{"field": "role", "message": "ask a dispatcher"}]));
    let masked = rider_1.request("order.find", json!(404), Some(2)).await;
    assert_eq!(
        error(&masked),
        ("internal", "something went wrong on our side; try again"),
        "gateway filter, then module filter"
    );
    rider_1.send_text("{not an envelope").await;
    let malformed = rider_1.recv().await;
    assert_eq!(error(&malformed).0, "malformed_envelope", "errors outside handlers pass the filters too");

    let mut customer = Client::connect(&server.url("/customer"), Some(&minter().token("c-1")), Placement::Header).await;
    let unknown = customer.request("order.lost", json!(null), Some(3)).await;
    assert_eq!(error(&unknown).0, "unknown_event", "a gateway's filter is for that gateway only");

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen[0], ("rider".to_owned(), "rider-1".to_owned(), "handle event `dispatch.only`".to_owned()));
    assert_eq!(seen.len(), 3);
    let logs = capture.text();
    assert!(logs.contains("forbidden: `dispatch.only` requires the role `dispatcher`"), "logged as raised:\n{logs}");
    assert!(logs.contains("not_found: order 404 does not exist"), "logged as raised:\n{logs}");
}

#[tokio::test]
async fn a_handler_reaches_another_gateway_through_its_socket_s_hub_with_no_hub_kept_by_the_app() {
    let checks = Arc::new(AtomicUsize::new(0));
    let module = module_with(&checks).build().expect("module");
    // Served from the router alone: the application keeps no `Hub` of its own.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { venta_ws::serve(listener, module.into_router()).await });

    let url = |path: &str| format!("ws://{addr}{path}");
    let mut rider_1 = Client::connect(&url("/rider"), Some(&rider_token("rider-1", "rider")), Placement::Header).await;
    rider_1.request("whoami", json!(null), Some(1)).await;
    let mut customer = Client::connect(&url("/customer"), Some(&minter().token("c-9")), Placement::Query).await;

    let acked = customer.request("order.waiting", json!(3), Some(1)).await;
    assert_eq!(acked["data"], 1, "one rider socket reached");
    let told = rider_1.recv().await;
    assert_eq!(told, json!({"event": "customer.waiting", "data": {"order": 3, "customer": "c-9"}}));
}

#[tokio::test]
async fn the_typed_handle_finds_only_the_gateway_it_names() {
    /// Another gateway type on a namespace the module also has.
    #[derive(WebSocketGateway)]
    #[gateway(namespace = "customer", auth = Jwt)]
    struct ImpostorGateway;
    #[venta_ws::messages]
    impl ImpostorGateway {}

    let (server, _) = server().await;
    let hub: &Hub = &server.hub;
    assert_eq!(hub.gateway::<RiderGateway>().map(Namespace::name), Some("rider"));
    assert_eq!(hub.gateway::<CustomerGateway>().map(Namespace::path), Some("/customer"));
    assert!(hub.gateway::<ImpostorGateway>().is_none(), "same namespace name, another gateway");
}

#[tokio::test]
async fn minted_tokens_are_verified_like_an_identity_provider_s() {
    let issuer = "https://auth.example.com";
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET).issuer(issuer).audience("delivery"))
        .gateway(CustomerGateway)
        .build()
        .expect("module");
    let server = TestServer::start(module).await;
    let url = server.url("/customer");
    let minter = TokenMinter::hs256(SECRET).issuer(issuer).audience("delivery");

    let mut accepted = Client::connect(&url, Some(&minter.token("c-1")), Placement::Header).await;
    assert_eq!(accepted.request("order.waiting", json!(404), Some(1)).await["data"]["code"], "not_found");
    for (token, why) in [
        (minter.expired("c-2"), "expired"),
        (TokenMinter::hs256(SECRET).audience("delivery").token("c-3"), "no issuer"),
        (
            TokenMinter::hs256("another secret of thirty-two bytes!").issuer(issuer).audience("delivery").token("c-4"),
            "wrong key",
        ),
    ] {
        let mut refused = Client::connect(&url, Some(&token), Placement::Header).await;
        assert_eq!(refused.closed().await.code, Some(4401), "{why}");
    }
}

#[tokio::test]
async fn the_harness_takes_identities_with_custom_claims() {
    let checks = Arc::new(AtomicUsize::new(0));
    let module = module_with(&checks).build().expect("module");
    let claims = |role: &str| RiderClaims { role: role.to_owned(), tenant: "acme".to_owned() };

    let mut rider_1 = testing::connect::<RiderGateway>(&module, testing::identity_with("rider-1", claims("rider")))
        .await
        .expect("connects");
    assert_eq!(rider_1.request("order.join", json!({"order_id": 2})).await.expect("answer").data, json!(["order:2"]));
    let mut customer = testing::connect::<RiderGateway>(&module, testing::identity_with("c-1", claims("customer")))
        .await
        .expect("connects");
    let refused = customer.request("whoami", json!(null)).await.expect("answer");
    assert_eq!(refused.error_code(), Some("forbidden"));
    tokio::time::timeout(WAIT, rider_1.close()).await.expect("closes");
}
