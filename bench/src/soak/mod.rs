//! The soak: the main example's gateways, served with every default by a child process (this
//! executable's `serve example`), under a few hundred hostile sockets at once for a bounded
//! time, while well-behaved sockets keep checking that the server answers them in time. Then
//! the hostile clients stop, the server is left to settle, and what must hold afterwards is
//! checked: memory back near where it started, presence exactly the sockets still connected,
//! new connections served, the process alive and no panic in its log.
//!
//! Everything goes to 127.0.0.1 only; every loop is bounded in count and time.

mod good;
mod hostile;
mod wire;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use self::hostile::{Behaviour, Ctx, Episode};
use self::wire::{Outcome, Replies, Rng, connect, reply_to, sign, unix_now};
use crate::load::{self, Client, Users};
use crate::measure::{percentile, rss_kib};
use crate::run::Server;
use crate::{Error, SECRET};

/// How large and long a soak is.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    /// Hostile sockets open at once (each reconnects as soon as its episode ends).
    pub sockets: usize,
    /// Well-behaved sockets, open throughout.
    pub good: usize,
    /// How long the hostile clients run before the server's starting memory is read (then they
    /// stop and the server settles): the allocator holds on to memory freed since the process
    /// started, so only a warmed-up server's memory can be compared with its memory at the end.
    pub warmup: Duration,
    /// How long the hostile clients run after that.
    pub duration: Duration,
    /// How long the server is left alone after they stop, before anything is checked.
    pub settle: Duration,
    /// Fresh connections opened at once at the end, all of which must succeed.
    pub burst: usize,
    /// How far above its starting resident set the server may end, in MiB.
    pub rss_bound_mib: u64,
    /// How often a well-behaved socket sends `ping`.
    pub ping_every: Duration,
    /// How soon its `pong` must come.
    pub pong_deadline: Duration,
    /// The seed of every random choice (a slot's behaviours follow from it).
    pub seed: u64,
    /// Where the server's log goes (default: a file in the temporary directory).
    pub log: Option<PathBuf>,
    /// Only these behaviours (by name), when not empty.
    pub only: Vec<String>,
    /// Not these behaviours.
    pub skip: Vec<String>,
}

impl Default for SoakPlan {
    fn default() -> Self {
        Self {
            sockets: 300,
            good: 20,
            warmup: Duration::from_secs(20),
            duration: Duration::from_secs(60),
            settle: Duration::from_secs(12),
            burst: 200,
            rss_bound_mib: 20,
            ping_every: Duration::from_millis(250),
            pong_deadline: Duration::from_secs(2),
            seed: unix_now(),
            log: None,
            only: Vec::new(),
            skip: Vec::new(),
        }
    }
}

/// Episodes one hostile socket runs at most, and the longest one may take.
const MAX_EPISODES: u64 = 100_000;
const EPISODE_CAP: Duration = Duration::from_secs(90);

/// What happened to the episodes of one behaviour.
#[derive(Debug, Default)]
struct Tally {
    started: u64,
    outcomes: BTreeMap<Outcome, u64>,
    replies: Replies,
    /// A few entities of each outcome outside the behaviour's expected set, to look up in
    /// the server's log.
    examples: BTreeMap<Outcome, Vec<String>>,
}

type Tallies = Arc<Mutex<BTreeMap<Behaviour, Tally>>>;

impl SoakPlan {
    /// The behaviours to run, with their weights.
    fn mix(&self) -> Result<Vec<(Behaviour, u64)>, Error> {
        for name in self.only.iter().chain(&self.skip) {
            if Behaviour::parse(name).is_none() {
                let known: Vec<&str> = Behaviour::ALL.iter().map(|(behaviour, _)| behaviour.name()).collect();
                return Err(format!("no behaviour `{name}`; there are {}", known.join(", ")).into());
            }
        }
        let mix: Vec<(Behaviour, u64)> = Behaviour::ALL
            .iter()
            .filter(|(behaviour, _)| self.only.is_empty() || self.only.iter().any(|name| name == behaviour.name()))
            .filter(|(behaviour, _)| !self.skip.iter().any(|name| name == behaviour.name()))
            .copied()
            .collect();
        if mix.is_empty() {
            return Err("--only and --skip leave no behaviour".into());
        }
        Ok(mix)
    }
}

