//! Test support: start a server on a loopback port, mint tokens, and talk to it with a real
//! WebSocket client (tokio-tungstenite).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WireCloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use venta_ws::{Hub, WebSocketModule};
use venta_ws_examples::{Config, LocationService};

mod riders;
pub use riders::{RiderGateway, rider, rider_module, rider_token};

/// The secret the test servers verify tokens with.
pub const SECRET: &str = "integration-test-secret-of-32-bytes-or-more";

/// How long a test waits for any one frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// A server listening on a loopback port.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The module's hub, to look at presence and namespaces from the test.
    pub hub: Hub,
    task: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The example's configuration with the test secret and an allowed test origin.
pub fn example_config() -> Config {
    Config::from_lookup(|name| match name {
        "JWT_SECRET" => Some(SECRET.to_owned()),
        "ALLOWED_ORIGINS" => Some("http://localhost:3000,https://app.example.com".to_owned()),
        _ => None,
    })
    .expect("valid test configuration")
}

impl TestServer {
    /// Starts the main example, as `cargo run --example location` would, on a free port.
    pub async fn example() -> Self {
        let locations = Arc::new(LocationService::default());
        let module = venta_ws_examples::module(&example_config(), &locations).expect("example module builds");
        Self::start(module).await
    }

    /// Serves a module on a free loopback port with `venta_ws::serve`.
    pub async fn start(module: WebSocketModule) -> Self {
        Self::start_with(module, |serve| serve).await
    }

    /// Serves a module, letting the test configure the server.
    pub async fn start_with(
        module: WebSocketModule,
        configure: impl FnOnce(venta_ws::Serve) -> venta_ws::Serve,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let hub = module.hub();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve =
            venta_ws::serve(listener, module.into_router()).with_hub(hub.clone()).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        let serve = configure(serve);
        let task = tokio::spawn(async move {
            serve.await.expect("server runs");
        });
        Self { addr, hub, task, stop: Some(stop) }
    }

    /// Triggers a graceful shutdown and waits until the server has finished.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        tokio::time::timeout(Duration::from_secs(30), task).await.expect("shutdown in time").expect("server task");
    }

    /// `ws://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Waits until `namespace` reports exactly `expected` online.
    pub async fn wait_online(&self, namespace: &str, expected: &[&str]) {
        let ns = self.hub.namespace(namespace).expect("namespace exists");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let online = ns.online().await.expect("presence answers");
            if online == expected {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{namespace} online is {online:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Emits `notice` events to `entity` from `from` until `client` hears one, for at most
/// [`WAIT`]: delivery between nodes is at most once while a node subscribes again (after an
/// outage or a failover), so the first emits may be lost. Panics with `what` if none arrives.
pub async fn emit_until_heard(from: &venta_ws::Namespace, entity: &str, client: &mut Client, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut sent = 0;
    loop {
        sent += 1;
        from.emit_to_entity(entity, "notice", &sent).expect("emits");
        if let Ok(event) = tokio::time::timeout(std::time::Duration::from_millis(200), client.recv()).await {
            assert_eq!(event["event"], "notice");
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}");
    }
}

/// Reads until `check` holds, or fails with the last value.
pub async fn until<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    mut read: impl FnMut() -> F,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = read().await;
        if check(&value) {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "never came true: {value:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signs `claims` with `secret` and `algorithm`.
pub fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret.as_bytes())).expect("signs")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A valid token for `sub`, good for an hour. It has no `kind` claim: the example takes it
/// for a user's.
pub fn token(sub: &str) -> String {
    sign(&json!({"sub": sub, "exp": now() + 3600}), SECRET, Algorithm::HS256)
}

/// A valid token for `sub` with `"kind": kind`, good for an hour.
pub fn token_of_kind(sub: &str, kind: &str) -> String {
    sign(&json!({"sub": sub, "kind": kind, "exp": now() + 3600}), SECRET, Algorithm::HS256)
}

/// A valid vendor token for `sub` (`"kind": "vendor"`), good for an hour.
pub fn vendor_token(sub: &str) -> String {
    token_of_kind(sub, "vendor")
}

/// Where a client puts its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// `Authorization: Bearer <token>`.
    Header,
    /// `?token=<token>`.
    Query,
    /// `Sec-WebSocket-Protocol: venta-ws, bearer.<token>`.
    Subprotocol,
}

/// A connected test client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The subprotocol the server selected, if any.
    pub protocol: Option<String>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code, `None` when the connection dropped without a close frame.
    pub code: Option<u16>,
    /// The close reason.
    pub reason: String,
}

impl Client {
    /// Connects to `url` with `token` placed as `placement`.
    pub async fn connect(url: &str, token: Option<&str>, placement: Placement) -> Client {
        Self::try_connect(url, token, placement, None).await.expect("handshake succeeds")
    }

    /// Connects with a valid token for `sub` in the Authorization header.
    pub async fn user(server: &TestServer, path: &str, sub: &str) -> Client {
        Self::connect(&server.url(path), Some(&token(sub)), Placement::Header).await
    }

