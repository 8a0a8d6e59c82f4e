//! Testing gateways without a network (feature `testing`).
//!
//! [`connect`] opens an in-memory socket to a gateway of a built module, as a client with the
//! identity you give would: `get_entity_id`, `validate_connection`, presence, `on_connect`,
//! handlers, `on_disconnect` and cleanup all run exactly as for a real socket. Only the
//! WebSocket framing and the token check are skipped, so the send queue never fills up here:
//! test slow consumers over a real socket.
//!
//! ```
//! use serde_json::json;
//! use venta_ws::prelude::*;
//! use venta_ws::testing;
//!
//! #[derive(WebSocketGateway)]
//! #[gateway(namespace = "user", auth = Jwt)]
//! struct UserGateway;
//!
//! #[venta_ws::messages]
//! impl UserGateway {
//!     #[subscribe("ping")]
//!     async fn ping(&self, data: serde_json::Value) -> Reply<serde_json::Value> {
//!         Reply::new("pong", data)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let module = WebSocketModule::builder()
//!     .jwt(JwtConfig::hs256("unused in tests, but 32 bytes or more"))
//!     .gateway(UserGateway)
//!     .build()?;
//! let mut socket = testing::connect::<UserGateway>(&module, testing::identity("u1")).await?;
//!
//! let pong = socket.request("ping", json!({"n": 1})).await?;
//! assert_eq!((pong.event.as_str(), &pong.data), ("pong", &json!({"n": 1})));
//! assert_eq!(module.hub().namespace("user").unwrap().online().await?, ["u1"]);
//!
//! socket.close().await;
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use axum::http::{HeaderMap, Uri};
use futures_util::{Sink, Stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::auth::{ConnectRequest, Identity, StandardClaims};
use crate::builder::WebSocketModule;
use crate::connection::socket_span;
use crate::gateway::{ClaimsOf, GatewayHandlers};
use crate::protocol::MessageId;
use crate::transport::Transport;

/// An identity for `auth = Jwt` gateways: `sub` is `entity_id`, no expiry.
pub fn identity(entity_id: &str) -> Identity<StandardClaims> {
    let claims = StandardClaims { sub: Some(entity_id.to_owned()), ..StandardClaims::default() };
    identity_with(entity_id, claims)
}

/// An identity for a gateway with claims of its own (`auth = Jwt<RiderClaims>`), as its
/// authenticator would give for a valid token of `entity_id`, with no expiry.
///
/// ```
/// use serde::Deserialize;
/// use venta_ws::testing;
///
/// #[derive(Deserialize)]
/// struct RiderClaims { role: String, tenant: String }
///
/// let rider = testing::identity_with("r1", RiderClaims { role: "rider".into(), tenant: "acme".into() });
/// assert_eq!((rider.entity_id.as_deref(), rider.claims.tenant.as_str()), (Some("r1"), "acme"));
/// ```
pub fn identity_with<C>(entity_id: &str, claims: C) -> Identity<C> {
    Identity { entity_id: Some(entity_id.to_owned()), claims, expires_at: None }
}

/// Signs tokens for your own tests, as an identity provider would, for a server under test
/// that verifies them with the matching [`JwtConfig`](crate::JwtConfig): a real client then
/// connects with a real token.
///
/// Tokens carry `sub`, `iat` and `exp` (an hour from now unless [`ttl`](Self::ttl) says
/// otherwise), the issuer and audience when set, and any claims you add.
///
/// ```
/// use serde_json::json;
/// use venta_ws::testing::TokenMinter;
/// use venta_ws::JwtConfig;
///
/// let secret = "a test secret of 32 bytes or more";
/// let minter = TokenMinter::hs256(secret).issuer("https://auth.example.com");
/// let token = minter.token_with("r1", json!({"role": "rider", "tenant": "acme"}));
///
/// let verifier = venta_ws::Jwt::<serde_json::Value>::new(&JwtConfig::hs256(secret).issuer("https://auth.example.com"));
/// let identity = verifier.verify(&token).expect("valid");
/// assert_eq!(identity.claims["tenant"], "acme");
/// assert!(verifier.verify(&minter.expired("r1")).is_err());
/// ```
#[derive(Clone)]
pub struct TokenMinter {
    key: jsonwebtoken::EncodingKey,
    algorithm: jsonwebtoken::Algorithm,
    issuer: Option<String>,
    audience: Option<String>,
    ttl: Duration,
}

impl TokenMinter {
    /// HS256 tokens signed with `secret`, for `JwtConfig::hs256(secret)`.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        Self::with_key(jsonwebtoken::EncodingKey::from_secret(secret.as_ref()), jsonwebtoken::Algorithm::HS256)
    }

    /// RS256 tokens signed with a PEM private key, for `JwtConfig::rs256_pem(public_key)`.
    pub fn rs256_pem(private_key: impl AsRef<[u8]>) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_ref())?;
        Ok(Self::with_key(key, jsonwebtoken::Algorithm::RS256))
    }

    /// EdDSA (Ed25519) tokens signed with a PEM private key, for `JwtConfig::eddsa_pem(public_key)`.
    pub fn eddsa_pem(private_key: impl AsRef<[u8]>) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = jsonwebtoken::EncodingKey::from_ed_pem(private_key.as_ref())?;
        Ok(Self::with_key(key, jsonwebtoken::Algorithm::EdDSA))
    }

    fn with_key(key: jsonwebtoken::EncodingKey, algorithm: jsonwebtoken::Algorithm) -> Self {
        Self { key, algorithm, issuer: None, audience: None, ttl: Duration::from_secs(60 * 60) }
    }

    /// Sets the `iss` claim of every token.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the `aud` claim of every token.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long tokens are valid from now (`exp`). Default an hour.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// A valid token for `entity_id`.
    pub fn token(&self, entity_id: &str) -> String {
        self.token_with(entity_id, Value::Object(serde_json::Map::new()))
    }

    /// A valid token for `entity_id` with more claims (a JSON object: `{"role": "rider"}`);
    /// they may override `iat`, `exp` and the others.
    pub fn token_with(&self, entity_id: &str, claims: Value) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let mut all = serde_json::Map::new();
        all.insert("sub".into(), entity_id.into());
        all.insert("iat".into(), now.into());
        all.insert("exp".into(), (now + self.ttl.as_secs()).into());
        if let Some(issuer) = &self.issuer {
            all.insert("iss".into(), issuer.as_str().into());
        }
        if let Some(audience) = &self.audience {
            all.insert("aud".into(), audience.as_str().into());
        }
        if let Value::Object(extra) = claims {
            all.extend(extra);
        }
        self.sign(&Value::Object(all))
    }

    /// A token for `entity_id` that expired a minute ago.
    pub fn expired(&self, entity_id: &str) -> String {
        let past = jsonwebtoken::get_current_timestamp().saturating_sub(60);
        self.token_with(entity_id, serde_json::json!({"iat": past.saturating_sub(60), "exp": past}))
    }

    /// A token of exactly these claims, signed.
    pub fn sign(&self, claims: &impl Serialize) -> String {
        // Claims that serialize to JSON always sign with a key of the algorithm's kind.
        jsonwebtoken::encode(&jsonwebtoken::Header::new(self.algorithm), claims, &self.key).unwrap_or_default()
    }
}

