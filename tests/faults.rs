//! Faults over real sockets: hooks and handlers that fail or panic, oversized messages and
//! slow consumers cost at most one message or one socket, and presence stays consistent.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use venta_ws::prelude::*;
use venta_ws::{CloseCode, DisconnectReason};
use venta_ws_tests::{Client, SECRET, TestServer};

type Disconnects = Arc<Mutex<Vec<(String, DisconnectReason)>>>;

#[derive(WebSocketGateway)]
#[gateway(namespace = "faulty", auth = Jwt)]
struct FaultyGateway {
    disconnects: Disconnects,
}

#[venta_ws::messages]
impl FaultyGateway {
    async fn validate_connection(
        &self,
        _request: &ConnectRequest,
        identity: &Identity<StandardClaims>,
    ) -> Result<(), GatewayError> {
        match identity.entity_id.as_deref() {
            Some("banned") => Err(GatewayError::forbidden("banned from this gateway")),
            _ => Ok(()),
        }
    }

    async fn on_connect(&self, socket: &AuthenticatedSocket) -> Result<(), GatewayError> {
        match socket.entity_id() {
            "fail-connect" => Err(GatewayError::new("setup_failed", "could not load the profile")),
            "reject-connect" => Err(GatewayError::forbidden("not today").closing(CloseCode::Forbidden)),
            "panic-connect" => panic!("on_connect exploded"),
            _ => {
                socket.join("lobby");
                Ok(())
            }
        }
    }

    async fn on_disconnect(&self, socket: &AuthenticatedSocket, reason: &DisconnectReason) {
        self.disconnects.lock().expect("lock").push((socket.entity_id().to_owned(), reason.clone()));
        if socket.entity_id() == "panic-disconnect" {
            panic!("on_disconnect exploded");
        }
    }

    #[subscribe("ping")]
    async fn ping(&self, data: Value) -> Reply<Value> {
        Reply::new("pong", data)
    }

    #[subscribe("explode")]
    async fn explode(&self) -> Ack {
        panic!("handler exploded")
    }

    #[subscribe("fail")]
    async fn fail(&self) -> Result<Ack, GatewayError> {
        Err(GatewayError::new("denied", "you may not"))
    }

    #[subscribe("fail.close")]
    async fn fail_and_close(&self) -> Result<Ack, GatewayError> {
        Err(GatewayError::forbidden("goodbye").closing(CloseCode::Application(4100)))
    }

    #[subscribe("parse")]
    async fn parse(&self, text: String) -> Result<Ack<u32>, GatewayError> {
        Ok(Ack(text.parse::<u32>().internal()?))
    }

    #[subscribe("room.say")]
    async fn say(&self, socket: &AuthenticatedSocket, text: String) -> Result<Ack<usize>, GatewayError> {
        Ok(Ack(socket.namespace().emit_to_room("lobby", "room.message", &text)?))
    }

    #[subscribe("room.leave")]
    async fn leave(&self, socket: &AuthenticatedSocket) -> Ack<Vec<String>> {
        socket.leave("lobby");
        Ack(socket.rooms())
    }

    #[subscribe("flood")]
    async fn flood(&self, socket: &AuthenticatedSocket, count: usize) {
        let chunk = "x".repeat(32 * 1024);
        for _ in 0..count {
            if socket.emit("flood", &chunk).is_err() {
                break;
            }
        }
    }
}

async fn faulty_server() -> (TestServer, Disconnects) {
    let disconnects = Disconnects::default();
    let module = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .max_message_size(1024)
        .send_queue_capacity(16)
        .gateway(FaultyGateway { disconnects: Arc::clone(&disconnects) })
        .build()
        .expect("module builds");
    (TestServer::start(module).await, disconnects)
}

#[tokio::test]
async fn a_panicking_handler_costs_one_message_not_the_socket_or_the_server() {
    let (server, _) = faulty_server().await;
    let mut victim = Client::user(&server, "/faulty", "u1").await;
    let mut bystander = Client::user(&server, "/faulty", "u2").await;

    let reply = victim.request("explode", json!(null), Some(3)).await;
    assert_eq!(reply, json!({"event": "error", "data": {"code": "internal", "message": "internal error"}, "id": 3}));
    victim.assert_answers_ping().await;
    bystander.assert_answers_ping().await;
    let mut newcomer = Client::user(&server, "/faulty", "u3").await;
    newcomer.assert_answers_ping().await;
    server.wait_online("faulty", &["u1", "u2", "u3"]).await;
}

#[tokio::test]
async fn handler_errors_are_answered_in_one_shape_and_internal_details_stay_hidden() {
    let (server, _) = faulty_server().await;
    let mut client = Client::user(&server, "/faulty", "u1").await;
    let reply = client.request("fail", json!(null), Some(1)).await;
    assert_eq!(reply, json!({"event": "error", "data": {"code": "denied", "message": "you may not"}, "id": 1}));
    client.assert_answers_ping().await;

    let reply = client.request("parse", json!("not a number"), Some(2)).await;
    assert_eq!(reply["data"], json!({"code": "internal", "message": "internal error"}));
    assert_eq!(client.request("parse", json!("12"), Some(3)).await["data"], 12);
}

