//! Socket.IO clients no one here wrote: socket.io-client v4 (driven through
//! tests/interop/socketio.mjs, one JSON line per command and per thing it sees) against real
//! servers, next to plain WebSocket clients and the hub: transports, refusals, acks, reply
//! events and exceptions, rooms, presence and emits across both protocols, token expiry and
//! refresh, shutdown, and two nodes on Redis.
//!
//! Needs `node` and `tests/interop/node_modules` (`scripts/test setup`); fails with that advice
//! when they are missing, unless `VENTA_SKIP_INTEROP=1`. The Redis case needs Redis at
//! `VENTA_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`), as tests/redis.rs does.

#[path = "node/mod.rs"]
mod node;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use venta_ws::prelude::*;
use venta_ws_examples::{Config, LocationService, connect_module};
use venta_ws_tests::{Client, SECRET, TestServer, now, sign, token, vendor_token};

const SKIP: &str = "VENTA_SKIP_INTEROP";
const WAIT: Duration = Duration::from_secs(8);

/// One socket.io-client process.
struct Driver {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::sync::mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    seq: u64,
}

impl Driver {
    /// Starts the driver against `http://addr`; `None` when the test is skipped.
    async fn start(server: &TestServer) -> Option<Self> {
        if node::skipped(SKIP, "Socket.IO interop") {
            return None;
        }
        let node = node::require_node_package("interop", "socket.io-client", SKIP);
        let mut child = tokio::process::Command::new(node)
            .arg("socketio.mjs")
            .current_dir(node::package_dir("interop"))
            .env("VENTA_URL", format!("http://{}", server.addr))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                println!("sio < {line}");
                let value: Value =
                    serde_json::from_str(&line).unwrap_or_else(|_| json!({"type": "noise", "line": line}));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut driver = Self { child, stdin, lines, seen: Vec::new(), seq: 0 };
        driver.wait_for(None, "ready", None).await;
        Some(driver)
    }

    async fn command(&mut self, command: Value) {
        println!("sio > {command}");
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.expect("driver stdin");
        self.stdin.flush().await.expect("flush");
    }

    /// The first report for socket `id` of `kind` (and `event`), waiting up to [`WAIT`]; other
    /// reports stay for later.
    async fn wait_for(&mut self, id: Option<&str>, kind: &str, event: Option<&str>) -> Value {
        let matches = |value: &Value| {
            assert_ne!(value["type"], "driver_error", "the driver failed: {value}");
            id.is_none_or(|id| value["id"] == id)
                && value["type"] == kind
                && event.is_none_or(|event| value["event"] == event)
        };
        if let Some(index) = self.seen.iter().position(matches) {
            return self.seen.remove(index);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind} {event:?} for {id:?} in time; seen {:#?}", self.seen))
                .expect("the driver is running");
            if matches(&value) {
                return value;
            }
            self.seen.push(value);
        }
    }

