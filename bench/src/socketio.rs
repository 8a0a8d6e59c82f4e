//! The Socket.IO comparison: the main example's gateways reached over Socket.IO (venta-ws's
//! `socketio` feature) against a small socketioxide server doing the same work, each in a child
//! process, driven by the same Socket.IO clients.
//!
//! - [`serve`] is the socketioxide server: namespace `/user`, a connect middleware that verifies
//!   the CONNECT packet's `auth: {token}` as an HS256 JWT (`exp` required, 5 s leeway, a `kind`
//!   of `user` or none, as the baseline), a presence map (socket → entity, entity → sockets)
//!   kept by the middleware and the disconnect handler, and `ping` answered on its ack with
//!   its data. Engine.IO's heartbeat is 25 s / 20 s, as venta-ws's defaults.
//! - the client is what socket.io-client does with `transports: ["websocket"]`: a WebSocket
//!   to `/socket.io/?EIO=4&transport=websocket`, the `0{..}` open packet, `40/user,{"token":..}`,
//!   the `40/user,{"sid":..}` CONNECT ack, then one `ping` with an ack; held afterwards, each
//!   engine ping (`2`) answered with a pong (`3`).
//! - [`compare`] opens `connections` such sockets against each server and reads the server's
//!   resident set before and after (idle memory per socket) and how fast they opened.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::Sid;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::Error;
use crate::load::{WAIT, client_config};
use crate::measure::{cpu_time, percentile, rss_kib};
use crate::run::{Server, mint_tokens};
use venta_ws_examples::Kind;

use crate::baseline::{Claims, lock};

/// Which Socket.IO server a measurement is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SioSide {
    /// The main example's gateways, over venta-ws's Socket.IO endpoint (`serve framework`).
    VentaWs,
    /// The socketioxide server of this module (`serve socketioxide`).
    Socketioxide,
}

impl SioSide {
    /// The side called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::VentaWs, Self::Socketioxide].into_iter().find(|side| side.name() == name)
    }

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::VentaWs => "venta-ws",
            Self::Socketioxide => "socketioxide",
        }
    }

    fn serve_name(self) -> &'static str {
        match self {
            Self::VentaWs => "framework",
            Self::Socketioxide => "socketioxide",
        }
    }
}

// ---- the socketioxide server ----

#[derive(Deserialize)]
struct Auth {
    token: String,
}

#[derive(Default)]
struct Presence {
    entities: HashMap<Sid, String>,
    sockets: HashMap<String, HashSet<Sid>>,
}

struct Gateway {
    key: DecodingKey,
    validation: Validation,
    presence: Mutex<Presence>,
}

impl Gateway {
    fn verify(&self, token: &str) -> Option<String> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).ok()?.claims;
        let admitted = matches!(claims.kind.as_deref(), None | Some("user"));
        (admitted && !claims.sub.is_empty()).then_some(claims.sub)
    }

    fn register(&self, sid: Sid, entity: String) {
        let mut presence = lock(&self.presence);
        presence.sockets.entry(entity.clone()).or_default().insert(sid);
        presence.entities.insert(sid, entity);
    }

    fn unregister(&self, sid: Sid) {
        let mut presence = lock(&self.presence);
        if let Some(entity) = presence.entities.remove(&sid)
            && let Some(sockets) = presence.sockets.get_mut(&entity)
        {
            sockets.remove(&sid);
            if sockets.is_empty() {
                presence.sockets.remove(&entity);
            }
        }
    }
}

/// A refused CONNECT: socketioxide answers it with `connect_error` and this message.
#[derive(Debug)]
struct Unauthorized;

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unauthorized")
    }
}

