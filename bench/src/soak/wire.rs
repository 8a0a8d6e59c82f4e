//! What the soak's clients are made of: a seeded random source, tokens, frames written byte by
//! byte (for what a WebSocket library refuses to send), and the reading of what a socket ended
//! with.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::Error;
use crate::load::{self, Client};

/// A small seeded random source (SplitMix64): the same seed gives every slot the same choices.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    /// A duration in `low..=high` milliseconds.
    pub(crate) fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.range(low, high))
    }

    /// True one time in `n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }

    /// One of `items`.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    pub(crate) fn mask(&mut self) -> [u8; 4] {
        self.next_u64().to_le_bytes()[..4].try_into().unwrap_or([1, 2, 3, 4])
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// An HS256 token for `sub` of `kind` (`user` or `vendor`) expiring at `exp`, signed with
/// `secret`, as the example's identity provider signs them (`kind` is the example's claim for
/// which gateway a token is for; a server that does not read it ignores it).
pub(crate) fn sign(secret: &str, sub: &str, kind: &str, exp: u64) -> Result<String, Error> {
    let claims = json!({"sub": sub, "kind": kind, "iat": unix_now(), "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    Ok(jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)?)
}

/// Opens a socket to `path`, with `token` as `Authorization: Bearer` when there is one.
pub(crate) async fn connect(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<Client, Outcome> {
    let failed = |error: &dyn fmt::Display| Outcome::ConnectFailed(short(&error.to_string()));
    let stream = TcpStream::connect(addr).await.map_err(|error| failed(&error))?;
    stream.set_nodelay(true).map_err(|error| failed(&error))?;
    let mut request = format!("ws://{addr}{path}").into_client_request().map_err(|error| failed(&error))?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|error| failed(&error))?;
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    match tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::client_async_with_config(request, stream, Some(load::client_config())),
    )
    .await
    {
        Err(_) => Err(Outcome::ConnectFailed("no handshake response in 15 s".into())),
        Ok(Ok((client, _))) => Ok(client),
        Ok(Err(tungstenite::Error::Http(response))) => Err(Outcome::Refused(response.status().as_u16())),
        Ok(Err(error)) => Err(failed(&error)),
    }
}

/// A frame as a client puts it on the wire: `declared` is the payload length the header
/// announces, `payload` what follows it (shorter, for a frame cut off mid-way), masked with
/// `mask` when there is one (clients must mask; a server must refuse a frame that is not).
pub(crate) fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, declared: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload.len() + 14);
    bytes.push(u8::from(fin) << 7 | (rsv & 0b111) << 4 | (opcode & 0x0f));
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match declared {
        0..=125 => bytes.push(masked | declared as u8),
        126..=0xffff => {
            bytes.push(masked | 126);
            bytes.extend_from_slice(&(declared as u16).to_be_bytes());
        }
        _ => {
            bytes.push(masked | 127);
            bytes.extend_from_slice(&declared.to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            bytes.extend_from_slice(&key);
            bytes.extend(payload.iter().enumerate().map(|(index, byte)| byte ^ key[index % 4]));
        }
        None => bytes.extend_from_slice(payload),
    }
    bytes
}

/// A whole masked frame.
pub(crate) fn masked(fin: bool, opcode: u8, rng: &mut Rng, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, Some(rng.mask()), payload.len() as u64, payload)
}

/// Frame opcodes.
pub(crate) mod op {
    pub(crate) const CONTINUATION: u8 = 0x0;
    pub(crate) const TEXT: u8 = 0x1;
    pub(crate) const BINARY: u8 = 0x2;
    pub(crate) const CLOSE: u8 = 0x8;
    pub(crate) const PING: u8 = 0x9;
}

/// Writes `bytes` to the client's TCP stream, past the WebSocket library.
pub(crate) async fn write_raw(client: &mut Client, bytes: &[u8]) -> Result<(), Outcome> {
    match tokio::time::timeout(Duration::from_secs(5), client.flush()).await {
        Err(_) => return Err(Outcome::Error("a flush blocked for 5 s".into())),
        Ok(result) => result.map_err(|error| outcome_of(&error))?,
    }
    match tokio::time::timeout(Duration::from_secs(5), client.get_mut().write_all(bytes)).await {
        Err(_) => Err(Outcome::Error("a raw write blocked for 5 s".into())),
        Ok(Err(error)) => Err(io_outcome(&error)),
        Ok(Ok(())) => Ok(()),
    }
}

