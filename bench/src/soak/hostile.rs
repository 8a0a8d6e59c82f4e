//! The hostile behaviours: each opens one connection (a fresh entity each time), misbehaves in
//! its own way, and reports how the connection ended and what the server sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::wire::{
    Outcome, Replies, Rng, connect, finish, frame, masked, note, op, outcome_of, read_to_end, reply_to, send,
    send_within, short, sign, unix_now, write_raw,
};
use crate::load::Client;

/// A secret the server does not know, long enough to be a valid HS256 key.
const OTHER_SECRET: &str = "venta-ws-soak-a-secret-the-server-does-not-know";

/// The server's message size limit (the example keeps the default).
const LIMIT: usize = 64 * 1024;

/// The server's clock leeway for tokens (`JwtConfig`'s default, which the example keeps).
const LEEWAY_SECS: u64 = 5;

/// The `expiresAt` the server announced for a token expiring at `exp`, when it is one it may
/// announce: the token's `exp`, or up to the leeway after it (a server may hold a socket to
/// `exp` plus its leeway, as it admits tokens up to then).
fn announced(expires_at: &serde_json::Value, exp: u64) -> Option<u64> {
    expires_at.as_u64().filter(|at| (exp..=exp + LEEWAY_SECS).contains(at))
}

/// What every episode needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The server.
    pub(crate) addr: SocketAddr,
    /// The secret the server verifies tokens with.
    pub(crate) secret: &'static str,
    /// When the hostile phase ends: stalls are cut short so they end before it.
    pub(crate) end: Instant,
}

impl Ctx {
    /// A token for `entity` of `kind`, valid for an hour.
    fn token(&self, entity: &str, kind: &str) -> Result<String, Outcome> {
        self.token_until(entity, kind, unix_now() + 3600)
    }

    fn token_until(&self, entity: &str, kind: &str, exp: u64) -> Result<String, Outcome> {
        sign(self.secret, entity, kind, exp).map_err(|error| Outcome::Error(error.to_string()))
    }

    /// A user socket for `entity` with an hour-long token.
    async fn user(&self, entity: &str) -> Result<Client, Outcome> {
        connect(self.addr, "/user", Some(&self.token(entity, "user")?)).await
    }

    /// `wanted`, or less so that it ends a second before the hostile phase does.
    fn bounded(&self, wanted: Duration) -> Duration {
        wanted.min(self.end.saturating_duration_since(Instant::now()).saturating_sub(Duration::from_secs(1)))
    }
}

/// How one episode went.
#[derive(Debug, Default)]
pub(crate) struct Episode {
    /// How the connection ended.
    pub(crate) outcome: Option<Outcome>,
    /// What the server sent.
    pub(crate) replies: Replies,
}

macro_rules! behaviours {
    ($($variant:ident = $name:literal, weight $weight:literal: $doc:literal;)*) => {
        /// One hostile behaviour.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) enum Behaviour {
            $(#[doc = $doc] $variant,)*
        }

        impl Behaviour {
            /// Every behaviour with its weight in the mix.
            pub(crate) const ALL: &[(Behaviour, u64)] = &[$((Behaviour::$variant, $weight),)*];

            /// The name shown in the summary.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// What the behaviour does, for the summary.
            pub(crate) fn doc(self) -> &'static str {
                match self { $(Self::$variant => $doc,)* }
            }
        }
    };
}

