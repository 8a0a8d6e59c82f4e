//! Hardening over real sockets: expiring tokens and in-band refresh, rate and connection
//! limits, liveness pings, the handshake deadline, and graceful shutdown; and hostile clients:
//! floods of pings from a client that never reads, clients that stop reading with replies
//! pending, tokens that never expire, panics outside the handlers, and refreshed tokens that
//! would not pass a connect.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use venta_ws::prelude::*;
use venta_ws::{CloseCode, DisconnectReason, RateLimit, WebSocketModuleBuilder};
use venta_ws_tests::{Client, Placement, SECRET, TestServer, now, sign, token};

type Disconnects = Arc<Mutex<Vec<(String, DisconnectReason)>>>;

#[derive(WebSocketGateway)]
#[gateway(namespace = "live", auth = Jwt)]
struct LiveGateway {
    disconnects: Disconnects,
}

#[venta_ws::messages]
impl LiveGateway {
    async fn on_disconnect(&self, socket: &AuthenticatedSocket, reason: &DisconnectReason) {
        self.disconnects.lock().expect("lock").push((socket.entity_id().to_owned(), reason.clone()));
    }

    fn log_connection_success(&self, socket: &AuthenticatedSocket) {
        assert_ne!(socket.entity_id(), "boom", "a hook that panics outside any handler");
        venta_ws::logging::connection_success(socket);
    }

    #[subscribe("ping")]
    async fn ping(&self, data: Value) -> Reply<Value> {
        Reply::new("pong", data)
    }

    /// Pushes `count` events of 48 KiB each to the socket.
    #[subscribe("flood")]
    async fn flood(&self, socket: &AuthenticatedSocket, count: usize) -> Result<Ack<usize>, GatewayError> {
        let blob = "b".repeat(48 * 1024);
        for _ in 0..count {
            socket.emit("blob", &blob).map_err(GatewayError::internal)?;
        }
        Ok(Ack(count))
    }

    #[subscribe("slow")]
    async fn slow(&self, millis: u64) -> Ack<&'static str> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ack("done")
    }
}

fn builder() -> (WebSocketModuleBuilder, Disconnects) {
    let disconnects = Disconnects::default();
    // No leeway: a socket is held to its token's `exp` exactly, so the expiry tests need not
    // wait out the default 5 s past it.
    let builder = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET).leeway_secs(0))
        .gateway(LiveGateway { disconnects: Arc::clone(&disconnects) });
    (builder, disconnects)
}

async fn server(configure: impl FnOnce(WebSocketModuleBuilder) -> WebSocketModuleBuilder) -> (TestServer, Disconnects) {
    let (builder, disconnects) = builder();
    (TestServer::start(configure(builder).build().expect("builds")).await, disconnects)
}

fn token_expiring_in(sub: &str, seconds: u64) -> String {
    sign(&json!({"sub": sub, "exp": now() + seconds}), SECRET, Algorithm::HS256)
}

#[tokio::test]
async fn a_socket_whose_token_expires_is_warned_then_closed_with_4408() {
    let (server, disconnects) = server(|b| b).await;
    let mut client = Client::connect(&server.url("/live"), Some(&token_expiring_in("u1", 2)), Placement::Header).await;
    let warning = client.recv().await;
    assert_eq!(warning["event"], "auth.expiring");
    assert!(warning["data"]["expiresAt"].as_u64().is_some_and(|at| at >= now()), "{warning}");
    let closed = client.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(4408), "token expired"));
    server.wait_online("live", &[]).await;
    assert_eq!(
        disconnects.lock().expect("lock").clone(),
        [(
            "u1".to_owned(),
            DisconnectReason::ServerClosed { code: CloseCode::TokenExpired, reason: "token expired".into() }
        )]
    );
}