/// Everything a soak measured and checked.
#[derive(Debug)]
pub struct SoakReport {
    plan: SoakPlan,
    tallies: BTreeMap<Behaviour, Tally>,
    good: Vec<good::Report>,
    good_counters: good::Counters,
    warmup_episodes: u64,
    rss_cold_kib: u64,
    rss_start_kib: u64,
    rss_peak_kib: u64,
    rss_end_kib: u64,
    online: Vec<String>,
    expected_online: Vec<String>,
    burst_elapsed: Option<Duration>,
    log_path: PathBuf,
    log_lines: BTreeMap<&'static str, u64>,
    log_errors: Vec<String>,
    elapsed: Duration,
    /// Every check that failed, with what was seen.
    pub failures: Vec<String>,
}

/// Runs the soak with `exe` as the server executable; `progress` is told what happens.
pub async fn soak(exe: &Path, plan: SoakPlan, mut progress: impl FnMut(&str)) -> Result<SoakReport, Error> {
    if plan.sockets == 0 || plan.good == 0 || plan.burst == 0 {
        return Err("--sockets, --good and --burst must be at least 1".into());
    }
    let mix = Arc::new(plan.mix()?);
    let began = Instant::now();
    let log_path = plan
        .log
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("venta-ws-soak-{}.log", std::process::id())));
    let log = std::fs::File::create(&log_path)?;
    let mut server = Server::spawn(exe, &["serve", "example", "--addr", "127.0.0.1:0"], Stdio::from(log)).await?;
    let (addr, pid) = (server.addr(), server.pid());
    progress(&format!(
        "server {pid} on {addr}, log {}; seed {}: {} hostile and {} well-behaved sockets for {:.0} s + {:.0} s",
        log_path.display(),
        plan.seed,
        plan.sockets,
        plan.good,
        plan.warmup.as_secs_f64(),
        plan.duration.as_secs_f64()
    ));

    // Warm up what the server builds lazily, then let it settle.
    {
        let tokens = (0..16).map(|index| user_token(&format!("warmup-{index}"))).collect::<Result<_, _>>()?;
        Users::default().storm(addr, tokens, 16).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let counters = Arc::new(good::Counters::default());
    let (stop_good, stopped) = watch::channel(false);
    let mut good_tasks = Vec::with_capacity(plan.good);
    for index in 0..plan.good {
        let entity = format!("good-{index}");
        let token = user_token(&entity)?;
        let mut client = within(load::open(addr, "/user", &token)).await?;
        within(load::ping(&mut client, 0)).await?;
        let setup = good::Setup {
            addr,
            entity,
            token,
            every: plan.ping_every,
            deadline: plan.pong_deadline,
            counters: Arc::clone(&counters),
        };
        good_tasks.push(tokio::spawn(good::run(setup, client, stopped.clone())));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_cold_kib = rss_kib(pid)?;
    let peak = Arc::new(AtomicU64::new(rss_cold_kib));
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            while let Ok(kib) = rss_kib(pid) {
                peak.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let tallies = Tallies::default();
    let phase = Phase { addr, mix: &mix, tallies: &tallies, counters: &counters, pid, peak: &peak, plan: &plan };
    let mut rss_start_kib = rss_cold_kib;
    if !plan.warmup.is_zero() {
        phase.run("warm-up", plan.warmup, &mut progress).await;
        rss_start_kib = settled_rss(&mut server, &log_path)?;
    }
    let warmup_episodes: u64 = lock(&tallies).values().map(|tally| tally.started).sum();
    phase.run("soak", plan.duration, &mut progress).await;
    let rss_end_kib = settled_rss(&mut server, &log_path)?;
    sampler.abort();
    let rss_peak_kib = peak.load(Ordering::Relaxed).max(rss_end_kib);

    let _ = stop_good.send(true);
    let mut survivors = Vec::new();
    let mut good_reports = Vec::new();
    for task in good_tasks {
        let (client, report) = task.await?;
        if let Some(client) = client {
            survivors.push((report.entity.clone(), client));
        }
        good_reports.push(report);
    }

    let mut failures = Vec::new();
    // Why well-behaved connections failed: how often, and which entities.
    let mut by_reason: BTreeMap<&str, (u64, Vec<&str>)> = BTreeMap::new();
    for report in &good_reports {
        for (why, count) in &report.failures {
            let (total, entities) = by_reason.entry(why.as_str()).or_default();
            *total += count;
            entities.push(report.entity.as_str());
        }
    }
    let late = counters.late.load(Ordering::Relaxed);
    if late > 0 || !by_reason.is_empty() {
        let reasons: Vec<String> = by_reason
            .iter()
            .map(|(why, (count, entities))| {
                format!(
                    "{count} × {why} (on {} sockets: {})",
                    entities.len(),
                    entities[..entities.len().min(5)].join(", ")
                )
            })
            .collect();
        failures.push(format!(
            "well-behaved sockets: {late} pongs later than {:?} or missing; {} connections failed: {}",
            plan.pong_deadline,
            by_reason.values().map(|(count, _)| count).sum::<u64>(),
            reasons.join("; ")
        ));
    }

    let bound_kib = plan.rss_bound_mib << 10;
    if rss_end_kib > rss_start_kib + bound_kib {
        failures.push(format!(
            "server RSS ended at {} KiB, more than {} MiB above its start ({} KiB; peak {} KiB)",
            rss_end_kib, plan.rss_bound_mib, rss_start_kib, rss_peak_kib
        ));
    }

    // A well-behaved socket still connected asks; when none is (each was closed and its
    // reconnect failed), a fresh one does and must see itself.
    let mut expected_online: Vec<String> = survivors.iter().map(|(entity, _)| entity.clone()).collect();
    if survivors.is_empty() {
        let entity = "soak-presence-check".to_owned();
        let client = within(load::open(addr, "/user", &user_token(&entity)?)).await?;
        expected_online.push(entity.clone());
        survivors.push((entity, client));
    }
    expected_online.sort();
    let mut online = Vec::new();
    if let Some((_, client)) = survivors.first_mut() {
        match presence(client, 1).await {
            Err(error) => failures.push(format!("presence.online on /user failed: {error}")),
            Ok(listed) => {
                online = listed;
                if online != expected_online {
                    let again = presence(client, 2).await.unwrap_or_default();
                    failures.push(describe_presence(&online, &expected_online, &again, plan.settle));
                }
            }
        }
    }
    if let Err(error) = vendor_presence(addr).await {
        failures.push(format!("presence on /vendor: {error}"));
    }

    if let Err(error) = fresh_connect(addr).await {
        failures.push(format!("a fresh connect after the soak failed: {error}"));
    }
    let tokens = (0..plan.burst).map(|index| user_token(&format!("burst-{index}"))).collect::<Result<_, _>>()?;
    let burst_elapsed = match Users::default().storm(addr, tokens, 64).await {
        Ok(storm) => Some(storm.elapsed),
        Err(error) => {
            failures.push(format!("a burst of {} fresh connects failed: {error}", plan.burst));
            None
        }
    };
    drop(survivors);

    match server.exited()? {
        Some(status) => failures.push(format!("the server exited: {status}")),
        None => server.stop().await,
    }
    let (log_lines, log_errors) = scan_log(&log_path)?;
    let panics = log_lines.get("panicked").copied().unwrap_or_default();
    if panics > 0 {
        failures.push(format!("the server's log has {panics} lines with `panicked` ({})", log_path.display()));
    }
    let tallies = std::mem::take(&mut *lock(&tallies));
    for (behaviour, tally) in &tallies {
        for (outcome, entities) in &tally.examples {
            let count = tally.outcomes.get(outcome).copied().unwrap_or_default();
            failures.push(format!(
                "{count} `{}` episodes ended in `{outcome}`, outside what the behaviour expects (for instance {})",
                behaviour.name(),
                entities.join(", ")
            ));
        }
    }
    let report = SoakReport {
        plan,
        tallies,
        good: good_reports,
        good_counters: Arc::try_unwrap(counters).unwrap_or_default(),
        warmup_episodes,
        rss_cold_kib,
        rss_start_kib,
        rss_peak_kib,
        rss_end_kib,
        online,
        expected_online,
        burst_elapsed,
        log_path,
        log_lines,
        log_errors,
        elapsed: began.elapsed(),
        failures,
    };
    Ok(report)
}

/// What a hostile phase needs.
struct Phase<'a> {
    addr: SocketAddr,
    mix: &'a Arc<Vec<(Behaviour, u64)>>,
    tallies: &'a Tallies,
    counters: &'a good::Counters,
    pid: u32,
    peak: &'a AtomicU64,
    plan: &'a SoakPlan,
}

impl Phase<'_> {
    /// Runs the hostile sockets for `duration`, stops them, and leaves the server alone for the
    /// plan's settling time.
    async fn run(&self, name: &'static str, duration: Duration, progress: &mut impl FnMut(&str)) {
        let began = Instant::now();
        let ctx = Arc::new(Ctx { addr: self.addr, secret: SECRET, end: began + duration });
        let slots: Vec<JoinHandle<()>> = (0..self.plan.sockets)
            .map(|index| {
                let at = Slot { phase: name, index, seed: self.plan.seed };
                tokio::spawn(slot(Arc::clone(&ctx), Arc::clone(self.mix), at, Arc::clone(self.tallies)))
            })
            .collect();
        let mut next_progress = began + Duration::from_secs(10);
        while Instant::now() < ctx.end {
            tokio::time::sleep_until(next_progress.min(ctx.end)).await;
            if Instant::now() >= next_progress {
                next_progress += Duration::from_secs(10);
                let episodes: u64 = lock(self.tallies).values().map(|tally| tally.outcomes.values().sum::<u64>()).sum();
                let counters = self.counters;
                progress(&format!(
                    "  {name} {:>4.0} s: {episodes} hostile episodes ended; server RSS {} MiB (peak {}); \
                     well-behaved: {} pongs, {} late, {} failed",
                    began.elapsed().as_secs_f64(),
                    rss_kib(self.pid).unwrap_or_default() >> 10,
                    self.peak.load(Ordering::Relaxed) >> 10,
                    counters.pongs.load(Ordering::Relaxed),
                    counters.late.load(Ordering::Relaxed),
                    counters.failed.load(Ordering::Relaxed),
                ));
            }
        }
        // Episodes still running get two seconds to end, then their connections are dropped.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for slot in &slots {
            slot.abort();
        }
        for slot in slots {
            let _ = slot.await;
        }
        progress(&format!("{name}: hostile clients stopped; settling {:.0} s", self.plan.settle.as_secs_f64()));
        tokio::time::sleep(self.plan.settle).await;
    }
}

