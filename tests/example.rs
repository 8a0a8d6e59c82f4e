//! The main example over real sockets and HTTP: which tokens each gateway admits, and the
//! development-mode token endpoint.

#[path = "node/mod.rs"]
mod node;

use std::net::SocketAddr;

use node::ExampleServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use venta_ws_tests::{Client, Closed, Placement, TestServer, WAIT, token, token_of_kind, vendor_token};

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
