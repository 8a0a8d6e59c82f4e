//! The Socket.IO protocol at the packet level, with a protocol-level client
//! (`venta_ws_tests::SocketIoClient`): the exact packets of acks, room, entity and namespace
//! emits, several arguments, binary attachments, limits (1009), graceful shutdown (`closing`,
//! DISCONNECT, CONNECT_ERROR with 1001) and a namespace left and joined again. socket.io-client
//! itself drives the same gateways in tests/socketio.rs.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use venta_ws::prelude::*;
use venta_ws::{Hub, Transport};
use venta_ws_examples::{LocationService, UserLocationGateway};
use venta_ws_tests::{Client, SocketIoClient, SocketIoToken, TestServer, token};

/// A gateway with rooms a client joins by name, and that tells which transport a socket uses.
#[derive(WebSocketGateway)]
#[gateway(namespace = "orders", auth = Jwt, entity = "Customer")]
struct OrdersGateway;

#[derive(Deserialize)]
struct Upload {
    name: String,
    file: Vec<u8>,
}

#[venta_ws::messages]
impl OrdersGateway {
    #[subscribe("room.join")]
    async fn join(&self, socket: &AuthenticatedSocket, room: String) -> Ack<Vec<String>> {
        socket.join(&room);
        Ack(socket.rooms())
    }

    #[subscribe("transport")]
    async fn transport(&self, socket: &AuthenticatedSocket) -> Ack<&'static str> {
        Ack(socket.transport().as_str())
    }

    #[subscribe("upload")]
    async fn upload(&self, upload: Upload) -> Ack<Value> {
        Ack(json!({ "name": upload.name, "bytes": upload.file }))
    }

    #[subscribe("sum")]
    async fn sum(&self, numbers: Vec<i64>) -> Ack<i64> {
        Ack(numbers.iter().sum())
    }
}

async fn orders_server() -> TestServer {
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(venta_ws_tests::SECRET))
        .gateway(OrdersGateway)
        .gateway(UserLocationGateway::new(std::sync::Arc::new(LocationService::default())))
        .build()
        .expect("module");
    TestServer::start(module).await
}

async fn join(server: &TestServer, namespace: &str, sub: &str) -> SocketIoClient {
    let token = token(sub);
    let (client, answer) = SocketIoClient::join(server, "/socket.io", namespace, SocketIoToken::Auth(&token)).await;
    assert!(answer.starts_with(&format!("40/{namespace},{{\"sid\":\"")), "{answer}");
    client
}

fn hub(server: &TestServer) -> &Hub {
    &server.hub
}

