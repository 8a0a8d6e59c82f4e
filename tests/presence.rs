//! Presence over real sockets: several sockets per entity, online until the last one leaves,
//! cleanup however a socket ends, and the change stream; metas and the queries they index;
//! rooms changed from the server, room emits and who is in a room.

use serde_json::{Value, json};
use venta_ws::SocketId;
use venta_ws::presence::{Origin, PresenceEvent, PresenceMeta, PresenceStatus, RoomMember};
use venta_ws_tests::{Client, SocketIoClient, SocketIoToken, TestServer, WAIT, rider, rider_module, until};

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
    let expect =
        |status| PresenceEvent { namespace: "user".into(), entity_id: "u1".into(), status, origin: Origin::Local };
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

async fn riders() -> TestServer {
    TestServer::start(rider_module(None)).await
}

fn meta(value: Value) -> PresenceMeta {
    value.as_object().cloned().expect("an object")
}

/// The one socket `entity` has on this node.
fn socket_of(server: &TestServer, entity: &str) -> SocketId {
    let sockets = server.hub.namespace("rider").expect("namespace").local_sockets_of(entity);
    assert_eq!(sockets.len(), 1, "{entity} has one socket");
    sockets[0]
}

async fn next_event(events: &mut tokio::sync::broadcast::Receiver<PresenceEvent>) -> PresenceEvent {
    tokio::time::timeout(WAIT, events.recv()).await.expect("a presence change in time").expect("open")
}

#[tokio::test]
async fn the_meta_hook_sets_a_sockets_meta_at_connect_and_an_update_replaces_it_and_is_announced() {
    let server = riders().await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let mut changes = server.hub.presence().subscribe();
    let mut r1 = rider(&server, "r1", "acme").await;
    r1.assert_answers_ping().await;

    let online = next_event(&mut changes).await;
    assert_eq!((&*online.entity_id, online.status), ("r1", PresenceStatus::Online));
    let id = socket_of(&server, "r1");
    assert_eq!(riders.metas("r1").await.expect("metas"), [(id, meta(json!({"tenant": "acme", "battery": 100})))]);
    assert_eq!(riders.online_where("tenant", "acme").await.expect("query"), ["r1"], "indexed from the connect on");

    let ack = r1.request("meta.set", json!({"tenant": "globex", "battery": 40}), Some(1)).await;
    assert_eq!(ack, json!({"event": "meta.set", "data": null, "id": 1}));
    assert_eq!(riders.metas("r1").await.expect("metas"), [(id, meta(json!({"tenant": "globex", "battery": 40})))]);
    assert_eq!(riders.online_where("tenant", "globex").await.expect("query"), ["r1"]);
    assert!(riders.online_where("tenant", "acme").await.expect("query").is_empty(), "the old pair is unindexed");
    let updated = next_event(&mut changes).await;
    let expected = PresenceEvent {
        namespace: "rider".into(),
        entity_id: "r1".into(),
        status: PresenceStatus::Updated,
        origin: Origin::Local,
    };
    assert_eq!(updated, expected);
    assert!(changes.try_recv().is_err(), "one event per update");
}

#[tokio::test]
async fn a_meta_over_the_limit_is_refused_at_connect_and_on_update() {
    let server = riders().await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let mut huge = rider(&server, "huge", &"x".repeat(5000)).await;
    assert_eq!(huge.closed().await.code, Some(1011), "a meta over 4 KiB refuses the socket");
    assert_eq!(riders.count_where("tenant", &"x".repeat(5000)).await.expect("query"), 0);

    let mut r1 = rider(&server, "r1", "acme").await;
    let refused = r1.request("meta.set", json!({"note": "x".repeat(5000)}), Some(1)).await;
    assert_eq!(refused["event"], "error", "{refused}");
    assert_eq!(riders.online_where("tenant", "acme").await.expect("query"), ["r1"], "the old meta stays");
}

