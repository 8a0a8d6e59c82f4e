//! Several nodes on one Redis: where an emit goes and how fast it is delivered, with targeted
//! delivery (`Delivery::Targeted`, the default) and with every publication on one channel that
//! every node hears (`Delivery::Broadcast`, how venta-ws delivered before), in one run.
//!
//! Each node is a child process (`venta-ws-bench serve cluster-node`): the framework's
//! gateways with a `RedisBackend`, plus a few HTTP routes the harness drives it with
//! (`/bench/...`: emit to an entity, a room or everyone; put an entity into a room; read the
//! node's [`ClusterStats`](venta_ws::redis::ClusterStats)). The harness opens the user sockets
//! round-robin over the nodes, one entity each, and counts every `bench` event they receive.
//! Per workload it reports the deliveries per second, and per emit the node deliveries Redis
//! reported to the publishers and the nodes that received the publication (woken), summed from
//! every node's counters.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use venta_ws::Hub;
use venta_ws::redis::{ClusterStats, Delivery, RedisBackend, RedisConfig};
use venta_ws_examples::Kind;

use crate::load::{WAIT, open};
use crate::run::{Server, mint_tokens};
use crate::{Error, SECRET, framework};

/// The environment a node reads: Redis's URL (or, for a Redis Cluster, its nodes' URLs,
/// comma-separated, in `VENTA_BENCH_REDIS_CLUSTER`), the key prefix, and `targeted` or
/// `broadcast`.
const REDIS_URL: &str = "VENTA_BENCH_REDIS_URL";
const REDIS_CLUSTER: &str = "VENTA_BENCH_REDIS_CLUSTER";
const PREFIX: &str = "VENTA_BENCH_PREFIX";
const DELIVERY: &str = "VENTA_BENCH_DELIVERY";

/// The event every emit of the benchmark sends.
const EVENT: &str = "bench";

/// Serves one node: the framework's gateways through Redis, and the routes the harness drives.
pub async fn serve_node(listener: TcpListener) -> Result<(), Error> {
    let config = match (std::env::var(REDIS_CLUSTER), std::env::var(REDIS_URL)) {
        (Ok(nodes), _) => RedisConfig::cluster(nodes.split(',').map(str::to_owned)),
        (_, Ok(url)) => RedisConfig::new(url),
        _ => return Err(format!("neither {REDIS_URL} nor {REDIS_CLUSTER} is set").into()),
    };
    let prefix = std::env::var(PREFIX).map_err(|_| format!("{PREFIX} is not set"))?;
    let delivery = match std::env::var(DELIVERY).as_deref() {
        Ok("broadcast") => Delivery::Broadcast,
        Ok("targeted") | Err(_) => Delivery::Targeted,
        Ok(other) => return Err(format!("{DELIVERY} is `targeted` or `broadcast`, not `{other}`").into()),
    };
    let redis = RedisBackend::connect(config.prefix(prefix).delivery(delivery)).await?;
    let module = framework::builder(SECRET)?.redis(redis.clone()).build()?;
    let node = Arc::new(Node { hub: module.hub(), redis });
    let routes = axum::Router::new()
        .route("/bench/stats", get(stats))
        .route("/bench/emit/entities/{start}/{count}/{step}/{modulo}", post(emit_to_entities))
        .route("/bench/emit/rooms/{start}/{count}/{step}", post(emit_to_rooms))
        .route("/bench/emit/all/{count}", post(emit_to_all))
        .route("/bench/room/{room}/{entity}", post(add_to_room))
        .with_state(node);
    venta_ws::serve(listener, module.router().merge(routes)).with_hub(module.hub()).await?;
    Ok(())
}

struct Node {
    hub: Hub,
    redis: RedisBackend,
}

impl Node {
    fn users(&self) -> &venta_ws::Namespace {
        self.hub.namespace("user").expect("the framework serves /user")
    }
}

async fn stats(State(node): State<Arc<Node>>) -> String {
    serde_json::to_string(&node.redis.stats()).unwrap_or_default()
}