#[tokio::test]
async fn rooms_hub_emits_and_binary_attachments_reach_socket_io_sockets() {
    let server = orders_server().await;
    let mut over_socket_io = join(&server, "orders", "c1").await;
    let mut over_plain = Client::user(&server, "/orders", "c2").await;

    // A handler tells the two apart.
    over_socket_io.send(r#"42/orders,1["transport"]"#).await;
    assert_eq!(over_socket_io.packet().await, r#"43/orders,1["socket.io"]"#);
    assert_eq!(over_plain.request("transport", json!(null), Some(1)).await["data"], Transport::WebSocket.as_str());

    // Both join the room of order 17; a room emit reaches both, once each.
    over_socket_io.send(r#"42/orders,2["room.join","order-17"]"#).await;
    assert_eq!(over_socket_io.packet().await, r#"43/orders,2[["order-17"]]"#);
    over_plain.request("room.join", json!("order-17"), Some(2)).await;
    let orders = hub(&server).namespace("orders").expect("namespace");
    assert_eq!(orders.emit_to_room("order-17", "order.moved", &json!({"at": 3})).expect("emit"), 2);
    assert_eq!(over_socket_io.packet().await, r#"42/orders,["order.moved",{"at":3}]"#);
    assert_eq!(over_plain.recv().await, json!({"event": "order.moved", "data": {"at": 3}}));

    // Entity and namespace emits from the hub.
    orders.emit_to_entity("c1", "only.you", &json!(1)).expect("emit");
    assert_eq!(over_socket_io.packet().await, r#"42/orders,["only.you",1]"#);
    assert_eq!(orders.emit("everyone", &json!("hi")).expect("emit"), 2);
    assert_eq!(over_socket_io.packet().await, r#"42/orders,["everyone","hi"]"#);
    assert_eq!(over_plain.recv().await["event"], "everyone");

    // Several arguments are one array; an attachment is its bytes.
    over_socket_io.send(r#"42/orders,3["sum",1,2,3]"#).await;
    assert_eq!(over_socket_io.packet().await, "43/orders,3[6]");
    over_socket_io.send(r#"451-/orders,4["upload",{"name":"a.bin","file":{"_placeholder":true,"num":0}}]"#).await;
    over_socket_io.send_binary(&[0, 7, 255]).await;
    assert_eq!(over_socket_io.packet().await, r#"43/orders,4[{"bytes":[0,7,255],"name":"a.bin"}]"#);

    over_socket_io.send("41/orders,").await;
    server.wait_online("orders", &["c2"]).await;
    server.shutdown().await;
}

#[tokio::test]
async fn limits_close_a_socket_io_socket_with_the_plain_code() {
    let server = orders_server().await;
    // An event over the 64 KiB message limit (within Engine.IO's limit, 4 KiB above it):
    // `closing` with 1009, then the DISCONNECT.
    let mut client = join(&server, "orders", "big").await;
    let huge = "x".repeat(66 * 1024);
    client.send(&format!(r#"42/orders,["sum","{huge}"]"#)).await;
    assert_eq!(client.packet().await, r#"42/orders,["closing",{"code":1009,"reason":"message too big"}]"#);
    assert_eq!(client.packet().await, "41/orders,");
    // Attachments count against the same limit.
    let mut client = join(&server, "orders", "big-attachments").await;
    client
        .send(
            r#"452-/orders,["upload",{"name":"a","file":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]"#,
        )
        .await;
    client.send_binary(&vec![1; 40 * 1024]).await;
    client.send_binary(&vec![2; 40 * 1024]).await;
    assert!(client.packet().await.contains(r#""code":1009"#));
    server.wait_online("orders", &[]).await;
    server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_tells_socket_io_clients_why() {
    let server = orders_server().await;
    let mut first = join(&server, "orders", "s1").await;
    let mut second = join(&server, "user", "s2").await;
    let report = hub(&server).shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.closed, 2);
    assert!(report.completed);
    for (client, namespace) in [(&mut first, "orders"), (&mut second, "user")] {
        assert_eq!(
            client.packet().await,
            format!(r#"42/{namespace},["closing",{{"code":1001,"reason":"server going away"}}]"#)
        );
        assert_eq!(client.packet().await, format!("41/{namespace},"));
    }
    // A client joining now is refused with 1001 as its code.
    let token = token("late");
    let (_, refused) = SocketIoClient::join(&server, "/socket.io", "orders", SocketIoToken::Auth(&token)).await;
    assert_eq!(
        refused,
        r#"44/orders,{"message":"server going away","data":{"code":1001,"reason":"server going away"}}"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_namespace_left_and_joined_again_at_once_keeps_its_new_socket() {
    let server = orders_server().await;
    let token = token("bouncer");
    let (mut client, _) = SocketIoClient::join(&server, "/socket.io", "orders", SocketIoToken::Auth(&token)).await;
    for round in 0..5 {
        client.send("41/orders,").await;
        client.send(&format!("40/orders,{}", json!({ "token": token }))).await;
        let joined = client.packet().await;
        assert!(joined.starts_with("40/orders,"), "round {round}: {joined}");
        client.send(&format!(r#"42/orders,{round}["sum",{round},1]"#)).await;
        assert_eq!(client.packet().await, format!("43/orders,{round}[{}]", round + 1), "round {round}");
    }
    server.wait_online("orders", &["bouncer"]).await;
    client.send("41/orders,").await;
    server.wait_online("orders", &[]).await;
    server.shutdown().await;
}