/// Which hostile socket a slot is.
struct Slot {
    phase: &'static str,
    index: usize,
    seed: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server's resident set, or the error that it is gone.
fn settled_rss(server: &mut Server, log: &Path) -> Result<u64, Error> {
    if let Some(status) = server.exited()? {
        return Err(format!("the server exited during the soak ({status}); its log is {}", log.display()).into());
    }
    rss_kib(server.pid())
}

/// `work`, unless it takes longer than the harness waits for any one answer.
async fn within<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(load::WAIT, work).await.map_err(|_| format!("no answer within {:?}", load::WAIT))?
}

fn user_token(entity: &str) -> Result<String, Error> {
    sign(SECRET, entity, "user", unix_now() + 3600)
}

/// One hostile socket: episode after episode, each a behaviour picked at random and a fresh
/// entity, until the hostile phase ends.
async fn slot(ctx: Arc<Ctx>, mix: Arc<Vec<(Behaviour, u64)>>, at: Slot, tallies: Tallies) {
    let Slot { phase, index, seed } = at;
    let salt = if phase == "soak" { 0x5eed } else { 0 };
    let mut rng = Rng::new(seed ^ salt ^ (index as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f));
    for episode in 0..MAX_EPISODES {
        if Instant::now() + Duration::from_millis(500) >= ctx.end {
            break;
        }
        let behaviour = Behaviour::pick(&mix, &mut rng);
        let entity = format!("hostile-{phase}-{index}-{episode}");
        lock(&tallies).entry(behaviour).or_default().started += 1;
        let Episode { outcome, replies } = tokio::time::timeout(EPISODE_CAP, behaviour.run(&ctx, &entity, &mut rng))
            .await
            .unwrap_or_else(|_| Episode {
                outcome: Some(Outcome::Error(format!("the episode ran past {EPISODE_CAP:?}"))),
                replies: Replies::new(),
            });
        {
            let mut tallies = lock(&tallies);
            let tally = tallies.entry(behaviour).or_default();
            if let Some(outcome) = outcome {
                if !behaviour.expects(&outcome) {
                    let examples = tally.examples.entry(outcome.clone()).or_default();
                    if examples.len() < 3 {
                        examples.push(entity);
                    }
                }
                *tally.outcomes.entry(outcome).or_default() += 1;
            }
            for (kind, count) in replies {
                *tally.replies.entry(kind).or_default() += count;
            }
        }
        tokio::time::sleep(rng.millis(20, 200)).await;
    }
}