behaviours! {
    FloodText = "flood-text", weight 3: "`ping` envelopes as fast as the socket takes them, replies read";
    FloodBinary = "flood-binary", weight 3: "binary frames of 1 B to 2 KiB as fast as possible, replies read";
    FloodPings = "flood-pings", weight 3: "125-byte WebSocket pings as fast as possible, replies read";
    FloodPingsUnread = "flood-pings-unread", weight 3: "125-byte pings, nothing read until the sends stop, then 0-3 s of stall";
    FloodPongs = "flood-pongs", weight 3: "unsolicited pongs as fast as possible, replies read";
    PacedMix = "paced-mix", weight 2: "every frame kind at 50/s (under the rate limit) for 1-4 s, then a close";
    OddEvents = "odd-events", weight 2: "unknown events: 60 KiB names, newlines, control characters, reserved and non-string names";
    BadJson = "bad-json", weight 2: "malformed envelopes: truncated, trailing garbage, 60,000-deep nesting, wrong types";
    StallReading = "stall-reading", weight 2: "48 KiB `ping`s (48 KiB replies) never read until sends block, 0-8 s of stall, then read";
    StallPending = "stall-pending", weight 1: "2-12 48 KiB `ping`s, then neither reading nor writing for 5-50 s";
    StallSilent = "stall-silent", weight 1: "connected, then neither reading nor writing for 5-50 s";
    SlowHandshake = "slow-handshake", weight 1: "an HTTP upgrade request that never ends (all at once, or a byte a second)";
    ResetMidFrame = "reset-mid-frame", weight 3: "a frame cut off in its header or payload, then a TCP reset or FIN";
    DropWithoutClose = "drop-without-close", weight 3: "a few round trips, maybe a request in flight, then a reset or FIN without a close frame";
    Oversized = "oversized", weight 2: "one text or binary message of 64 KiB to 200 KiB";
    OversizedFragments = "oversized-fragments", weight 2: "fragments adding up past 64 KiB, or a header announcing 1 TiB";
    InvalidUtf8 = "invalid-utf8", weight 2: "text frames (whole, fragmented, close reasons) that are not UTF-8";
    ProtocolViolation = "protocol-violation", weight 3: "reserved bits or opcodes, unmasked, fragmented or long control frames, stray continuations, bad close codes";
    RefreshValid = "refresh-valid", weight 2: "`auth.refresh` with a fresh token of the same entity";
    RefreshInvalid = "refresh-invalid", weight 2: "`auth.refresh` with garbage, a foreign signature or `alg: none`";
    RefreshOtherEntity = "refresh-other-entity", weight 2: "`auth.refresh` with a valid token of another entity";
    RefreshExpired = "refresh-expired", weight 2: "`auth.refresh` with a token expired two minutes ago";
    ShortLived = "short-lived", weight 1: "a token that expires 2-8 s after the connect, never refreshed";
    ShortLivedRefreshed = "short-lived-refreshed", weight 1: "a 2-4 s token refreshed once with a 7-10 s one, then left to expire";
    BadToken = "bad-token", weight 2: "connects with no, garbage, foreign, expired or `alg: none` tokens";
    VendorUpdates = "vendor-updates", weight 1: "a vendor's `location.update`s (fanned out to every user socket): 20-50/s for 1-3 s, or a flood past the rate limit";
    CloseDuringPushes = "close-during-pushes", weight 1: "a user closes (1000) while a vendor of its own pushes 150 updates to every user socket";
    VendorBurst = "vendor-burst", weight 1: "a vendor's 200 `location.update`s at once (the rate limit's burst, never past it), then a close";
}

