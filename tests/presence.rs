//! Presence over real sockets: several sockets per entity, online until the last one leaves,
//! cleanup however a socket ends, and the change stream.

use serde_json::json;
use venta_ws::presence::{PresenceEvent, PresenceStatus};
use venta_ws_tests::{Client, TestServer, WAIT};

#[tokio::test]
async fn two_sockets_of_one_user_make_one_online_entity_until_both_close() {
    let server = TestServer::example().await;
    let mut changes = server.hub.presence().subscribe();
    let mut phone = Client::user(&server, "/user", "u1").await;
    let laptop = Client::user(&server, "/user", "u1").await;
    phone.assert_answers_ping().await;

    let online = phone.request("presence.online", json!(null), None).await;
    assert_eq!(online, json!({"event": "presence.online", "data": ["u1"]}));
    let user = server.hub.namespace("user").expect("namespace");
    assert_eq!(user.local_sockets_of("u1").len(), 2);

    laptop.close().await;
    let online = phone.request("presence.online", json!(null), None).await;
    assert_eq!(online["data"], json!(["u1"]), "still online on the phone");

    phone.close().await;
    server.wait_online("user", &[]).await;

    let first = tokio::time::timeout(WAIT, changes.recv()).await.expect("in time").expect("event");
    let second = tokio::time::timeout(WAIT, changes.recv()).await.expect("in time").expect("event");
    let expect = |status| PresenceEvent { namespace: "user".into(), entity_id: "u1".into(), status };
    assert_eq!((first, second), (expect(PresenceStatus::Online), expect(PresenceStatus::Offline)));
    assert!(changes.try_recv().is_err(), "one online and one offline change, nothing for the second socket");
}

#[tokio::test]
async fn a_dropped_connection_leaves_nothing_stale() {
    let server = TestServer::example().await;
    let mut client = Client::user(&server, "/user", "u1").await;
    client.assert_answers_ping().await;
    server.wait_online("user", &["u1"]).await;
    client.drop_connection();
    server.wait_online("user", &[]).await;
    assert_eq!(server.hub.namespace("user").expect("namespace").local_socket_count(), 0);
}

#[tokio::test]
async fn namespaces_keep_separate_presence() {
    let server = TestServer::example().await;
    let mut user = Client::user(&server, "/user", "u1").await;
    let mut vendor = Client::vendor(&server, "/vendor", "v1").await;
    let mut other_vendor = Client::vendor(&server, "/vendor", "v2").await;
    other_vendor.assert_answers_ping().await;

    assert_eq!(
        user.request("presence.online", json!(null), Some(1)).await,
        json!({"event": "presence.online", "data": ["u1"], "id": 1})
    );
    assert_eq!(vendor.request("presence.online", json!(null), None).await["data"], json!(["v1", "v2"]));
    other_vendor.close_with(4000).await;
    server.wait_online("vendor", &["v1"]).await;
}
