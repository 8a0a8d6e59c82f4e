//! The well-behaved clients: user sockets that read everything and send a `ping` every so
//! often, each of which must be answered with its `pong` in time, whatever the hostile clients
//! do meanwhile. One that is closed anyway counts a failure and connects again, so the server
//! keeps being checked for the whole soak.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use super::wire::short;
use crate::load::{self, Client};

/// What every well-behaved client adds to, so progress can be shown while they run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) pings: AtomicU64,
    pub(crate) pongs: AtomicU64,
    /// `pong`s that came after the deadline, or not at all.
    pub(crate) late: AtomicU64,
    /// Connections that ended, or were sent something they should not have been.
    pub(crate) failed: AtomicU64,
    /// `vendor.location` pushes received (the hostile vendors' fan-outs).
    pub(crate) pushes: AtomicU64,
}

/// How one well-behaved client did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Its entity.
    pub(crate) entity: String,
    /// Every `ping` → `pong` round trip.
    pub(crate) latencies: Vec<Duration>,
    /// What went wrong, and how often.
    pub(crate) failures: BTreeMap<String, u64>,
}

/// What one well-behaved client needs.
pub(crate) struct Setup {
    pub(crate) addr: SocketAddr,
    pub(crate) entity: String,
    pub(crate) token: String,
    /// How often it sends `ping`.
    pub(crate) every: Duration,
    /// How soon its `pong` must come.
    pub(crate) deadline: Duration,
    pub(crate) counters: Arc<Counters>,
}

/// Runs one well-behaved client on `client` until `stop` turns true, connecting again (after
/// 100 ms) whenever its connection fails. Returns its connection when it is still open.
pub(crate) async fn run(setup: Setup, client: Client, mut stop: watch::Receiver<bool>) -> (Option<Client>, Report) {
    let mut report = Report { entity: setup.entity.clone(), ..Report::default() };
    let mut client = Some(client);
    // Bounded by the soak's length: each round is a session or a failed connect, and a
    // failure waits 100 ms before the next.
    while !*stop.borrow() {
        let Some(mut open) = client.take() else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match tokio::time::timeout(load::WAIT, load::open(setup.addr, "/user", &setup.token)).await {
                Ok(Ok(open)) => client = Some(open),
                Ok(Err(error)) => fail(&setup, &mut report, format!("reconnect failed: {}", short(&error.to_string()))),
                Err(_) => fail(&setup, &mut report, "reconnect timed out".to_owned()),
            }
            continue;
        };
        match session(&setup, &mut open, &mut report, &mut stop).await {
            Ok(()) => client = Some(open),
            Err(why) => fail(&setup, &mut report, why),
        }
    }
    (client, report)
}

fn fail(setup: &Setup, report: &mut Report, why: String) {
    setup.counters.failed.fetch_add(1, Ordering::Relaxed);
    *report.failures.entry(why).or_default() += 1;
}

/// Pings on `client` until `stop` turns true (`Ok`) or the connection fails (`Err`, why).
async fn session(
    setup: &Setup,
    client: &mut Client,
    report: &mut Report,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let (deadline, counters) = (setup.deadline, &setup.counters);
    let mut ticker = tokio::time::interval(setup.every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The `ping` waiting for its `pong`: its number, when it was sent, whether it is counted late.
    let mut outstanding: Option<(u64, Instant, bool)> = None;
    let mut seq = 0u64;
    let mut stopping: Option<Instant> = None;
    // Bounded: about `run time / every` pings plus what the server pushes.
    loop {
        if stopping.is_none() && *stop.borrow_and_update() {
            stopping = Some(Instant::now());
        }
        if let Some(since) = stopping {
            match outstanding {
                None => return Ok(()),
                Some(_) if since.elapsed() > deadline => {
                    return Err(format!("no pong within {deadline:?} of the last ping"));
                }
                Some(_) => {}
            }
        }
        tokio::select! {
            biased;
            _ = stop.changed(), if stopping.is_none() => {}
            _ = ticker.tick(), if stopping.is_none() => {
                if let Some((_, sent, counted)) = &mut outstanding {
                    if !*counted && sent.elapsed() > deadline {
                        *counted = true;
                        counters.late.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                seq += 1;
                let ping = Message::text(format!(r#"{{"event":"ping","data":{seq}}}"#));
                let sent = Instant::now();
                match tokio::time::timeout(deadline, client.send(ping)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => return Err(format!("send failed: {}", short(&error.to_string()))),
                    Err(_) => return Err(format!("a ping took longer than {deadline:?} to send")),
                }
                counters.pings.fetch_add(1, Ordering::Relaxed);
                outstanding = Some((seq, sent, false));
            }
            _ = tokio::time::sleep(deadline), if stopping.is_some() => {}
            message = client.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let envelope: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    match envelope["event"].as_str() {
                        Some("pong") => match outstanding {
                            Some((number, sent, counted)) if envelope["data"] == number => {
                                let latency = sent.elapsed();
                                report.latencies.push(latency);
                                counters.pongs.fetch_add(1, Ordering::Relaxed);
                                if latency > deadline && !counted {
                                    counters.late.fetch_add(1, Ordering::Relaxed);
                                }
                                outstanding = None;
                            }
                            _ => return Err(format!("an unexpected pong: {}", short(text.as_str()))),
                        },
                        Some("vendor.location") => {
                            counters.pushes.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => return Err(format!("unexpected: {}", short(text.as_str()))),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map_or_else(
                        || "no code".to_owned(),
                        |frame| format!("{} {}", u16::from(frame.code), frame.reason.as_str()),
                    );
                    return Err(format!("closed by the server: {why}"));
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(format!("read failed: {}", short(&error.to_string()))),
                None => return Err("the connection ended".to_owned()),
            },
        }
    }
}