impl Behaviour {
    /// The behaviour called `name`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().map(|(behaviour, _)| *behaviour).find(|behaviour| behaviour.name() == name)
    }

    /// Picks one of `mix` by weight.
    pub(crate) fn pick(mix: &[(Self, u64)], rng: &mut Rng) -> Self {
        let total: u64 = mix.iter().map(|(_, weight)| weight).sum();
        let mut at = rng.range(0, total - 1);
        for (behaviour, weight) in mix {
            if at < *weight {
                return *behaviour;
            }
            at -= weight;
        }
        mix[0].0
    }

    /// Whether `outcome` is how this behaviour may end against a correct server. Stalls may
    /// end in a reset or an EOF: the server gives a client that does not take its close frame
    /// `close_timeout` and then drops the connection.
    pub(crate) fn expects(self, outcome: &Outcome) -> bool {
        use Outcome::{ClientClosed, Closed, Dropped, Eof, HandshakeDropped, Refused, Reset};
        match self {
            Self::FloodText | Self::FloodBinary | Self::FloodPings | Self::FloodPongs => {
                matches!(outcome, Closed(1008, _))
            }
            Self::FloodPingsUnread => matches!(outcome, Closed(1008 | 4429, _) | Reset | Eof),
            Self::PacedMix | Self::OddEvents | Self::BadJson => matches!(outcome, ClientClosed),
            Self::StallReading | Self::StallPending | Self::StallSilent => {
                matches!(outcome, Closed(1008 | 4429, _) | ClientClosed | Reset | Eof)
            }
            Self::SlowHandshake => matches!(outcome, HandshakeDropped),
            Self::ResetMidFrame | Self::DropWithoutClose => matches!(outcome, Dropped),
            Self::Oversized | Self::OversizedFragments => matches!(outcome, Closed(1009, _)),
            Self::InvalidUtf8 => matches!(outcome, Closed(1007, _)),
            Self::ProtocolViolation => matches!(outcome, Closed(1002, _)),
            Self::RefreshValid | Self::RefreshInvalid | Self::RefreshOtherEntity | Self::RefreshExpired => {
                matches!(outcome, ClientClosed)
            }
            Self::ShortLived | Self::ShortLivedRefreshed => matches!(outcome, Closed(4408, _)),
            Self::BadToken => matches!(outcome, Closed(4401, _) | Refused(401)),
            Self::VendorUpdates => matches!(outcome, ClientClosed | Closed(1008, _)),
            Self::VendorBurst | Self::CloseDuringPushes => matches!(outcome, ClientClosed),
        }
    }

    /// Runs one episode as `entity`.
    pub(crate) async fn run(self, ctx: &Ctx, entity: &str, rng: &mut Rng) -> Episode {
        let mut episode = Episode::default();
        let replies = &mut episode.replies;
        let outcome = match self {
            Self::FloodText => flood(ctx, entity, 1000, None, replies, |seq| {
                Message::text(format!(r#"{{"event":"ping","data":{seq},"id":{seq}}}"#))
            })
            .await
            .unwrap_or_else(|ended| ended),
            Self::FloodBinary => {
                let size = rng.range(1, 2048) as usize;
                flood(ctx, entity, 1000, None, replies, |seq| Message::binary(vec![seq as u8; size]))
                    .await
                    .unwrap_or_else(|ended| ended)
            }
            Self::FloodPings => {
                flood(ctx, entity, 1000, None, replies, |seq| Message::Ping(vec![seq as u8; 125].into()))
                    .await
                    .unwrap_or_else(|ended| ended)
            }
            Self::FloodPongs => {
                let size = rng.range(0, 125) as usize;
                flood(ctx, entity, 1000, None, replies, |seq| Message::Pong(vec![seq as u8; size].into()))
                    .await
                    .unwrap_or_else(|ended| ended)
            }
            Self::FloodPingsUnread => flood_pings_unread(ctx, entity, rng, replies).await,
            Self::PacedMix => paced_mix(ctx, entity, rng, replies).await,
            Self::OddEvents => paced_list(ctx, entity, odd_events(), rng, replies).await,
            Self::BadJson => paced_list(ctx, entity, bad_json(), rng, replies).await,
            Self::StallReading => stall_reading(ctx, entity, rng, replies).await,
            Self::StallPending => {
                let pending = rng.range(2, 12);
                stall(ctx, entity, pending, rng, replies).await
            }
            Self::StallSilent => stall(ctx, entity, 0, rng, replies).await,
            Self::SlowHandshake => slow_handshake(ctx, rng).await,
            Self::ResetMidFrame => reset_mid_frame(ctx, entity, rng, replies).await,
            Self::DropWithoutClose => drop_without_close(ctx, entity, rng, replies).await,
            Self::Oversized => oversized(ctx, entity, rng, replies).await,
            Self::OversizedFragments => raw_then_read(ctx, entity, oversized_fragments(rng), replies).await,
            Self::InvalidUtf8 => raw_then_read(ctx, entity, invalid_utf8(rng), replies).await,
            Self::ProtocolViolation => raw_then_read(ctx, entity, protocol_violation(rng), replies).await,
            Self::RefreshValid | Self::RefreshInvalid | Self::RefreshOtherEntity | Self::RefreshExpired => {
                refresh(self, ctx, entity, rng, replies).await
            }
            Self::ShortLived => short_lived(ctx, entity, rng, false, replies).await,
            Self::ShortLivedRefreshed => short_lived(ctx, entity, rng, true, replies).await,
            Self::BadToken => bad_token(ctx, entity, rng, replies).await,
            Self::VendorUpdates => vendor_updates(ctx, entity, rng, false, replies).await,
            Self::VendorBurst => vendor_updates(ctx, entity, rng, true, replies).await,
            Self::CloseDuringPushes => close_during_pushes(ctx, entity, rng, replies).await,
        };
        episode.outcome = Some(outcome);
        episode
    }
}

fn bye() -> Message {
    Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "bye".into() }))
}

/// Sends up to `count` frames made by `next`, `pace` apart (as fast as possible without),
/// while reading every reply; closes with 1000 once all are sent. How the connection ended.
async fn flood(
    ctx: &Ctx,
    entity: &str,
    count: u64,
    pace: Option<Duration>,
    replies: &mut Replies,
    next: impl FnMut(u64) -> Message + Send,
) -> Result<Outcome, Outcome> {
    let client = ctx.user(entity).await?;
    Ok(flood_on(client, count, pace, replies, next).await)
}