/// Serves the socketioxide server on `listener` until the process ends.
pub async fn serve(listener: TcpListener, secret: &str) -> Result<(), Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    let gateway =
        Arc::new(Gateway { key: DecodingKey::from_secret(secret.as_bytes()), validation, presence: Mutex::default() });
    let (layer, io) =
        SocketIo::builder().ping_interval(Duration::from_secs(25)).ping_timeout(Duration::from_secs(20)).build_layer();
    let auth = Arc::clone(&gateway);
    let middleware = move |socket: SocketRef, Data(credentials): Data<Auth>| {
        let gateway = Arc::clone(&auth);
        async move {
            let entity = gateway.verify(&credentials.token).ok_or(Unauthorized)?;
            gateway.register(socket.id, entity);
            Ok::<(), Unauthorized>(())
        }
    };
    // The event handlers are registered when socketioxide calls the connect handler, right after
    // it queued the CONNECT ack and before it reads the socket's next packet. Registered inside
    // the handler's future instead, which socketioxide spawns, a `ping` sent on the CONNECT ack
    // can arrive first and be dropped (a few in 10,000 did, and never got their ack).
    let handler = move |socket: SocketRef| {
        let gateway = Arc::clone(&gateway);
        socket.on("ping", async |Data(data): Data<Value>, ack: AckSender| {
            let _ = ack.send(&data);
        });
        socket.on_disconnect(async move |socket: SocketRef| gateway.unregister(socket.id));
        std::future::ready(())
    };
    io.ns("/user", handler.with(middleware));
    let router = axum::Router::new().layer(layer);
    axum::serve(listener, router).await?;
    Ok(())
}

// ---- the client ----

