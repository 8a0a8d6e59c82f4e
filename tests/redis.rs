//! Presence and fan-out across nodes through a real Redis server: two nodes in one process,
//! two node processes with one killed, and a Redis server stopped and started again; metas,
//! rooms and presence events across nodes.
//!
//! Redis is found at `VENTA_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); `scripts/test`
//! starts one when none answers. The outage test starts a `redis-server` of its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use venta_ws::SocketId;
use venta_ws::presence::{Origin, PresenceEntry, PresenceEvent, PresenceMeta, PresenceStatus, PresenceStore};
use venta_ws::redis::{RedisBackend, RedisConfig};
use venta_ws_examples::{Config, LocationService, connect_module};
use venta_ws_tests::{
    Client, LogCapture, SECRET, SocketIoClient, SocketIoToken, TestServer, WAIT, emit_until_heard, http_get,
    metric_value, rider, rider_module, scrape_until, until,
};

fn redis_url() -> String {
    std::env::var("VENTA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn unique_prefix() -> String {
    format!("venta-test-{}", venta_ws::SocketId::next())
}

fn node_config(url: &str, prefix: &str, ttl_secs: u64) -> Config {
    let (url, prefix) = (url.to_owned(), prefix.to_owned());
    Config::from_lookup(move |name| match name {
        "JWT_SECRET" => Some(SECRET.to_owned()),
        "REDIS_URL" => Some(url.clone()),
        "REDIS_PREFIX" => Some(prefix.clone()),
        "VENTA_NODE_TTL_SECS" => Some(ttl_secs.to_string()),
        _ => None,
    })
    .expect("valid configuration")
}

async fn node(url: &str, prefix: &str) -> TestServer {
    let module = connect_module(&node_config(url, prefix, 30), &Arc::new(LocationService::default()))
        .await
        .unwrap_or_else(|error| panic!("{error}: is Redis running? scripts/test starts one"));
    TestServer::start(module).await
}

async fn next_event(events: &mut tokio::sync::broadcast::Receiver<PresenceEvent>) -> PresenceEvent {
    tokio::time::timeout(WAIT, events.recv()).await.expect("a presence change in time").expect("open")
}

async fn next_change(events: &mut tokio::sync::broadcast::Receiver<PresenceEvent>) -> (String, String, PresenceStatus) {
    let event = next_event(events).await;
    (event.namespace.to_string(), event.entity_id.to_string(), event.status)
}

#[tokio::test]
async fn an_entity_on_two_nodes_is_online_once_until_its_last_socket_closes() {
    let (url, prefix) = (redis_url(), unique_prefix());
    let (a, b) = (node(&url, &prefix).await, node(&url, &prefix).await);
    let mut changes_on_b = b.hub.presence().subscribe();

    let mut on_a = Client::user(&a, "/user", "u1").await;
    let mut on_b = Client::user(&b, "/user", "u1").await;
    let mut other = Client::user(&b, "/user", "u2").await;
    on_a.assert_answers_ping().await;
    on_b.assert_answers_ping().await;
    other.assert_answers_ping().await;

    for client in [&mut on_a, &mut on_b] {
        assert_eq!(client.request("presence.online", json!(null), None).await["data"], json!(["u1", "u2"]));
    }
    assert_eq!(a.hub.presence().count("user").await.expect("count"), 2);
    assert_eq!(a.hub.presence().sockets_of("user", "u1").await.expect("sockets").len(), 2);
    // u1 came online on node a (relayed through Redis), u2 on b itself: the order may differ.
    let mut came_online = vec![next_change(&mut changes_on_b).await, next_change(&mut changes_on_b).await];
    came_online.sort_by(|x, y| x.1.cmp(&y.1));
    let online = |entity: &str| ("user".to_owned(), entity.to_owned(), PresenceStatus::Online);
    assert_eq!(came_online, [online("u1"), online("u2")], "one online change per entity, not per socket");

    on_a.close().await;
    assert_eq!(on_b.request("presence.online", json!(null), None).await["data"], json!(["u1", "u2"]), "still on b");
    on_b.close().await;
    b.wait_online("user", &["u2"]).await;
    a.wait_online("user", &["u2"]).await;
    assert_eq!(next_change(&mut changes_on_b).await, ("user".into(), "u1".into(), PresenceStatus::Offline));
}

#[tokio::test]
async fn emits_and_disconnects_reach_every_node_exactly_once() {
    let (url, prefix) = (redis_url(), unique_prefix());
    let (a, b) = (node(&url, &prefix).await, node(&url, &prefix).await);
    let mut alice_a = Client::user(&a, "/user", "alice").await;
    let mut alice_b = Client::user(&b, "/user", "alice").await;
    let mut bob_b = Client::user(&b, "/user", "bob").await;
    let mut truck = Client::vendor(&a, "/vendor", "truck").await;
    for client in [&mut alice_a, &mut alice_b, &mut bob_b, &mut truck] {
        client.assert_answers_ping().await;
    }

    // A vendor on node a moves: every user socket, on both nodes, hears it once.
    truck.request("location.update", json!({"lat": 1.0, "lng": 2.0}), Some(1)).await;
    let moved = json!({"event": "vendor.location", "data": {"vendorId": "truck", "lat": 1.0, "lng": 2.0}});
    for client in [&mut alice_a, &mut alice_b, &mut bob_b] {
        assert_eq!(client.recv().await, moved);
        client.assert_answers_ping().await; // and nothing twice
    }

    // From node b's hub to an entity with a socket on each node.
    let users_b = b.hub.namespace("user").expect("namespace");
    assert_eq!(users_b.emit_to_entity("alice", "notice", &1).expect("emits"), 1, "one local socket");
    for client in [&mut alice_a, &mut alice_b] {
        assert_eq!(client.recv().await, json!({"event": "notice", "data": 1}));
        client.assert_answers_ping().await;
    }
    bob_b.assert_answers_ping().await;

    users_b.disconnect_entity("alice", venta_ws::CloseCode::Forbidden);
    assert_eq!(alice_a.closed().await.code, Some(4403), "closed on the other node too");
    assert_eq!(alice_b.closed().await.code, Some(4403));
    a.wait_online("user", &["bob"]).await;
}

/// A node process; killed when dropped.
struct NodeProcess {
    child: Child,
    addr: String,
}

impl NodeProcess {
    fn start(url: &str, prefix: &str, ttl_secs: u64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_venta-test-node"))
            .env("VENTA_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", SECRET)
            .env("REDIS_URL", url)
            .env("REDIS_PREFIX", prefix)
            .env("VENTA_NODE_TTL_SECS", ttl_secs.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the node binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the node prints its address");
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line}")).to_owned();
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    fn socket_addr(&self) -> std::net::SocketAddr {
        self.addr.parse().expect("an address")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_killed_node_disappears_from_presence_and_the_others_report_it() {
    let (url, prefix) = (redis_url(), unique_prefix());
    let survivor = NodeProcess::start(&url, &prefix, 1);
    let mut doomed = NodeProcess::start(&url, &prefix, 1);
    let observer = RedisBackend::connect(RedisConfig::new(&url).prefix(&prefix).node_ttl(Duration::from_secs(1)))
        .await
        .expect("observer connects");
    let mut changes = observer.subscribe();

    let token = |sub| venta_ws_tests::token(sub);
    let mut u1 = Client::connect(&survivor.url("/user"), Some(&token("u1")), venta_ws_tests::Placement::Header).await;
    let mut u2 = Client::connect(&doomed.url("/user"), Some(&token("u2")), venta_ws_tests::Placement::Header).await;
    u2.assert_answers_ping().await;
    assert_eq!(u1.request("presence.online", json!(null), None).await["data"], json!(["u1", "u2"]));
    // The doomed node puts its socket of u2 into a room, as another node asks it to.
    let join = venta_ws::cluster::Action::Join { room: "order-17".to_owned() };
    let target = venta_ws::cluster::Target::Entity("u2".to_owned());
    venta_ws::cluster::Cluster::publish(
        &observer,
        venta_ws::cluster::ClusterMessage { namespace: "user".to_owned(), target, action: join },
    );
    until(|| observer.room_members("user", "order-17"), |members| members.as_ref().is_ok_and(|m| m.len() == 1))
        .await
        .expect("members");

    doomed.child.kill().expect("SIGKILL");
    doomed.child.wait().expect("reaped");
    let started = tokio::time::Instant::now();
    loop {
        let (namespace, entity, status) = next_change(&mut changes).await;
        if (namespace.as_str(), entity.as_str(), status) == ("user", "u2", PresenceStatus::Offline) {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5), "gone within the bound: {:?}", started.elapsed());
    assert_eq!(u1.request("presence.online", json!(null), None).await["data"], json!(["u1"]));
    assert!(observer.room_members("user", "order-17").await.expect("members").is_empty(), "and from its rooms");

    // The killed node's channels went with its connection; the room lives on for the survivor.
    let client = redis::Client::open(url.as_str()).expect("url");
    let connection = client.get_multiplexed_async_connection().await.expect("connects");
    let (u2_channel, room_channel) = (format!("{prefix}:ns:user:e:u2"), format!("{prefix}:ns:user:r:order-17"));
    let listeners = |channel: String| {
        let mut connection = connection.clone();
        async move {
            let found: Vec<(String, u64)> =
                redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query_async(&mut connection).await.expect("numsub");
            found[0].1
        }
    };
    assert_eq!((listeners(u2_channel).await, listeners(room_channel.clone()).await), (0, 0));
    let join = venta_ws::cluster::Action::Join { room: "order-17".to_owned() };
    let target = venta_ws::cluster::Target::Entity("u1".to_owned());
    venta_ws::cluster::Cluster::publish(
        &observer,
        venta_ws::cluster::ClusterMessage { namespace: "user".to_owned(), target, action: join },
    );
    until(|| listeners(room_channel.clone()), |listeners| *listeners == 1).await;
    let frame = json!({"event": "order.assigned", "data": 17}).to_string();
    let emit = venta_ws::cluster::Action::Emit { frame };
    let target = venta_ws::cluster::Target::Room("order-17".to_owned());
    venta_ws::cluster::Cluster::publish(
        &observer,
        venta_ws::cluster::ClusterMessage { namespace: "user".to_owned(), target, action: emit },
    );
    assert_eq!(u1.recv().await, json!({"event": "order.assigned", "data": 17}));
}

/// A `redis-server` of the test's own, on a free port; stopped when dropped.
struct RedisProcess {
    child: Option<Child>,
    port: u16,
}

impl RedisProcess {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let redis = Self { child: Some(child), port };
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test]
async fn a_redis_outage_keeps_the_node_working_locally_and_presence_converges_after() {
    let logs = LogCapture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let mut redis = RedisProcess::start(free_port());
    let prefix = unique_prefix();
    let config = node_config(&redis.url(), &prefix, 1);
    let module = connect_module(&config, &Arc::new(LocationService::default())).await.expect("connects");
    let server = TestServer::start(module).await;
    let mut u1 = Client::user(&server, "/user", "u1").await;
    u1.assert_answers_ping().await;
    assert_eq!(server.hub.readiness(), venta_ws::Readiness::Ready);

    redis.stop();
    // Readiness says so, once the node noticed (its heartbeat runs every third of its TTL).
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.hub.readiness() == venta_ws::Readiness::Ready {
        assert!(tokio::time::Instant::now() < deadline, "readiness did not notice the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.hub.readiness(), venta_ws::Readiness::Unavailable("redis unreachable"));
    // Local delivery and local presence keep working; nothing panics.
    for _ in 0..20 {
        u1.assert_answers_ping().await;
    }
    let mut u2 = Client::user(&server, "/user", "u2").await;
    u2.assert_answers_ping().await;
    assert_eq!(u1.request("presence.online", json!(null), None).await["data"], json!(["u1", "u2"]));
    let users = server.hub.namespace("user").expect("namespace");
    assert_eq!(users.emit_to_entity("u2", "notice", &"local").expect("emits"), 1);
    assert_eq!(u2.recv().await, json!({"event": "notice", "data": "local"}));
    u1.close().await;
    server.wait_online("user", &["u2"]).await;
    let text = logs.text();
    let errors = text.matches("redis unavailable").count();
    assert!((1..=2).contains(&errors), "the outage is logged, but not once per operation ({errors} lines):\n{text}");

    // Redis comes back empty; the node writes its live sockets back.
    let redis = RedisProcess::start(redis.port);
    let client = redis::Client::open(redis.url()).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connects");
    let key = format!("{{{prefix}:ns:user}}:online");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let online: Vec<String> = redis::AsyncCommands::smembers(&mut connection, &key).await.expect("smembers");
        if online == ["u2"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "presence did not converge: {online:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(u2.request("presence.online", json!(null), None).await["data"], json!(["u2"]));
    assert_eq!(server.hub.readiness(), venta_ws::Readiness::Ready, "ready again once Redis is back");
}

#[tokio::test]
async fn while_redis_stalls_the_events_waiting_to_be_published_are_bounded() {
    let logs = LogCapture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let redis = RedisProcess::start(free_port());
    let config = node_config(&redis.url(), &unique_prefix(), 30);
    let module = connect_module(&config, &Arc::new(LocationService::default())).await.expect("connects");
    let server = TestServer::start(module).await;
    let pid = redis.child.as_ref().expect("running").id().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill").args([name, &pid]).status().expect("kill runs");
        assert!(status.success(), "kill {name} {pid}");
    };

    // A stopped redis-server accepts nothing and answers nothing: every publication waits.
    signal("-STOP");
    let users = server.hub.namespace("user").expect("namespace");
    for n in 0..10_000 {
        users.emit("notice", &n).expect("emits locally");
    }
    signal("-CONT");
    let text = logs.text();
    assert!(text.contains("4096 events are already waiting to be published"), "{text}");
    assert_eq!(text.matches("redis unavailable").count(), 1, "said once, not per dropped event:\n{text}");
    let mut client = Client::user(&server, "/user", "u1").await;
    client.assert_answers_ping().await;
}

#[tokio::test]
async fn a_socket_io_client_on_one_node_gets_emits_made_on_the_other_and_presence_spans_both() {
    let (url, prefix) = (redis_url(), unique_prefix());
    let (a, b) = (node(&url, &prefix).await, node(&url, &prefix).await);
    let sio_token = venta_ws_tests::token("sio-on-a");
    let (mut on_a, joined) = SocketIoClient::join(&a, "/socket.io", "user", SocketIoToken::Auth(&sio_token)).await;
    assert!(joined.starts_with("40/user,"), "{joined}");
    let mut plain_on_b = Client::user(&b, "/user", "plain-on-b").await;
    plain_on_b.assert_answers_ping().await;

    // Presence spans both nodes and both kinds of socket.
    b.wait_online("user", &["plain-on-b", "sio-on-a"]).await;
    a.wait_online("user", &["plain-on-b", "sio-on-a"]).await;

    // An emit to the entity on node B reaches its Socket.IO socket on node A, once.
    let user_on_b = b.hub.namespace("user").expect("namespace");
    user_on_b.emit_to_entity("sio-on-a", "order.ready", &json!({"order": 17})).expect("emit");
    assert_eq!(on_a.packet().await, r#"42/user,["order.ready",{"order":17}]"#);
    user_on_b.emit("everyone", &json!(1)).expect("emit");
    assert_eq!(on_a.packet().await, r#"42/user,["everyone",1]"#);
    assert_eq!(plain_on_b.recv().await, json!({"event": "everyone", "data": 1}));

    // Its leaving is seen on the other node.
    on_a.send("41/user,").await;
    b.wait_online("user", &["plain-on-b"]).await;
    plain_on_b.close().await;
    a.wait_online("user", &[]).await;
}

/// The cluster's series of a scrape: published, received, errors, redis_up.
fn cluster_counters(text: &str) -> [f64; 4] {
    [
        "venta_ws_cluster_published_total",
        "venta_ws_cluster_received_total",
        "venta_ws_cluster_errors_total",
        "venta_ws_redis_up",
    ]
    .map(|name| metric_value(text, name, &[]))
}

#[tokio::test]
async fn each_node_counts_what_it_publishes_and_receives_and_its_probes_and_gauge_follow_a_redis_outage() {
    let mut redis = RedisProcess::start(free_port());
    let prefix = unique_prefix();
    let (a, b) = (NodeProcess::start(&redis.url(), &prefix, 1), NodeProcess::start(&redis.url(), &prefix, 1));
    let (metrics_a, metrics_b) = (a.socket_addr(), b.socket_addr());
    let mut truck = Client::connect(
        &a.url("/vendor"),
        Some(&venta_ws_tests::vendor_token("truck")),
        venta_ws_tests::Placement::Header,
    )
    .await;
    let mut alice =
        Client::connect(&b.url("/user"), Some(&venta_ws_tests::token("alice")), venta_ws_tests::Placement::Header)
            .await;
    truck.assert_answers_ping().await;
    alice.assert_answers_ping().await;
    // Each node's own presence change went out; none came in, as no node listens to
    // presence events.
    let before_a = cluster_counters(&scrape_until(metrics_a, |text| cluster_counters(text)[0] >= 1.0).await);
    let before_b = cluster_counters(&scrape_until(metrics_b, |text| cluster_counters(text)[0] >= 1.0).await);
    for before in [before_a, before_b] {
        let [published, received, errors, up] = before;
        assert!(published >= 1.0 && received == 0.0, "{before:?}");
        assert_eq!((errors, up), (0.0, 1.0));
    }

    // One emit on node a: one publication there, one message received on node b.
    truck.request("location.update", json!({"lat": 1.0, "lng": 2.0}), Some(1)).await;
    assert_eq!(alice.recv().await["event"], "vendor.location");
    let after_a = cluster_counters(&scrape_until(metrics_a, |text| cluster_counters(text)[0] > before_a[0]).await);
    let after_b = cluster_counters(&scrape_until(metrics_b, |text| cluster_counters(text)[1] > before_b[1]).await);
    assert_eq!(after_a[0] - before_a[0], 1.0, "published by a: {before_a:?} -> {after_a:?}");
    assert_eq!(after_b[1] - before_b[1], 1.0, "received by b: {before_b:?} -> {after_b:?}");

    // Redis stops: the gauge drops, the failures are counted and the node is not ready; it
    // returns: the gauge is up and the node ready again.
    assert_eq!(http_get(metrics_a, "/readyz").await, (200, "ready".to_owned()));
    redis.stop();
    let down = cluster_counters(&scrape_until(metrics_a, |text| cluster_counters(text)[3] == 0.0).await);
    assert!(down[2] >= 1.0, "the failures are counted: {down:?}");
    assert_eq!(http_get(metrics_a, "/readyz").await, (503, "redis unreachable".to_owned()));
    assert_eq!(http_get(metrics_a, "/livez").await.0, 200, "alive all along");
    let _redis = RedisProcess::start(redis.port);
    scrape_until(metrics_a, |text| cluster_counters(text)[3] == 1.0).await;
    assert_eq!(http_get(metrics_a, "/readyz").await, (200, "ready".to_owned()));
    alice.assert_answers_ping().await;
}

/// A node serving the rider gateway (presence meta from the token's tenant) through Redis,
/// and its backend.
async fn rider_node(config: RedisConfig) -> (TestServer, RedisBackend) {
    let redis = RedisBackend::connect(config).await.expect("Redis answers: scripts/test starts one");
    (TestServer::start(rider_module(Some(redis.clone()))).await, redis)
}

async fn rider_nodes() -> ((TestServer, RedisBackend), (TestServer, RedisBackend)) {
    let config = RedisConfig::new(redis_url()).prefix(unique_prefix());
    (rider_node(config.clone()).await, rider_node(config).await)
}

fn meta(value: Value) -> PresenceMeta {
    value.as_object().cloned().expect("an object")
}

fn entities(members: &[venta_ws::presence::RoomMember]) -> Vec<&str> {
    members.iter().map(|member| member.entity_id.as_str()).collect()
}

#[tokio::test]
async fn metas_tenant_queries_and_room_members_span_both_nodes() {
    let ((a, _), (b, _)) = rider_nodes().await;
    let (on_a, on_b) = (a.hub.namespace("rider").expect("namespace"), b.hub.namespace("rider").expect("namespace"));
    let mut r1 = rider(&a, "r1", "acme").await;
    let mut r2 = rider(&b, "r2", "acme").await;
    let mut r3 = rider(&b, "r3", "globex").await;
    r1.request("room.join", json!("order-17"), Some(1)).await;
    r3.request("room.join", json!("order-17"), Some(1)).await;
    r2.assert_answers_ping().await;

    assert_eq!(on_a.online_where("tenant", "acme").await.expect("query"), ["r1", "r2"]);
    assert_eq!(on_b.count_where("tenant", "acme").await.expect("query"), 2);
    assert_eq!(on_a.online_where("tenant", "globex").await.expect("query"), ["r3"]);
    let r2_socket = on_b.local_sockets_of("r2")[0];
    assert_eq!(on_a.metas("r2").await.expect("metas"), [(r2_socket, meta(json!({"tenant": "acme", "battery": 100})))]);

    let members = until(|| on_a.room_members("order-17"), |members| members.as_ref().is_ok_and(|m| m.len() == 2)).await;
    let members = members.expect("members");
    assert_eq!(entities(&members), {
        let mut expected = vec![("r1", on_a.local_sockets_of("r1")[0]), ("r3", on_b.local_sockets_of("r3")[0])];
        expected.sort_by_key(|(_, id)| *id);
        expected.into_iter().map(|(entity, _)| entity).collect::<Vec<_>>()
    });
    assert_eq!(on_b.online_in_room("order-17").await.expect("online"), ["r1", "r3"]);

    // An update on node b is seen from node a as soon as it is acknowledged.
    r2.request("meta.set", json!({"tenant": "globex"}), Some(2)).await;
    assert_eq!(on_a.online_where("tenant", "globex").await.expect("query"), ["r2", "r3"]);
    assert_eq!(on_a.online_where("tenant", "acme").await.expect("query"), ["r1"]);
}

#[tokio::test]
async fn a_room_change_made_on_one_node_moves_a_socket_on_the_other_and_a_room_emit_reaches_it_once() {
    let ((a, _), (b, _)) = rider_nodes().await;
    let (on_a, on_b) = (a.hub.namespace("rider").expect("namespace"), b.hub.namespace("rider").expect("namespace"));
    let mut r2 = rider(&b, "r2", "acme").await;
    let mut outside = rider(&b, "outside", "acme").await;
    r2.assert_answers_ping().await;
    outside.assert_answers_ping().await;

    assert_eq!(on_a.add_entity_to_room("r2", "order-17"), 0, "no socket of r2 on node a");
    assert_eq!(on_a.emit_to_room("order-17", "order.assigned", &17).expect("emits"), 0);
    // A marker sent after it arrives after it: nothing came twice in between.
    on_a.emit_to_entity("r2", "marker", &1).expect("emits");
    assert_eq!(r2.recv().await, json!({"event": "order.assigned", "data": 17}));
    assert_eq!(r2.recv().await, json!({"event": "marker", "data": 1}));
    outside.assert_answers_ping().await;
    assert_eq!(r2.request("rooms", json!(null), Some(1)).await["data"], json!(["order-17"]));
    let members = until(|| on_a.room_members("order-17"), |members| members.as_ref().is_ok_and(|m| m.len() == 1)).await;
    assert_eq!(entities(&members.expect("members")), ["r2"]);

    // And out again, one socket by its id, from the node it is not on.
    let r2_socket = on_b.local_sockets_of("r2")[0];
    assert!(!on_a.remove_from_room(r2_socket, "order-17"), "not on node a");
    on_a.emit_to_room("order-17", "order.assigned", &18).expect("emits");
    on_a.emit_to_entity("r2", "marker", &2).expect("emits");
    assert_eq!(r2.recv().await, json!({"event": "marker", "data": 2}), "left the room before the emit");
    assert!(on_b.rooms().is_empty());
    until(|| on_a.room_members("order-17"), |members| members.as_ref().is_ok_and(Vec::is_empty))
        .await
        .expect("members");
}

#[tokio::test]
async fn a_once_per_cluster_listener_hears_each_change_once_and_subscribe_hears_it_on_every_node_with_its_origin() {
    let ((a, redis_a), (b, redis_b)) = rider_nodes().await;
    let (mut every_a, mut every_b) = (a.hub.presence().subscribe(), b.hub.presence().subscribe());
    let (mut once_a, mut once_b) = (a.hub.presence().subscribe_local(), b.hub.presence().subscribe_local());
    let (node_a, node_b) = (Origin::Node(redis_a.node_id().into()), Origin::Node(redis_b.node_id().into()));
    let event = |entity: &str, status, origin: &Origin| PresenceEvent {
        namespace: "rider".into(),
        entity_id: entity.into(),
        status,
        origin: origin.clone(),
    };

    // Each change: every node's subscribe() hears it; the one that made it calls it local.
    let mut r1 = rider(&a, "r1", "acme").await;
    r1.assert_answers_ping().await;
    assert_eq!(next_event(&mut every_a).await, event("r1", PresenceStatus::Online, &Origin::Local));
    assert_eq!(next_event(&mut every_b).await, event("r1", PresenceStatus::Online, &node_a));
    r1.close().await;
    assert_eq!(next_event(&mut every_a).await, event("r1", PresenceStatus::Offline, &Origin::Local));
    assert_eq!(next_event(&mut every_b).await, event("r1", PresenceStatus::Offline, &node_a));
    let mut r2 = rider(&b, "r2", "acme").await;
    r2.request("meta.set", json!({"tenant": "globex"}), Some(1)).await;
    assert_eq!(next_event(&mut every_b).await, event("r2", PresenceStatus::Online, &Origin::Local));
    assert_eq!(next_event(&mut every_b).await, event("r2", PresenceStatus::Updated, &Origin::Local));
    assert_eq!(next_event(&mut every_a).await, event("r2", PresenceStatus::Online, &node_b));
    assert_eq!(next_event(&mut every_a).await, event("r2", PresenceStatus::Updated, &node_b));
    r2.close().await;
    assert_eq!(next_event(&mut every_b).await, event("r2", PresenceStatus::Offline, &Origin::Local));
    assert_eq!(next_event(&mut every_a).await, event("r2", PresenceStatus::Offline, &node_b));

    // The once-per-cluster listeners, one per node, heard each change exactly once between them.
    let mut heard = Vec::new();
    for once in [&mut once_a, &mut once_b] {
        while let Ok(event) = once.try_recv() {
            heard.push(((*event.entity_id).to_owned(), event.status));
        }
    }
    let expected = [
        ("r1", PresenceStatus::Online),
        ("r1", PresenceStatus::Offline),
        ("r2", PresenceStatus::Online),
        ("r2", PresenceStatus::Updated),
        ("r2", PresenceStatus::Offline),
    ];
    assert_eq!(heard, expected.map(|(entity, status)| (entity.to_owned(), status)));
    assert!(every_a.try_recv().is_err() && every_b.try_recv().is_err(), "nothing twice");
}

#[tokio::test]
async fn a_stopped_nodes_metas_index_entries_and_rooms_are_gone_once_it_is_reaped() {
    let (url, prefix) = (redis_url(), unique_prefix());
    let config = RedisConfig::new(&url).prefix(&prefix).node_ttl(Duration::from_secs(1));
    let survivor = RedisBackend::connect(config.clone()).await.expect("connects");
    let doomed = RedisBackend::connect(config).await.expect("connects");
    let tenant = meta(json!({"tenant": "acme"}));
    let socket_id = SocketId::next();
    let entry = PresenceEntry { namespace: "rider", socket_id, entity_id: "r9", meta: &tenant };
    doomed.register(entry).await.expect("registers");
    doomed.join_room("rider", socket_id, "order-17");
    until(|| survivor.room_members("rider", "order-17"), |members| members.as_ref().is_ok_and(|m| m.len() == 1))
        .await
        .expect("members");
    assert_eq!(survivor.online_where("rider", "tenant", "acme").await.expect("query"), ["r9"]);
    let mut changes = survivor.subscribe();

    // Its process stops: no heartbeat any more, and nothing removed.
    drop(doomed);
    let offline = tokio::time::timeout(WAIT, changes.recv()).await.expect("reaped in time").expect("open");
    let expected = PresenceEvent {
        namespace: "rider".into(),
        entity_id: "r9".into(),
        status: PresenceStatus::Offline,
        origin: Origin::Local,
    };
    assert_eq!(offline, expected, "the reaping node is the origin");
    assert!(survivor.room_members("rider", "order-17").await.expect("members").is_empty());
    assert_eq!(survivor.count_where("rider", "tenant", "acme").await.expect("query"), 0);
    let client = redis::Client::open(url).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connects");
    let left: Vec<String> =
        redis::cmd("KEYS").arg(format!("{{{prefix}:ns:*")).query_async(&mut connection).await.expect("keys");
    assert!(left.is_empty(), "nothing of the stopped node's socket is left: {left:?}");
}

#[tokio::test]
async fn after_redis_outages_a_node_writes_its_metas_and_rooms_back() {
    let mut redis = RedisProcess::start(free_port());
    let prefix = unique_prefix();
    let config = RedisConfig::new(redis.url()).prefix(&prefix).node_ttl(Duration::from_secs(1));
    let (server, _backend) = rider_node(config).await;
    let riders = server.hub.namespace("rider").expect("namespace");
    let wait_until_unready = || async {
        let deadline = tokio::time::Instant::now() + WAIT;
        while server.hub.readiness() == venta_ws::Readiness::Ready {
            assert!(tokio::time::Instant::now() < deadline, "the outage was not noticed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut r1 = rider(&server, "r1", "acme").await;
    r1.request("room.join", json!("order-17"), Some(1)).await;

    // Redis restarts empty; meanwhile r2 connects and joins, r1 changes tenant.
    redis.stop();
    wait_until_unready().await;
    let mut r2 = rider(&server, "r2", "globex").await;
    r2.request("room.join", json!("order-17"), Some(1)).await;
    r1.request("meta.set", json!({"tenant": "initech"}), Some(2)).await;
    assert_eq!(riders.online_where("tenant", "initech").await.expect("local"), ["r1"], "served from memory");
    let redis = RedisProcess::start(redis.port);
    let client = redis::Client::open(redis.url()).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connects");
    let index = |tenant: &str| format!("{{{prefix}:ns:rider}}:idx:tenant\u{1f}{tenant}");
    let room = format!("{{{prefix}:ns:rider}}:room:order-17");
    let hkeys = |key: String| {
        let mut connection = connection.clone();
        async move { redis::AsyncCommands::hkeys::<_, Vec<String>>(&mut connection, key).await.expect("hkeys") }
    };
    until(|| hkeys(index("initech")), |entities| entities == &["r1"]).await;
    assert_eq!(hkeys(index("globex")).await, ["r2"]);
    assert!(hkeys(index("acme")).await.is_empty());
    assert_eq!(hkeys(room.clone()).await.len(), 2, "both sockets are in the room again");
    let metas = riders.metas("r1").await.expect("metas");
    assert_eq!(metas[0].1, meta(json!({"tenant": "initech"})));

    // Redis stalls, its data kept: r1 leaves the room and changes tenant again.
    let pid = redis.child.as_ref().expect("running").id().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill").args([name, &pid]).status().expect("kill runs");
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    wait_until_unready().await;
    let r1_socket = riders.local_sockets_of("r1")[0];
    riders.remove_from_room(r1_socket, "order-17");
    r1.request("meta.set", json!({"tenant": "acme"}), Some(3)).await;
    signal("-CONT");
    until(|| hkeys(index("acme")), |entities| entities == &["r1"]).await;
    until(|| hkeys(room.clone()), |members| members.len() == 1).await;
    assert!(hkeys(index("initech")).await.is_empty(), "the stale index entry is gone");
    let online: Vec<String> = redis::AsyncCommands::smembers(&mut connection, format!("{{{prefix}:ns:rider}}:online"))
        .await
        .expect("smembers");
    assert_eq!(online.len(), 2);
    r2.assert_answers_ping().await;
}

/// How many publications of other nodes each node received so far.
fn received(nodes: &[&RedisBackend]) -> Vec<u64> {
    nodes.iter().map(|node| node.stats().received).collect()
}

/// Emits a namespace-wide marker from `from` (on node `sender`) and waits until each client
/// has it. Redis delivers one publisher's messages in order, so whatever `sender` published
/// before the marker has reached every node by then, or never will. Returns what each node
/// received since `before`, the marker left out.
async fn settle(
    from: &venta_ws::Namespace,
    sender: &RedisBackend,
    nodes: &[&RedisBackend],
    clients: &mut [&mut Client],
    before: &[u64],
) -> Vec<u64> {
    from.emit("marker", &0).expect("emits");
    for client in clients.iter_mut() {
        assert_eq!(client.recv().await, json!({"event": "marker", "data": 0}));
    }
    let now = received(nodes);
    let marker = |node: &RedisBackend| u64::from(node.node_id() != sender.node_id());
    nodes.iter().zip(now).zip(before).map(|((node, now), before)| now - before - marker(node)).collect()
}

#[tokio::test]
async fn an_emit_for_an_entity_a_socket_or_a_room_wakes_only_the_nodes_that_hold_them() {
    let config = RedisConfig::new(redis_url()).prefix(unique_prefix());
    let (a, redis_a) = rider_node(config.clone()).await;
    let (b, redis_b) = rider_node(config.clone()).await;
    let (c, redis_c) = rider_node(config).await;
    let nodes = [&redis_a, &redis_b, &redis_c];
    fn namespace(server: &TestServer) -> &venta_ws::Namespace {
        server.hub.namespace("rider").expect("namespace")
    }
    let (on_a, on_b, on_c) = (namespace(&a), namespace(&b), namespace(&c));
    let mut r1 = rider(&a, "r1", "acme").await;
    let mut r2 = rider(&b, "r2", "acme").await;
    let mut r3 = rider(&c, "r3", "acme").await;
    for client in [&mut r1, &mut r2, &mut r3] {
        client.assert_answers_ping().await;
    }

    // To an entity on node a, from node b: node c hears nothing of it.
    let before = received(&nodes);
    assert_eq!(on_b.emit_to_entity("r1", "notice", &1).expect("emits"), 0);
    assert_eq!(r1.recv().await, json!({"event": "notice", "data": 1}));
    let woken = settle(on_b, &redis_b, &nodes, &mut [&mut r1, &mut r2, &mut r3], &before).await;
    assert_eq!(woken, [1, 0, 0], "node a only");

    // To one socket, by its id, from node c: only node a.
    let before = received(&nodes);
    let r1_socket = on_a.local_sockets_of("r1")[0];
    assert!(!on_c.emit_to_socket(r1_socket, "notice", &2).expect("emits"), "not on node c");
    assert_eq!(r1.recv().await, json!({"event": "notice", "data": 2}));
    let woken = settle(on_c, &redis_c, &nodes, &mut [&mut r1, &mut r2, &mut r3], &before).await;
    assert_eq!(woken, [1, 0, 0]);
    // To a socket on the emitting node: nothing is published at all.
    let published = redis_a.stats().published;
    assert!(on_a.emit_to_socket(r1_socket, "notice", &3).expect("emits"));
    assert_eq!(r1.recv().await, json!({"event": "notice", "data": 3}));
    assert_eq!(redis_a.stats().published, published);

    // A room with members on nodes a and b, emitted to from node c: nodes a and b, once each.
    r1.request("room.join", json!("order-17"), Some(1)).await;
    r2.request("room.join", json!("order-17"), Some(1)).await;
    let two = |members: &Result<Vec<_>, _>| members.as_ref().is_ok_and(|m: &Vec<_>| m.len() == 2);
    until(|| on_c.room_members("order-17"), two).await.expect("members");
    let before = received(&nodes);
    assert_eq!(on_c.emit_to_room("order-17", "order.assigned", &17).expect("emits"), 0);
    for client in [&mut r1, &mut r2] {
        assert_eq!(client.recv().await, json!({"event": "order.assigned", "data": 17}));
    }
    let woken = settle(on_c, &redis_c, &nodes, &mut [&mut r1, &mut r2, &mut r3], &before).await;
    assert_eq!(woken, [1, 1, 0]);

    // Node b's last member leaves: the room does not wake node b any more.
    r2.request("room.leave", json!("order-17"), Some(2)).await;
    let one = |members: &Result<Vec<_>, _>| members.as_ref().is_ok_and(|m: &Vec<_>| m.len() == 1);
    until(|| on_c.room_members("order-17"), one).await.expect("members");
    let before = received(&nodes);
    on_c.emit_to_room("order-17", "order.assigned", &18).expect("emits");
    assert_eq!(r1.recv().await, json!({"event": "order.assigned", "data": 18}));
    let woken = settle(on_c, &redis_c, &nodes, &mut [&mut r1, &mut r2, &mut r3], &before).await;
    assert_eq!(woken, [1, 0, 0]);

    // A node listens on one channel per entity it holds and per room it has members in.
    let channels = || nodes.map(|node| node.stats().channels);
    assert_eq!(channels(), [2, 1, 1]);
    r1.close().await;
    a.wait_online("rider", &["r2", "r3"]).await;
    assert_eq!(until(|| async { channels() }, |channels| channels[0] == 0).await, [0, 1, 1]);
}

#[tokio::test]
async fn rooms_joined_and_left_under_churn_leave_each_node_listening_exactly_where_it_has_members() {
    let config = RedisConfig::new(redis_url()).prefix(unique_prefix());
    let (a, redis_a) = rider_node(config.clone()).await;
    let (b, redis_b) = rider_node(config).await;
    let on_b = b.hub.namespace("rider").expect("ns");
    let mut riders = Vec::new();
    for i in 0..8 {
        let server = if i % 2 == 0 { &a } else { &b };
        riders.push(rider(server, &format!("r{i}"), "acme").await);
    }
    // Every rider joins and leaves rooms concurrently; the last word for each is known.
    let mut rounds = Vec::new();
    for (i, client) in riders.iter_mut().enumerate() {
        rounds.push(async move {
            for round in 0..10 {
                let room = format!("room-{}", (i + round) % 3);
                client.request("room.join", json!(room), Some(1)).await;
                if round % 3 != 2 {
                    client.request("room.leave", json!(room), Some(2)).await;
                }
            }
            client.request("rooms", json!(null), Some(3)).await["data"].clone()
        });
    }
    let rooms: Vec<Value> = futures_util::future::join_all(rounds).await;
    // Each node listens on its entities' channels and the rooms its riders are still in.
    for (node, parity) in [(&redis_a, 0), (&redis_b, 1)] {
        let held: std::collections::BTreeSet<&str> = rooms
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .flat_map(|(_, rooms)| rooms.as_array().expect("rooms").iter().map(|room| room.as_str().expect("a room")))
            .collect();
        assert_eq!(node.stats().channels, 4 + held.len(), "4 riders and {held:?}");
    }
    // And a room emit from node b reaches each member once, wherever it is.
    let in_room: Vec<usize> =
        (0..riders.len()).filter(|i| rooms[*i].as_array().expect("rooms").contains(&json!("room-0"))).collect();
    until(|| on_b.room_members("room-0"), |members| members.as_ref().is_ok_and(|m| m.len() == in_room.len()))
        .await
        .expect("members");
    on_b.emit_to_room("room-0", "order.assigned", &1).expect("emits");
    for i in in_room {
        assert_eq!(riders[i].recv().await, json!({"event": "order.assigned", "data": 1}));
    }
    for client in &mut riders {
        client.assert_answers_ping().await; // and nothing twice, nor to those outside
    }
}

#[tokio::test]
async fn after_a_redis_outage_each_node_listens_on_its_channels_again() {
    let mut redis = RedisProcess::start(free_port());
    let config = RedisConfig::new(redis.url()).prefix(unique_prefix()).node_ttl(Duration::from_secs(1));
    let (a, redis_a) = rider_node(config.clone()).await;
    let (b, redis_b) = rider_node(config).await;
    let on_a = a.hub.namespace("rider").expect("ns");
    let mut r2 = rider(&b, "r2", "acme").await;
    r2.request("room.join", json!("order-17"), Some(1)).await;

    redis.stop();
    until(|| async { (redis_a.is_healthy(), redis_b.is_healthy()) }, |healthy| *healthy == (false, false)).await;
    let _redis = RedisProcess::start(redis.port);
    until(|| async { (redis_a.is_healthy(), redis_b.is_healthy()) }, |healthy| *healthy == (true, true)).await;

    // Delivery across nodes is at most once while the nodes resubscribe: emit until one
    // arrives, then every later one does, to the entity and to the room.
    emit_until_heard(on_a, "r2", &mut r2, "node b never listened on r2's channel again").await;
    on_a.emit_to_room("order-17", "order.assigned", &17).expect("emits");
    on_a.emit_to_entity("r2", "marker", &1).expect("emits");
    let mut events = Vec::new();
    while events.last() != Some(&json!({"event": "marker", "data": 1})) {
        events.push(r2.recv().await);
    }
    assert!(events.contains(&json!({"event": "order.assigned", "data": 17})), "{events:?}");
    assert_eq!(redis_b.stats().channels, 2, "r2's channel and the room's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_another_node_larger_than_the_relay_channel_is_delivered_whole() {
    let prefix = unique_prefix();
    let (b, redis_b) = rider_node(RedisConfig::new(redis_url()).prefix(&prefix)).await;
    const RIDERS: usize = 200;
    const EACH: usize = 200; // under the send queue's 256 frames; 40,000 in all
    let mut readers = Vec::new();
    for i in 0..RIDERS {
        let mut client = rider(&b, &format!("r{i}"), "acme").await;
        client.assert_answers_ping().await;
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(EACH);
            for _ in 0..EACH {
                seen.push(client.recv().await["data"].as_u64().expect("a number"));
            }
            client.assert_answers_ping().await; // nothing more
            seen
        }));
    }
    // Another node's burst, as it reaches Redis: 40,000 publications in one pipeline, ten
    // times what node b's relay to its sockets holds at once.
    let mut pipe = redis::pipe();
    for n in 0..EACH {
        for i in 0..RIDERS {
            let message = venta_ws::cluster::ClusterMessage {
                namespace: "rider".into(),
                target: venta_ws::cluster::Target::Entity(format!("r{i}")),
                action: venta_ws::cluster::Action::Emit { frame: json!({"event": "notice", "data": n}).to_string() },
            };
            let payload = json!({"kind": "fanout", "origin": "another-node", "message": message});
            pipe.publish(format!("{prefix}:ns:rider:e:r{i}"), payload.to_string()).ignore();
        }
    }
    let received = redis_b.stats().received;
    let client = redis::Client::open(redis_url()).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connects");
    pipe.query_async::<()>(&mut connection).await.expect("published");
    for reader in readers {
        let seen = tokio::time::timeout(Duration::from_secs(60), reader).await.expect("in time").expect("no panic");
        assert_eq!(seen, (0..EACH as u64).collect::<Vec<_>>(), "every event, once, in order");
    }
    assert_eq!(redis_b.stats().received - received, (RIDERS * EACH) as u64);
}

#[tokio::test]
async fn broadcast_delivery_puts_everything_on_one_channel_as_earlier_nodes_do() {
    use venta_ws::redis::Delivery;
    let config = RedisConfig::new(redis_url()).prefix(unique_prefix()).delivery(Delivery::Broadcast);
    let (a, redis_a) = rider_node(config.clone()).await;
    let (b, redis_b) = rider_node(config).await;
    let mut changes = a.hub.presence().subscribe();
    let mut r1 = rider(&a, "r1", "acme").await;
    let mut r2 = rider(&b, "r2", "acme").await;
    r2.request("room.join", json!("order-17"), Some(1)).await;
    assert_eq!(next_change(&mut changes).await, ("rider".to_owned(), "r1".to_owned(), PresenceStatus::Online));
    assert_eq!(next_change(&mut changes).await, ("rider".to_owned(), "r2".to_owned(), PresenceStatus::Online));

    // Everything reaches every node; no node listens on a channel of its own.
    let on_b = b.hub.namespace("rider").expect("namespace");
    let received = redis_a.stats().received;
    on_b.emit_to_entity("r1", "notice", &1).expect("emits");
    assert_eq!(r1.recv().await, json!({"event": "notice", "data": 1}));
    on_b.emit_to_room("order-17", "order.assigned", &17).expect("emits");
    assert_eq!(r2.recv().await, json!({"event": "order.assigned", "data": 17}));
    on_b.emit_to_entity("r1", "marker", &2).expect("emits");
    assert_eq!(r1.recv().await, json!({"event": "marker", "data": 2}));
    assert_eq!(redis_a.stats().received - received, 3, "node a heard the room emit it has no member of too");
    assert_eq!((redis_a.stats().channels, redis_b.stats().channels), (0, 0));
}

#[tokio::test]
async fn a_large_namespace_is_counted_and_walked_in_pages_across_nodes() {
    let config = RedisConfig::new(redis_url()).prefix(unique_prefix());
    let (a, b) = (
        RedisBackend::connect(config.clone()).await.expect("Redis answers"),
        RedisBackend::connect(config).await.expect("Redis answers"),
    );
    let meta = PresenceMeta::new();
    let ids: Vec<String> = (0..3000).map(|i| format!("u{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let entry = PresenceEntry { namespace: "user", socket_id: SocketId::next(), entity_id: id, meta: &meta };
        node.register(entry).await.expect("registered");
    }
    assert_eq!(a.count("user").await.expect("count"), ids.len());

    // Walked from either node, page by page: every entity, none of the pages the whole set.
    let (mut walked, mut cursor, mut pages) = (std::collections::BTreeSet::new(), None, 0);
    loop {
        let page = b.online_page("user", cursor.as_deref(), 200).await.expect("a page");
        assert!(page.entities.len() < ids.len() / 2, "a page, not the set: {}", page.entities.len());
        walked.extend(page.entities);
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(pages >= 5, "{pages} pages");
    assert_eq!(walked, ids.iter().cloned().collect());
}

#[tokio::test]
async fn a_node_listens_to_presence_changes_only_while_something_on_it_asks_for_every_change() {
    let config = RedisConfig::new(redis_url()).prefix(unique_prefix());
    let (a, redis_a) = rider_node(config.clone()).await;
    let (b, _) = rider_node(config).await;
    // Its own changes only: nothing to listen to.
    let mut own = a.hub.presence().subscribe_local();
    let mut r1 = rider(&a, "r1", "acme").await;
    r1.assert_answers_ping().await;
    assert_eq!(own.try_recv().map(|event| event.entity_id.to_string()), Ok("r1".to_owned()));
    assert_eq!(redis_a.stats().channels, 1, "r1's channel, not the presence channel");
    let received = redis_a.stats().received;
    let mut r2 = rider(&b, "r2", "acme").await;
    r2.assert_answers_ping().await;
    b.wait_online("rider", &["r1", "r2"]).await;
    r1.assert_answers_ping().await;
    assert_eq!(redis_a.stats().received, received, "node b's change did not reach node a");

    // Every change: node a listens, and hears node b's.
    let mut every = a.hub.presence().subscribe();
    until(|| async { redis_a.stats().channels }, |channels| *channels == 2).await;
    r2.close().await;
    assert_eq!(next_change(&mut every).await, ("rider".to_owned(), "r2".to_owned(), PresenceStatus::Offline));
    assert!(own.try_recv().is_err(), "node b's change is not node a's own");
}
