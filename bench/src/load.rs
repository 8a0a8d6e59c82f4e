//! The client side: real WebSocket clients (tokio-tungstenite) over loopback, the same for
//! every server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::Error;

/// How long the harness waits for any one answer before it gives up on a run.
pub const WAIT: Duration = Duration::from_secs(30);

/// One client connection.
pub type Client = WebSocketStream<TcpStream>;

/// Clients read into 4 KiB buffers, so 10,000 of them fit in the harness comfortably.
pub(crate) fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

/// Opens a socket to `path` with `token` as `Authorization: Bearer`.
pub async fn open(addr: SocketAddr, path: &str, token: &str) -> Result<Client, Error> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
    let (client, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(client_config())).await?;
    Ok(client)
}

/// The next text frame, skipping control frames.
async fn next_text(client: &mut Client) -> Result<Utf8Bytes, Error> {
    loop {
        match tokio::time::timeout(WAIT, client.next()).await {
            Err(_) => return Err("no answer in time".into()),
            Ok(None) => return Err("the server closed the connection".into()),
            Ok(Some(Err(error))) => return Err(error.into()),
            Ok(Some(Ok(Message::Text(text)))) => return Ok(text),
            Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed by the server: {frame:?}").into()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Sends `{"event":"ping","data":seq}` and waits for its `pong`.
pub async fn ping(client: &mut Client, seq: u64) -> Result<(), Error> {
    client.send(Message::text(format!(r#"{{"event":"ping","data":{seq}}}"#))).await?;
    let reply = next_text(client).await?;
    let expected = format!(r#"{{"event":"pong","data":{seq}}}"#);
    if reply.as_str() != expected {
        return Err(format!("expected {expected}, got {}", reply.as_str()).into());
    }
    Ok(())
}

/// What a connect storm measured.
#[derive(Debug, Clone)]
pub struct Storm {
    /// For each client: from the TCP connect to the `pong` of its first `ping`.
    pub latencies: Vec<Duration>,
    /// From the first connect to the last `pong`.
    pub elapsed: Duration,
}

/// The user sockets of a run: opened by connect storms, then each read by a task of its own
/// that timestamps every `vendor.location` it receives.
#[derive(Debug)]
pub struct Users {
    readers: Vec<JoinHandle<()>>,
    deliveries: mpsc::UnboundedReceiver<Instant>,
    delivered: mpsc::UnboundedSender<Instant>,
}

impl Default for Users {
    fn default() -> Self {
        let (delivered, deliveries) = mpsc::unbounded_channel();
        Self { readers: Vec::new(), deliveries, delivered }
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        self.readers.iter().for_each(JoinHandle::abort);
    }
}

impl Users {
    /// How many user sockets are open.
    pub fn len(&self) -> usize {
        self.readers.len()
    }

    /// Whether no user socket is open.
    pub fn is_empty(&self) -> bool {
        self.readers.is_empty()
    }

    /// Opens one user socket per token, at most `concurrency` at a time; each authenticates
    /// with its token and gets a `pong` to a first `ping`.
    pub async fn storm(&mut self, addr: SocketAddr, tokens: Vec<String>, concurrency: usize) -> Result<Storm, Error> {
        let count = tokens.len();
        let slots = Arc::new(Semaphore::new(concurrency));
        let (done, mut results) = mpsc::unbounded_channel::<Result<Duration, String>>();
        let start = Instant::now();
        for (index, token) in tokens.into_iter().enumerate() {
            let slot = Arc::clone(&slots).acquire_owned().await?;
            let (done, delivered) = (done.clone(), self.delivered.clone());
            self.readers.push(tokio::spawn(async move {
                let began = Instant::now();
                let connected = async {
                    let mut client = open(addr, "/user", &token).await?;
                    ping(&mut client, index as u64).await?;
                    Ok::<_, Error>(client)
                }
                .await;
                drop(slot);
                match connected {
                    Ok(client) => {
                        let _ = done.send(Ok(began.elapsed()));
                        read_deliveries(client, delivered).await;
                    }
                    Err(error) => {
                        let _ = done.send(Err(error.to_string()));
                    }
                }
            }));
        }
        drop(done);
        let mut latencies = Vec::with_capacity(count);
        while latencies.len() < count {
            match tokio::time::timeout(WAIT, results.recv()).await {
                Ok(Some(Ok(latency))) => latencies.push(latency),
                Ok(Some(Err(error))) => return Err(format!("a client failed to connect: {error}").into()),
                Ok(None) => return Err("a client task ended without a result".into()),
                Err(_) => return Err(format!("{} of {count} clients still connecting", count - latencies.len()).into()),
            }
        }
        Ok(Storm { latencies, elapsed: start.elapsed() })
    }

    /// Has `trigger`, a vendor socket, send a `location.update`; the server pushes a
    /// `vendor.location` to every user socket. Returns how long it took until the last user
    /// socket had it, checking each got it exactly once.
    pub async fn fan_out(&mut self, trigger: &mut Client, seq: u64) -> Result<Duration, Error> {
        while self.deliveries.try_recv().is_ok() {}
        let update = format!(r#"{{"event":"location.update","data":{{"lat":52.5,"lng":{}}},"id":{seq}}}"#, seq % 180);
        let start = Instant::now();
        trigger.send(Message::text(update)).await?;
        let mut last = start;
        for received in 0..self.len() {
            match tokio::time::timeout(WAIT, self.deliveries.recv()).await {
                Ok(Some(at)) => last = last.max(at),
                Ok(None) => return Err("the user readers are gone".into()),
                Err(_) => return Err(format!("only {received} of {} user sockets got the event", self.len()).into()),
            }
        }
        let ack = next_text(trigger).await?;
        if !ack.as_str().contains(r#""event":"location.update""#) {
            return Err(format!("expected the vendor's ack, got {}", ack.as_str()).into());
        }
        if self.deliveries.try_recv().is_ok() {
            return Err("a user socket got the event twice".into());
        }
        Ok(last.duration_since(start))
    }
}

async fn read_deliveries(mut client: Client, delivered: mpsc::UnboundedSender<Instant>) {
    while let Some(Ok(message)) = client.next().await {
        if let Message::Text(text) = message
            && text.as_str().contains(r#""event":"vendor.location""#)
        {
            let _ = delivered.send(Instant::now());
        }
    }
}

/// What an echo run measured.
#[derive(Debug, Clone)]
pub struct Echo {
    /// Every round trip started within the measured window.
    pub latencies: Vec<Duration>,
    /// The measured window.
    pub window: Duration,
    /// Every round trip, the warm-up's too.
    pub all_round_trips: usize,
}

/// Opens one vendor socket per token; each then does `ping` → `pong` round trips one after
/// the other, for `warmup` (not measured) and then `window`.
pub async fn echo(addr: SocketAddr, tokens: &[String], warmup: Duration, window: Duration) -> Result<Echo, Error> {
    let mut clients = Vec::with_capacity(tokens.len());
    for token in tokens {
        clients.push(open(addr, "/vendor", token).await?);
    }
    let measured_from = Instant::now() + warmup;
    let until = measured_from + window;
    /// What one echo client measured, and how many round trips it made in all.
    type Measured = Result<(Vec<Duration>, usize), Error>;
    let tasks: Vec<JoinHandle<Measured>> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut seq = 0;
                loop {
                    let began = Instant::now();
                    if began >= until {
                        break;
                    }
                    ping(&mut client, seq).await?;
                    seq += 1;
                    if began >= measured_from {
                        latencies.push(began.elapsed());
                    }
                }
                let _ = client.close(None).await;
                Ok((latencies, usize::try_from(seq).unwrap_or(usize::MAX)))
            })
        })
        .collect();
    let (mut latencies, mut all_round_trips) = (Vec::new(), 0);
    for task in tasks {
        let (measured, all) = task.await??;
        latencies.extend(measured);
        all_round_trips += all;
    }
    Ok(Echo { latencies, window, all_round_trips })
}