async fn flood_on(
    client: Client,
    count: u64,
    pace: Option<Duration>,
    replies: &mut Replies,
    mut next: impl FnMut(u64) -> Message + Send,
) -> Outcome {
    let (mut sink, mut stream) = client.split();
    let closing = AtomicBool::new(false);
    let writer = async {
        for seq in 0..count {
            if let Some(pace) = pace {
                tokio::time::sleep(pace).await;
            }
            // An error means the server is closing; a send that blocks, that it stopped reading.
            if !matches!(tokio::time::timeout(Duration::from_secs(1), sink.send(next(seq))).await, Ok(Ok(()))) {
                return;
            }
        }
        closing.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(bye())).await;
    };
    let reader = async {
        let until = Instant::now() + Duration::from_secs(20);
        let mut ended = None;
        loop {
            match tokio::time::timeout_at(until, stream.next()).await {
                Err(_) => return ended.unwrap_or(Outcome::StillOpen),
                Ok(None) => return ended.unwrap_or(Outcome::Eof),
                Ok(Some(Err(error))) => return ended.unwrap_or_else(|| outcome_of(&error)),
                Ok(Some(Ok(message))) => {
                    if let Some(outcome) = note(&message, replies)
                        && ended.is_none()
                    {
                        let ours = closing.load(Ordering::SeqCst) && matches!(outcome, Outcome::Closed(1000, _));
                        ended = Some(if ours { Outcome::ClientClosed } else { outcome });
                    }
                }
            }
        }
    };
    let ((), outcome) = tokio::join!(writer, reader);
    outcome
}

async fn flood_pings_unread(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let started = Instant::now();
    for _ in 0..5000 {
        match send_within(&mut client, Message::Ping(vec![b'p'; 125].into()), Duration::from_millis(500)).await {
            Ok(true) if started.elapsed() < Duration::from_secs(5) => {}
            Ok(_) | Err(_) => break,
        }
    }
    tokio::time::sleep(ctx.bounded(rng.millis(0, 3000))).await;
    read_to_end(&mut client, Duration::from_secs(15), replies).await
}