#[tokio::test]
async fn a_fresh_token_sent_in_band_keeps_the_socket_open() {
    let (server, _) = server(|b| b).await;
    let mut client = Client::connect(&server.url("/live"), Some(&token_expiring_in("u1", 2)), Placement::Header).await;
    assert_eq!(client.recv().await["event"], "auth.expiring");

    let rejected = client.request("auth.refresh", json!(token("someone-else")), Some(1)).await;
    assert_eq!(rejected["data"]["code"], "refresh_rejected", "{rejected}");
    let rejected = client.request("auth.refresh", json!("garbage"), Some(2)).await;
    assert_eq!(rejected["data"]["code"], "refresh_rejected", "{rejected}");

    let fresh = token_expiring_in("u1", 3600);
    let ack = client.request("auth.refresh", json!(fresh), Some(3)).await;
    assert_eq!(ack["event"], "auth.refresh");
    assert_eq!(ack["id"], 3);
    assert!(ack["data"]["expiresAt"].as_u64().is_some_and(|at| at > now() + 3000), "{ack}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    client.assert_answers_ping().await;
    server.wait_online("live", &["u1"]).await;
}

#[tokio::test]
async fn a_flooding_client_is_answered_with_rate_limited_then_closed_with_1008() {
    let limit = RateLimit { per_second: 1, burst: 3, max_violations: 3 };
    let (server, _) = server(|b| b.rate_limit(Some(limit))).await;
    let mut client = Client::user(&server, "/live", "u1").await;
    for _ in 0..3 {
        client.assert_answers_ping().await;
    }
    let limited = client.request("ping", json!(1), Some(9)).await;
    assert_eq!(
        limited,
        json!({"event": "error", "data": {"code": "rate_limited", "message": "too many messages; slow down"}, "id": 9})
    );
    client.send("ping", json!(2), None).await;
    client.send("ping", json!(3), None).await;
    let closed = loop {
        let closed = client.closed().await;
        if closed.code.is_some() {
            break closed;
        }
    };
    assert_eq!(closed.code, Some(1008));
    server.wait_online("live", &[]).await;

    let mut polite = Client::user(&server, "/live", "u2").await;
    polite.assert_answers_ping().await;
}

#[tokio::test]
async fn connections_over_the_per_entity_or_total_limit_are_refused() {
    let (server, _) = server(|b| b.max_connections(2, 3)).await;
    let mut a = Client::user(&server, "/live", "u1").await;
    let mut b = Client::user(&server, "/live", "u1").await;
    a.assert_answers_ping().await;
    b.assert_answers_ping().await;
    let mut third = Client::user(&server, "/live", "u1").await;
    let closed = third.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(1008), "too many connections for this entity"));

    let mut other = Client::user(&server, "/live", "u2").await;
    other.assert_answers_ping().await;
    let mut over = Client::user(&server, "/live", "u3").await;
    let closed = over.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(1013), "server at its connection limit"));
    assert_eq!(server.hub.connection_count(), 3);

    a.close().await;
    let mut after = Client::user(&server, "/live", "u3").await;
    after.assert_answers_ping().await;
    server.wait_online("live", &["u1", "u2", "u3"]).await;
}