    /// Whether a report of `kind` for `id` arrives within `wait`.
    async fn arrives(&mut self, id: &str, kind: &str, event: Option<&str>, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let found = self.seen.iter().any(|value| {
                value["id"] == id && value["type"] == kind && event.is_none_or(|event| value["event"] == event)
            });
            if found {
                return true;
            }
            match tokio::time::timeout_at(until, self.lines.recv()).await {
                Ok(Some(value)) => self.seen.push(value),
                _ => return false,
            }
        }
    }

    async fn connect(&mut self, id: &str, ns: &str, options: Value) {
        let mut command = json!({"op": "connect", "id": id, "ns": ns});
        if let (Value::Object(command), Value::Object(options)) = (&mut command, options) {
            command.extend(options);
        }
        self.command(command).await;
    }

    /// Connects and waits for `connect`; returns the transport it connected over.
    async fn connected(&mut self, id: &str, ns: &str, options: Value) -> String {
        self.connect(id, ns, options).await;
        let report = self.wait_for_either(id, "connect", "connect_error").await;
        assert_eq!(report["type"], "connect", "{id} did not connect: {report}");
        report["transport"].as_str().expect("transport").to_owned()
    }

    async fn wait_for_either(&mut self, id: &str, a: &str, b: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(index) = self.seen.iter().position(|v| v["id"] == id && (v["type"] == a || v["type"] == b)) {
                return self.seen.remove(index);
            }
            let value = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no {a} or {b} for {id}; seen {:#?}", self.seen))
                .expect("the driver is running");
            assert_ne!(value["type"], "driver_error", "the driver failed: {value}");
            self.seen.push(value);
        }
    }

    /// Connects and returns the `connect_error` (`{message, data}`).
    async fn refused(&mut self, id: &str, ns: &str, options: Value) -> Value {
        self.connect(id, ns, options).await;
        let report = self.wait_for_either(id, "connect", "connect_error").await;
        assert_eq!(report["type"], "connect_error", "{id} was admitted: {report}");
        report
    }

    async fn emit(&mut self, id: &str, event: &str, args: Value) {
        self.command(json!({"op": "emit", "id": id, "event": event, "args": args})).await;
    }

    /// Emits with an ack callback and returns the ack's arguments.
    async fn ask(&mut self, id: &str, event: &str, args: Value) -> Value {
        self.seq += 1;
        let seq = self.seq;
        self.command(json!({"op": "emit", "id": id, "event": event, "args": args, "ack": seq})).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(index) = self.seen.iter().position(|v| v["type"] == "ack" && v["seq"] == seq) {
                let ack = self.seen.remove(index);
                assert_eq!(ack["err"], Value::Null, "ack of {event} on {id}: {ack}");
                return ack["args"].clone();
            }
            let value = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no ack for {event} on {id}"))
                .expect("the driver is running");
            self.seen.push(value);
        }
    }

    /// The arguments of the next `event` on `id`.
    async fn event(&mut self, id: &str, event: &str) -> Value {
        self.wait_for(Some(id), "event", Some(event)).await["args"].clone()
    }

    async fn close(&mut self, id: &str) {
        self.command(json!({"op": "close", "id": id})).await;
        let report = self.wait_for(Some(id), "disconnect", None).await;
        assert_eq!(report["reason"], "io client disconnect");
    }

    async fn exit(mut self) {
        self.command(json!({"op": "exit"})).await;
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

fn auth(token: &str) -> Value {
    json!({"auth": {"token": token}})
}

/// Pings with an ack, then without: the ack gets the reply's data, the reply comes as `pong`.
async fn assert_pings(sio: &mut Driver, id: &str) {
    assert_eq!(sio.ask(id, "ping", json!([{"n": 1}])).await, json!([{"n": 1}]));
    sio.emit(id, "ping", json!([{"n": 2}])).await;
    assert_eq!(sio.event(id, "pong").await, json!([{"n": 2}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_connects_acks_and_gets_reply_events() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };

    // It opens over polling and upgrades (the upgrade may finish before or after the CONNECT).
    sio.connected("default", "/user", auth(&token("t-default"))).await;
    assert_eq!(sio.wait_for(Some("default"), "upgrade", None).await["transport"], "websocket");
    assert_pings(&mut sio, "default").await;
    sio.command(json!({"op": "transport", "id": "default"})).await;
    assert_eq!(sio.wait_for(Some("default"), "transport", None).await["name"], "websocket");

    let mut options = auth(&token("t-ws"));
    options["transports"] = json!(["websocket"]);
    assert_eq!(sio.connected("ws", "/user", options).await, "websocket");
    assert_pings(&mut sio, "ws").await;

    let mut options = auth(&token("t-poll"));
    options["transports"] = json!(["polling"]);
    assert_eq!(sio.connected("poll", "/user", options).await, "polling");
    assert_pings(&mut sio, "poll").await;
    sio.command(json!({"op": "transport", "id": "poll"})).await;
    assert_eq!(sio.wait_for(Some("poll"), "transport", None).await["name"], "polling");

    server.wait_online("user", &["t-default", "t-poll", "t-ws"]).await;
    for id in ["default", "ws", "poll"] {
        sio.close(id).await;
    }
    server.wait_online("user", &[]).await;
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_connect_errors_with_the_close_code_and_every_token_placement_connects() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    let expired = sign(&json!({"sub": "late", "exp": now() - 600}), SECRET, Algorithm::HS256);
    let wrongly_signed =
        sign(&json!({"sub": "x", "exp": now() + 600}), "another-secret-of-32-bytes-or-more!!", Algorithm::HS256);
    let cases = [
        ("missing", json!({})),
        ("malformed", auth("not-a-jwt")),
        ("wrongly-signed", auth(&wrongly_signed)),
        ("expired", auth(&expired)),
    ];
    for (id, options) in cases {
        let refusal = sio.refused(id, "/user", options).await;
        assert_eq!(refusal["data"]["code"], 4401, "{id}: {refusal}");
        let reason = refusal["data"]["reason"].as_str().expect("reason");
        assert!(!reason.is_empty(), "{id}: {refusal}");
        assert_eq!(refusal["message"], reason, "{id}: message is the reason");
    }

    let refusal = sio.refused("user-on-vendor", "/vendor", auth(&token("u1"))).await;
    assert_eq!(refusal["data"]["code"], 4403, "{refusal}");
    assert_eq!(refusal["message"], refusal["data"]["reason"], "{refusal}");
    let refusal = sio.refused("vendor-on-user", "/user", auth(&vendor_token("v1"))).await;
    assert_eq!(refusal["data"]["code"], 4403, "{refusal}");

    // A refused socket may try again on the same Engine.IO connection with a good token.
    sio.command(json!({"op": "reconnect", "id": "expired", "auth": {"token": token("late")}})).await;
    sio.wait_for(Some("expired"), "connect", None).await;
    assert_pings(&mut sio, "expired").await;
    sio.close("expired").await;

    let refusal = sio.refused("nowhere", "/nowhere", auth(&token("u1"))).await;
    assert_eq!(refusal["message"], "Invalid namespace", "{refusal}");

    let header = json!({"extraHeaders": {"Authorization": format!("Bearer {}", token("by-header"))}});
    sio.connected("header", "/user", header).await;
    assert_pings(&mut sio, "header").await;
    let query = json!({"query": {"token": token("by-query")}});
    sio.connected("query", "/user", query).await;
    assert_pings(&mut sio, "query").await;
    server.wait_online("user", &["by-header", "by-query"]).await;
    sio.exit().await;
    server.wait_online("user", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_exceptions_and_two_namespaces_over_one_engine_connection() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    let mut options = auth(&token("a1"));
    options["manager"] = json!("m");
    sio.connected("user", "/user", options).await;
    let mut options = auth(&vendor_token("v1"));
    options["manager"] = json!("m");
    sio.connected("vendor", "/vendor", options).await;
    assert_eq!(server.hub.connection_count(), 2, "two sockets");

    // An Ack answers only an ack callback; without one nothing comes (the next thing is the pong).
    let location = json!({"lat": 52.5, "lng": 13.4});
    assert_eq!(sio.ask("vendor", "location.update", json!([location])).await, json!([location]));
    sio.emit("vendor", "location.update", json!([{"lat": 1.5, "lng": 2.5}])).await;
    assert_pings(&mut sio, "vendor").await;
    assert!(!sio.arrives("vendor", "event", Some("location.update"), Duration::from_millis(200)).await);
    assert_eq!(sio.ask("user", "vendor.location", json!(["v1"])).await, json!([{"lat": 1.5, "lng": 2.5}]));
    assert_eq!(sio.ask("user", "presence.online", json!([])).await, json!([["a1"]]));
    assert_eq!(sio.ask("vendor", "presence.online", json!([])).await, json!([["v1"]]));

    let answer = sio.ask("user", "teleport", json!([{}])).await;
    assert_eq!((answer[0]["status"].as_str(), answer[0]["code"].as_str()), (Some("error"), Some("unknown_event")));
    assert!(answer[0]["message"].is_string(), "{answer}");
    assert_eq!(json!([answer[0]]), sio.event("user", "exception").await, "the exception event carries the same");

    let answer = sio.ask("user", "location.update", json!([{"lat": "north"}])).await;
    assert_eq!(answer[0]["code"], "invalid_payload", "{answer}");
    assert_eq!(sio.event("user", "exception").await[0]["code"], "invalid_payload");
    let answer = sio.ask("user", "location.update", json!([{"lat": 91.0, "lng": 0.0}])).await;
    assert_eq!(
        answer[0],
        json!({
            "status": "error",
            "code": "invalid_payload",
            "message": "`data` of event `location.update` is not valid: lat: greater than 90",
            "details": [{"field": "lat", "message": "greater than 90"}],
        })
    );
    assert_eq!(sio.event("user", "exception").await[0]["code"], "invalid_payload");
    sio.emit("user", "teleport", json!([])).await;
    assert_eq!(sio.event("user", "exception").await[0]["code"], "unknown_event", "without an ack too");
    assert_pings(&mut sio, "user").await;

    // Several arguments are one array; attachments arrive as arrays of byte values.
    let several = json!([1, "two", {"three": 3}]);
    assert_eq!(sio.ask("user", "ping", several.clone()).await, json!([several]));
    assert_eq!(sio.ask("user", "ping", json!([{"$bytes": [1, 2, 255]}])).await, json!([[1, 2, 255]]));
    let upload = json!([{"name": "a", "file": {"$bytes": [0, 7]}}, {"$bytes": [9]}]);
    assert_eq!(sio.ask("user", "ping", upload).await, json!([[{"name": "a", "file": [0, 7]}, [9]]]));
    sio.emit("user", "ping", json!([{"$bytes": [4, 5]}])).await;
    assert_eq!(sio.event("user", "pong").await, json!([[4, 5]]));

    // The server closing one namespace socket leaves the other open, and the client may join again.
    let vendor = server.hub.namespace("vendor").expect("vendor");
    assert_eq!(vendor.disconnect_entity("v1", venta_ws::CloseCode::PolicyViolation), 1);
    assert_eq!(sio.event("vendor", "closing").await, json!([{"code": 1008, "reason": "policy violation"}]));
    assert_eq!(sio.wait_for(Some("vendor"), "disconnect", None).await["reason"], "io server disconnect");
    assert_pings(&mut sio, "user").await;
    server.wait_online("vendor", &[]).await;
    sio.command(json!({"op": "reconnect", "id": "vendor"})).await;
    sio.wait_for(Some("vendor"), "connect", None).await;
    server.wait_online("vendor", &["v1"]).await;
    assert_pings(&mut sio, "vendor").await;

    // Leaving one namespace leaves the other open on the same Engine.IO connection.
    sio.close("vendor").await;
    server.wait_online("vendor", &[]).await;
    assert_pings(&mut sio, "user").await;
    sio.close("user").await;
    server.wait_online("user", &[]).await;
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_message_limit_closes_the_socket_with_1009() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    let mut options = auth(&token("big"));
    options["transports"] = json!(["websocket"]);
    sio.connected("big", "/user", options).await;
    // Over the gateway's 64 KiB, within Engine.IO's framing allowance: the gateway's limit.
    sio.emit("big", "ping", json!(["x".repeat(65 * 1024)])).await;
    assert_eq!(sio.event("big", "closing").await[0]["code"], 1009);
    assert_eq!(sio.wait_for(Some("big"), "disconnect", None).await["reason"], "io server disconnect");
    server.wait_online("user", &[]).await;
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_hub_emits_reaches_a_polling_client_in_order() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    let mut options = auth(&token("burst"));
    options["transports"] = json!(["polling"]);
    sio.connected("poll", "/user", options).await;
    let user = server.hub.namespace("user").expect("user");
    for n in 0..1000 {
        assert_eq!(user.emit_to_entity("burst", "n", &n).expect("emit"), 1);
    }
    for n in 0..1000 {
        assert_eq!(sio.event("poll", "n").await, json!([n]));
    }
    assert_pings(&mut sio, "poll").await;
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_and_at_once_rejoining_a_namespace_keeps_the_new_socket() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    // The vendor socket keeps the Manager's Engine.IO connection open while the user's bounces.
    for (manager, transports) in [("ws", json!(["websocket"])), ("poll", json!(["polling"]))] {
        let (keep, bouncer) = (format!("keep-{manager}"), format!("bouncer-{manager}"));
        let mut options = auth(&vendor_token(&keep));
        options["manager"] = json!(manager);
        options["transports"] = transports.clone();
        sio.connected(&keep, "/vendor", options).await;
        let mut options = auth(&token(&bouncer));
        options["manager"] = json!(manager);
        options["transports"] = transports;
        sio.connected(&bouncer, "/user", options).await;
        bounce(&mut sio, &server, &bouncer).await;
    }
    // Closing the Engine.IO connections ends the rejoined sockets too.
    sio.exit().await;
    server.wait_online("user", &[]).await;
    server.wait_online("vendor", &[]).await;
}

async fn bounce(sio: &mut Driver, server: &TestServer, bouncer: &str) {
    for _ in 0..5 {
        sio.command(json!({"op": "bounce", "id": bouncer})).await;
        assert_eq!(sio.wait_for(Some(bouncer), "disconnect", None).await["reason"], "io client disconnect");
        sio.wait_for(Some(bouncer), "connect", None).await;
        assert_pings(sio, bouncer).await;
    }
    let user = server.hub.namespace("user").expect("user");
    let deadline = tokio::time::Instant::now() + WAIT;
    while user.local_sockets_of(bouncer).len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the old sockets of {bouncer} are still attached");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "chat", auth = Jwt)]
struct ChatGateway;

#[venta_ws::messages]
impl ChatGateway {
    #[subscribe("join")]
    async fn join(&self, socket: &AuthenticatedSocket, room: String) -> Ack<String> {
        socket.join(&room);
        Ack(room)
    }

    #[subscribe("say")]
    async fn say(&self, socket: &AuthenticatedSocket, line: Value) -> Result<Ack<usize>, GatewayError> {
        let room = line["room"].as_str().unwrap_or_default().to_owned();
        let reached = socket
            .namespace()
            .emit_to_room(&room, "said", &line)
            .map_err(|error| GatewayError::new("emit_failed", error.to_string()))?;
        Ok(Ack(reached))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_emit_reaches_socket_io_and_plain_websocket_members() {
    let module =
        WebSocketModule::builder().jwt(JwtConfig::hs256(SECRET)).gateway(ChatGateway).build().expect("module builds");
    let server = TestServer::start(module).await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    sio.connected("sio", "/chat", auth(&token("c1"))).await;
    sio.connected("outside", "/chat", auth(&token("c3"))).await;
    assert_eq!(sio.ask("sio", "join", json!(["lobby"])).await, json!(["lobby"]));
    let mut plain = Client::user(&server, "/chat", "c2").await;
    let ack = plain.request("join", json!("lobby"), Some(1)).await;
    assert_eq!(ack, json!({"event": "join", "data": "lobby", "id": 1}));

    let line = json!({"room": "lobby", "text": "hi"});
    // The handler emits to the room before it returns its ack: the plain socket gets both.
    let mut frames = vec![plain.request("say", line.clone(), Some(2)).await, plain.recv().await];
    frames.sort_by_key(|frame| frame["event"].as_str().map(str::to_owned));
    assert_eq!(frames, [json!({"event": "said", "data": line}), json!({"event": "say", "data": 2, "id": 2})]);
    assert_eq!(sio.event("sio", "said").await, json!([line]));

    let hub_line = json!({"room": "lobby", "text": "from the hub"});
    assert_eq!(server.hub.namespace("chat").expect("chat").emit_to_room("lobby", "said", &hub_line).expect("emit"), 2);
    assert_eq!(plain.recv().await, json!({"event": "said", "data": hub_line}));
    assert_eq!(sio.event("sio", "said").await, json!([hub_line]));
    assert!(!sio.arrives("outside", "event", Some("said"), Duration::from_millis(200)).await, "not a member");
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_hub_emits_span_both_protocols() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    let mut presence = server.hub.presence().subscribe();
    let mut plain = Client::user(&server, "/user", "both").await;
    sio.connected("sio", "/user", auth(&token("both"))).await;
    let mut other = Client::user(&server, "/user", "other").await;
    server.wait_online("user", &["both", "other"]).await;
    let user = server.hub.namespace("user").expect("user");
    assert_eq!(user.local_sockets_of("both").len(), 2);
    assert_eq!(server.hub.presence().sockets_of("user", "both").await.expect("sockets").len(), 2);

    assert_eq!(user.emit("news", &json!({"n": 1})).expect("emit"), 3);
    assert_eq!(plain.recv().await, json!({"event": "news", "data": {"n": 1}}));
    assert_eq!(other.recv().await, json!({"event": "news", "data": {"n": 1}}));
    assert_eq!(sio.event("sio", "news").await, json!([{"n": 1}]));
    assert_eq!(user.emit_to_entity("both", "direct", &json!([1, "two"])).expect("emit"), 2);
    assert_eq!(plain.recv().await, json!({"event": "direct", "data": [1, "two"]}));
    assert_eq!(sio.event("sio", "direct").await, json!([[1, "two"]]));
    other.assert_answers_ping().await; // `direct` was not for `other`

    plain.close().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while user.local_sockets_of("both").len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the plain socket is still counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(user.is_online("both").await.expect("presence"), "still online through Socket.IO");
    sio.close("sio").await;
    server.wait_online("user", &["other"]).await;

    let mut changes = Vec::new();
    while let Ok(event) = presence.try_recv() {
        if event.entity_id.as_ref() == "both" {
            changes.push(format!("{:?}", event.status));
        }
    }
    assert_eq!(changes, ["Online", "Offline"], "one online and one offline change for both sockets");
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_warns_refresh_extends_and_an_unrefreshed_socket_is_closed_with_4408() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    // The example's leeway is 5 s: these tokens expire 2 s from now, inside the 30 s warning.
    let exp = now() - 3;
    let short = |sub: &str| sign(&json!({"sub": sub, "exp": exp}), SECRET, Algorithm::HS256);
    sio.connected("refreshed", "/user", auth(&short("r1"))).await;
    sio.connected("lapsed", "/user", auth(&short("r2"))).await;
    assert_eq!(sio.event("refreshed", "auth.expiring").await, json!([{"expiresAt": exp + 5}]));
    assert_eq!(sio.event("lapsed", "auth.expiring").await, json!([{"expiresAt": exp + 5}]));

    let fresh_exp = now() + 3600;
    let fresh = sign(&json!({"sub": "r1", "exp": fresh_exp}), SECRET, Algorithm::HS256);
    assert_eq!(sio.ask("refreshed", "auth.refresh", json!([fresh])).await, json!([{"expiresAt": fresh_exp + 5}]));

    // A token for someone else is refused in-band: an exception and the same in the ack.
    let other = sign(&json!({"sub": "someone-else", "exp": fresh_exp}), SECRET, Algorithm::HS256);
    let refused = sio.ask("lapsed", "auth.refresh", json!([other])).await;
    assert_eq!((refused[0]["status"].as_str(), refused[0]["code"].as_str()), (Some("error"), Some("refresh_rejected")));
    assert_eq!(sio.event("lapsed", "exception").await, refused);

    let closing = sio.event("lapsed", "closing").await;
    assert_eq!(closing, json!([{"code": 4408, "reason": "token expired"}]));
    assert_eq!(sio.wait_for(Some("lapsed"), "disconnect", None).await["reason"], "io server disconnect");
    server.wait_online("user", &["r1"]).await;
    assert_pings(&mut sio, "refreshed").await;
    assert!(!sio.arrives("refreshed", "disconnect", None, Duration::from_millis(300)).await);
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_sends_closing_1001_then_disconnects() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    sio.connected("sio", "/user", auth(&token("s1"))).await;
    let mut options = auth(&token("s2"));
    options["transports"] = json!(["polling"]);
    sio.connected("poll", "/user", options).await;
    let report = server.hub.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.closed, 2, "{report:?}");
    for id in ["sio", "poll"] {
        let closing = sio.event(id, "closing").await;
        assert_eq!(closing[0]["code"], 1001, "{id}: {closing}");
        assert_eq!(sio.wait_for(Some(id), "disconnect", None).await["reason"], "io server disconnect");
    }
    server.shutdown().await;
    sio.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_graceful_shutdown_closes_socket_io_clients_with_1001() {
    let server = TestServer::example().await;
    let Some(mut sio) = Driver::start(&server).await else { return };
    sio.connected("sio", "/user", auth(&token("g1"))).await;
    sio.wait_for(Some("sio"), "upgrade", None).await;
    let mut options = auth(&token("g2"));
    options["transports"] = json!(["polling"]);
    sio.connected("poll", "/user", options).await;
    let started = tokio::time::Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    // Both get `closing` and the DISCONNECT; the long-polling one fetches them with a poll of
    // its own, which `serve` still takes while the sockets close.
    for id in ["sio", "poll"] {
        assert_eq!(sio.event(id, "closing").await, json!([{"code": 1001, "reason": "server going away"}]), "{id}");
        assert_eq!(sio.wait_for(Some(id), "disconnect", None).await["reason"], "io server disconnect", "{id}");
    }
    shutdown.await.expect("shutdown");
    assert!(started.elapsed() < Duration::from_secs(10), "shutdown took {:?}", started.elapsed());
    sio.exit().await;
}

fn redis_url() -> String {
    std::env::var("VENTA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn redis_node(url: &str, prefix: &str) -> TestServer {
    let (url, prefix) = (url.to_owned(), prefix.to_owned());
    let config = Config::from_lookup(move |name| match name {
        "JWT_SECRET" => Some(SECRET.to_owned()),
        "REDIS_URL" => Some(url.clone()),
        "REDIS_PREFIX" => Some(prefix.clone()),
        _ => None,
    })
    .expect("valid configuration");
    let module = connect_module(&config, &Arc::new(LocationService::default()))
        .await
        .unwrap_or_else(|error| panic!("{error}: is Redis running? scripts/test starts one"));
    TestServer::start(module).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_nodes_a_socket_io_client_gets_the_other_nodes_emits_and_presence_spans_both() {
    if node::skipped(SKIP, "Socket.IO interop") {
        return;
    }
    let url = redis_url();
    let prefix = format!("venta-test-sio-{}", venta_ws::SocketId::next());
    let (a, b) = (redis_node(&url, &prefix).await, redis_node(&url, &prefix).await);
    let Some(mut sio) = Driver::start(&a).await else { return };
    sio.connected("on-a", "/user", auth(&token("n1"))).await;
    let mut on_b = Client::user(&b, "/user", "n2").await;
    on_b.assert_answers_ping().await;
    a.wait_online("user", &["n1", "n2"]).await;
    b.wait_online("user", &["n1", "n2"]).await;
    assert_eq!(sio.ask("on-a", "presence.online", json!([])).await, json!([["n1", "n2"]]));

    let user_b = b.hub.namespace("user").expect("user");
    user_b.emit_to_entity("n1", "direct", &json!({"from": "b"})).expect("emit");
    assert_eq!(sio.event("on-a", "direct").await, json!([{"from": "b"}]));
    user_b.emit("news", &json!("all")).expect("emit");
    assert_eq!(sio.event("on-a", "news").await, json!(["all"]));
    assert_eq!(on_b.recv().await, json!({"event": "news", "data": "all"}));

    sio.close("on-a").await;
    b.wait_online("user", &["n2"]).await;
    on_b.close().await;
    a.wait_online("user", &[]).await;
    sio.exit().await;
}
