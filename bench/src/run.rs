//! Runs the workloads against each server in turn, each server in a child process of its own
//! (this executable's `serve` subcommand), so its memory can be read from `/proc`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use venta_ws_examples::{Config, Kind, mint_token};

use crate::load::{self, Users};
use crate::measure::{self, cpu_time, percentile, rss_kib};
use crate::{Error, LISTENING, SECRET, Side};

/// How much load to apply, and how often.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// User sockets opened by the connect storm and held idle: the memory is measured at this
    /// many, and the last fan-out reaches them all.
    pub connections: usize,
    /// The fan-out sizes: the storm stops at each to fan out to that many sockets.
    pub fanout_sizes: Vec<usize>,
    /// Fan-outs per size; the median is kept.
    pub fanout_repeats: usize,
    /// Clients doing echo round trips at once.
    pub echo_clients: usize,
    /// Echo round trips not measured, at the start.
    pub echo_warmup: Duration,
    /// Echo round trips measured.
    pub echo_window: Duration,
    /// Connections the storm keeps opening at once.
    pub concurrency: usize,
    /// How often each server is measured; the order of the servers rotates every round.
    pub rounds: usize,
    /// The servers measured.
    pub sides: Vec<Side>,
    /// How long a server is left alone before its memory is read.
    pub settle: Duration,
    /// Sockets opened, used and closed before anything is measured, so what a server builds
    /// lazily is in place.
    pub warmup: usize,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            connections: 10_000,
            fanout_sizes: vec![1_000, 10_000],
            fanout_repeats: 5,
            echo_clients: 50,
            echo_warmup: Duration::from_millis(500),
            echo_window: Duration::from_secs(3),
            concurrency: 256,
            rounds: 3,
            sides: Side::ALL.to_vec(),
            settle: Duration::from_secs(1),
            warmup: 32,
        }
    }
}

impl Plan {
    /// Checks the plan can run: sizes within the connections, and the file limit.
    pub fn validate(&self) -> Result<(), Error> {
        if self.connections == 0 || self.echo_clients == 0 || self.concurrency == 0 || self.rounds == 0 {
            return Err("connections, echo clients, concurrency and rounds must be at least 1".into());
        }
        if let Some(size) = self.fanout_sizes.iter().find(|size| **size == 0 || **size > self.connections) {
            return Err(format!("fan-out size {size} must be within 1..={}", self.connections).into());
        }
        if self.sides.is_empty() {
            return Err("no server to measure".into());
        }
        Ok(())
    }

    /// The socket counts the storm stops at: every fan-out size, then all connections.
    fn stages(&self) -> Vec<usize> {
        let mut stages = self.fanout_sizes.clone();
        stages.push(self.connections);
        stages.sort_unstable();
        stages.dedup();
        stages
    }
}

/// One connect storm, over every stage of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectResult {
    /// Sockets opened.
    pub connections: usize,
    /// Sockets opened (authenticated, first `pong` received) per second of storm.
    pub per_second: f64,
    /// Median time from TCP connect to the first `pong`, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile of the same, in milliseconds.
    pub p99_ms: f64,
    /// The server's CPU time (user and system) per socket opened, in microseconds.
    pub server_cpu_us: f64,
}

/// The server's memory with every user socket open and idle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryResult {
    /// Sockets held.
    pub connections: usize,
    /// Resident set before the storm (after a warm-up), in KiB.
    pub rss_before_kib: u64,
    /// Resident set with every socket open, in KiB.
    pub rss_after_kib: u64,
    /// The growth per socket, in KiB.
    pub kib_per_connection: f64,
}

/// Fan-outs to one number of sockets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutResult {
    /// Sockets each event reached.
    pub sockets: usize,
    /// Sockets reached per second, from the vendor's send to the last delivery (median).
    pub deliveries_per_second: f64,
    /// From the vendor's send to the last delivery, in milliseconds (median).
    pub last_ms: f64,
}

/// The echo round trips.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoResult {
    /// Clients at once.
    pub clients: usize,
    /// Round trips per second over all clients.
    pub round_trips_per_second: f64,
    /// Median round trip, in microseconds.
    pub p50_us: f64,
    /// 99th percentile round trip, in microseconds.
    pub p99_us: f64,
    /// Server CPU time (user and system) per round trip, warm-up included, in microseconds:
    /// steadier than the rate on a machine whose cores the clients share.
    #[serde(default)]
    pub server_cpu_us: f64,
}