#[tokio::test]
async fn a_client_that_does_not_answer_pings_is_closed_and_one_that_does_stays() {
    let (server, _) = server(|b| b.ping(Duration::from_millis(200), Duration::from_millis(200))).await;
    // tungstenite answers pings while it reads, so a client that keeps reading stays alive.
    let mut alive = Client::user(&server, "/live", "alive").await;
    let mut silent = Client::user(&server, "/live", "silent").await;
    alive.assert_answers_ping().await;
    silent.assert_answers_ping().await;

    let reading = tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_millis(1500);
        alive.read_until(until).await;
        alive
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let closed = silent.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(1008), "ping timeout"));
    let mut alive = reading.await.expect("reader");
    alive.assert_answers_ping().await;
    server.wait_online("live", &["alive"]).await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_is_dropped() {
    let (builder, _) = builder();
    // Room in the send queue for the whole flood: this test is about the handshake deadline.
    let module = builder.send_queue_bytes(16 << 20).build().expect("builds");
    let server = TestServer::start_with(module, |serve| serve.handshake_timeout(Duration::from_millis(300))).await;
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let mut partial = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    partial.write_all(b"GET /live HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n").await.expect("write");
    for stream in [&mut idle, &mut partial] {
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await;
        let read = read.expect("the server hangs up before the test gives up");
        match read {
            Ok(0) | Err(_) => {}
            Ok(n) => {
                let response = String::from_utf8_lossy(&buffer[..n]);
                assert!(response.starts_with("HTTP/1.1 408"), "{response}");
            }
        }
    }
    let mut client = Client::user(&server, "/live", "u1").await;
    client.assert_answers_ping().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_dropped_at_the_handshake_deadline() {
    const RESPONSE: usize = 32 << 20;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/big", axum::routing::get(|| async { vec![b'x'; RESPONSE] }));
    let serve = venta_ws::serve(listener, app).handshake_timeout(Duration::from_millis(300));
    let server = tokio::spawn(async move { serve.await.expect("serves") });

    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(addr).await.expect("connect");
    stream.write_all(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("request");
    // Not reading: the server's write waits on this client, past the deadline.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = 0;
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "still open after the client read {received} bytes");
    assert!(received < RESPONSE, "the server waited for the client to read all {received} bytes");
    server.abort();
}

#[tokio::test]
async fn an_upgraded_socket_may_keep_its_writes_waiting_longer_than_the_handshake_deadline() {
    let (builder, _) = builder();
    // Room in the send queue for the whole flood: this test is about the handshake deadline.
    let module = builder.send_queue_bytes(16 << 20).build().expect("builds");
    let server = TestServer::start_with(module, |serve| serve.handshake_timeout(Duration::from_millis(300))).await;
    let mut client = Client::with_small_receive_buffer(&server, "/live", "u1", 4096).await;
    const BLOBS: usize = 150; // 7.2 MB: more than the kernel buffers between the two
    client.send("flood", json!(BLOBS), Some(1)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut blobs, mut acked) = (0, false);
    while blobs < BLOBS || !acked {
        let frame = client.recv().await;
        match frame["event"].as_str() {
            Some("blob") => blobs += 1,
            Some("flood") => acked = frame["data"] == BLOBS,
            _ => panic!("unexpected {frame}"),
        }
    }
    client.assert_answers_ping().await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001_after_in_flight_handlers_and_cleans_presence() {
    let (server, disconnects) = server(|b| b).await;
    let mut busy = Client::user(&server, "/live", "busy").await;
    let mut idle = Client::user(&server, "/live", "idle").await;
    idle.assert_answers_ping().await;
    busy.send("slow", json!(300), Some(1)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let hub = server.hub.clone();
    let addr = server.addr;
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(busy.recv().await, json!({"event": "slow", "data": "done", "id": 1}), "the handler in flight finishes");
    assert_eq!(busy.closed().await.code, Some(1001));
    assert_eq!(idle.closed().await.code, Some(1001));
    stopping.await.expect("shutdown");

    assert!(hub.is_shutting_down());
    assert_eq!(hub.namespace("live").expect("ns").online().await.expect("presence"), Vec::<String>::new());
    assert_eq!(hub.connection_count(), 0);
    let mut recorded: Vec<_> =
        disconnects.lock().expect("lock").iter().map(|(id, r)| (id.clone(), r.clone())).collect();
    recorded.sort_by(|a, b| a.0.cmp(&b.0));
    let going_away = DisconnectReason::ServerClosed { code: CloseCode::GoingAway, reason: "server going away".into() };
    assert_eq!(recorded, [("busy".to_owned(), going_away.clone()), ("idle".to_owned(), going_away)]);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "strict", auth = Jwt, origins = ["https://strict.example"])]
struct StrictGateway;

#[venta_ws::messages]
impl StrictGateway {
    #[subscribe("ping")]
    async fn ping(&self, data: Value) -> Reply<Value> {
        Reply::new("pong", data)
    }
}

#[tokio::test]
async fn each_gateway_can_have_its_own_origins_and_limits() {
    let (builder, _) = builder();
    let module = builder
        .allowed_origins(["http://localhost:3000"])
        .gateway_with(StrictGateway, |mut config| {
            config.max_message_size = 512;
            config
        })
        .build()
        .expect("builds");
    let server = TestServer::start(module).await;
    let (live, strict) = (server.url("/live"), server.url("/strict"));
    let local = Some("http://localhost:3000");

    let mut on_live =
        Client::try_connect(&live, Some(&token("u1")), Placement::Header, local).await.expect("module origin");
    assert!(
        Client::try_connect(&strict, Some(&token("u1")), Placement::Header, local).await.is_err(),
        "strict lists its own"
    );
    let mut on_strict =
        Client::try_connect(&strict, Some(&token("u1")), Placement::Header, Some("https://strict.example"))
            .await
            .expect("the gateway's origin");

    let big = json!("z".repeat(1024));
    assert_eq!(on_live.request("ping", big.clone(), None).await["data"], big, "the module's 64 KiB limit");
    on_strict.send("ping", big, None).await;
    assert_eq!(on_strict.closed().await.code, Some(1009), "the gateway's 512 B limit");
}

/// This process's resident memory, in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).expect("resident pages");
    pages * 4096
}

/// Waits until `entity`'s socket has disconnected, and returns why.
async fn disconnect_of(disconnects: &Disconnects, entity: &str, within: Duration) -> DisconnectReason {
    let deadline = Instant::now() + within;
    loop {
        let found =
            disconnects.lock().expect("lock").iter().find(|(id, _)| id == entity).map(|(_, reason)| reason.clone());
        if let Some(reason) = found {
            return reason;
        }
        assert!(Instant::now() < deadline, "`{entity}` still connected after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ping_timeout() -> DisconnectReason {
    DisconnectReason::ServerClosed { code: CloseCode::PolicyViolation, reason: "ping timeout".into() }
}

/// Sends 125-byte pings for `duration`, never reading, as long as the server takes them.
async fn flood_pings(client: &mut Client, duration: Duration) -> usize {
    let until = Instant::now() + duration;
    let mut sent = 0;
    while Instant::now() < until && client.try_send_ping(&[b'p'; 125], Duration::from_millis(500)).await {
        sent += 1;
    }
    sent
}

#[tokio::test]
async fn a_ping_flood_from_a_client_that_never_reads_stays_bounded_and_is_timed_out() {
    let (server, disconnects) = server(|b| {
        b.rate_limit(None)
            .ping(Duration::from_millis(300), Duration::from_millis(500))
            .close_timeout(Duration::from_millis(500))
    })
    .await;
    let mut client = Client::user(&server, "/live", "flooder").await;
    let before = resident_bytes();
    let started = Instant::now();
    let sent = flood_pings(&mut client, Duration::from_secs(15)).await;
    let flooded = started.elapsed();
    let grown = resident_bytes().saturating_sub(before);
    eprintln!("{sent} pings in {flooded:?}, server grew by {} KiB", grown >> 10);
    assert!(sent > 1000, "the flood got going: {sent} pings");
    assert!(flooded < Duration::from_secs(10), "the server let a client that never reads flood it for {flooded:?}");
    assert!(grown < 32 << 20, "{sent} unread pongs grew the server by {} MiB", grown >> 20);
    assert_eq!(disconnect_of(&disconnects, "flooder", Duration::from_secs(5)).await, ping_timeout());
    server.wait_online("live", &[]).await;
}

#[tokio::test]
async fn pings_count_against_the_rate_limit() {
    let limit = RateLimit { per_second: 10, burst: 20, max_violations: 5 };
    let (server, disconnects) = server(|b| b.rate_limit(Some(limit))).await;
    let mut client = Client::user(&server, "/live", "pinger").await;
    for _ in 0..40 {
        assert!(client.try_send_ping(b"hi", Duration::from_secs(1)).await);
    }
    let refused = client.recv().await;
    assert_eq!(refused["data"]["code"], "rate_limited", "{refused}");
    let closed = client.closed().await;
    assert_eq!(closed.code, Some(1008));
    let reason = disconnect_of(&disconnects, "pinger", Duration::from_secs(5)).await;
    assert!(matches!(reason, DisconnectReason::ServerClosed { code: CloseCode::PolicyViolation, .. }), "{reason:?}");
}

/// Sends 48 KiB `ping` messages, whose replies are as large, without reading any reply, until
/// the server stops taking them.
async fn stop_reading_with_replies_pending(client: &mut Client) {
    let message = json!({"event": "ping", "data": "x".repeat(48 * 1024)}).to_string();
    for _ in 0..2000 {
        if !client.try_send_text(&message, Duration::from_millis(300)).await {
            return;
        }
    }
    panic!("the server kept reading although no reply was read");
}

#[tokio::test]
async fn a_client_that_stops_reading_with_replies_pending_is_timed_out() {
    let (server, disconnects) =
        server(|b| b.ping(Duration::from_millis(300), Duration::from_millis(500)).rate_limit(None)).await;
    let mut client = Client::user(&server, "/live", "stalled").await;
    stop_reading_with_replies_pending(&mut client).await;
    assert_eq!(disconnect_of(&disconnects, "stalled", Duration::from_secs(5)).await, ping_timeout());
    server.wait_online("live", &[]).await;
}

#[tokio::test]
async fn a_token_that_expires_while_its_client_stops_reading_still_closes_the_socket() {
    let (server, disconnects) =
        server(|b| b.ping(Duration::from_secs(600), Duration::from_secs(600)).rate_limit(None)).await;
    let short = sign(&json!({"sub": "expiring", "exp": now() + 2}), SECRET, Algorithm::HS256);
    let mut client = Client::connect(&server.url("/live"), Some(&short), Placement::Header).await;
    stop_reading_with_replies_pending(&mut client).await;
    assert_eq!(
        disconnect_of(&disconnects, "expiring", Duration::from_secs(6)).await,
        DisconnectReason::ServerClosed { code: CloseCode::TokenExpired, reason: "token expired".into() }
    );
    server.wait_online("live", &[]).await;
}

#[tokio::test]
async fn shutdown_completes_while_clients_do_not_read() {
    let (server, disconnects) = server(|b| {
        b.ping(Duration::from_secs(600), Duration::from_secs(600))
            .rate_limit(None)
            .close_timeout(Duration::from_millis(300))
    })
    .await;
    let mut clients = Vec::new();
    for entity in ["s1", "s2", "s3"] {
        let mut client = Client::user(&server, "/live", entity).await;
        stop_reading_with_replies_pending(&mut client).await;
        clients.push(client);
    }
    let report = server.hub.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.closed, report.completed), (3, true));
    let mut ended: Vec<String> = disconnects.lock().expect("lock").iter().map(|(id, _)| id.clone()).collect();
    ended.sort();
    assert_eq!(ended, ["s1", "s2", "s3"], "on_disconnect ran for every socket");
    assert_eq!(server.hub.namespace("live").expect("live").online().await.expect("presence"), Vec::<String>::new());
}

#[tokio::test]
async fn a_token_that_never_expires_is_served_refreshed_and_cleaned_up() {
    let (server, disconnects) = server(|b| b).await;
    let forever = sign(&json!({"sub": "forever", "exp": u64::MAX}), SECRET, Algorithm::HS256);
    let mut client = Client::connect(&server.url("/live"), Some(&forever), Placement::Header).await;
    client.assert_answers_ping().await;
    let refreshed = client.request("auth.refresh", json!(forever), Some(1)).await;
    assert_eq!(refreshed, json!({"event": "auth.refresh", "data": {"expiresAt": u64::MAX}, "id": 1}));
    client.assert_answers_ping().await;
    server.wait_online("live", &["forever"]).await;
    client.close().await;
    assert_eq!(
        disconnect_of(&disconnects, "forever", Duration::from_secs(5)).await,
        DisconnectReason::ClientClosed { code: None }
    );
    server.wait_online("live", &[]).await;
}

#[tokio::test]
async fn a_hook_that_panics_outside_the_handlers_still_ends_in_the_same_cleanup() {
    let (server, disconnects) = server(|b| b).await;
    let mut survivor = Client::user(&server, "/live", "survivor").await;
    let mut client = Client::user(&server, "/live", "boom").await;
    let closed = client.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(1011), "internal error"));
    assert_eq!(
        disconnect_of(&disconnects, "boom", Duration::from_secs(5)).await,
        DisconnectReason::ServerClosed { code: CloseCode::InternalError, reason: "internal error".into() }
    );
    server.wait_online("live", &["survivor"]).await;
    survivor.assert_answers_ping().await;
}

