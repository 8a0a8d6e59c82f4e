//! The in-process test harness (`venta_ws::testing`): gateways tested without a network, the
//! way users test theirs.

use std::sync::Arc;

use serde_json::json;
use venta_ws::StandardClaims;
use venta_ws::prelude::*;
use venta_ws::protocol::MessageId;
use venta_ws::testing::{self, Closed, TestError};
use venta_ws_examples::{ExampleClaims, Kind, LocationService, UserLocationGateway, VendorGateway};
use venta_ws_tests::example_config;

fn module() -> WebSocketModule {
    venta_ws_examples::module(&example_config(), &Arc::new(LocationService::default())).expect("builds")
}

fn user_identity(entity_id: &str) -> Identity<ExampleClaims> {
    ExampleClaims::identity(entity_id, Kind::User)
}

#[tokio::test]
async fn handlers_acks_and_errors_answer_the_request_they_belong_to() {
    let module = module();
    let mut user = testing::connect::<UserLocationGateway>(&module, user_identity("u1")).await.expect("connects");

    let ack = user.request("location.update", json!({"lat": 1.5, "lng": 2.5})).await.expect("answer");
    assert_eq!(
        (ack.event.as_str(), &ack.data, &ack.id),
        ("location.update", &json!({"lat": 1.5, "lng": 2.5}), &Some(MessageId::Number(1)))
    );
    let error = user.request("location.update", json!({"lat": 100.0, "lng": 0.0})).await.expect("answer");
    assert_eq!(error.error_code(), Some("invalid_payload"));
    assert_eq!(error.data["details"][0]["field"], "lat");
    let unknown = user.request("nope", json!(null)).await.expect("answer");
    assert_eq!(unknown.error_code(), Some("unknown_event"));
    user.close().await;
}

#[tokio::test]
async fn pushed_events_wait_for_recv_while_a_request_is_answered() {
    let module = module();
    let mut user = testing::connect::<UserLocationGateway>(&module, user_identity("u1")).await.expect("connects");
    let vendor = ExampleClaims::identity("truck", Kind::Vendor);
    let mut vendor = testing::connect::<VendorGateway>(&module, vendor).await.expect("connects");

    vendor.request("location.update", json!({"lat": 10.0, "lng": 20.0})).await.expect("ack");
    let online = user.request("presence.online", json!(null)).await.expect("answer");
    assert_eq!(online.data, json!(["u1"]));
    let pushed = user.recv().await.expect("the vendor's move");
    assert_eq!(pushed.event, "vendor.location");
    assert_eq!(pushed.data, json!({"vendorId": "truck", "lat": 10.0, "lng": 20.0}));
}

#[tokio::test]
async fn the_example_refuses_a_token_of_the_other_kind_with_4403() {
    let module = module();
    let mut user_as_vendor = testing::connect::<VendorGateway>(&module, user_identity("u1")).await.expect("connects");
    let refused = Closed { code: Some(4403), reason: "/vendor takes vendor tokens only, not user tokens".into() };
    assert_eq!(user_as_vendor.closed().await, Ok(refused));
    let vendor = ExampleClaims::identity("truck", Kind::Vendor);
    let mut vendor_as_user = testing::connect::<UserLocationGateway>(&module, vendor).await.expect("connects");
    assert_eq!(vendor_as_user.closed().await.expect("closed").code, Some(4403));
    assert_eq!(module.hub().namespace("vendor").expect("ns").online().await.expect("presence"), Vec::<String>::new());
}

#[tokio::test]
async fn presence_follows_test_sockets_like_real_ones() {
    let module = module();
    let users = module.hub().namespace("user").expect("namespace").clone();
    let phone = testing::connect::<UserLocationGateway>(&module, user_identity("u1")).await.expect("connects");
    let mut laptop = testing::connect::<UserLocationGateway>(&module, user_identity("u1")).await.expect("connects");
    laptop.request("ping", json!(1)).await.expect("pong");
    assert_eq!(users.online().await.expect("presence"), ["u1"]);
    assert_eq!(users.local_sockets_of("u1").len(), 2);
    phone.close().await;
    assert_eq!(users.online().await.expect("presence"), ["u1"]);
    laptop.close().await;
    assert_eq!(users.online().await.expect("presence"), Vec::<String>::new());
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "admin", auth = Jwt)]
struct AdminGateway;

#[venta_ws::messages]
impl AdminGateway {
    async fn validate_connection(
        &self,
        _request: &ConnectRequest,
        identity: &Identity<StandardClaims>,
    ) -> Result<(), GatewayError> {
        match identity.claims.extra.get("role").and_then(|role| role.as_str()) {
            Some("admin") => Ok(()),
            _ => Err(GatewayError::forbidden("admins only")),
        }
    }

    #[subscribe("kick")]
    async fn kick(&self, socket: &AuthenticatedSocket, entity: String) -> Ack<usize> {
        Ack(socket.namespace().disconnect_entity(&entity, CloseCode::Forbidden))
    }
}

#[tokio::test]
async fn claims_reach_the_hooks_and_refusals_arrive_as_close_codes() {
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256("unused in tests, but 32 bytes or more"))
        .gateway(AdminGateway)
        .build()
        .expect("builds");
    let mut visitor = testing::connect::<AdminGateway>(&module, testing::identity("v")).await.expect("connects");
    assert_eq!(visitor.closed().await, Ok(Closed { code: Some(4403), reason: "admins only".into() }));

    let mut admin_identity = testing::identity("root");
    admin_identity.claims.extra.insert("role".into(), json!("admin"));
    let mut other_admin = testing::identity("other");
    other_admin.claims.extra.insert("role".into(), json!("admin"));
    let mut admin = testing::connect::<AdminGateway>(&module, admin_identity).await.expect("connects");
    let mut other = testing::connect::<AdminGateway>(&module, other_admin).await.expect("connects");
    assert_eq!(admin.request("kick", "other").await.expect("ack").data, json!(1));
    assert_eq!(other.closed().await.expect("closed").code, Some(4403));
    assert!(matches!(other.recv().await, Err(TestError::Closed(_))));

    let missing = testing::connect::<UserLocationGateway>(&module, user_identity("u")).await;
    assert_eq!(missing.err(), Some(TestError::NoSuchGateway("UserLocationGateway")));
}