    /// Connects with a valid vendor token for `sub` in the Authorization header.
    pub async fn vendor(server: &TestServer, path: &str, sub: &str) -> Client {
        Self::connect(&server.url(path), Some(&vendor_token(sub)), Placement::Header).await
    }

    /// Connects with a valid token for `sub` over a TCP socket whose receive buffer is only
    /// `receive_buffer` bytes, so that the server's writes wait as soon as this client stops
    /// reading.
    pub async fn with_small_receive_buffer(server: &TestServer, path: &str, sub: &str, receive_buffer: u32) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(receive_buffer).expect("SO_RCVBUF");
        let stream = socket.connect(server.addr).await.expect("connect");
        let mut request = server.url(path).into_client_request().expect("request");
        let bearer = HeaderValue::from_str(&format!("Bearer {}", token(sub))).expect("header");
        request.headers_mut().insert("authorization", bearer);
        let handshake = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream));
        let (ws, _) = tokio::time::timeout(WAIT, handshake).await.expect("handshake in time").expect("handshake");
        Client { ws, protocol: None }
    }

    /// Connects, returning the handshake error instead of panicking.
    pub async fn try_connect(
        url: &str,
        token: Option<&str>,
        placement: Placement,
        origin: Option<&str>,
    ) -> Result<Client, tungstenite::Error> {
        let url = match (token, placement) {
            (Some(token), Placement::Query) => format!("{url}?token={token}"),
            _ => url.to_owned(),
        };
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        match (token, placement) {
            (Some(token), Placement::Header) => {
                headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
            }
            (Some(token), Placement::Subprotocol) => {
                headers.insert(
                    "sec-websocket-protocol",
                    HeaderValue::from_str(&format!("venta-ws, bearer.{token}")).expect("header"),
                );
            }
            _ => {}
        }
        if let Some(origin) = origin {
            headers.insert("origin", HeaderValue::from_str(origin).expect("header"));
        }
        Self::open(request).await
    }

    /// Connects to `url` (which may carry `?token=`) with exactly these extra handshake
    /// headers, so a test can put tokens in several places at once.
    pub async fn connect_with_headers(url: &str, extra: &[(&'static str, String)]) -> Client {
        let mut request = url.into_client_request().expect("request");
        for (name, value) in extra {
            request.headers_mut().append(*name, HeaderValue::from_str(value).expect("header"));
        }
        Self::open(request).await.expect("handshake succeeds")
    }

    async fn open(request: tungstenite::handshake::client::Request) -> Result<Client, tungstenite::Error> {
        let (ws, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.expect("handshake in time")?;
        let protocol =
            response.headers().get("sec-websocket-protocol").and_then(|value| value.to_str().ok()).map(str::to_owned);
        Ok(Client { ws, protocol })
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends a frame exactly as given, even one that breaks the protocol.
    pub async fn send_frame(&mut self, frame: tungstenite::protocol::frame::Frame) {
        self.ws.send(Message::Frame(frame)).await.expect("send");
    }

    /// Sends a ping frame without reading anything (the server's WebSocket layer answers it
    /// with a pong); `false` when the write did not complete within `wait` or failed.
    pub async fn try_send_ping(&mut self, payload: &[u8], wait: Duration) -> bool {
        matches!(tokio::time::timeout(wait, self.ws.send(Message::Ping(payload.to_vec().into()))).await, Ok(Ok(())))
    }

    /// Sends raw text without reading anything; `false` when the write did not complete
    /// within `wait` (the server stopped reading) or failed (the server closed).
    pub async fn try_send_text(&mut self, text: &str, wait: Duration) -> bool {
        matches!(tokio::time::timeout(wait, self.ws.send(Message::text(text))).await, Ok(Ok(())))
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws.send(Message::binary(bytes.to_vec())).await.expect("send");
    }

    /// Sends an envelope.
    pub async fn send(&mut self, event: &str, data: Value, id: Option<u64>) {
        let mut envelope = json!({"event": event, "data": data});
        if let Some(id) = id {
            envelope["id"] = json!(id);
        }
        self.send_text(&envelope.to_string()).await;
    }

    /// The next text frame as JSON; fails on a close or after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("connection open")
                .expect("frame reads");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("frames are JSON"),
                Message::Close(frame) => panic!("closed unexpectedly: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Sends an envelope and returns the next frame.
    pub async fn request(&mut self, event: &str, data: Value, id: Option<u64>) -> Value {
        self.send(event, data, id).await;
        self.recv().await
    }

    /// Pings through the gateway and checks the pong carries the same data.
    pub async fn assert_answers_ping(&mut self) {
        let reply = self.request("ping", json!({"n": 42}), None).await;
        assert_eq!(reply, json!({"event": "pong", "data": {"n": 42}}));
    }

    /// Keeps reading (and so answering pings) until `until`; fails if the server closes.
    pub async fn read_until(&mut self, until: tokio::time::Instant) {
        while let Ok(message) = tokio::time::timeout_at(until, self.ws.next()).await {
            match message {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected only pings, got {other:?}"),
            }
        }
    }

    /// Reads until the server closes; returns the code and reason.
    pub async fn closed(&mut self) -> Closed {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("close in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Closed { code: Some(u16::from(frame.code)), reason: frame.reason.to_string() };
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return Closed { code: None, reason: String::new() };
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Closes from the client side with 1000 and waits for the server's answer.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }

    /// Closes with a specific code.
    pub async fn close_with(mut self, code: u16) {
        let frame = tungstenite::protocol::CloseFrame { code: WireCloseCode::from(code), reason: "bye".into() };
        let _ = self.ws.close(Some(frame)).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }

    /// Closes with `code`, reads whatever was still on its way, and says whether the server
    /// answered with a close frame (rather than ending the connection without one).
    pub async fn close_and_await_answer(mut self, code: u16) -> bool {
        let frame = tungstenite::protocol::CloseFrame { code: WireCloseCode::from(code), reason: "bye".into() };
        let _ = self.ws.send(Message::Close(Some(frame))).await;
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
                _ => return false,
            }
        }
    }

    /// Drops the TCP connection without a close frame.
    pub fn drop_connection(self) {
        drop(self.ws);
    }
}

/// Collects what a `tracing_subscriber::fmt()` writer is given, for tests that read the logs.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// How many bytes were written so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a Socket.IO client puts its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketIoToken<'a> {
    /// The CONNECT `auth` payload: `io(url, { auth: { token } })`.
    Auth(&'a str),
    /// `Authorization: Bearer` on the Engine.IO handshake: `extraHeaders`.
    Header(&'a str),
    /// `?token=` on the Engine.IO handshake: `query: { token }`.
    Query(&'a str),
    /// No token.
    None,
}

/// A Socket.IO client at the protocol level, over Engine.IO's WebSocket transport, as
/// socket.io-client runs with `transports: ["websocket"]`: it answers the heartbeat and hands
/// out every other packet as text.
pub struct SocketIoClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl SocketIoClient {
    /// Opens an Engine.IO session at `path` (`/socket.io`) and joins `namespace` (`user`);
    /// returns the client and the server's answer to the CONNECT (`40/user,{"sid":..}` or a
    /// `44/user,{..}` CONNECT_ERROR).
    pub async fn join(server: &TestServer, path: &str, namespace: &str, token: SocketIoToken<'_>) -> (Self, String) {
        let mut url = server.url(&format!("{path}/?EIO=4&transport=websocket"));
        if let SocketIoToken::Query(token) = token {
            url.push_str("&token=");
            url.push_str(token);
        }
        let mut request = url.into_client_request().expect("request");
        if let SocketIoToken::Header(token) = token {
            request
                .headers_mut()
                .insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
        }
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("Engine.IO handshake in time")
            .expect("Engine.IO handshake");
        let mut client = Self { ws };
        let open = client.packet().await;
        assert!(open.starts_with("0{\"sid\""), "not an Engine.IO open packet: {open}");
        let auth = match token {
            SocketIoToken::Auth(token) => json!({ "token": token }).to_string(),
            _ => String::new(),
        };
        client.send(&format!("40/{namespace},{auth}")).await;
        let answer = client.packet().await;
        (client, answer)
    }

    /// Sends one Socket.IO packet (`42/user,1["ping",{}]`).
    pub async fn send(&mut self, packet: &str) {
        self.ws.send(Message::text(format!("4{}", packet.strip_prefix('4').unwrap_or(packet)))).await.expect("send");
    }

    /// Sends one binary Engine.IO message: an attachment of the binary event sent before it.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws.send(Message::binary(bytes.to_vec())).await.expect("send");
    }

    /// The next Engine.IO message that is not a heartbeat, as text (`42/user,["pong",{}]`).
    pub async fn packet(&mut self) -> String {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a packet in time")
                .expect("the session is open")
                .expect("a readable message");
            let text = message.to_text().expect("a text message").to_owned();
            if text == "2" {
                self.ws.send(Message::text("3")).await.expect("heartbeat");
                continue;
            }
            return text;
        }
    }
}

/// `GET path` over a plain TCP connection: the status and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response)).await.expect("in time").expect("read");
    let status = response[9..12].parse().expect("status");
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// The value of the series `name` with exactly `labels` in Prometheus text, 0 when absent.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (inside, number) = match rest.strip_prefix('{') {
            Some(rest) => match rest.split_once("} ") {
                Some(split) => split,
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(number) => ("", number),
                None => continue,
            },
        };
        let mut found: Vec<(String, String)> = inside
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
            .collect();
        found.sort();
        let mut wanted: Vec<(String, String)> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        wanted.sort();
        if found == wanted {
            return number.trim().parse().expect("a number");
        }
    }
    0.0
}

/// Scrapes until `check` holds, or fails with the last scrape.
pub async fn scrape_until(addr: SocketAddr, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, text) = http_get(addr, "/metrics").await;
        assert_eq!(status, 200);
        if check(&text) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "metrics never matched:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