impl std::fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMinter")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Why a test socket could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The module mounts no gateway of the type asked for.
    #[error("the module has no gateway `{0}`; add it with `.gateway(..)`")]
    NoSuchGateway(&'static str),
    /// The server closed the socket.
    #[error("the socket was closed: {0:?}")]
    Closed(Closed),
    /// Nothing arrived in time.
    #[error("nothing arrived within {0:?}")]
    Timeout(Duration),
    /// The server sent a frame that is not an envelope.
    #[error("the server sent a frame that is not an envelope: {0}")]
    NotAnEnvelope(String),
}

/// An envelope the server sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// The event name (`error` for error envelopes).
    pub event: String,
    /// The data, `null` when absent.
    #[serde(default)]
    pub data: Value,
    /// The id of the request this answers, if any.
    #[serde(default)]
    pub id: Option<MessageId>,
}

impl Event {
    /// The `code` of an `error` envelope.
    pub fn error_code(&self) -> Option<&str> {
        (self.event == crate::protocol::ERROR_EVENT).then(|| self.data["code"].as_str()).flatten()
    }
}

/// How the server closed a test socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code, `None` when the server dropped the socket without one.
    pub code: Option<u16>,
    /// The close reason.
    pub reason: String,
}

/// Opens an in-memory socket to gateway `G` of `module`, authenticated as `identity`, and
/// returns once its `on_connect` has run.
///
/// The socket is returned even when the gateway refuses it; [`TestSocket::closed`] then gives
/// the close code, as a real client would see it.
pub async fn connect<G: GatewayHandlers>(
    module: &WebSocketModule,
    identity: Identity<ClaimsOf<G>>,
) -> Result<TestSocket, TestError> {
    let runtime = module.runtime::<G>().ok_or(TestError::NoSuchGateway(G::DESCRIPTOR.type_name))?;
    let (to_server, from_client) = mpsc::unbounded_channel();
    let (to_client, from_server) = mpsc::unbounded_channel();
    let path = G::DESCRIPTOR.path.parse::<Uri>().unwrap_or_default();
    let request = ConnectRequest::new(HeaderMap::new(), path, None);
    let span = socket_span(&runtime.namespace, Transport::WebSocket, request.headers(), None);
    let verdict = runtime.accept(&request, identity, Transport::WebSocket).instrument(span.clone()).await;
    let transport = MemoryTransport { incoming: from_client, outgoing: to_client };
    let (ready, connected) = oneshot::channel();
    tokio::spawn(runtime.serve(transport, verdict, span, Some(ready)));
    // Returns once `on_connect` succeeded, or once the socket was refused or failed to connect.
    let _ = connected.await;
    Ok(TestSocket { to_server, from_server, next_id: 1, pending: Vec::new(), closed: None, timeout: DEFAULT_TIMEOUT })
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's end of an in-memory socket.
struct MemoryTransport {
    incoming: mpsc::UnboundedReceiver<Message>,
    outgoing: mpsc::UnboundedSender<Message>,
}

impl Stream for MemoryTransport {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx).map(|message| message.map(Ok))
    }
}

