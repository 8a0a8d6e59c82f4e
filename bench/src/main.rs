//! `venta-ws-bench`: the load harness.
//!
//! ```text
//! venta-ws-bench run [--connections 10000] [--fanout 1000,10000] [--fanout-repeats 5]
//!                    [--echo-clients 50] [--echo-secs 3] [--echo-warmup-secs 0.5]
//!                    [--concurrency 256] [--rounds 3] [--settle-secs 1] [--warmup 32]
//!                    [--sides framework,baseline,axum-defaults]
//!                    [--json PATH] [--svg PATH] [--markdown PATH]
//! venta-ws-bench serve framework|baseline|axum-defaults [--addr 127.0.0.1:0]
//! venta-ws-bench connect --addr ADDR [--connections 1000] [--concurrency 256] [--hold-secs 5] [--protocol websocket|socketio]
//! venta-ws-bench report --json PATH [--svg PATH] [--markdown PATH]
//! venta-ws-bench soak [--sockets 300] [--good 20] [--seconds 60] [--warmup-secs 20] [--settle-secs 12] [--burst 200]
//!                     [--rss-bound-mib 20] [--ping-ms 250] [--pong-deadline-ms 2000] [--seed N]
//!                     [--only NAME,..] [--skip NAME,..] [--log PATH] [--markdown PATH]
//! venta-ws-bench serve example [--addr 127.0.0.1:0]
//! venta-ws-bench socketio [--connections 10000] [--concurrency 256] [--rounds 1] [--settle-secs 2] [--warmup 32] [--sides venta-ws,socketioxide] [--json PATH]
//! venta-ws-bench serve socketioxide [--addr 127.0.0.1:0]
//! venta-ws-bench observe [run's options] [--json PATH] [--markdown PATH]
//! venta-ws-bench serve framework-observed [--addr 127.0.0.1:0]
//! ```
//!
//! `observe` measures the framework with metrics and tracing on (`serve framework-observed`)
//! and off (`serve framework`) in the same run, and prints on / off per metric.
//!
//! `socketio` serves the example (`serve framework`) and the socketioxide server (`serve
//! socketioxide`) one after the other and opens Socket.IO clients to both (`socketio.rs`).
//!
//! `run` starts each server as a child (`serve`), one after the other, drives it, and prints
//! the table of ratios framework / baseline; `serve` prints `listening <addr>` once it accepts.
//! `connect` opens user sockets to a server started by hand (under a profiler, say), holds
//! them, and closes them. `report` prints the table of a saved `--json` run again and redraws
//! its chart. `soak` serves the main example with every default (`serve example`, which logs
//! at `info` to standard error) and runs hostile clients against it; it exits non-zero when a
//! check fails.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use venta_ws_bench::cluster::{self, ClusterPlan};
use venta_ws_bench::load::Users;
use venta_ws_bench::measure::percentile;
use venta_ws_bench::report::Report;
use venta_ws_bench::run::{Plan, mint_tokens, run};
use venta_ws_bench::soak::{SoakPlan, soak};
use venta_ws_bench::socketio::{self, SioPlan, SioSide};
use venta_ws_bench::{BASELINE_READ_BUFFER, Error, LISTENING, SECRET, Side, baseline, framework};
use venta_ws_examples::Kind;