#[tokio::test]
async fn online_where_and_count_where_follow_connects_updates_and_disconnects() {
    let server = riders().await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let mut phone = rider(&server, "r1", "acme").await;
    let mut laptop = rider(&server, "r1", "globex").await;
    let mut r2 = rider(&server, "r2", "acme").await;
    for client in [&mut phone, &mut laptop, &mut r2] {
        client.assert_answers_ping().await;
    }
    let query = |tenant: &'static str| async move {
        let online = riders.online_where("tenant", tenant).await.expect("online_where");
        let count = riders.count_where("tenant", tenant).await.expect("count_where");
        assert_eq!(online.len(), count, "count_where counts what online_where lists");
        online
    };
    assert_eq!(query("acme").await, ["r1", "r2"]);
    assert_eq!(query("globex").await, ["r1"], "an entity with sockets in two tenants is in both");
    assert_eq!(riders.count_where("battery", "100").await.expect("query"), 0, "numbers are not indexed");

    phone.close().await;
    until(|| query("acme"), |online| online == &["r2"]).await;
    assert_eq!(query("globex").await, ["r1"], "still in globex on the laptop");

    r2.request("meta.set", json!({"tenant": "globex"}), Some(1)).await;
    assert!(query("acme").await.is_empty());
    assert_eq!(query("globex").await, ["r1", "r2"]);

    laptop.close().await;
    r2.close().await;
    server.wait_online("rider", &[]).await;
    assert!(query("globex").await.is_empty());
}

#[tokio::test]
async fn the_server_adds_and_removes_a_socket_and_all_of_an_entitys_sockets_to_and_from_a_room() {
    let server = riders().await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let mut phone = rider(&server, "r1", "acme").await;
    let mut laptop = rider(&server, "r1", "acme").await;
    let mut r2 = rider(&server, "r2", "acme").await;
    r2.assert_answers_ping().await;
    phone.assert_answers_ping().await;
    laptop.assert_answers_ping().await;

    assert!(riders.add_to_room(socket_of(&server, "r2"), "order-17"), "r2 is on this node");
    assert_eq!(r2.request("rooms", json!(null), Some(1)).await["data"], json!(["order-17"]));
    assert_eq!(riders.add_entity_to_room("r1", "order-17"), 2, "both of r1's sockets");
    for client in [&mut phone, &mut laptop] {
        assert_eq!(client.request("rooms", json!(null), Some(1)).await["data"], json!(["order-17"]));
    }
    assert_eq!(riders.emit_to_room("order-17", "order.update", &1).expect("emits"), 3);
    for client in [&mut phone, &mut laptop, &mut r2] {
        assert_eq!(client.recv().await, json!({"event": "order.update", "data": 1}));
    }

    assert!(riders.remove_from_room(socket_of(&server, "r2"), "order-17"));
    assert_eq!(r2.request("rooms", json!(null), Some(2)).await["data"], json!([]));
    assert_eq!(riders.emit_to_room("order-17", "order.update", &2).expect("emits"), 2);
    for client in [&mut phone, &mut laptop] {
        assert_eq!(client.recv().await, json!({"event": "order.update", "data": 2}));
    }
    r2.assert_answers_ping().await; // and it got nothing

    assert_eq!(riders.remove_entity_from_room("r1", "order-17"), 2);
    assert_eq!(phone.request("rooms", json!(null), Some(2)).await["data"], json!([]));
    assert_eq!(riders.emit_to_room("order-17", "order.update", &3).expect("emits"), 0);
    assert!(riders.rooms().is_empty(), "an emptied room is gone");
    assert!(!riders.add_to_room(SocketId::next(), "order-17"), "a socket that is not here");
}