type Client = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn next_text(client: &mut Client) -> Result<Utf8Bytes, Error> {
    loop {
        match tokio::time::timeout(WAIT, client.next()).await {
            Err(_) => return Err("no answer in time".into()),
            Ok(None) => return Err("the server closed the connection".into()),
            Ok(Some(Err(error))) => return Err(error.into()),
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "2" => client.send(Message::text("3")).await?,
            Ok(Some(Ok(Message::Text(text)))) => return Ok(text),
            Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed by the server: {frame:?}").into()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// `step`, or an error naming `what` it waited for when it takes longer than [`WAIT`] (engine
/// pings answered meanwhile do not extend it).
async fn within<T>(step: impl Future<Output = Result<T, Error>>, what: &str) -> Result<T, Error> {
    match tokio::time::timeout(WAIT, step).await {
        Ok(result) => result.map_err(|error| format!("waiting for {what}: {error}").into()),
        Err(_) => Err(format!("no {what} in time").into()),
    }
}

/// One Socket.IO client in `/user`: open, CONNECT with `token`, and one acked `ping` of `seq`.
async fn open(addr: SocketAddr, token: &str, seq: u64) -> Result<Client, Error> {
    let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await.map_err(|_| "no TCP connect in time")??;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut client, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::client_async_with_config(url, stream, Some(client_config())))
            .await
            .map_err(|_| "no WebSocket handshake in time")??;
    let open = within(next_text(&mut client), "the open packet").await?;
    if !open.as_str().starts_with("0{") {
        return Err(format!("expected the Engine.IO open packet, got {}", open.as_str()).into());
    }
    client.send(Message::text(format!(r#"40/user,{{"token":"{token}"}}"#))).await?;
    let connected = within(next_text(&mut client), "the CONNECT ack").await?;
    if !connected.as_str().starts_with(r#"40/user,{"sid":"#) {
        return Err(format!("expected the CONNECT ack, got {}", connected.as_str()).into());
    }
    client.send(Message::text(format!(r#"42/user,1["ping",{seq}]"#))).await?;
    let ack = within(next_text(&mut client), "the ping's ack").await?;
    if ack.as_str() != format!("43/user,1[{seq}]") {
        return Err(format!("expected the ping's ack, got {}", ack.as_str()).into());
    }
    Ok(client)
}

/// Holds a socket open: answers engine pings until the server goes.
async fn hold(mut client: Client) {
    while let Some(Ok(message)) = client.next().await {
        if let Message::Text(text) = message
            && text.as_str() == "2"
            && client.send(Message::text("3")).await.is_err()
        {
            return;
        }
    }
}

/// The held sockets of one storm; dropping it drops them.
pub struct Held(Vec<JoinHandle<()>>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// Opens one socket per token, at most `concurrency` at once, and holds them; the latencies
/// (TCP connect to the ping's ack) and how long the storm took.
pub async fn storm(
    addr: SocketAddr,
    tokens: &[String],
    concurrency: usize,
) -> Result<(Held, Vec<Duration>, Duration), Error> {
    let slots = Arc::new(Semaphore::new(concurrency));
    let (done, mut results) = mpsc::unbounded_channel::<Result<Duration, String>>();
    let mut held = Held(Vec::with_capacity(tokens.len()));
    let start = Instant::now();
    for (index, token) in tokens.iter().cloned().enumerate() {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let done = done.clone();
        held.0.push(tokio::spawn(async move {
            let began = Instant::now();
            let opened = open(addr, &token, index as u64).await;
            drop(slot);
            match opened {
                Ok(client) => {
                    let _ = done.send(Ok(began.elapsed()));
                    hold(client).await;
                }
                Err(error) => {
                    let _ = done.send(Err(error.to_string()));
                }
            }
        }));
    }
    drop(done);
    let mut latencies = Vec::with_capacity(tokens.len());
    while latencies.len() < tokens.len() {
        // Longer than any one client waits, so a stuck client reports where it was stuck.
        match tokio::time::timeout(2 * WAIT, results.recv()).await {
            Ok(Some(Ok(latency))) => latencies.push(latency),
            Ok(Some(Err(error))) => return Err(format!("a Socket.IO client failed: {error}").into()),
            Ok(None) => return Err("a client task ended without a result".into()),
            Err(_) => {
                return Err(
                    format!("{} of {} clients still connecting", tokens.len() - latencies.len(), tokens.len()).into()
                );
            }
        }
    }
    Ok((held, latencies, start.elapsed()))
}

// ---- the comparison ----

/// How much load to apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SioPlan {
    /// Sockets opened and held idle.
    pub connections: usize,
    /// Sockets opening at once.
    pub concurrency: usize,
    /// Rounds; the servers' order alternates.
    pub rounds: usize,
    /// Wait before each memory reading.
    pub settle: Duration,
    /// Sockets opened and closed before anything is measured.
    pub warmup: usize,
    /// The servers measured, in the first round's order.
    pub sides: Vec<SioSide>,
}

impl Default for SioPlan {
    fn default() -> Self {
        Self {
            connections: 10_000,
            concurrency: 256,
            rounds: 1,
            settle: Duration::from_secs(2),
            warmup: 32,
            sides: vec![SioSide::VentaWs, SioSide::Socketioxide],
        }
    }
}

/// One server, one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SioMeasurement {
    /// Which server.
    pub side: SioSide,
    /// Which round (from 0).
    pub round: usize,
    /// Sockets held.
    pub connections: usize,
    /// Sockets opened (CONNECT acked, first ping acked) per second.
    pub per_second: f64,
    /// Median TCP connect to ping ack, ms.
    pub p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub p99_ms: f64,
    /// Server CPU time per socket opened, µs.
    pub server_cpu_us: f64,
    /// Resident set after the warm-up, KiB.
    pub rss_before_kib: u64,
    /// Resident set with every socket open and idle, KiB.
    pub rss_after_kib: u64,
    /// Growth per socket, KiB.
    pub kib_per_connection: f64,
}

async fn measure(
    exe: &Path,
    side: SioSide,
    round: usize,
    plan: &SioPlan,
    tokens: &[String],
    warm: &[String],
) -> Result<SioMeasurement, Error> {
    let server = Server::spawn(exe, &["serve", side.serve_name(), "--addr", "127.0.0.1:0"], Stdio::inherit()).await?;
    let (addr, pid) = (server.addr(), server.pid());
    let result = async {
        drop(storm(addr, warm, plan.concurrency).await?);
        tokio::time::sleep(plan.settle).await;
        let rss_before_kib = rss_kib(pid)?;
        let cpu_before = cpu_time(pid)?;
        let (held, mut latencies, elapsed) = storm(addr, tokens, plan.concurrency).await?;
        let cpu = cpu_time(pid)?.saturating_sub(cpu_before);
        tokio::time::sleep(plan.settle).await;
        let rss_after_kib = rss_kib(pid)?;
        let connections = tokens.len();
        let measurement = SioMeasurement {
            side,
            round,
            connections,
            per_second: connections as f64 / elapsed.as_secs_f64(),
            p50_ms: percentile(&mut latencies, 50.0).unwrap_or_default().as_secs_f64() * 1e3,
            p99_ms: percentile(&mut latencies, 99.0).unwrap_or_default().as_secs_f64() * 1e3,
            server_cpu_us: cpu.as_secs_f64() * 1e6 / connections as f64,
            rss_before_kib,
            rss_after_kib,
            kib_per_connection: rss_after_kib.saturating_sub(rss_before_kib) as f64 / connections as f64,
        };
        Ok::<_, Error>((held, measurement))
    }
    .await;
    // Stop the server before the clients go, so it spends no CPU on their disconnects.
    server.stop().await;
    let (held, measurement) = result?;
    drop(held);
    Ok(measurement)
}

/// Measures venta-ws and socketioxide over Socket.IO, `plan.rounds` times each, with `exe` as
/// the server executable; `progress` is told what runs.
pub async fn compare(exe: &Path, plan: &SioPlan, mut progress: impl FnMut(&str)) -> Result<Vec<SioMeasurement>, Error> {
    if plan.connections == 0 || plan.concurrency == 0 || plan.rounds == 0 {
        return Err("connections, concurrency and rounds must be at least 1".into());
    }
    let tokens = mint_tokens("user", Kind::User, plan.connections)?;
    let warm = mint_tokens("warmup", Kind::User, plan.warmup)?;
    let mut measurements = Vec::new();
    for round in 0..plan.rounds {
        let mut order = plan.sides.clone();
        let turn = round % order.len().max(1);
        order.rotate_left(turn);
        for side in order {
            progress(&format!("socket.io round {}/{}: {}", round + 1, plan.rounds, side.name()));
            let m = measure(exe, side, round, plan, &tokens, &warm)
                .await
                .map_err(|error| format!("{} (round {}): {error}", side.name(), round + 1))?;
            progress(&format!(
                "  connect {:.0}/s p50 {:.1} ms p99 {:.1} ms, server CPU {:.0} us/socket, {:.2} KiB/socket ({} -> {} KiB)",
                m.per_second,
                m.p50_ms,
                m.p99_ms,
                m.server_cpu_us,
                m.kib_per_connection,
                m.rss_before_kib,
                m.rss_after_kib
            ));
            measurements.push(m);
        }
    }
    Ok(measurements)
}

/// A table row: its name, what it reads off a measurement, and which way is better.
type Row = (&'static str, fn(&SioMeasurement) -> f64, &'static str);

/// The Markdown table of `measurements`: medians per server, and venta-ws / socketioxide.
pub fn markdown(measurements: &[SioMeasurement]) -> String {
    let median = |side: SioSide, pick: fn(&SioMeasurement) -> f64| {
        let values: Vec<f64> = measurements.iter().filter(|m| m.side == side).map(pick).collect();
        crate::measure::median(&values).unwrap_or(f64::NAN)
    };
    let rows: [Row; 5] = [
        ("idle memory per socket (KiB)", |m| m.kib_per_connection, "lower is better"),
        ("connect rate (sockets/s)", |m| m.per_second, "higher is better"),
        ("connect p50 (ms)", |m| m.p50_ms, "lower is better"),
        ("connect p99 (ms)", |m| m.p99_ms, "lower is better"),
        ("server CPU per connect (us)", |m| m.server_cpu_us, "lower is better"),
    ];
    let mut out =
        String::from("| metric | venta-ws | socketioxide | venta-ws / socketioxide | |\n|---|---:|---:|---:|---|\n");
    for (name, pick, better) in rows {
        let (ours, theirs) = (median(SioSide::VentaWs, pick), median(SioSide::Socketioxide, pick));
        out.push_str(&format!("| {name} | {ours:.2} | {theirs:.2} | {:.2}x | {better} |\n", ours / theirs));
    }
    out
}