const USAGE: &str = "usage: venta-ws-bench run [--connections N] [--fanout N,N] [--fanout-repeats N] \
[--echo-clients N] [--echo-secs S] [--echo-warmup-secs S] [--concurrency N] [--rounds N] [--settle-secs S] [--warmup N] \
[--sides framework,baseline,axum-defaults] [--json PATH] [--svg PATH] [--markdown PATH]\n       \
venta-ws-bench serve framework|baseline|axum-defaults [--addr 127.0.0.1:0]\n       \
venta-ws-bench connect --addr ADDR [--connections N] [--concurrency N] [--hold-secs S] [--protocol websocket|socketio]\n       \
venta-ws-bench report --json PATH [--svg PATH] [--markdown PATH]\n       \
venta-ws-bench soak [--sockets N] [--good N] [--seconds S] [--warmup-secs S] [--settle-secs S] [--burst N] [--rss-bound-mib N] \
[--ping-ms N] [--pong-deadline-ms N] [--seed N] [--only NAME,..] [--skip NAME,..] [--log PATH] [--markdown PATH]\n       \
venta-ws-bench serve example [--addr 127.0.0.1:0]\n       \
venta-ws-bench socketio [--connections N] [--concurrency N] [--rounds N] [--settle-secs S] [--warmup N] [--sides venta-ws,socketioxide] [--json PATH]\n       \
venta-ws-bench serve socketioxide [--addr 127.0.0.1:0]\n       \
venta-ws-bench observe [run's options] [--json PATH] [--markdown PATH]\n       \
venta-ws-bench serve framework-observed [--addr 127.0.0.1:0]\n       \
venta-ws-bench cluster [--nodes N] [--sockets N] [--entity-emits N] [--rooms N] [--room-size N] [--room-nodes N] [--broadcasts N] \
[--concurrency N] [--redis URL | --redis-cluster URL,URL,..] [--json PATH] [--svg PATH] [--markdown PATH]\n       \
venta-ws-bench serve cluster-node [--addr 127.0.0.1:0]   (VENTA_BENCH_REDIS_URL or VENTA_BENCH_REDIS_CLUSTER, VENTA_BENCH_PREFIX, VENTA_BENCH_DELIVERY)";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run_command(&args[1..]).await,
        Some("serve") => serve_command(&args[1..]).await,
        Some("connect") => connect_command(&args[1..]).await,
        Some("report") => report_command(&args[1..]),
        Some("soak") => soak_command(&args[1..]).await,
        Some("socketio") => socketio_command(&args[1..]).await,
        Some("observe") => observe_command(&args[1..]).await,
        Some("cluster") => cluster_command(&args[1..]).await,
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("venta-ws-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Output files of `run`.
#[derive(Default)]
struct Outputs {
    json: Option<PathBuf>,
    svg: Option<PathBuf>,
    markdown: Option<PathBuf>,
}

fn parse_run(args: &[String]) -> Result<(Plan, Outputs), Error> {
    let mut plan = Plan::default();
    let mut outputs = Outputs::default();
    let mut fanout_given = false;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let secs = |value: &str| -> Result<Duration, Error> { Ok(Duration::try_from_secs_f64(value.parse()?)?) };
        match flag.as_str() {
            "--connections" => plan.connections = value.parse()?,
            "--fanout" => {
                fanout_given = true;
                plan.fanout_sizes = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--fanout-repeats" => plan.fanout_repeats = value.parse()?,
            "--echo-clients" => plan.echo_clients = value.parse()?,
            "--echo-secs" => plan.echo_window = secs(value)?,
            "--echo-warmup-secs" => plan.echo_warmup = secs(value)?,
            "--concurrency" => plan.concurrency = value.parse()?,
            "--rounds" => plan.rounds = value.parse()?,
            "--settle-secs" => plan.settle = secs(value)?,
            "--warmup" => plan.warmup = value.parse()?,
            "--sides" => {
                plan.sides = value
                    .split(',')
                    .map(|name| Side::parse(name).ok_or_else(|| format!("unknown side `{name}`")))
                    .collect::<Result<_, _>>()?;
            }
            "--json" => outputs.json = Some(value.into()),
            "--svg" => outputs.svg = Some(value.into()),
            "--markdown" => outputs.markdown = Some(value.into()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    if !fanout_given {
        plan.fanout_sizes.retain(|size| *size <= plan.connections);
        if !plan.fanout_sizes.contains(&plan.connections) {
            plan.fanout_sizes.push(plan.connections);
        }
    }
    Ok((plan, outputs))
}

async fn run_command(args: &[String]) -> Result<(), Error> {
    let (plan, outputs) = parse_run(args)?;
    if !(plan.sides.contains(&Side::Framework) && plan.sides.contains(&Side::Baseline)) {
        return Err("`--sides` must include framework and baseline: ratios are taken between them".into());
    }
    let exe = std::env::current_exe()?;
    let measurements = run(&exe, &plan, |line| eprintln!("{line}")).await?;
    let report = Report::new(plan, measurements).ok_or("the framework or the baseline was not measured")?;
    write_report(&report, &outputs)
}

async fn observe_command(args: &[String]) -> Result<(), Error> {
    let (mut plan, outputs) = parse_run(args)?;
    plan.sides = vec![Side::Framework, Side::FrameworkObserved];
    plan.fanout_sizes.clear();
    let exe = std::env::current_exe()?;
    let measurements = run(&exe, &plan, |line| eprintln!("{line}")).await?;
    let table = venta_ws_bench::report::observe_markdown(&plan, &measurements).ok_or("a side was not measured")?;
    println!("{table}");
    if let Some(path) = &outputs.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({"plan": plan, "measurements": measurements}))?,
        )?;
    }
    if let Some(path) = &outputs.markdown {
        std::fs::write(path, table)?;
    }
    Ok(())
}

fn write_report(report: &Report, outputs: &Outputs) -> Result<(), Error> {
    let table = report.markdown();
    println!("{table}");
    if let Some(path) = &outputs.json {
        std::fs::write(path, serde_json::to_string_pretty(report)?)?;
    }
    if let Some(path) = &outputs.svg {
        std::fs::write(path, report.svg())?;
    }
    if let Some(path) = &outputs.markdown {
        std::fs::write(path, table)?;
    }
    Ok(())
}

fn report_command(args: &[String]) -> Result<(), Error> {
    let mut outputs = Outputs::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--json" => outputs.json = Some(value.into()),
            "--svg" => outputs.svg = Some(value.into()),
            "--markdown" => outputs.markdown = Some(value.into()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    let json = outputs.json.take().ok_or(USAGE)?;
    let saved: Report = serde_json::from_slice(&std::fs::read(&json)?)?;
    let report =
        Report::new(saved.plan, saved.measurements).ok_or("the saved run lacks the framework or the baseline")?;
    write_report(&report, &outputs)
}

async fn serve_command(args: &[String]) -> Result<(), Error> {
    let name = args.first().map(String::as_str);
    let side = name.and_then(Side::parse);
    if side.is_none() && !matches!(name, Some("example" | "socketioxide" | "cluster-node")) {
        return Err(USAGE.into());
    }
    let addr: SocketAddr = match args.get(1..) {
        Some([flag, addr]) if flag == "--addr" => addr.parse()?,
        Some([]) => SocketAddr::from(([127, 0, 0, 1], 0)),
        _ => return Err(USAGE.into()),
    };
    // The framework's listener setup (1,024 backlog) for every side alike.
    let listener = venta_ws::bind(addr)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{LISTENING} {}", listener.local_addr()?)?;
    stdout.flush()?;
    match side {
        Some(Side::Framework) => framework::serve(listener, SECRET).await,
        Some(Side::Baseline) => baseline::serve(listener, SECRET, Some(BASELINE_READ_BUFFER)).await,
        Some(Side::AxumDefaults) => baseline::serve(listener, SECRET, None).await,
        Some(Side::FrameworkObserved) => framework::serve_observed(listener, SECRET).await,
        None if name == Some("socketioxide") => venta_ws_bench::socketio::serve(listener, SECRET).await,
        None if name == Some("cluster-node") => venta_ws_bench::cluster::serve_node(listener).await,
        None => {
            // As `cargo run --example location` logs: `info` unless RUST_LOG says otherwise.
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::io::stderr).init();
            framework::serve_example(listener, SECRET).await
        }
    }
}

async fn socketio_command(args: &[String]) -> Result<(), Error> {
    let mut plan = SioPlan::default();
    let mut json: Option<PathBuf> = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--connections" => plan.connections = value.parse()?,
            "--concurrency" => plan.concurrency = value.parse()?,
            "--rounds" => plan.rounds = value.parse()?,
            "--settle-secs" => plan.settle = Duration::try_from_secs_f64(value.parse()?)?,
            "--warmup" => plan.warmup = value.parse()?,
            "--sides" => {
                plan.sides = value
                    .split(',')
                    .map(|name| SioSide::parse(name).ok_or_else(|| format!("unknown side `{name}`")))
                    .collect::<Result<_, _>>()?;
            }
            "--json" => json = Some(value.into()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    let exe = std::env::current_exe()?;
    let measurements = socketio::compare(&exe, &plan, |line| eprintln!("{line}")).await?;
    println!("{}", socketio::markdown(&measurements));
    if let Some(path) = json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({ "plan": plan, "measurements": measurements }))?,
        )?;
    }
    Ok(())
}

