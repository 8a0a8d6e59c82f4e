//! The well-behaved clients: user sockets that read everything and send a `ping` every so
//! often, each of which must be answered with its `pong` in time, whatever the hostile clients
//! do meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::load::Client;

/// What every well-behaved client adds to, so progress can be shown while they run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) pings: AtomicU64,
    pub(crate) pongs: AtomicU64,
    /// `pong`s that came after the deadline, or not at all.
    pub(crate) late: AtomicU64,
    /// Clients whose connection ended, or that were sent something they should not have been.
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
    /// What went wrong, if anything did.
    pub(crate) failure: Option<String>,
}

/// Runs one well-behaved client until `stop` changes: a `ping` every `every` (one at a time),
/// each answered within `deadline`. Returns the client, when it is still connected.
pub(crate) async fn run(
    entity: String,
    mut client: Client,
    every: Duration,
    deadline: Duration,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) -> (Option<Client>, Report) {
    let mut report = Report { entity, ..Report::default() };
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The `ping` waiting for its `pong`: its number, when it was sent, whether it is counted late.
    let mut outstanding: Option<(u64, Instant, bool)> = None;
    let mut seq = 0u64;
    let mut stopping: Option<Instant> = None;
    let failed = |report: &mut Report, why: String| {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        report.failure.get_or_insert(why);
    };
    // Bounded: about `run time / every` pings plus what the server pushes.
    loop {
        if let Some(since) = stopping
            && (outstanding.is_none() || since.elapsed() > deadline)
        {
            break;
        }
        tokio::select! {
            biased;
            _ = stop.changed(), if stopping.is_none() => stopping = Some(Instant::now()),
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
                    Ok(Err(error)) => {
                        failed(&mut report, format!("send failed: {error}"));
                        return (None, report);
                    }
                    Err(_) => {
                        failed(&mut report, format!("a ping took longer than {deadline:?} to send"));
                        return (None, report);
                    }
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
                            _ => failed(&mut report, format!("an unexpected pong: {}", text.as_str())),
                        },
                        Some("vendor.location") => {
                            counters.pushes.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => failed(&mut report, format!("unexpected: {}", super::wire::short(text.as_str()))),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map_or_else(
                        || "no code".to_owned(),
                        |frame| format!("{} {}", u16::from(frame.code), frame.reason.as_str()),
                    );
                    failed(&mut report, format!("closed by the server: {why}"));
                    return (None, report);
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    failed(&mut report, format!("read failed: {error}"));
                    return (None, report);
                }
                None => {
                    failed(&mut report, "the connection ended".to_owned());
                    return (None, report);
                }
            },
        }
    }
    if outstanding.is_some() {
        failed(&mut report, format!("no pong within {deadline:?} of the last ping"));
    }
    (Some(client), report)
}