async fn paced_mix(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let count = rng.range(50, 200);
    let size = rng.range(1, 1024) as usize;
    flood_on(client, count, Some(Duration::from_millis(20)), replies, move |seq| match seq % 8 {
        0 => Message::text(format!(r#"{{"event":"ping","data":{seq},"id":{seq}}}"#)),
        1 => Message::binary(vec![seq as u8; size]),
        2 => Message::Ping(vec![1; 16].into()),
        3 => Message::Pong(vec![2; 16].into()),
        4 => Message::text(format!(r#"{{"event":"no.such.event","data":{seq},"id":{seq}}}"#)),
        5 => Message::text(format!(r#"{{"event":"presence.online","id":{seq}}}"#)),
        6 => Message::text(format!(r#"{{"event":"location.update","data":{{"lat":10.5,"lng":20.25}},"id":{seq}}}"#)),
        _ => Message::text(format!(r#"{{"event":"location.update","data":{{"lat":1000,"lng":0}},"id":{seq}}}"#)),
    })
    .await
}

/// Envelopes whose event names no gateway has, some of them not names at all.
fn odd_events() -> Vec<String> {
    let named = |name: &str| json!({"event": name, "data": 1, "id": 7}).to_string();
    vec![
        named(&"e".repeat(60_000)),
        named("line one\nline two\r\nline three"),
        named(&"\n".repeat(10_000)),
        named("\u{1b}[31mred\u{1b}[0m\u{0}\u{7}\u{8}"),
        named("\u{202e}gnirts desrever\u{200b}\u{feff}"),
        named("error"),
        named("auth.expiring"),
        named(""),
        named("ping "),
        named(&".".repeat(300)),
        // Not JSON: a raw newline inside a string.
        "{\"event\":\"a\nb\",\"data\":1}".to_owned(),
        json!({"event": 5, "data": 1}).to_string(),
        json!({"event": null}).to_string(),
        json!({"event": ["ping"], "data": 1}).to_string(),
        json!({"event": {"name": "ping"}}).to_string(),
        json!({"event": "nope", "id": "\n\u{1b}[2J"}).to_string(),
        json!({"event": "nope", "id": -1}).to_string(),
        json!({"event": "nope", "id": 1.5e300}).to_string(),
    ]
}

/// Frames that are not envelopes, or envelopes with the wrong shapes.
fn bad_json() -> Vec<String> {
    let deep = |depth: usize| format!(r#"{{"event":"ping","data":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    vec![
        String::new(),
        "{".to_owned(),
        "}".to_owned(),
        "not json".to_owned(),
        "[1,2".to_owned(),
        r#"{"event":}"#.to_owned(),
        "null".to_owned(),
        r#""ping""#.to_owned(),
        r#"{"event":"ping","data":"#.to_owned(),
        r#"{"event":"ping","data":1} trailing"#.to_owned(),
        r#"{"event":"ping","event":"pong","data":1}"#.to_owned(),
        "\u{feff}{\"event\":\"ping\",\"data\":1}".to_owned(),
        deep(200),
        // Unclosed: 60,000 brackets deep and never closed.
        format!(r#"{{"event":"ping","data":{}"#, "[".repeat(60_000)),
        deep(30_000),
        format!(r#"{{"event":"ping","data":{}}}"#, "{\"a\":".repeat(10_000)),
        r#"{"event":"location.update","data":{"lat":1e999,"lng":0},"id":1}"#.to_owned(),
        r#"{"event":"location.update","data":{"lat":"north","lng":0},"id":2}"#.to_owned(),
        r#"{"event":"location.update","data":[1,2],"id":3}"#.to_owned(),
        r#"{"event":"vendor.location","data":{"x":1},"id":4}"#.to_owned(),
        r#"{"event":"ping","data":123456789012345678901234567890,"id":5}"#.to_owned(),
    ]
}

/// Sends `frames` in random order, 20 a second for 1-3 s, reading replies; then closes.
async fn paced_list(ctx: &Ctx, entity: &str, frames: Vec<String>, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let count = rng.range(20, 60);
    let order: Vec<usize> = (0..count).map(|_| rng.range(0, frames.len() as u64 - 1) as usize).collect();
    flood_on(client, count, Some(Duration::from_millis(50)), replies, move |seq| {
        Message::text(frames[order[seq as usize]].clone())
    })
    .await
}

/// A `ping` whose `pong` is as large: 48 KiB.
fn big_ping() -> Message {
    Message::text(json!({"event": "ping", "data": "x".repeat(48 * 1024)}).to_string())
}

async fn stall_reading(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    for _ in 0..400 {
        match send_within(&mut client, big_ping(), Duration::from_millis(500)).await {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    tokio::time::sleep(ctx.bounded(rng.millis(0, 8000))).await;
    finish(&mut client, Duration::from_secs(2), replies).await
}

async fn stall(ctx: &Ctx, entity: &str, pending: u64, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    for _ in 0..pending {
        if !matches!(send_within(&mut client, big_ping(), Duration::from_millis(500)).await, Ok(true)) {
            break;
        }
    }
    tokio::time::sleep(ctx.bounded(rng.millis(5000, 50_000))).await;
    finish(&mut client, Duration::from_secs(2), replies).await
}

async fn slow_handshake(ctx: &Ctx, rng: &mut Rng) -> Outcome {
    let Ok(mut stream) = TcpStream::connect(ctx.addr).await else {
        return Outcome::ConnectFailed("TCP connect".into());
    };
    let request = format!(
        "GET /user HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        ctx.addr
    );
    let started = Instant::now();
    let mut buffer = [0; 512];
    let trickle = rng.one_in(2);
    let answered = async {
        if trickle {
            for byte in request.as_bytes().iter().cycle().take(30) {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                // Nothing to read yet means the server still waits; keep trickling.
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
                    Err(_) => {}
                    Ok(read) => return read,
                }
            }
        } else if stream.write_all(request.as_bytes()).await.is_err() {
            return Ok(0);
        }
        stream.read(&mut buffer).await
    };
    match tokio::time::timeout(Duration::from_secs(20), answered).await {
        Err(_) => Outcome::StillOpen,
        Ok(Ok(0) | Err(_)) if started.elapsed() < Duration::from_secs(9) => Outcome::Wrong(format!(
            "dropped after {:.1} s, before the 10 s handshake deadline",
            started.elapsed().as_secs_f64()
        )),
        Ok(Ok(0) | Err(_)) => Outcome::HandshakeDropped,
        Ok(Ok(read)) => Outcome::Wrong(format!(
            "answered an unfinished request: {:?}",
            String::from_utf8_lossy(&buffer[..read.min(40)])
        )),
    }
}

/// Drops `client` with a reset (`SO_LINGER` 0) or a FIN.
fn drop_connection(client: Client, reset: bool) {
    if reset {
        let _ = client.get_ref().set_zero_linger();
    }
    drop(client);
}

async fn reset_mid_frame(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    if rng.one_in(2)
        && let Err(outcome) = round_trip(&mut client, 1, replies).await
    {
        return outcome;
    }
    let declared = rng.range(2, 60_000);
    let whole = frame(true, 0, op::TEXT, Some(rng.mask()), declared, &vec![b'x'; declared as usize]);
    // Cut anywhere from inside the header to one byte short of the end.
    let cut = rng.range(1, whole.len() as u64 - 1) as usize;
    if let Err(outcome) = write_raw(&mut client, &whole[..cut]).await {
        return outcome;
    }
    drop_connection(client, rng.one_in(2));
    Outcome::Dropped
}

/// `ping` → `pong`, checked.
async fn round_trip(client: &mut Client, seq: u64, replies: &mut Replies) -> Result<(), Outcome> {
    send(client, Message::text(format!(r#"{{"event":"ping","data":{seq}}}"#))).await?;
    let pong = reply_to(client, "pong", Duration::from_secs(10), replies).await?;
    if pong != json!({"event": "pong", "data": seq}) {
        return Err(Outcome::Wrong(format!("`ping` answered with {}", short(&pong.to_string()))));
    }
    Ok(())
}

async fn drop_without_close(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    for seq in 0..rng.range(1, 3) {
        if let Err(outcome) = round_trip(&mut client, seq, replies).await {
            return outcome;
        }
    }
    if rng.one_in(2) {
        let request = Message::text(r#"{"event":"presence.online","id":9}"#);
        if let Err(outcome) = send(&mut client, request).await {
            return outcome;
        }
    }
    drop_connection(client, rng.one_in(2));
    Outcome::Dropped
}

async fn oversized(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let size = rng.range(LIMIT as u64 + 1, 200 * 1024) as usize;
    let message = if rng.one_in(2) {
        Message::text(json!({"event": "ping", "data": "x".repeat(size)}).to_string())
    } else {
        Message::binary(vec![7; size])
    };
    // The server may close before it has read the whole message: the send may fail.
    let _ = send_within(&mut client, message, Duration::from_secs(5)).await;
    read_to_end(&mut client, Duration::from_secs(15), replies).await
}

/// Connects, writes `bytes` past the WebSocket library, and reads how the server answers.
async fn raw_then_read(ctx: &Ctx, entity: &str, bytes: Vec<u8>, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    // The server may close before it has read everything: a failed write is not the outcome.
    let _ = write_raw(&mut client, &bytes).await;
    read_to_end(&mut client, Duration::from_secs(15), replies).await
}

fn oversized_fragments(rng: &mut Rng) -> Vec<u8> {
    match rng.range(0, 2) {
        0 => {
            let mut bytes = masked(false, op::TEXT, rng, &[b'x'; 40 * 1024]);
            bytes.extend(masked(false, op::CONTINUATION, rng, &[b'x'; 40 * 1024]));
            bytes.extend(masked(true, op::CONTINUATION, rng, b"x"));
            bytes
        }
        1 => {
            let mut bytes = masked(false, op::BINARY, rng, &[1; 1024]);
            for _ in 0..98 {
                bytes.extend(masked(false, op::CONTINUATION, rng, &[1; 1024]));
            }
            bytes.extend(masked(true, op::CONTINUATION, rng, &[1; 1024]));
            bytes
        }
        _ => frame(true, 0, op::BINARY, Some(rng.mask()), 1 << 40, &[0; 1024]),
    }
}

fn invalid_utf8(rng: &mut Rng) -> Vec<u8> {
    let invalid: &[&[u8]] = &[
        &[0xff],
        &[b'{', 0xc0, 0xaf, b'}'],
        &[0xed, 0xa0, 0x80],
        &[b'a', b'b', 0xe2, 0x82],
        &[0xf4, 0x90, 0x80, 0x80],
    ];
    let bad = *rng.pick(invalid);
    match rng.range(0, 2) {
        0 => masked(true, op::TEXT, rng, bad),
        1 => {
            let mut bytes = masked(false, op::TEXT, rng, b"{\"event\":\"ping\",\"data\":\"");
            bytes.extend(masked(true, op::CONTINUATION, rng, bad));
            bytes
        }
        _ => {
            let mut payload = 1000u16.to_be_bytes().to_vec();
            payload.extend_from_slice(bad);
            masked(true, op::CLOSE, rng, &payload)
        }
    }
}

fn protocol_violation(rng: &mut Rng) -> Vec<u8> {
    let ping = br#"{"event":"ping","data":1}"#;
    match rng.range(0, 8) {
        0 => {
            let rsv = rng.range(1, 7) as u8;
            frame(true, rsv, op::TEXT, Some(rng.mask()), ping.len() as u64, ping)
        }
        1 => frame(true, 0, op::TEXT, None, ping.len() as u64, ping),
        2 => masked(false, op::PING, rng, b"fragmented ping"),
        3 => masked(true, op::PING, rng, &[b'p'; 126]),
        4 => {
            let opcode = *rng.pick(&[0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]);
            masked(true, opcode, rng, b"?")
        }
        5 => masked(true, op::CONTINUATION, rng, b"stray continuation"),
        6 => {
            let mut bytes = masked(false, op::TEXT, rng, b"{\"event\":");
            bytes.extend(masked(true, op::TEXT, rng, ping));
            bytes
        }
        7 => masked(true, op::CLOSE, rng, &[0x03]),
        _ => {
            let code: u16 = *rng.pick(&[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]);
            masked(true, op::CLOSE, rng, &code.to_be_bytes())
        }
    }
}

/// `header.payload.` of an unsigned token (`alg: none`) for `sub`.
fn unsigned_token(sub: &str) -> String {
    use base64_url as b64;
    let header = b64::encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = b64::encode(json!({"sub": sub, "kind": "user", "exp": unix_now() + 3600}).to_string().as_bytes());
    format!("{header}.{claims}.")
}

/// Unpadded base64url, for hand-made tokens.
mod base64_url {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub(super) fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let word =
                chunk.iter().enumerate().fold(0u32, |word, (index, byte)| word | u32::from(*byte) << (16 - 8 * index));
            for index in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(word >> (18 - 6 * index) & 0x3f) as usize]));
            }
        }
        out
    }

    #[cfg(test)]
    #[test]
    fn encodes_as_rfc_4648_url_without_padding() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg");
        assert_eq!(encode(b"fo"), "Zm8");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"foob"), "Zm9vYg");
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
    }
}

async fn refresh(behaviour: Behaviour, ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut client = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = round_trip(&mut client, 1, replies).await {
        return outcome;
    }
    let exp = unix_now() + rng.range(600, 7200);
    let token = match behaviour {
        Behaviour::RefreshValid => ctx.token_until(entity, "user", exp),
        Behaviour::RefreshOtherEntity => ctx.token_until(&format!("{entity}-other"), "user", exp),
        Behaviour::RefreshExpired => ctx.token_until(entity, "user", unix_now() - 120),
        _ => match rng.range(0, 3) {
            0 => Ok("garbage".to_owned()),
            1 => Ok("a.b.c".to_owned()),
            2 => sign(OTHER_SECRET, entity, "user", exp).map_err(|error| Outcome::Error(error.to_string())),
            _ => Ok(unsigned_token(entity)),
        },
    };
    let token = match token {
        Ok(token) => token,
        Err(outcome) => return outcome,
    };
    let request = json!({"event": "auth.refresh", "data": token, "id": 1}).to_string();
    if let Err(outcome) = send(&mut client, Message::text(request)).await {
        return outcome;
    }
    let reply = match reply_to(&mut client, "auth.refresh", Duration::from_secs(10), replies).await {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    let right = match behaviour {
        Behaviour::RefreshValid => {
            reply["event"] == "auth.refresh"
                && reply["id"] == 1
                && announced(&reply["data"]["expiresAt"], exp).is_some()
        }
        _ => reply["data"]["code"] == "refresh_rejected" && reply["id"] == 1,
    };
    if !right {
        return Outcome::Wrong(format!("refresh answered {}", short(&reply.to_string())));
    }
    if let Err(outcome) = round_trip(&mut client, 2, replies).await {
        return outcome;
    }
    finish(&mut client, Duration::from_millis(100), replies).await
}

async fn short_lived(ctx: &Ctx, entity: &str, rng: &mut Rng, refresh: bool, replies: &mut Replies) -> Outcome {
    let first = unix_now() + if refresh { rng.range(2, 4) } else { rng.range(2, 8) };
    let token = match ctx.token_until(entity, "user", first) {
        Ok(token) => token,
        Err(outcome) => return outcome,
    };
    let mut client = match connect(ctx.addr, "/user", Some(&token)).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    // When the server said it would close the socket.
    let mut expiry = match reply_to(&mut client, "auth.expiring", Duration::from_secs(10), replies).await {
        Ok(warning) => match announced(&warning["data"]["expiresAt"], first) {
            Some(at) if warning["event"] == "auth.expiring" => at,
            _ => return Outcome::Wrong(format!("expected auth.expiring, got {}", short(&warning.to_string()))),
        },
        Err(outcome) => return outcome,
    };
    if refresh {
        // At least 3 s past the first expiry, so a close at the first one shows.
        let exp = unix_now() + rng.range(7, 10);
        let token = match ctx.token_until(entity, "user", exp) {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        let request = json!({"event": "auth.refresh", "data": token, "id": 2}).to_string();
        if let Err(outcome) = send(&mut client, Message::text(request)).await {
            return outcome;
        }
        expiry = match reply_to(&mut client, "auth.refresh", Duration::from_secs(10), replies).await {
            Ok(reply) => match announced(&reply["data"]["expiresAt"], exp) {
                Some(at) if reply["event"] == "auth.refresh" => at,
                _ => return Outcome::Wrong(format!("refresh answered {}", short(&reply.to_string()))),
            },
            Err(outcome) => return outcome,
        };
    }
    let outcome = read_to_end(&mut client, Duration::from_secs(20), replies).await;
    let closed_at = unix_now();
    match outcome {
        // The server closes once the expiry is `<= now` in whole seconds; a second early is
        // the clock reading between two seconds.
        Outcome::Closed(4408, _) if closed_at + 1 < expiry => {
            Outcome::Wrong(format!("4408 {} s before the announced expiry", expiry - closed_at))
        }
        Outcome::Closed(4408, _) if closed_at > expiry + 3 => {
            Outcome::Wrong(format!("4408 {} s after the announced expiry", closed_at - expiry))
        }
        other => other,
    }
}

async fn bad_token(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let token = match rng.range(0, 4) {
        0 => None,
        1 => Some("garbage".to_owned()),
        2 => sign(OTHER_SECRET, entity, "user", unix_now() + 3600).ok(),
        3 => ctx.token_until(entity, "user", unix_now() - 120).ok(),
        _ => Some(unsigned_token(entity)),
    };
    let mut client = match connect(ctx.addr, "/user", token.as_deref()).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    read_to_end(&mut client, Duration::from_secs(15), replies).await
}

async fn vendor_updates(ctx: &Ctx, entity: &str, rng: &mut Rng, burst: bool, replies: &mut Replies) -> Outcome {
    let token = match ctx.token(entity, "vendor") {
        Ok(token) => token,
        Err(outcome) => return outcome,
    };
    let client = match connect(ctx.addr, "/vendor", Some(&token)).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let (count, pace) = if burst {
        (200, None)
    } else if rng.one_in(4) {
        (400, None)
    } else {
        let per_second = rng.range(20, 50);
        (rng.range(1, 3) * per_second, Some(Duration::from_millis(1000 / per_second)))
    };
    let lng = rng.range(0, 180) as f64;
    flood_on(client, count, pace, replies, move |seq| {
        let update = json!({"event": "location.update", "data": {"lat": 52.5, "lng": lng}, "id": seq});
        Message::text(update.to_string())
    })
    .await
}

async fn close_during_pushes(ctx: &Ctx, entity: &str, rng: &mut Rng, replies: &mut Replies) -> Outcome {
    let mut user = match ctx.user(entity).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let vendor_entity = format!("{entity}-vendor");
    let token = match ctx.token(&vendor_entity, "vendor") {
        Ok(token) => token,
        Err(outcome) => return outcome,
    };
    let mut vendor = match connect(ctx.addr, "/vendor", Some(&token)).await {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let updates = async {
        for seq in 0..150 {
            let update = json!({"event": "location.update", "data": {"lat": 1.5, "lng": 2.5}, "id": seq});
            vendor.feed(Message::text(update.to_string())).await?;
        }
        vendor.flush().await
    };
    match tokio::time::timeout(Duration::from_secs(10), updates).await {
        Err(_) => return Outcome::Error("the vendor's updates blocked for 10 s".into()),
        Ok(Err(error)) => return outcome_of(&error),
        Ok(Ok(())) => {}
    }
    tokio::time::sleep(rng.millis(0, 5)).await;
    let outcome = match send(&mut user, bye()).await {
        Err(outcome) => outcome,
        Ok(()) => match read_to_end(&mut user, Duration::from_secs(10), replies).await {
            Outcome::Closed(1000, _) => Outcome::ClientClosed,
            other => other,
        },
    };
    let _ = finish(&mut vendor, Duration::from_millis(100), &mut Replies::new()).await;
    outcome
}
