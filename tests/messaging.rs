//! Messaging over real sockets: envelopes, acks, error envelopes, and emitting to entities,
//! rooms and namespaces.

use jsonwebtoken::Algorithm;
use serde_json::json;
use venta_ws::CloseCode;
use venta_ws_tests::{Client, Placement, SECRET, TestServer, now, sign};

#[tokio::test]
async fn acks_carry_the_request_id_and_only_come_when_asked_for() {
    let server = TestServer::example().await;
    let mut client = Client::user(&server, "/user", "u1").await;
    let ack = client.request("location.update", json!({"lat": 52.5, "lng": 13.4}), Some(7)).await;
    assert_eq!(ack, json!({"event": "location.update", "data": {"lat": 52.5, "lng": 13.4}, "id": 7}));

    client.send_text(r#"{"event":"location.update","data":{"lat":1.0,"lng":2.0},"id":"req-a"}"#).await;
    assert_eq!(client.recv().await["id"], json!("req-a"));

    client.send("location.update", json!({"lat": 3.0, "lng": 4.0}), None).await;
    client.assert_answers_ping().await; // the next frame is the pong: no ack without an id
    let ping = client.request("ping", json!("x"), Some(9)).await;
    assert_eq!(ping, json!({"event": "pong", "data": "x", "id": 9}));
}

#[tokio::test]
async fn unknown_events_malformed_frames_and_bad_payloads_get_error_envelopes_and_the_socket_stays_open() {
    let server = TestServer::example().await;
    let mut client = Client::user(&server, "/user", "u1").await;

    let reply = client.request("teleport", json!({}), Some(1)).await;
    assert_eq!(reply["event"], "error");
    assert_eq!(reply["data"]["code"], "unknown_event");
    assert_eq!(reply["id"], 1);
    client.assert_answers_ping().await;

    client.send_text("{\"event\": \"ping\", \"data\": ").await;
    let reply = client.recv().await;
    assert_eq!(reply["data"]["code"], "malformed_envelope");
    assert!(reply.get("id").is_none());
    client.assert_answers_ping().await;

    client.send_text(r#"{"data": 1, "id": 5}"#).await;
    let reply = client.recv().await;
    assert_eq!((reply["data"]["code"].as_str(), reply["id"].as_u64()), (Some("malformed_envelope"), Some(5)));
    client.assert_answers_ping().await;

    let reply = client.request("location.update", json!({"lat": "north"}), Some(2)).await;
    assert_eq!(reply["data"]["code"], "invalid_payload");
    assert_eq!(reply["id"], 2);
    client.assert_answers_ping().await;

    let reply = client.request("location.update", json!({"lat": 91.0, "lng": 0.0}), Some(3)).await;
    assert_eq!(
        reply,
        json!({"event": "error", "id": 3, "data": {
            "code": "invalid_payload",
            "message": "`data` of event `location.update` is not valid: lat: greater than 90",
            "details": [{"field": "lat", "message": "greater than 90"}],
        }})
    );
    client.assert_answers_ping().await;

    let reply = client.request("vendor.location", json!("nobody"), Some(4)).await;
    assert_eq!(reply["data"]["code"], "not_found");
    client.assert_answers_ping().await;
}

#[tokio::test]
async fn binary_frames_are_answered_with_an_error_envelope() {
    let server = TestServer::example().await;
    let mut client = Client::user(&server, "/user", "u1").await;
    client.send_binary(&[1, 2, 3]).await;
    assert_eq!(client.recv().await["data"]["code"], "unsupported_frame");
    client.assert_answers_ping().await;
}

#[tokio::test]
async fn a_vendor_move_reaches_every_connected_user() {
    let server = TestServer::example().await;
    let mut alice = Client::user(&server, "/user", "alice").await;
    let mut bob = Client::user(&server, "/user", "bob").await;
    let mut truck = Client::vendor(&server, "/vendor", "truck-1").await;
    alice.assert_answers_ping().await;
    bob.assert_answers_ping().await;

    let ack = truck.request("location.update", json!({"lat": 48.1, "lng": 11.6}), Some(1)).await;
    assert_eq!(ack["id"], 1);
    let pushed = json!({"event": "vendor.location", "data": {"vendorId": "truck-1", "lat": 48.1, "lng": 11.6}});
    assert_eq!(alice.recv().await, pushed);
    assert_eq!(bob.recv().await, pushed);

    let last = alice.request("vendor.location", json!("truck-1"), Some(2)).await;
    assert_eq!(last, json!({"event": "vendor.location", "data": {"lat": 48.1, "lng": 11.6}, "id": 2}));
}

#[tokio::test]
async fn emit_to_one_entity_reaches_all_its_sockets_and_no_one_else() {
    let server = TestServer::example().await;
    let mut phone = Client::user(&server, "/user", "u1").await;
    let mut laptop = Client::user(&server, "/user", "u1").await;
    let mut other = Client::user(&server, "/user", "u2").await;
    for client in [&mut phone, &mut laptop, &mut other] {
        client.assert_answers_ping().await;
    }
    let user = server.hub.namespace("user").expect("namespace");
    assert_eq!(user.emit_to_entity("u1", "notice", &json!({"text": "hi"})).expect("emits"), 2);
    assert_eq!(phone.recv().await, json!({"event": "notice", "data": {"text": "hi"}}));
    assert_eq!(laptop.recv().await, json!({"event": "notice", "data": {"text": "hi"}}));
    other.assert_answers_ping().await; // nothing was queued before the pong

    assert_eq!(user.emit("all", &1).expect("emits"), 3);
    for client in [&mut phone, &mut laptop, &mut other] {
        assert_eq!(client.recv().await, json!({"event": "all", "data": 1}));
    }
}

#[tokio::test]
async fn disconnecting_an_entity_closes_all_its_sockets() {
    let server = TestServer::example().await;
    let mut phone = Client::user(&server, "/user", "u1").await;
    let mut laptop = Client::user(&server, "/user", "u1").await;
    let mut other = Client::user(&server, "/user", "u2").await;
    phone.assert_answers_ping().await;
    laptop.assert_answers_ping().await;
    other.assert_answers_ping().await;

    let user = server.hub.namespace("user").expect("namespace");
    assert_eq!(user.disconnect_entity("u1", CloseCode::Forbidden), 2);
    assert_eq!(phone.closed().await.code, Some(4403));
    assert_eq!(laptop.closed().await.code, Some(4403));
    server.wait_online("user", &["u2"]).await;
    other.assert_answers_ping().await;
}

#[tokio::test]
async fn messages_up_to_the_limit_arrive_whole_despite_the_small_read_buffer() {
    let server = TestServer::example().await;
    let mut client = Client::user(&server, "/user", "u1").await;
    // 64 KiB is the default limit; the envelope around the data takes a few bytes of it.
    let big = "x".repeat(64 * 1024 - 64);
    let reply = client.request("ping", json!(big), Some(1)).await;
    assert_eq!(reply["data"].as_str().map(str::len), Some(big.len()));
    client.assert_answers_ping().await;
}

#[tokio::test]
async fn only_an_admin_may_disconnect_a_user_and_the_user_is_closed_with_4403_on_every_socket() {
    let server = TestServer::example().await;
    let url = server.url("/user");
    let mut phone = Client::user(&server, "/user", "u1").await;
    let mut laptop = Client::user(&server, "/user", "u1").await;
    phone.assert_answers_ping().await;
    laptop.assert_answers_ping().await;

    // The gateway's guard refuses a user without the role; the socket stays open.
    let mut user = Client::user(&server, "/user", "u2").await;
    let refused = user.request("admin.disconnect", json!({"entityId": "u1"}), Some(1)).await;
    assert_eq!(
        refused,
        json!({"event": "error", "id": 1, "data": {"code": "forbidden", "message": "`admin.disconnect` requires the role `admin`"}})
    );
    user.assert_answers_ping().await;

    let admin_token =
        sign(&json!({"sub": "support-1", "role": "admin", "exp": now() + 3600}), SECRET, Algorithm::HS256);
    let mut admin = Client::connect(&url, Some(&admin_token), Placement::Header).await;
    let invalid = admin.request("admin.disconnect", json!({"entityId": ""}), Some(2)).await;
    assert_eq!(invalid["data"]["code"], "invalid_payload");
    assert_eq!(invalid["data"]["details"][0]["field"], "entityId");
    let done = admin.request("admin.disconnect", json!({"entityId": "u1"}), Some(3)).await;
    assert_eq!(done, json!({"event": "admin.disconnect", "data": 2, "id": 3}), "both sockets of u1");
    for socket in [&mut phone, &mut laptop] {
        assert_eq!(socket.closed().await.code, Some(CloseCode::Forbidden.code()));
    }
    server.wait_online("user", &["support-1", "u2"]).await;
}