#[tokio::test]
async fn an_error_that_says_close_is_sent_then_closes_with_its_code() {
    let (server, disconnects) = faulty_server().await;
    let mut client = Client::user(&server, "/faulty", "u1").await;
    let reply = client.request("fail.close", json!(null), Some(1)).await;
    assert_eq!(reply["data"]["code"], "forbidden");
    let closed = client.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(4100), "goodbye"));
    server.wait_online("faulty", &[]).await;
    let recorded = disconnects.lock().expect("lock").clone();
    assert_eq!(
        recorded,
        [(
            "u1".to_owned(),
            DisconnectReason::ServerClosed { code: CloseCode::Application(4100), reason: "goodbye".into() }
        )]
    );
}

#[tokio::test]
async fn failing_or_panicking_on_connect_closes_the_socket_and_cleans_presence() {
    let (server, disconnects) = faulty_server().await;
    let mut changes = server.hub.presence().subscribe();
    for (entity, code) in [("fail-connect", 1011), ("reject-connect", 4403), ("panic-connect", 1011)] {
        let mut client = Client::user(&server, "/faulty", entity).await;
        assert_eq!(client.closed().await.code, Some(code), "{entity}");
    }
    server.wait_online("faulty", &[]).await;
    assert!(disconnects.lock().expect("lock").is_empty(), "on_disconnect runs only after a successful on_connect");
    // Each was registered before on_connect and removed after it failed.
    let mut statuses = Vec::new();
    while let Ok(change) = changes.try_recv() {
        statuses.push((change.entity_id.to_string(), change.status));
    }
    assert_eq!(statuses.len(), 6, "{statuses:?}");
    assert_eq!(server.hub.namespace("faulty").expect("ns").local_socket_count(), 0);
}

#[tokio::test]
async fn validate_connection_refuses_with_4403_before_presence() {
    let (server, _) = faulty_server().await;
    let mut changes = server.hub.presence().subscribe();
    let mut client = Client::user(&server, "/faulty", "banned").await;
    let closed = client.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(4403), "banned from this gateway"));
    assert!(changes.try_recv().is_err(), "a refused socket never enters presence");
}

#[tokio::test]
async fn on_disconnect_sees_why_and_a_panic_in_it_still_cleans_presence() {
    let (server, disconnects) = faulty_server().await;
    let mut polite = Client::user(&server, "/faulty", "polite").await;
    let mut crasher = Client::user(&server, "/faulty", "panic-disconnect").await;
    let mut vanisher = Client::user(&server, "/faulty", "vanisher").await;
    for client in [&mut polite, &mut crasher, &mut vanisher] {
        client.assert_answers_ping().await;
    }
    polite.close_with(1000).await;
    crasher.close().await;
    vanisher.drop_connection();
    server.wait_online("faulty", &[]).await;
    let mut recorded = disconnects.lock().expect("lock").clone();
    recorded.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        recorded,
        [
            ("panic-disconnect".to_owned(), DisconnectReason::ClientClosed { code: None }),
            ("polite".to_owned(), DisconnectReason::ClientClosed { code: Some(1000) }),
            ("vanisher".to_owned(), DisconnectReason::ConnectionLost),
        ]
    );
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let (server, _) = faulty_server().await;
    let mut client = Client::user(&server, "/faulty", "u1").await;
    client.assert_answers_ping().await;
    client.send("ping", json!("y".repeat(2048)), None).await;
    assert_eq!(client.closed().await.code, Some(1009));
    server.wait_online("faulty", &[]).await;
}

#[tokio::test]
async fn rooms_reach_their_members_only() {
    let (server, _) = faulty_server().await;
    let mut a = Client::user(&server, "/faulty", "a").await;
    let mut b = Client::user(&server, "/faulty", "b").await;
    a.assert_answers_ping().await;
    b.assert_answers_ping().await;
    assert_eq!(b.request("room.leave", json!(null), Some(1)).await["data"], json!([]));
    assert_eq!(a.request("room.say", json!("hello"), Some(2)).await, json!({"event": "room.message", "data": "hello"}));
    assert_eq!(a.recv().await, json!({"event": "room.say", "data": 1, "id": 2}));
    b.assert_answers_ping().await; // b left the room: nothing was queued for it
    assert_eq!(server.hub.namespace("faulty").expect("ns").rooms().get("lobby"), Some(&1));
}

#[tokio::test]
async fn a_client_that_falls_behind_is_closed_with_4429_and_others_carry_on() {
    let (server, _) = faulty_server().await;
    let mut slow = Client::user(&server, "/faulty", "slow").await;
    let mut other = Client::user(&server, "/faulty", "other").await;
    slow.send("flood", json!(5000), None).await;
    assert_eq!(slow.closed().await.code, Some(4429));
    other.assert_answers_ping().await;
    server.wait_online("faulty", &["other"]).await;
}