/// Emits to `count` entities, `user-(start + i * step) % modulo`.
async fn emit_to_entities(
    State(node): State<Arc<Node>>,
    UrlPath((start, count, step, modulo)): UrlPath<(usize, usize, usize, usize)>,
) -> String {
    emit_each(count, |i| {
        let entity = format!("user-{}", (start + i * step) % modulo.max(1));
        node.users().emit_to_entity(&entity, EVENT, &i)
    })
    .await
}

/// Emits to `count` rooms, `room-(start + i * step)`.
async fn emit_to_rooms(
    State(node): State<Arc<Node>>,
    UrlPath((start, count, step)): UrlPath<(usize, usize, usize)>,
) -> String {
    emit_each(count, |i| node.users().emit_to_room(&format!("room-{}", start + i * step), EVENT, &i)).await
}

/// Emits `count` times to every socket of the namespace.
async fn emit_to_all(State(node): State<Arc<Node>>, UrlPath(count): UrlPath<usize>) -> String {
    emit_each(count, |i| node.users().emit(EVENT, &i)).await
}

/// Runs `count` emits, yielding now and then so the node's other tasks (its Redis queue
/// among them) keep up; the sockets they reached here, or the first error.
async fn emit_each(count: usize, mut emit: impl FnMut(usize) -> Result<usize, venta_ws::EmitError>) -> String {
    let mut reached = 0;
    for i in 0..count {
        match emit(i) {
            Ok(n) => reached += n,
            Err(error) => return error.to_string(),
        }
        if i % 64 == 63 {
            tokio::task::yield_now().await;
        }
    }
    reached.to_string()
}

async fn add_to_room(State(node): State<Arc<Node>>, UrlPath((room, entity)): UrlPath<(String, String)>) -> String {
    node.users().add_entity_to_room(&entity, &room).to_string()
}

/// What one run does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterPlan {
    /// Node processes.
    pub nodes: usize,
    /// User sockets, one entity each, round-robin over the nodes.
    pub sockets: usize,
    /// Emits to one entity each, from a node chosen round-robin.
    pub entity_emits: usize,
    /// Rooms, and emits to one room each.
    pub rooms: usize,
    /// Members of each room.
    pub room_size: usize,
    /// The nodes each room's members are on.
    pub room_nodes: usize,
    /// Namespace-wide emits.
    pub broadcasts: usize,
    /// HTTP requests to the nodes in flight at once.
    pub concurrency: usize,
    /// Redis, shared by the nodes.
    pub redis_url: String,
    /// Instead of `redis_url`: every node of a Redis Cluster (its CPU time is summed over them).
    pub redis_cluster: Vec<String>,
}

impl Default for ClusterPlan {
    fn default() -> Self {
        Self {
            nodes: 4,
            sockets: 10_000,
            entity_emits: 5_000,
            rooms: 500,
            room_size: 10,
            room_nodes: 2,
            broadcasts: 10,
            concurrency: 32,
            redis_url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
            redis_cluster: Vec::new(),
        }
    }
}

/// One workload under one delivery mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterMeasurement {
    /// `targeted` or `broadcast`.
    pub delivery: String,
    /// `entity`, `room` or `broadcast`.
    pub workload: String,
    /// Emits made.
    pub emits: usize,
    /// Events the sockets received (checked against what the emits were for).
    pub deliveries: u64,
    /// From the first emit to the last delivery.
    pub seconds: f64,
    /// Node deliveries Redis reported per emit, summed over the publishers.
    pub redis_deliveries_per_emit: f64,
    /// Nodes that received each publication (other nodes' and their own), per emit.
    pub nodes_woken_per_emit: f64,
    /// Channels each node listened on, besides the broadcast channel, at the end.
    pub channels_per_node: Vec<usize>,
    /// The Redis server's own CPU time (`INFO cpu`) per emit, in µs.
    pub redis_cpu_us_per_emit: f64,
    /// The same per delivery to a socket, in µs.
    pub redis_cpu_us_per_delivery: f64,
    /// The Redis CPU time per emit of each server (each node of a Redis Cluster), in µs.
    pub redis_cpu_us_per_emit_by_server: Vec<f64>,
}