/// How a hostile client's connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Outcome {
    /// The server sent a close frame with this code and reason first.
    Closed(u16, String),
    /// The server sent a close frame without a code first.
    ClosedWithoutCode,
    /// The client closed and the server answered.
    ClientClosed,
    /// The TCP connection ended without a close frame.
    Eof,
    /// The TCP connection was reset.
    Reset,
    /// The client dropped the connection on purpose (no close frame).
    Dropped,
    /// The server answered the handshake with this HTTP status.
    Refused(u16),
    /// The client could not connect.
    ConnectFailed(String),
    /// The server dropped a connection that had not finished its HTTP handshake.
    HandshakeDropped,
    /// The connection was still open when the client stopped waiting.
    StillOpen,
    /// The server answered something it should not have (says what).
    Wrong(String),
    /// Anything else that went wrong on the client's side.
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(code, reason) if reason.is_empty() => write!(f, "{code}"),
            Self::Closed(code, reason) => write!(f, "{code} {reason}"),
            Self::ClosedWithoutCode => f.write_str("close without code"),
            Self::ClientClosed => f.write_str("client closed"),
            Self::Eof => f.write_str("EOF without close"),
            Self::Reset => f.write_str("reset"),
            Self::Dropped => f.write_str("dropped by client"),
            Self::Refused(status) => write!(f, "HTTP {status}"),
            Self::ConnectFailed(why) => write!(f, "connect failed: {why}"),
            Self::HandshakeDropped => f.write_str("handshake dropped"),
            Self::StillOpen => f.write_str("still open"),
            Self::Wrong(what) => write!(f, "WRONG: {what}"),
            Self::Error(what) => write!(f, "error: {what}"),
        }
    }
}

/// At most 80 characters of `text`.
pub(crate) fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

fn io_outcome(error: &std::io::Error) -> Outcome {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => Outcome::Reset,
        ErrorKind::UnexpectedEof => Outcome::Eof,
        _ => Outcome::Error(short(&error.to_string())),
    }
}

/// The outcome a read or write error means.
pub(crate) fn outcome_of(error: &tungstenite::Error) -> Outcome {
    match error {
        tungstenite::Error::Io(error) => io_outcome(error),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Outcome::Eof,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => Outcome::Eof,
        other => Outcome::Error(short(&other.to_string())),
    }
}

/// Counts of what the server sent a client, by kind: `error <code>` for error envelopes, the
/// event name for other envelopes, `ping` for WebSocket pings.
pub(crate) type Replies = BTreeMap<String, u64>;

/// What kind of reply `text` is (see [`Replies`]).
pub(crate) fn kind_of(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(envelope) => match envelope["event"].as_str() {
            Some("error") => format!("error {}", envelope["data"]["code"].as_str().unwrap_or("?")),
            Some(event) => short(event),
            None => "not an envelope".into(),
        },
        Err(_) => "not JSON".into(),
    }
}

/// Counts `message` in `replies`; `Some` when it is the server's close frame.
pub(crate) fn note(message: &Message, replies: &mut Replies) -> Option<Outcome> {
    let kind = match message {
        Message::Text(text) => kind_of(text.as_str()),
        Message::Binary(_) => "binary".into(),
        Message::Ping(_) => "ping".into(),
        Message::Pong(_) => "pong frame".into(),
        Message::Close(Some(frame)) => return Some(Outcome::Closed(frame.code.into(), short(frame.reason.as_str()))),
        Message::Close(None) => return Some(Outcome::ClosedWithoutCode),
        Message::Frame(_) => "raw frame".into(),
    };
    *replies.entry(kind).or_default() += 1;
    None
}

/// Reads until the connection ends or `within` passes, counting replies; what it ended with.
/// After a close frame the read goes on, so the library answers it and the server sees the
/// close handshake complete.
pub(crate) async fn read_to_end(client: &mut Client, within: Duration, replies: &mut Replies) -> Outcome {
    let until = tokio::time::Instant::now() + within;
    let mut ended = None;
    loop {
        match tokio::time::timeout_at(until, client.next()).await {
            Err(_) => return ended.unwrap_or(Outcome::StillOpen),
            Ok(None) => return ended.unwrap_or(Outcome::Eof),
            Ok(Some(Err(error))) => return ended.unwrap_or_else(|| outcome_of(&error)),
            Ok(Some(Ok(message))) => {
                if let Some(outcome) = note(&message, replies)
                    && ended.is_none()
                {
                    ended = Some(outcome);
                }
            }
        }
    }
}

