//! Hostile clients over real sockets: floods of pings from a client that never reads, clients
//! that stop reading with replies pending, tokens that never expire, panics outside the
//! handlers, and refreshed tokens that would not pass a connect.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use venta_ws::prelude::*;
use venta_ws::{CloseCode, DisconnectReason, RateLimit, WebSocketModuleBuilder};
use venta_ws_tests::{Client, Placement, SECRET, TestServer, now, sign};

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
}

fn builder() -> (WebSocketModuleBuilder, Disconnects) {
    let disconnects = Disconnects::default();
    let builder = WebSocketModule::builder()
        .jwt(JwtConfig::hs256(SECRET))
        .gateway(LiveGateway { disconnects: Arc::clone(&disconnects) });
    (builder, disconnects)
}

async fn server(configure: impl FnOnce(WebSocketModuleBuilder) -> WebSocketModuleBuilder) -> (TestServer, Disconnects) {
    let (builder, disconnects) = builder();
    (TestServer::start(configure(builder).build().expect("builds")).await, disconnects)
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

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(server.url("/rider"))
            .expect("request");
    request.headers_mut().insert("authorization", format!("Bearer {}", with_role("rider")).parse().expect("header"));
    request.headers_mut().insert("x-app", "rider-app".parse().expect("header"));
    let mut client = Client::from_request(request).await;
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