/// Everything measured of one server process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    /// Which server.
    pub side: Side,
    /// Which round (from 0).
    pub round: usize,
    /// The connect storm.
    pub connect: ConnectResult,
    /// Idle memory.
    pub memory: MemoryResult,
    /// One entry per fan-out size.
    pub fanout: Vec<FanoutResult>,
    /// Echo.
    pub echo: EchoResult,
}

/// A server child process.
pub(crate) struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
}

impl Server {
    /// Starts `exe serve <side>` on a free loopback port and waits until it listens.
    async fn start(exe: &Path, side: Side) -> Result<Self, Error> {
        Self::spawn(exe, &["serve", side.name(), "--addr", "127.0.0.1:0"], Stdio::inherit()).await
    }

    /// Starts `exe` with `args` (a `serve` command), its standard error going to `stderr`, and
    /// waits until it prints the address it listens on.
    pub(crate) async fn spawn(exe: &Path, args: &[&str], stderr: Stdio) -> Result<Self, Error> {
        Self::spawn_with_env(exe, args, &[], stderr).await
    }

    /// [`Server::spawn`] with `envs` added to the child's environment.
    pub(crate) async fn spawn_with_env(
        exe: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        stderr: Stdio,
    ) -> Result<Self, Error> {
        let mut child = Command::new(exe)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("the server exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(load::WAIT, lines.next_line())
            .await
            .map_err(|_| "the server did not start listening in time")??
            .ok_or("the server exited before listening")?;
        let addr = line.strip_prefix(LISTENING).map(str::trim).ok_or_else(|| format!("unexpected: {line}"))?;
        Ok(Self { child, pid, addr: addr.parse()? })
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Where the child listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How the child ended, if it has.
    pub(crate) fn exited(&mut self) -> Result<Option<std::process::ExitStatus>, Error> {
        Ok(self.child.try_wait()?)
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The tokens of every client of a run, signed as the example's identity provider would.
struct Tokens {
    users: Vec<String>,
    echo: Vec<String>,
    warmup: Vec<String>,
    trigger: String,
}

/// `count` tokens of `kind` for the entities `<prefix>-0`, `<prefix>-1`, ..., valid for an hour.
pub fn mint_tokens(prefix: &str, kind: Kind, count: usize) -> Result<Vec<String>, Error> {
    let config = Config::from_lookup(|name| (name == "JWT_SECRET").then(|| SECRET.to_owned()))?;
    Ok((0..count).map(|index| mint_token(&config, &format!("{prefix}-{index}"), kind, 3600)).collect())
}

impl Tokens {
    fn mint(plan: &Plan) -> Result<Self, Error> {
        Ok(Self {
            users: mint_tokens("user", Kind::User, plan.connections)?,
            // Echo clients and the trigger are vendors, on /vendor.
            echo: mint_tokens("echo", Kind::Vendor, plan.echo_clients)?,
            warmup: mint_tokens("warmup", Kind::User, plan.warmup)?,
            trigger: mint_tokens("vendor-trigger", Kind::Vendor, 1)?.remove(0),
        })
    }
}

/// Measures every side of `plan`, `plan.rounds` times, with `exe` as the server executable;
/// `progress` is told what runs.
pub async fn run(exe: &Path, plan: &Plan, mut progress: impl FnMut(&str)) -> Result<Vec<Measurement>, Error> {
    plan.validate()?;
    let tokens = Tokens::mint(plan)?;
    let mut measurements = Vec::new();
    for round in 0..plan.rounds {
        let mut order = plan.sides.clone();
        let turn = round % order.len();
        order.rotate_left(turn);
        for side in order {
            progress(&format!("round {}/{}: {}", round + 1, plan.rounds, side.name()));
            let measurement = measure_one(exe, side, round, plan, &tokens)
                .await
                .map_err(|error| format!("{} (round {}): {error}", side.name(), round + 1))?;
            progress(&summary_line(&measurement));
            measurements.push(measurement);
        }
    }
    Ok(measurements)
}

fn summary_line(m: &Measurement) -> String {
    let fanout: Vec<String> = m
        .fanout
        .iter()
        .map(|f| format!("{}: {:.0}/s in {:.1} ms", f.sockets, f.deliveries_per_second, f.last_ms))
        .collect();
    format!(
        "  connect {:.0}/s p50 {:.1} ms p99 {:.1} ms, {:.2} KiB/conn, echo {:.0}/s p99 {:.0} us, fan-out {}",
        m.connect.per_second,
        m.connect.p50_ms,
        m.connect.p99_ms,
        m.memory.kib_per_connection,
        m.echo.round_trips_per_second,
        m.echo.p99_us,
        fanout.join(", ")
    )
}

async fn measure_one(exe: &Path, side: Side, round: usize, plan: &Plan, tokens: &Tokens) -> Result<Measurement, Error> {
    let server = Server::start(exe, side).await?;
    let mut users = Users::default();
    let result = measure_server(&server, &mut users, side, round, plan, tokens).await;
    // Stop the server before the clients go, so it spends no CPU on 10,000 disconnects.
    server.stop().await;
    drop(users);
    result
}

async fn measure_server(
    server: &Server,
    users: &mut Users,
    side: Side,
    round: usize,
    plan: &Plan,
    tokens: &Tokens,
) -> Result<Measurement, Error> {
    let (addr, pid) = (server.addr, server.pid);
    let mut trigger = load::open(addr, "/vendor", &tokens.trigger).await?;
    {
        let mut warm = Users::default();
        warm.storm(addr, tokens.warmup.clone(), plan.concurrency).await?;
        warm.fan_out(&mut trigger, 0).await?;
    }
    tokio::time::sleep(plan.settle).await;

    let rss_before_kib = rss_kib(pid)?;
    let mut latencies = Vec::with_capacity(plan.connections);
    let (mut storm_time, mut storm_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut rss_after_kib = rss_before_kib;
    let mut fanout = Vec::new();
    let mut seq = 1;
    for stage in plan.stages() {
        let cpu_before = cpu_time(pid)?;
        let storm = users.storm(addr, tokens.users[users.len()..stage].to_vec(), plan.concurrency).await?;
        storm_cpu += cpu_time(pid)?.saturating_sub(cpu_before);
        storm_time += storm.elapsed;
        latencies.extend(storm.latencies);
        if stage == plan.connections {
            tokio::time::sleep(plan.settle).await;
            rss_after_kib = rss_kib(pid)?;
        }
        if plan.fanout_sizes.contains(&stage) {
            let mut times = Vec::with_capacity(plan.fanout_repeats);
            for _ in 0..plan.fanout_repeats {
                times.push(users.fan_out(&mut trigger, seq).await?.as_secs_f64());
                seq += 1;
            }
            let last = measure::median(&times).ok_or("no fan-out measured")?;
            fanout.push(FanoutResult {
                sockets: stage,
                deliveries_per_second: stage as f64 / last,
                last_ms: last * 1e3,
            });
        }
    }
    let connections = plan.connections;
    let connect = ConnectResult {
        connections,
        per_second: connections as f64 / storm_time.as_secs_f64(),
        p50_ms: percentile(&mut latencies, 50.0).unwrap_or_default().as_secs_f64() * 1e3,
        p99_ms: percentile(&mut latencies, 99.0).unwrap_or_default().as_secs_f64() * 1e3,
        server_cpu_us: storm_cpu.as_secs_f64() * 1e6 / connections as f64,
    };
    let memory = MemoryResult {
        connections,
        rss_before_kib,
        rss_after_kib,
        kib_per_connection: rss_after_kib.saturating_sub(rss_before_kib) as f64 / connections as f64,
    };

    let cpu_before = cpu_time(pid)?;
    let mut echo = load::echo(addr, &tokens.echo, plan.echo_warmup, plan.echo_window).await?;
    let echo_cpu = cpu_time(pid)?.saturating_sub(cpu_before);
    let round_trips = echo.latencies.len();
    let echo = EchoResult {
        clients: plan.echo_clients,
        round_trips_per_second: round_trips as f64 / echo.window.as_secs_f64(),
        p50_us: percentile(&mut echo.latencies, 50.0).unwrap_or_default().as_secs_f64() * 1e6,
        p99_us: percentile(&mut echo.latencies, 99.0).unwrap_or_default().as_secs_f64() * 1e6,
        server_cpu_us: echo_cpu.as_secs_f64() * 1e6 / echo.all_round_trips.max(1) as f64,
    };
    Ok(Measurement { side, round, connect, memory, fanout, echo })
}
