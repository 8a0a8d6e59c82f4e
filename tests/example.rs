//! The main example over real sockets and HTTP: which tokens each gateway admits, and the
//! development-mode token endpoint and `GET /metrics` on the main address.

#[path = "node/mod.rs"]
mod node;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use node::ExampleServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use venta_ws_examples::demo;
use venta_ws_tests::{Client, Closed, Placement, TestServer, WAIT, http_get, token, token_of_kind, vendor_token};

/// An HTTP response as read off the wire.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    body: String,
}

impl HttpResponse {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// Sends `head` and `body` on a fresh connection and reads the response until the server
/// closes (the request asks it to).
async fn http(addr: SocketAddr, head: &str, body: &[u8]) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw)).await.expect("answered in time").expect("read");
    parse(&raw)
}

fn parse(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    HttpResponse { status, body: body.to_owned() }
}

/// `POST /dev/token` with a JSON body.
async fn post_token(addr: SocketAddr, body: &Value) -> HttpResponse {
    let body = body.to_string();
    let head = format!(
        "POST /dev/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    http(addr, &head, body.as_bytes()).await
}

async fn refused(url: &str, token: &str) -> Closed {
    Client::connect(url, Some(token), Placement::Header).await.closed().await
}

#[tokio::test]
async fn vendor_admits_vendor_tokens_only_and_user_admits_user_tokens_only() {
    let server = TestServer::example().await;
    let (user_url, vendor_url) = (server.url("/user"), server.url("/vendor"));
    let mut alice = Client::user(&server, "/user", "alice").await; // no `kind`: a user
    let mut bob = Client::connect(&user_url, Some(&token_of_kind("bob", "user")), Placement::Header).await;
    alice.assert_answers_ping().await;
    bob.assert_answers_ping().await;

    let not_a_vendor = "/vendor takes vendor tokens only, not user tokens";
    for (case, impostor) in [("no kind", token("mallory")), ("kind user", token_of_kind("mallory", "user"))] {
        let closed = refused(&vendor_url, &impostor).await;
        assert_eq!((closed.code, closed.reason.as_str()), (Some(4403), not_a_vendor), "{case}");
    }
    let closed = refused(&user_url, &vendor_token("truck")).await;
    assert_eq!((closed.code, closed.reason.as_str()), (Some(4403), "/user takes user tokens only, not vendor tokens"));
    for (url, path, expected) in [(&user_url, "/user", "user"), (&vendor_url, "/vendor", "vendor")] {
        let closed = refused(url, &token_of_kind("mallory", "admin")).await;
        let reason = format!("{path} takes {expected} tokens only; this token's kind is `admin`");
        assert_eq!((closed.code, closed.reason), (Some(4403), reason));
    }
    // Nothing reached the users: the next frame alice gets is her own pong.
    alice.assert_answers_ping().await;

    let mut truck = Client::vendor(&server, "/vendor", "truck").await;
    let ack = truck.request("location.update", json!({"lat": 48.1, "lng": 11.6}), Some(1)).await;
    assert_eq!(ack, json!({"event": "location.update", "data": {"lat": 48.1, "lng": 11.6}, "id": 1}));
    let pushed = json!({"event": "vendor.location", "data": {"vendorId": "truck", "lat": 48.1, "lng": 11.6}});
    assert_eq!(alice.recv().await, pushed);
    assert_eq!(bob.recv().await, pushed);
    server.wait_online("user", &["alice", "bob"]).await;
    server.wait_online("vendor", &["truck"]).await;
}

#[tokio::test]
async fn a_vendor_socket_cannot_refresh_itself_with_a_user_token() {
    let server = TestServer::example().await;
    let mut truck = Client::vendor(&server, "/vendor", "truck").await;
    let refused = truck.request("auth.refresh", json!(token_of_kind("truck", "user")), Some(1)).await;
    assert_eq!(refused["data"]["code"], "refresh_rejected", "{refused}");
    assert_eq!(refused["data"]["message"], "/vendor takes vendor tokens only, not user tokens");
    let refreshed = truck.request("auth.refresh", json!(vendor_token("truck")), Some(2)).await;
    assert_eq!(refreshed["event"], "auth.refresh", "{refreshed}");
}

#[tokio::test]
async fn development_tokens_connect_to_the_gateway_of_their_kind_only() {
    let server = ExampleServer::start(&[("VENTA_DEV_MODE", "1")]).await;
    let url = |path: &str| format!("ws://{}{path}", server.addr);
    for (kind, path, other) in [("user", "/user", "/vendor"), ("vendor", "/vendor", "/user")] {
        let minted = post_token(server.addr, &json!({"sub": "sam", "kind": kind})).await;
        assert_eq!(minted.status, 200, "{minted:?}");
        let minted = minted.json();
        assert_eq!((minted["kind"].as_str(), minted["path"].as_str()), (Some(kind), Some(path)));
        let token = minted["token"].as_str().expect("token");

        let mut client = Client::connect(&url(path), Some(token), Placement::Header).await;
        client.assert_answers_ping().await;
        let closed = refused(&url(other), token).await;
        assert_eq!(closed.code, Some(4403), "a {kind} token on {other}: {closed:?}");
        client.close().await;
    }
    server.wait_online("user", &[]).await;
    server.wait_online("vendor", &[]).await;
}

/// Reads until the server closes, at most `within`; `None` if it is still open then.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buffer[..n]),
            }
        }
    });
    read.await.ok().map(|()| raw)
}