#[derive(Debug, Clone, Deserialize)]
struct RiderClaims {
    sub: String,
    role: String,
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt<RiderClaims>)]
struct RiderGateway;

#[venta_ws::messages]
impl RiderGateway {
    async fn validate_connection(
        &self,
        request: &ConnectRequest,
        identity: &Identity<RiderClaims>,
    ) -> Result<(), GatewayError> {
        if request.headers().get("x-app").is_none_or(|app| app != "rider-app") {
            return Err(GatewayError::forbidden("only the rider app connects here"));
        }
        if identity.claims.role != "rider" {
            return Err(GatewayError::forbidden(format!("riders only, not {}s", identity.claims.role)));
        }
        Ok(())
    }

    #[subscribe("whoami")]
    async fn whoami(&self, socket: &AuthenticatedSocket<RiderClaims>) -> Reply<String> {
        Reply::new("whoami", socket.claims().sub.clone())
    }
}

#[tokio::test]
async fn a_refresh_passes_validate_connection_as_a_connect_would() {
    let module =
        WebSocketModule::builder().jwt(JwtConfig::hs256(SECRET)).gateway(RiderGateway).build().expect("builds");
    let server = TestServer::start(module).await;
    let with_role =
        |role: &str| sign(&json!({"sub": "r1", "role": role, "exp": now() + 600}), SECRET, Algorithm::HS256);

    let headers = [("authorization", format!("Bearer {}", with_role("rider"))), ("x-app", "rider-app".to_owned())];
    let mut client = Client::connect_with_headers(&server.url("/rider"), &headers).await;
    assert_eq!(client.request("whoami", json!(null), None).await["data"], "r1");

    let rejected = client.request("auth.refresh", json!(with_role("customer")), Some(1)).await;
    assert_eq!(rejected["data"]["code"], "refresh_rejected", "{rejected}");
    assert_eq!(rejected["data"]["message"], "riders only, not customers");
    let accepted = client.request("auth.refresh", json!(with_role("rider")), Some(2)).await;
    assert_eq!(accepted["event"], "auth.refresh", "{accepted}");
    assert_eq!(client.request("whoami", json!(null), None).await["data"], "r1");

    let mut wrong_app = Client::try_connect(&server.url("/rider"), Some(&with_role("rider")), Placement::Header, None)
        .await
        .expect("upgraded");
    assert_eq!(wrong_app.closed().await.code, Some(4403), "the handshake headers are checked at connect");
}