async fn cluster_command(args: &[String]) -> Result<(), Error> {
    let mut plan = ClusterPlan::default();
    let (mut json, mut svg, mut markdown): (Option<PathBuf>, Option<PathBuf>, Option<PathBuf>) = (None, None, None);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--nodes" => plan.nodes = value.parse()?,
            "--sockets" => plan.sockets = value.parse()?,
            "--entity-emits" => plan.entity_emits = value.parse()?,
            "--rooms" => plan.rooms = value.parse()?,
            "--room-size" => plan.room_size = value.parse()?,
            "--room-nodes" => plan.room_nodes = value.parse()?,
            "--broadcasts" => plan.broadcasts = value.parse()?,
            "--concurrency" => plan.concurrency = value.parse()?,
            "--redis" => plan.redis_url = value.clone(),
            "--redis-cluster" => plan.redis_cluster = value.split(',').map(str::to_owned).collect(),
            "--json" => json = Some(value.into()),
            "--svg" => svg = Some(value.into()),
            "--markdown" => markdown = Some(value.into()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    if plan.nodes == 0 || plan.sockets < plan.nodes || plan.room_nodes == 0 || plan.room_nodes > plan.nodes {
        return Err(format!(
            "--nodes and --room-nodes at least 1, --sockets at least --nodes, --room-nodes at most --nodes\n{USAGE}"
        )
        .into());
    }
    if plan.room_size * plan.rooms > plan.sockets {
        return Err(format!(
            "--rooms times --room-size must be at most --sockets (each member a socket of its own)\n{USAGE}"
        )
        .into());
    }
    let exe = std::env::current_exe()?;
    let measurements = cluster::compare(&exe, &plan, |line| eprintln!("{line}")).await?;
    let table = cluster::markdown(&plan, &measurements);
    println!("{table}");
    if let Some(path) = json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({ "plan": plan, "measurements": measurements }))?,
        )?;
    }
    if let Some(path) = svg {
        std::fs::write(path, cluster::svg(&plan, &measurements))?;
    }
    if let Some(path) = markdown {
        std::fs::write(path, table)?;
    }
    Ok(())
}

