//! Presence and targeted delivery on a real Redis Cluster: six `redis-server` processes on
//! loopback (three primaries, a replica each), joined by `redis-cli --cluster create`, started
//! by each test and stopped when it ends; then a failover of the primary that holds a
//! listened-on channel.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use venta_ws::presence::PresenceStore;
use venta_ws::redis::{RedisBackend, RedisConfig};
use venta_ws_tests::{TestServer, WAIT, emit_until_heard, rider, rider_module, until};

/// Six cluster nodes of the test's own, on free ports; stopped and removed when dropped.
struct RedisCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    dir: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl RedisCluster {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("venta-cluster-{}", venta_ws::SocketId::next()));
        std::fs::create_dir_all(&dir).expect("a directory for the cluster");
        let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
        let nodes = ports
            .iter()
            .map(|port| {
                let node_dir = dir.join(port.to_string());
                std::fs::create_dir_all(&node_dir).expect("a directory for the node");
                Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                    .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                    .arg("--dir")
                    .arg(&node_dir)
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("redis-server is installed (scripts/test installs it)")
            })
            .collect();
        let cluster = Self { nodes, ports, dir };
        for port in &cluster.ports {
            let deadline = std::time::Instant::now() + WAIT;
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(std::time::Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let addresses: Vec<String> = cluster.ports.iter().map(|port| format!("127.0.0.1:{port}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed with redis-server");
        assert!(created.status.success(), "the cluster forms: {}", String::from_utf8_lossy(&created.stdout));
        // Every node sees the cluster ok, and each of its three replicas in place.
        for port in &cluster.ports {
            let deadline = std::time::Instant::now() + WAIT;
            while !cluster.cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
                || cluster.cli(*port, &["CLUSTER", "NODES"]).matches("slave").count() < 3
            {
                assert!(std::time::Instant::now() < deadline, "the cluster did not become ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        let output =
            Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0])
    }

    /// The port of the primary that owns `key`'s slot, and of its replica.
    fn shard_of(&self, key: &str) -> (u16, u16) {
        let slot: u16 = self.cli(self.ports[0], &["CLUSTER", "KEYSLOT", key]).trim().parse().expect("a slot");
        let nodes = self.cli(self.ports[0], &["CLUSTER", "NODES"]);
        let port_of = |line: &str| -> u16 {
            let address = line.split(' ').nth(1).expect("an address");
            address.split(['@', ':']).nth(1).expect("a port").parse().expect("a port")
        };
        let primary = nodes
            .lines()
            .find(|line| {
                line.contains("master")
                    && line.split(' ').skip(8).any(|range| {
                        let mut bounds = range.split('-').map(|bound| bound.parse::<u16>().unwrap_or(u16::MAX));
                        let start = bounds.next().unwrap_or(u16::MAX);
                        let end = bounds.next().unwrap_or(start);
                        (start..=end).contains(&slot)
                    })
            })
            .expect("a primary owns the slot");
        let id = primary.split(' ').next().expect("an id");
        let replica = nodes.lines().find(|line| line.contains("slave") && line.contains(id)).expect("a replica");
        (port_of(primary), port_of(replica))
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn rider_node(config: RedisConfig) -> (TestServer, RedisBackend) {
    let redis = RedisBackend::connect(config).await.expect("the cluster answers");
    (TestServer::start(rider_module(Some(redis.clone()))).await, redis)
}

#[tokio::test]
async fn presence_and_targeted_delivery_work_on_a_redis_cluster_and_through_a_failover() {
    let cluster = RedisCluster::start();
    let prefix = format!("venta-test-{}", venta_ws::SocketId::next());
    let config = RedisConfig::cluster([cluster.url()]).prefix(&prefix);
    let (a, redis_a) = rider_node(config.clone()).await;
    let (b, redis_b) = rider_node(config).await;
    let (on_a, on_b) = (a.hub.namespace("rider").expect("namespace"), b.hub.namespace("rider").expect("namespace"));

    let mut r1 = rider(&a, "r1", "acme").await;
    let mut r2 = rider(&b, "r2", "globex").await;
    r1.assert_answers_ping().await;
    r2.assert_answers_ping().await;
    // Presence spans both nodes, with its index.
    assert_eq!(on_b.online().await.expect("online"), ["r1", "r2"]);
    assert_eq!(on_a.online_where("tenant", "globex").await.expect("query"), ["r2"]);
    assert_eq!(redis_a.count("rider").await.expect("count"), 2);

    // An emit to an entity reaches the node that holds it, once; a room across both nodes.
    let received = redis_b.stats().received;
    on_b.emit_to_entity("r1", "notice", &1).expect("emits");
    assert_eq!(r1.recv().await, json!({"event": "notice", "data": 1}));
    r1.request("room.join", json!("order-17"), Some(1)).await;
    r2.request("room.join", json!("order-17"), Some(1)).await;
    let two = |members: &Result<Vec<_>, _>| members.as_ref().is_ok_and(|m: &Vec<_>| m.len() == 2);
    until(|| on_a.room_members("order-17"), two).await.expect("members");
    on_a.emit_to_room("order-17", "order.assigned", &17).expect("emits");
    for client in [&mut r1, &mut r2] {
        assert_eq!(client.recv().await, json!({"event": "order.assigned", "data": 17}));
        client.assert_answers_ping().await;
    }
    assert_eq!(redis_b.stats().received - received, 1, "node b heard the room emit only");

    // The primary of r1's channel fails over to its replica: node a listens there again.
    let (primary, replica) = cluster.shard_of(&format!("{prefix}:ns:rider:e:r1"));
    assert!(cluster.cli(replica, &["CLUSTER", "FAILOVER"]).contains("OK"));
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cluster.cli(replica, &["ROLE"]).starts_with("master")
        || !cluster.cli(primary, &["ROLE"]).starts_with("slave")
    {
        assert!(tokio::time::Instant::now() < deadline, "the failover did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // At most once while the nodes follow the new primary: emit until one arrives.
    emit_until_heard(on_b, "r1", &mut r1, "r1's channel is not listened on again").await;
    on_b.emit_to_entity("r1", "marker", &1).expect("emits");
    while r1.recv().await != json!({"event": "marker", "data": 1}) {}
    // And presence keeps working: a rider that connects now is online on both nodes.
    let mut r3 = rider(&b, "r3", "acme").await;
    r3.assert_answers_ping().await;
    until(|| on_a.online(), |online| online.as_ref().is_ok_and(|o| o.len() == 3)).await.expect("online");
}