impl ClusterMeasurement {
    /// Deliveries per second.
    pub fn per_second(&self) -> f64 {
        self.deliveries as f64 / self.seconds
    }
}

/// Runs every workload with both delivery modes, broadcast first, each on fresh nodes.
pub async fn compare(
    exe: &Path,
    plan: &ClusterPlan,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ClusterMeasurement>, Error> {
    let mut measurements = Vec::new();
    for delivery in ["broadcast", "targeted"] {
        progress(&format!("{delivery}: starting {} nodes and {} sockets", plan.nodes, plan.sockets));
        measurements.extend(measure(exe, plan, delivery, &mut progress).await?);
    }
    Ok(measurements)
}

async fn measure(
    exe: &Path,
    plan: &ClusterPlan,
    delivery: &str,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<ClusterMeasurement>, Error> {
    let prefix = format!("venta-bench-{}-{delivery}", std::process::id());
    let mut nodes = Vec::new();
    for _ in 0..plan.nodes {
        nodes.push(spawn_node(exe, plan, &prefix, delivery).await?);
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(Server::addr).collect();
    let sockets = Sockets::open(&addrs, plan.sockets, plan.concurrency.max(64)).await?;
    progress(&format!("{delivery}: {} sockets open", plan.sockets));

    // Rooms of `room_size` entities on `room_nodes` nodes (room r on nodes r, r + 1, ...),
    // each member a different entity; each put in by the node after the member's.
    let nodes_count = addrs.len();
    let per_node_entities = plan.sockets / nodes_count;
    let rooms: Vec<Vec<usize>> = (0..plan.rooms)
        .map(|room| {
            (0..plan.room_size)
                .map(|member| {
                    let node = (room + member % plan.room_nodes) % nodes_count;
                    let slot = (room * plan.room_size + member) % per_node_entities.max(1);
                    node + nodes_count * slot
                })
                .collect()
        })
        .collect();
    let mut joins = Vec::new();
    for (room, members) in rooms.iter().enumerate() {
        for member in members {
            joins.push((addrs[(member + 1) % addrs.len()], format!("/bench/room/room-{room}/user-{member}")));
        }
    }
    requests(&joins, plan.concurrency).await?;
    // Room writes reach Redis through each node's queue, and the member nodes then listen.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut measured = Vec::new();
    // `total` split over the nodes: (node, its share).
    let per_node = |total: usize| {
        (0..nodes_count).map(move |node| (node, total / nodes_count + usize::from(node < total % nodes_count)))
    };
    // Entity emits: node n emits to user-n, user-(n + N·7919), ...: entities on every node.
    let mut entity = Vec::new();
    let mut start = 0;
    for (node, count) in per_node(plan.entity_emits) {
        entity.push((addrs[node], format!("/bench/emit/entities/{start}/{count}/7919/{}", plan.sockets)));
        start += count * 7919;
    }
    let workload =
        Workload { name: "entity", requests: entity, emits: plan.entity_emits, expected: plan.entity_emits as u64 };
    measured.push(run_workload(&addrs, &sockets, delivery, workload, plan).await?);
    progress(&format!("{delivery}: entity emits done"));
    // Room emits: node n emits to rooms n, n + N, n + 2N, ...
    let mut room = Vec::new();
    for (node, count) in per_node(plan.rooms) {
        room.push((addrs[node], format!("/bench/emit/rooms/{node}/{count}/{}", addrs.len())));
    }
    let expected = rooms.iter().map(|members| members.len() as u64).sum();
    let workload = Workload { name: "room", requests: room, emits: plan.rooms, expected };
    measured.push(run_workload(&addrs, &sockets, delivery, workload, plan).await?);
    progress(&format!("{delivery}: room emits done"));
    let mut all = Vec::new();
    for (node, count) in per_node(plan.broadcasts) {
        all.push((addrs[node], format!("/bench/emit/all/{count}")));
    }
    let expected = (plan.broadcasts * plan.sockets) as u64;
    let workload = Workload { name: "broadcast", requests: all, emits: plan.broadcasts, expected };
    measured.push(run_workload(&addrs, &sockets, delivery, workload, plan).await?);
    progress(&format!("{delivery}: broadcasts done"));

    drop(sockets);
    for node in nodes {
        node.stop().await;
    }
    Ok(measured)
}

async fn spawn_node(exe: &Path, plan: &ClusterPlan, prefix: &str, delivery: &str) -> Result<Server, Error> {
    let cluster = plan.redis_cluster.join(",");
    let redis =
        if cluster.is_empty() { (REDIS_URL, plan.redis_url.as_str()) } else { (REDIS_CLUSTER, cluster.as_str()) };
    let envs = [redis, (PREFIX, prefix), (DELIVERY, delivery)];
    Server::spawn_with_env(exe, &["serve", "cluster-node", "--addr", "127.0.0.1:0"], &envs, Stdio::inherit()).await
}

/// One workload: the requests that make its emits, how many emits, and the events they make.
struct Workload<'a> {
    name: &'a str,
    requests: Vec<(SocketAddr, String)>,
    emits: usize,
    expected: u64,
}

/// Sends the workload's requests, waits until the sockets received the events it makes, and
/// reads what the nodes counted meanwhile.
async fn run_workload(
    addrs: &[SocketAddr],
    sockets: &Sockets,
    delivery: &str,
    workload: Workload<'_>,
    plan: &ClusterPlan,
) -> Result<ClusterMeasurement, Error> {
    let Workload { name: workload, requests: requests_to_send, emits, expected } = workload;
    let before = all_stats(addrs).await?;
    let redis_before = redis_cpus(plan).await?;
    let received_before = sockets.received.load(Ordering::Acquire);
    let started = Instant::now();
    requests(&requests_to_send, plan.concurrency).await?;
    let deadline = Instant::now() + WAIT;
    let mut last = received_before;
    loop {
        let now = sockets.received.load(Ordering::Acquire);
        if now - received_before >= expected {
            last = now;
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{workload}: {} of {expected} events arrived", now - received_before).into());
        }
        last = last.max(now);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    // Whatever arrives later than the expected count is a duplicate.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deliveries = sockets.received.load(Ordering::Acquire) - received_before;
    if deliveries != expected || last - received_before != expected {
        return Err(format!("{workload}: {deliveries} events arrived for {expected} expected").into());
    }
    let after = all_stats(addrs).await?;
    let redis_after = redis_cpus(plan).await?;
    let redis_cpu_us: Vec<f64> =
        redis_after.iter().zip(&redis_before).map(|(after, before)| (*after - *before).as_secs_f64() * 1e6).collect();
    let per_emit = |total: u64| total as f64 / emits as f64;
    let delta = |field: fn(&ClusterStats) -> u64| after.iter().zip(&before).map(|(a, b)| field(a) - field(b)).sum();
    Ok(ClusterMeasurement {
        delivery: delivery.to_owned(),
        workload: workload.to_owned(),
        emits,
        deliveries,
        seconds,
        redis_deliveries_per_emit: per_emit(delta(|stats| stats.delivered)),
        nodes_woken_per_emit: per_emit(delta(|stats| stats.received + stats.echoes)),
        channels_per_node: after.iter().map(|stats| stats.channels).collect(),
        redis_cpu_us_per_emit: redis_cpu_us.iter().sum::<f64>() / emits as f64,
        redis_cpu_us_per_delivery: redis_cpu_us.iter().sum::<f64>() / deliveries as f64,
        redis_cpu_us_per_emit_by_server: redis_cpu_us.iter().map(|us| us / emits as f64).collect(),
    })
}

/// The CPU time each Redis server of the plan has used.
async fn redis_cpus(plan: &ClusterPlan) -> Result<Vec<Duration>, Error> {
    let servers =
        if plan.redis_cluster.is_empty() { std::slice::from_ref(&plan.redis_url) } else { &plan.redis_cluster[..] };
    let mut cpus = Vec::with_capacity(servers.len());
    for url in servers {
        cpus.push(redis_cpu(url).await?);
    }
    Ok(cpus)
}

/// The CPU time the Redis server at `url` has used, as its `INFO cpu` says.
async fn redis_cpu(url: &str) -> Result<Duration, Error> {
    let addr = url.strip_prefix("redis://").ok_or("--redis takes redis://host:port")?;
    let addr = addr.split('/').next().unwrap_or(addr);
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(b"*2\r\n$4\r\nINFO\r\n$3\r\ncpu\r\n").await?;
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    // A bulk string: `$<len>\r\n<text>\r\n`.
    let text = loop {
        let read = tokio::time::timeout(WAIT, stream.read(&mut buffer)).await??;
        if read == 0 {
            return Err("Redis closed the connection".into());
        }
        reply.extend_from_slice(&buffer[..read]);
        let reply = String::from_utf8_lossy(&reply);
        let Some((length, rest)) = reply.strip_prefix('$').and_then(|reply| reply.split_once("\r\n")) else {
            continue;
        };
        if rest.len() >= length.parse::<usize>()? {
            break rest.to_owned();
        }
    };
    let seconds = |name: &str| -> f64 {
        text.lines().find_map(|line| line.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0.0)
    };
    Ok(Duration::from_secs_f64(seconds("used_cpu_sys:") + seconds("used_cpu_user:")))
}

async fn all_stats(addrs: &[SocketAddr]) -> Result<Vec<ClusterStats>, Error> {
    let mut stats = Vec::new();
    for addr in addrs {
        let body = http(*addr, "GET", "/bench/stats").await?;
        stats.push(serde_json::from_str(&body)?);
    }
    Ok(stats)
}

/// Sends every request, `concurrency` at a time.
async fn requests(requests: &[(SocketAddr, String)], concurrency: usize) -> Result<(), Error> {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(requests.len());
    for (addr, path) in requests {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let (addr, path) = (*addr, path.clone());
        tasks.push(tokio::spawn(async move {
            let result = http(addr, "POST", &path).await;
            drop(slot);
            result
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// One HTTP/1.1 request on a connection of its own; the body of a 200 answer.
async fn http(addr: SocketAddr, method: &str, path: &str) -> Result<String, Error> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response)).await??;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{method} {path}: {head}").into());
    }
    Ok(body.to_owned())
}

/// The user sockets, each read by a task that counts the `bench` events it receives.
struct Sockets {
    readers: Vec<JoinHandle<()>>,
    received: Arc<AtomicU64>,
}

impl Drop for Sockets {
    fn drop(&mut self) {
        self.readers.iter().for_each(JoinHandle::abort);
    }
}

impl Sockets {
    /// Opens socket `i` for entity `user-i` on node `i % nodes`, `concurrency` at a time.
    async fn open(addrs: &[SocketAddr], count: usize, concurrency: usize) -> Result<Self, Error> {
        let tokens = mint_tokens("user", Kind::User, count)?;
        let received = Arc::new(AtomicU64::new(0));
        let slots = Arc::new(Semaphore::new(concurrency));
        let (done, mut results) = tokio::sync::mpsc::unbounded_channel::<Result<(), String>>();
        let mut readers = Vec::with_capacity(count);
        for (index, token) in tokens.into_iter().enumerate() {
            let slot = Arc::clone(&slots).acquire_owned().await?;
            let (addr, done, received) = (addrs[index % addrs.len()], done.clone(), Arc::clone(&received));
            readers.push(tokio::spawn(async move {
                let opened = open(addr, "/user", &token).await;
                drop(slot);
                match opened {
                    Ok(mut client) => {
                        let _ = done.send(Ok(()));
                        let marker = format!(r#""event":"{EVENT}""#);
                        while let Some(Ok(message)) = client.next().await {
                            if let Message::Text(text) = message
                                && text.as_str().contains(&marker)
                            {
                                received.fetch_add(1, Ordering::AcqRel);
                            }
                        }
                    }
                    Err(error) => {
                        let _ = done.send(Err(error.to_string()));
                    }
                }
            }));
        }
        drop(done);
        for _ in 0..count {
            match tokio::time::timeout(WAIT, results.recv()).await {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(error))) => return Err(format!("a socket failed to open: {error}").into()),
                Ok(None) => return Err("a socket task ended without a result".into()),
                Err(_) => return Err("sockets still opening after the wait".into()),
            }
        }
        // Each registration waited for its entity's channel; presence is written: ready.
        Ok(Self { readers, received })
    }
}

/// The results as a Markdown table, broadcast and targeted side by side per workload.
pub fn markdown(plan: &ClusterPlan, measurements: &[ClusterMeasurement]) -> String {
    let mut out = format!(
        "{} nodes, {} sockets (one entity each), {} entity emits, {} rooms of {} members on {} nodes and an emit to each, {} namespace-wide emits\n\n",
        plan.nodes, plan.sockets, plan.entity_emits, plan.rooms, plan.room_size, plan.room_nodes, plan.broadcasts
    );
    out.push_str(
        "| workload | delivery | Redis deliveries per emit | nodes woken per emit | deliveries/s | Redis CPU per emit (µs) | Redis CPU per delivery (µs) | per server (µs per emit) | channels per node |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---|---|\n");
    for workload in ["entity", "room", "broadcast"] {
        for m in measurements.iter().filter(|m| m.workload == workload) {
            out.push_str(&format!(
                "| {} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {:.3} | {} | {:?} |\n",
                m.workload,
                m.delivery,
                m.redis_deliveries_per_emit,
                m.nodes_woken_per_emit,
                m.per_second(),
                m.redis_cpu_us_per_emit,
                m.redis_cpu_us_per_delivery,
                m.redis_cpu_us_per_emit_by_server.iter().map(|us| format!("{us:.2}")).collect::<Vec<_>>().join(", "),
                m.channels_per_node
            ));
        }
    }
    out
}

/// A bar chart: nodes woken per emit, broadcast against targeted, per workload.
pub fn svg(plan: &ClusterPlan, measurements: &[ClusterMeasurement]) -> String {
    const LEFT: f64 = 140.0;
    const BAR: f64 = 18.0;
    const PLOT: f64 = 440.0;
    let largest = measurements.iter().map(|m| m.nodes_woken_per_emit).fold(1.0_f64, f64::max);
    let height = 90.0 + 3.0 * (2.0 * BAR + 24.0) + 30.0;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="{height}" viewBox="0 0 800 {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="28" font-size="16" font-weight="bold">Nodes woken per emit, {} nodes, {} sockets (lower is better)</text>
<text x="20" y="48" fill="#555">grey: every publication to every node (broadcast); green: targeted delivery</text>
"##,
        plan.nodes, plan.sockets
    );
    let mut y = 70.0;
    for workload in ["entity", "room", "broadcast"] {
        svg.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{workload}</text>"#,
            LEFT - 10.0,
            y + BAR + 4.0
        ));
        svg.push('\n');
        for (delivery, colour) in [("broadcast", "#90a4ae"), ("targeted", "#2e7d32")] {
            let Some(m) = measurements.iter().find(|m| m.workload == workload && m.delivery == delivery) else {
                continue;
            };
            let width = m.nodes_woken_per_emit / largest * PLOT;
            svg.push_str(&format!(
                r#"<rect x="{LEFT}" y="{y:.1}" width="{width:.1}" height="{BAR}" fill="{colour}"/><text x="{:.1}" y="{:.1}">{:.2} ({:.0} deliveries/s)</text>"#,
                LEFT + width + 6.0,
                y + BAR - 5.0,
                m.nodes_woken_per_emit,
                m.per_second()
            ));
            svg.push('\n');
            y += BAR;
        }
        y += 24.0;
    }
    svg.push_str("</svg>\n");
    svg
}