#[tokio::test]
async fn a_burst_of_small_pushes_to_a_client_that_reads_them_does_not_close_it() {
    let (server, disconnects) = server(|b| b).await;
    let mut client = Client::user(&server, "/live", "reader").await;
    client.assert_answers_ping().await;
    let live = server.hub.namespace("live").expect("live");
    // 1,000 pushes at once, before the socket's writer gets a turn: far more frames than a
    // slow consumer may leave unread, far fewer bytes.
    for n in 0..1000 {
        assert_eq!(live.emit_to_entity("reader", "tick", &n).expect("emits"), 1, "push {n} queued");
    }
    for n in 0..1000 {
        assert_eq!(client.recv().await, json!({"event": "tick", "data": n}));
    }
    client.assert_answers_ping().await;
    assert!(disconnects.lock().expect("lock").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_closes_while_pushes_wait_gets_its_close_answered() {
    let (server, disconnects) = server(|b| b).await;
    let live = server.hub.namespace("live").expect("live");
    for attempt in 0..50 {
        let entity = format!("closer-{attempt}");
        let client = Client::user(&server, "/live", &entity).await;
        // Pushes queued while the client's close frame arrives.
        let pushing = {
            let (live, entity) = (live.clone(), entity.clone());
            tokio::spawn(async move {
                for n in 0..2000 {
                    if live.emit_to_entity(&entity, "tick", &n).is_err() {
                        break;
                    }
                }
            })
        };
        assert!(client.close_and_await_answer(1000).await, "attempt {attempt}: no close frame came back");
        pushing.await.expect("pushed");
        assert_eq!(
            disconnect_of(&disconnects, &entity, Duration::from_secs(5)).await,
            DisconnectReason::ClientClosed { code: Some(1000) }
        );
    }
}