impl crate::connection::FramePipe for MemoryTransport {}

impl Sink<Message> for MemoryTransport {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        self.outgoing.send(message).map_err(|_| axum::Error::new("the test socket was dropped"))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's end of an in-memory socket.
#[derive(Debug)]
pub struct TestSocket {
    to_server: mpsc::UnboundedSender<Message>,
    from_server: mpsc::UnboundedReceiver<Message>,
    next_id: u64,
    /// Events that arrived while [`TestSocket::request`] waited for its answer.
    pending: Vec<Event>,
    closed: Option<Closed>,
    timeout: Duration,
}

#[derive(Serialize)]
struct Outgoing<'a, T> {
    event: &'a str,
    data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

impl TestSocket {
    /// How long [`recv`](Self::recv), [`request`](Self::request) and
    /// [`closed`](Self::closed) wait (default 5 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends raw text, as a client would in a text frame.
    pub fn send_text(&mut self, text: impl Into<String>) {
        let _ = self.to_server.send(Message::Text(Utf8Bytes::from(text.into())));
    }

    /// Sends an event without an id (no ack is asked for).
    pub fn emit<T: Serialize>(&mut self, event: &str, data: T) {
        self.send(event, data, None);
    }

    fn send<T: Serialize>(&mut self, event: &str, data: T, id: Option<u64>) {
        match serde_json::to_string(&Outgoing { event, data, id }) {
            Ok(text) => self.send_text(text),
            Err(error) => panic!("test data for `{event}` does not serialize: {error}"),
        }
    }

    /// Sends an event with a fresh id and returns the answer carrying that id (an ack, a
    /// reply or an error envelope); events pushed meanwhile are kept for [`recv`](Self::recv).
    pub async fn request<T: Serialize>(&mut self, event: &str, data: T) -> Result<Event, TestError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(event, data, Some(id));
        loop {
            let next = self.next_from_server().await?;
            if next.id == Some(MessageId::Number(id)) {
                return Ok(next);
            }
            self.pending.push(next);
        }
    }

    /// The next event from the server.
    pub async fn recv(&mut self) -> Result<Event, TestError> {
        if !self.pending.is_empty() {
            return Ok(self.pending.remove(0));
        }
        self.next_from_server().await
    }

    async fn next_from_server(&mut self) -> Result<Event, TestError> {
        if let Some(closed) = &self.closed {
            return Err(TestError::Closed(closed.clone()));
        }
        let timeout = self.timeout;
        loop {
            let message = tokio::time::timeout(timeout, self.from_server.recv())
                .await
                .map_err(|_| TestError::Timeout(timeout))?;
            match message {
                Some(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str()).map_err(|_| TestError::NotAnEnvelope(text.to_string()));
                }
                Some(Message::Close(frame)) => return Err(TestError::Closed(self.record_close(frame))),
                None => return Err(TestError::Closed(self.record_close(None))),
                Some(_) => {}
            }
        }
    }

    fn record_close(&mut self, frame: Option<CloseFrame>) -> Closed {
        // A WebSocket client answers a close frame with one of its own.
        let _ = self.to_server.send(Message::Close(frame.clone()));
        let closed = match frame {
            Some(frame) => Closed { code: Some(frame.code), reason: frame.reason.to_string() },
            None => Closed { code: None, reason: String::new() },
        };
        self.closed = Some(closed.clone());
        closed
    }

    /// Waits for the server to close the socket, skipping events, and returns how.
    pub async fn closed(&mut self) -> Result<Closed, TestError> {
        self.pending.clear();
        loop {
            match self.next_from_server().await {
                Ok(_) => {}
                Err(TestError::Closed(closed)) => return Ok(closed),
                Err(other) => return Err(other),
            }
        }
    }

    /// Closes from the client's side with 1000, as a browser tab closing would.
    pub async fn close(mut self) {
        self.close_with(1000).await;
    }

    /// Closes from the client's side with `code` and waits for the server to finish.
    pub async fn close_with(&mut self, code: u16) {
        let _ = self.to_server.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static("") })));
        let _ = tokio::time::timeout(self.timeout, async { while self.from_server.recv().await.is_some() {} }).await;
    }
}