/// Reads what is there for up to `drain`; if the server has not closed by then, closes with
/// 1000 and reads the close handshake to its end.
pub(crate) async fn finish(client: &mut Client, drain: Duration, replies: &mut Replies) -> Outcome {
    match read_to_end(client, drain, replies).await {
        Outcome::StillOpen => {}
        ended => return ended,
    }
    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    if let Err(outcome) = send(client, Message::Close(Some(bye))).await {
        return outcome;
    }
    // The server must answer the close frame before it drops the connection: an EOF here is
    // an unanswered close.
    match read_to_end(client, Duration::from_secs(10), replies).await {
        Outcome::Closed(1000, _) => Outcome::ClientClosed,
        other => other,
    }
}

/// Sends `message` unless it takes longer than `within` (a client that stopped reading, or
/// a server that stopped taking frames); `Err` with what the failure means.
pub(crate) async fn send_within(client: &mut Client, message: Message, within: Duration) -> Result<bool, Outcome> {
    match tokio::time::timeout(within, client.send(message)).await {
        Err(_) => Ok(false),
        Ok(Ok(())) => Ok(true),
        Ok(Err(error)) => Err(outcome_of(&error)),
    }
}

/// Sends `message`; a send that blocks for 10 s (the server stopped reading) is an error.
pub(crate) async fn send(client: &mut Client, message: Message) -> Result<(), Outcome> {
    match send_within(client, message, Duration::from_secs(10)).await? {
        true => Ok(()),
        false => Err(Outcome::Error("a send blocked for 10 s".into())),
    }
}

/// Waits up to `within` for a text envelope whose event is `event` (or an error envelope),
/// counting everything else; the envelope, or how the connection ended.
pub(crate) async fn reply_to(
    client: &mut Client,
    event: &str,
    within: Duration,
    replies: &mut Replies,
) -> Result<Value, Outcome> {
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, client.next()).await {
            Err(_) => return Err(Outcome::Wrong(format!("no `{event}` reply in {within:?}"))),
            Ok(None) => return Err(Outcome::Eof),
            Ok(Some(Err(error))) => return Err(outcome_of(&error)),
            Ok(Some(Ok(Message::Text(text)))) => {
                let kind = kind_of(text.as_str());
                *replies.entry(kind.clone()).or_default() += 1;
                if kind == event || kind.starts_with("error ") {
                    return serde_json::from_str(text.as_str()).map_err(|_| Outcome::Wrong("not JSON".into()));
                }
            }
            Ok(Some(Ok(message))) => {
                if let Some(outcome) = note(&message, replies) {
                    return Err(outcome);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length_in_the_smallest_form_and_are_masked() {
        let short = frame(true, 0, op::TEXT, None, 5, b"hello");
        assert_eq!(short, [0x81, 5, b'h', b'e', b'l', b'l', b'o']);
        let medium = frame(false, 0b100, op::BINARY, None, 300, &[]);
        assert_eq!(medium, [0x42, 126, 1, 44]);
        let long = frame(true, 0, op::BINARY, None, 70_000, &[]);
        assert_eq!(long[..2], [0x82, 127]);
        assert_eq!(u64::from_be_bytes(long[2..10].try_into().unwrap()), 70_000);
        let key = [1, 2, 3, 4];
        let masked = frame(true, 0, op::PING, Some(key), 2, &[0, 0]);
        assert_eq!(masked, [0x89, 0x82, 1, 2, 3, 4, 1, 2]);
    }

    #[test]
    fn the_random_source_stays_in_range_and_repeats_for_a_seed() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            let value = a.range(3, 9);
            assert!((3..=9).contains(&value));
            assert_eq!(value, b.range(3, 9));
        }
    }

    #[test]
    fn replies_are_counted_by_event_and_error_code() {
        assert_eq!(kind_of(r#"{"event":"pong","data":1}"#), "pong");
        assert_eq!(
            kind_of(r#"{"event":"error","data":{"code":"unknown_event","message":"x"}}"#),
            "error unknown_event"
        );
        assert_eq!(kind_of("nope"), "not JSON");
    }
}