async fn soak_command(args: &[String]) -> Result<(), Error> {
    let mut plan = SoakPlan::default();
    let mut markdown: Option<PathBuf> = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let secs = |value: &str| -> Result<Duration, Error> { Ok(Duration::try_from_secs_f64(value.parse()?)?) };
        let millis = |value: &str| -> Result<Duration, Error> { Ok(Duration::from_millis(value.parse()?)) };
        match flag.as_str() {
            "--sockets" => plan.sockets = value.parse()?,
            "--good" => plan.good = value.parse()?,
            "--seconds" => plan.duration = secs(value)?,
            "--warmup-secs" => plan.warmup = secs(value)?,
            "--settle-secs" => plan.settle = secs(value)?,
            "--burst" => plan.burst = value.parse()?,
            "--rss-bound-mib" => plan.rss_bound_mib = value.parse()?,
            "--ping-ms" => plan.ping_every = millis(value)?,
            "--pong-deadline-ms" => plan.pong_deadline = millis(value)?,
            "--seed" => plan.seed = value.parse()?,
            "--log" => plan.log = Some(value.into()),
            "--only" => plan.only = value.split(',').map(str::to_owned).collect(),
            "--skip" => plan.skip = value.split(',').map(str::to_owned).collect(),
            "--markdown" => markdown = Some(value.into()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    let exe = std::env::current_exe()?;
    let report = soak(&exe, plan, |line| eprintln!("{line}")).await?;
    let summary = report.markdown();
    println!("{summary}");
    if let Some(path) = markdown {
        std::fs::write(path, &summary)?;
    }
    if report.failures.is_empty() {
        return Ok(());
    }
    Err(format!("the soak failed {} check(s):\n  - {}", report.failures.len(), report.failures.join("\n  - ")).into())
}

async fn connect_command(args: &[String]) -> Result<(), Error> {
    let (mut addr, mut connections, mut concurrency, mut hold) = (None, 1000, 256, Duration::from_secs(5));
    let mut socket_io = false;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--addr" => addr = Some(value.parse::<SocketAddr>()?),
            "--connections" => connections = value.parse()?,
            "--concurrency" => concurrency = value.parse()?,
            "--hold-secs" => hold = Duration::try_from_secs_f64(value.parse()?)?,
            "--protocol" => {
                socket_io = match value.as_str() {
                    "websocket" => false,
                    "socketio" => true,
                    other => return Err(format!("--protocol takes websocket or socketio, not {other}").into()),
                }
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    let addr = addr.ok_or(USAGE)?;
    if socket_io {
        let tokens = mint_tokens("user", Kind::User, connections)?;
        let (held, mut latencies, elapsed) = venta_ws_bench::socketio::storm(addr, &tokens, concurrency).await?;
        let p99 = percentile(&mut latencies, 99.0).unwrap_or_default();
        eprintln!(
            "{connections} Socket.IO sockets open in {:.2} s ({:.0}/s, p99 {:.1} ms); holding them {:.1} s",
            elapsed.as_secs_f64(),
            connections as f64 / elapsed.as_secs_f64(),
            p99.as_secs_f64() * 1e3,
            hold.as_secs_f64()
        );
        tokio::time::sleep(hold).await;
        drop(held);
        return Ok(());
    }
    let mut users = Users::default();
    let mut storm = users.storm(addr, mint_tokens("user", Kind::User, connections)?, concurrency).await?;
    let p99 = percentile(&mut storm.latencies, 99.0).unwrap_or_default();
    eprintln!(
        "{connections} sockets open in {:.2} s ({:.0}/s, p99 {:.1} ms); holding them {:.1} s",
        storm.elapsed.as_secs_f64(),
        connections as f64 / storm.elapsed.as_secs_f64(),
        p99.as_secs_f64() * 1e3,
        hold.as_secs_f64()
    );
    tokio::time::sleep(hold).await;
    Ok(())
}