#[tokio::test]
async fn a_token_request_whose_body_drips_in_is_answered_408_and_closed_at_its_deadline() {
    let server = ExampleServer::start(&[("VENTA_DEV_MODE", "1")]).await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /dev/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{",
        server.addr
    );
    writer.write_all(head.as_bytes()).await.expect("write head");
    let started = Instant::now();
    // One byte a second, as long as the server lets it.
    let drip = tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let within = demo::TOKEN_REQUEST_DEADLINE + Duration::from_secs(2);
    let raw = read_until_closed(&mut reader, within).await;
    drip.abort();
    let raw = raw.unwrap_or_else(|| panic!("the dripping request was still open after {within:?}"));
    let elapsed = started.elapsed();
    let response = parse(&raw);
    assert_eq!(response.status, 408, "{response:?}");
    assert!(response.json()["error"].as_str().is_some_and(|e| e.contains("in time")), "{response:?}");
    assert!(elapsed >= demo::TOKEN_REQUEST_DEADLINE - Duration::from_millis(500), "answered after {elapsed:?}");

    // The endpoint still mints for a client that sends its body at once.
    let minted = post_token(server.addr, &json!({"sub": "alice", "kind": "user"})).await;
    assert_eq!(minted.status, 200, "{minted:?}");
}

#[tokio::test]
async fn a_token_request_over_the_size_limit_is_answered_413() {
    let server = ExampleServer::start(&[("VENTA_DEV_MODE", "1")]).await;
    let limit = demo::MAX_TOKEN_REQUEST_BYTES;
    let padded = json!({"sub": "alice", "kind": "user", "pad": "x".repeat(limit)});
    let response = post_token(server.addr, &padded).await;
    assert_eq!(response.status, 413, "{response:?}");

    // Announced too large: answered before any of the body is sent, and closed.
    let head = format!(
        "POST /dev/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        1 << 30
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    let raw = read_until_closed(&mut stream, Duration::from_secs(2)).await.expect("answered and closed at once");
    assert_eq!(parse(&raw).status, 413);

    // Chunked, with no length announced: cut off at the limit.
    let chunk = "y".repeat(limit / 2 + 1);
    let head = format!(
        "POST /dev/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    for _ in 0..3 {
        let _ = stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes()).await;
    }
    let raw = read_until_closed(&mut stream, Duration::from_secs(2)).await.expect("answered and closed at once");
    assert_eq!(parse(&raw).status, 413);

    let minted = post_token(server.addr, &json!({"sub": "alice", "kind": "vendor"})).await;
    assert_eq!(minted.status, 200, "{minted:?}");
}

#[tokio::test]
async fn the_main_address_serves_metrics_for_the_page_when_given_the_handle() {
    // The only recorder of this test binary; the other tests here record into it too.
    let handle = venta_ws::metrics::install().expect("the only recorder");
    let server = ExampleServer::start_with_metrics(&[], Some(handle)).await;
    let token = venta_ws_examples::mint_token(&server.config, "mia", venta_ws_examples::Kind::User, 60);
    let mut mia = Client::connect(&format!("ws://{}/user", server.addr), Some(&token), Placement::Header).await;
    mia.assert_answers_ping().await;
    let (status, body) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("venta_ws_connections_accepted_total{namespace=\"user\",transport=\"websocket\"}"), "{body}");
    mia.close().await;

    // Without a handle there is no /metrics, and the page hides its counters.
    let without = ExampleServer::start(&[]).await;
    assert_eq!(http_get(without.addr, "/metrics").await.0, 404);
}