#[tokio::test]
async fn emit_to_room_except_and_broadcast_to_room_skip_exactly_one_socket() {
    let server = riders().await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let mut clients = Vec::new();
    for name in ["a", "b", "c"] {
        let mut client = rider(&server, name, "acme").await;
        client.request("room.join", json!("order-17"), Some(1)).await;
        clients.push(client);
    }
    let mut outside = rider(&server, "outside", "acme").await;
    outside.assert_answers_ping().await;

    let ack = clients[0].request("room.broadcast", json!(["order-17", {"eta": 5}]), Some(2)).await;
    assert_eq!(ack, json!({"event": "room.broadcast", "data": 2, "id": 2}), "the room but the sender");
    for client in &mut clients[1..] {
        assert_eq!(client.recv().await, json!({"event": "room.message", "data": {"eta": 5}}));
    }

    let reached = riders.emit_to_room_except("order-17", socket_of(&server, "b"), "order.update", &1).expect("emits");
    assert_eq!(reached, 2);
    for index in [0, 2] {
        assert_eq!(clients[index].recv().await, json!({"event": "order.update", "data": 1}));
    }
    // Nothing else came: each answers a ping next.
    for client in clients.iter_mut().chain([&mut outside]) {
        client.assert_answers_ping().await;
    }
}

#[tokio::test]
async fn room_members_and_online_in_room_list_every_socket_in_a_room() {
    let server = riders().await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let mut phone = rider(&server, "r1", "acme").await;
    let mut laptop = rider(&server, "r1", "acme").await;
    let mut r2 = rider(&server, "r2", "globex").await;
    let mut outside = rider(&server, "r3", "acme").await;
    for client in [&mut phone, &mut laptop, &mut r2] {
        client.request("room.join", json!("order-17"), Some(1)).await;
    }
    outside.assert_answers_ping().await;

    let mut expected: Vec<RoomMember> = riders
        .local_sockets_of("r1")
        .into_iter()
        .map(|socket_id| RoomMember { socket_id, entity_id: "r1".into() })
        .chain([RoomMember { socket_id: socket_of(&server, "r2"), entity_id: "r2".into() }])
        .collect();
    expected.sort();
    assert_eq!(riders.room_members("order-17").await.expect("members"), expected);
    assert_eq!(riders.online_in_room("order-17").await.expect("online"), ["r1", "r2"], "each entity once");
    assert!(riders.online_in_room("order-18").await.expect("online").is_empty());

    laptop.close().await;
    until(|| riders.room_members("order-17"), |members| members.as_ref().is_ok_and(|m| m.len() == 2))
        .await
        .expect("members");
    assert_eq!(riders.online_in_room("order-17").await.expect("online"), ["r1", "r2"], "r1 is still in on the phone");
}

#[tokio::test]
async fn a_closed_socket_leaves_no_room_membership_or_index_entry_behind() {
    let server = riders().await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let mut closing = rider(&server, "r1", "acme").await;
    let mut dropped = rider(&server, "r2", "acme").await;
    for client in [&mut closing, &mut dropped] {
        client.request("room.join", json!("order-17"), Some(1)).await;
    }
    assert_eq!(riders.online_in_room("order-17").await.expect("online"), ["r1", "r2"]);

    closing.close().await;
    dropped.drop_connection();
    server.wait_online("rider", &[]).await;
    assert!(riders.room_members("order-17").await.expect("members").is_empty());
    assert!(riders.online_where("tenant", "acme").await.expect("query").is_empty());
    assert_eq!(riders.count_where("tenant", "acme").await.expect("query"), 0);
    assert!(riders.metas("r1").await.expect("metas").is_empty());
    assert!(riders.rooms().is_empty());
}

#[tokio::test]
async fn a_socket_io_socket_is_put_into_a_room_by_the_server_like_any_other() {
    let server = TestServer::example().await;
    let token = venta_ws_tests::token("sio-user");
    let (mut sio, joined) = SocketIoClient::join(&server, "/socket.io", "user", SocketIoToken::Auth(&token)).await;
    assert!(joined.starts_with("40/user,"), "{joined}");
    let users = server.hub.namespace("user").expect("namespace");
    server.wait_online("user", &["sio-user"]).await;

    assert_eq!(users.add_entity_to_room("sio-user", "vip"), 1);
    assert_eq!(users.online_in_room("vip").await.expect("online"), ["sio-user"]);
    users.emit_to_room("vip", "offer", &json!({"pct": 10})).expect("emits");
    assert_eq!(sio.packet().await, r#"42/user,["offer",{"pct":10}]"#);
    users.remove_entity_from_room("sio-user", "vip");
    assert!(users.room_members("vip").await.expect("members").is_empty());
}