/// The entities `presence.online` lists, sorted.
async fn presence(client: &mut Client, id: u64) -> Result<Vec<String>, Error> {
    within(async { Ok(client.send(Message::text(format!(r#"{{"event":"presence.online","id":{id}}}"#))).await?) })
        .await?;
    let reply = reply_to(client, "presence.online", Duration::from_secs(10), &mut Replies::new())
        .await
        .map_err(|outcome| outcome.to_string())?;
    let listed = reply["data"].as_array().ok_or_else(|| format!("not a list: {reply}"))?;
    let mut listed: Vec<String> = listed.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    listed.sort();
    Ok(listed)
}

fn describe_presence(online: &[String], expected: &[String], again: &[String], settle: Duration) -> String {
    let extra: Vec<&String> = online.iter().filter(|id| !expected.contains(id)).collect();
    let missing: Vec<&String> = expected.iter().filter(|id| !online.contains(id)).collect();
    let hostile = extra.iter().filter(|id| id.starts_with("hostile-")).count();
    let shown = |ids: &[&String]| ids.iter().take(10).map(|id| id.as_str()).collect::<Vec<_>>().join(", ");
    format!(
        "presence on /user after {:.0} s of settling lists {} entities, expected the {} well-behaved sockets still \
         connected: {} extra ({hostile} hostile: {}), {} missing ({}); asked again a moment later: {} listed",
        settle.as_secs_f64(),
        online.len(),
        expected.len(),
        extra.len(),
        shown(&extra),
        missing.len(),
        shown(&missing),
        again.len()
    )
}

/// A fresh vendor socket must see itself alone on `/vendor`: no hostile vendor lingers.
async fn vendor_presence(addr: SocketAddr) -> Result<(), Error> {
    let entity = "soak-vendor-check";
    let mut client = connect(addr, "/vendor", Some(&sign(SECRET, entity, "vendor", unix_now() + 3600)?))
        .await
        .map_err(|outcome| outcome.to_string())?;
    let listed = presence(&mut client, 1).await?;
    if listed != [entity] {
        return Err(format!(
            "a fresh vendor sees {} entities online: {:?}",
            listed.len(),
            &listed[..listed.len().min(10)]
        )
        .into());
    }
    let _ = client.close(None).await;
    Ok(())
}

async fn fresh_connect(addr: SocketAddr) -> Result<(), Error> {
    let mut client = within(load::open(addr, "/user", &user_token("soak-fresh")?)).await?;
    within(load::ping(&mut client, 42)).await?;
    let _ = client.close(None).await;
    Ok(())
}

/// Counts the server log's lines by level and those that say `panicked`; the first distinct
/// error lines (without their time stamps).
fn scan_log(path: &Path) -> Result<(BTreeMap<&'static str, u64>, Vec<String>), Error> {
    let text = String::from_utf8_lossy(&std::fs::read(path)?).into_owned();
    let mut lines = BTreeMap::new();
    let mut errors = Vec::new();
    for line in text.lines() {
        *lines.entry("lines").or_default() += 1;
        for level in ["ERROR", "WARN", "INFO"] {
            if line.contains(&format!(" {level} ")) {
                *lines.entry(level).or_default() += 1;
            }
        }
        if line.contains("panicked") {
            *lines.entry("panicked").or_default() += 1;
        }
        if (line.contains(" ERROR ") || line.contains("panicked")) && errors.len() < 5 {
            let message = line.split_once(' ').map_or(line, |(_, rest)| rest);
            let message = wire::short(message);
            if !errors.contains(&message) {
                errors.push(message);
            }
        }
    }
    Ok((lines, errors))
}

impl SoakReport {
    /// Hostile episodes that ended in an outcome outside their behaviour's expected set.
    fn unexpected(&self) -> u64 {
        self.tallies
            .iter()
            .map(|(behaviour, tally)| {
                tally.outcomes.iter().filter(|(outcome, _)| !behaviour.expects(outcome)).map(|(_, n)| n).sum::<u64>()
            })
            .sum()
    }

    /// The summary, in Markdown.
    pub fn markdown(&self) -> String {
        let plan = &self.plan;
        let mut out = String::new();
        let episodes: u64 = self.tallies.values().map(|tally| tally.started).sum();
        let ended: u64 = self.tallies.values().map(|tally| tally.outcomes.values().sum::<u64>()).sum();
        let _ = writeln!(
            out,
            "Soak: {} hostile sockets at once and {} well-behaved; hostile for {:.0} s (warm-up) and {:.0} s, each \
             followed by {:.0} s of settling (seed {}); {:.0} s in all. Counts cover both hostile phases.\n",
            plan.sockets,
            plan.good,
            plan.warmup.as_secs_f64(),
            plan.duration.as_secs_f64(),
            plan.settle.as_secs_f64(),
            plan.seed,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{episodes} hostile episodes ({ended} ended on their own, {} cut off when the hostile clients stopped); \
             {} ended outside their behaviour's expected outcomes.\n",
            episodes - ended,
            self.unexpected()
        );
        let _ = writeln!(out, "| behaviour | episodes | how they ended (count) | what the server sent (count) |");
        let _ = writeln!(out, "|---|---:|---|---|");
        for (behaviour, tally) in &self.tallies {
            let ended: u64 = tally.outcomes.values().sum();
            let mut outcomes: Vec<(&Outcome, &u64)> = tally.outcomes.iter().collect();
            outcomes.sort_by(|a, b| b.1.cmp(a.1));
            let mut shown: Vec<String> = outcomes
                .iter()
                .map(|(outcome, n)| {
                    let mark = if behaviour.expects(outcome) { "" } else { " **unexpected**" };
                    format!("{outcome}: {n}{mark}")
                })
                .collect();
            if tally.started > ended {
                shown.push(format!("cut off: {}", tally.started - ended));
            }
            let mut replies: Vec<(&String, &u64)> = tally.replies.iter().collect();
            replies.sort_by(|a, b| b.1.cmp(a.1));
            let replies: Vec<String> = replies.iter().take(6).map(|(kind, n)| format!("{kind}: {n}")).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                behaviour.name(),
                tally.started,
                shown.join(", ").replace('|', "\\|"),
                replies.join(", ").replace('|', "\\|")
            );
        }
        let unexpected: Vec<String> = self
            .tallies
            .iter()
            .flat_map(|(behaviour, tally)| {
                tally.examples.iter().map(move |(outcome, entities)| {
                    format!("- {}: `{outcome}`, for instance {}", behaviour.name(), entities.join(", "))
                })
            })
            .collect();
        if !unexpected.is_empty() {
            let _ = writeln!(out, "\nUnexpected outcomes (entities to look up in the server's log):\n");
            for line in unexpected {
                let _ = writeln!(out, "{line}");
            }
        }
        let mut latencies: Vec<Duration> = self.good.iter().flat_map(|report| report.latencies.clone()).collect();
        let max = latencies.iter().max().copied().unwrap_or_default();
        let p50 = percentile(&mut latencies, 50.0).unwrap_or_default();
        let p99 = percentile(&mut latencies, 99.0).unwrap_or_default();
        let failed = self.good.iter().filter(|report| !report.failures.is_empty()).count();
        let counters = &self.good_counters;
        let _ = writeln!(
            out,
            "\nWell-behaved sockets: {} `ping`s, {} `pong`s; p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; {} later than {:.1} s or missing; \
             {} connections failed (on {failed} of the {} sockets, each connecting again); {} `vendor.location` pushes received.",
            counters.pings.load(Ordering::Relaxed),
            counters.pongs.load(Ordering::Relaxed),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            counters.late.load(Ordering::Relaxed),
            plan.pong_deadline.as_secs_f64(),
            counters.failed.load(Ordering::Relaxed),
            self.good.len(),
            counters.pushes.load(Ordering::Relaxed),
        );
        let mib = |kib: u64| kib as f64 / 1024.0;
        let grown = self.rss_end_kib.saturating_sub(self.rss_start_kib);
        let _ = writeln!(
            out,
            "\nServer RSS: before any hostile client {:.1} MiB; start ({}) {:.1} MiB, peak {:.1} MiB, \
             end (settled) {:.1} MiB: end − start {:+.1} MiB (bound +{} MiB), {:.0} bytes per episode of the {} since the start.",
            mib(self.rss_cold_kib),
            if plan.warmup.is_zero() { "no warm-up" } else { "after the warm-up, settled" },
            mib(self.rss_start_kib),
            mib(self.rss_peak_kib),
            mib(self.rss_end_kib),
            mib(self.rss_end_kib) - mib(self.rss_start_kib),
            plan.rss_bound_mib,
            (grown * 1024) as f64 / (episodes - self.warmup_episodes).max(1) as f64,
            episodes - self.warmup_episodes,
        );
        let hostile_listed = self.online.iter().filter(|id| id.starts_with("hostile-")).count();
        let _ = writeln!(
            out,
            "\nPresence on /user: {} listed, {} expected (the well-behaved sockets still connected, or a fresh one when none is), {} hostile listed: {}.",
            self.online.len(),
            self.expected_online.len(),
            hostile_listed,
            if self.online == self.expected_online { "exact" } else { "MISMATCH" }
        );
        let _ = writeln!(
            out,
            "\nAfterwards: fresh connect and ping/pong, a /vendor presence check, and {} fresh connects {}.",
            plan.burst,
            match self.burst_elapsed {
                Some(elapsed) => format!("in {:.0} ms", elapsed.as_secs_f64() * 1e3),
                None => "FAILED".to_owned(),
            }
        );
        let count = |key: &str| self.log_lines.get(key).copied().unwrap_or_default();
        let _ = writeln!(
            out,
            "\nServer log ({}): {} lines, {} ERROR, {} WARN, {} INFO, {} with `panicked`.",
            self.log_path.display(),
            count("lines"),
            count("ERROR"),
            count("WARN"),
            count("INFO"),
            count("panicked")
        );
        for line in &self.log_errors {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "\nBehaviours:\n");
        for (behaviour, _) in Behaviour::ALL.iter().filter(|(behaviour, _)| self.tallies.contains_key(behaviour)) {
            let _ = writeln!(out, "- `{}`: {}", behaviour.name(), behaviour.doc());
        }
        out
    }
}
