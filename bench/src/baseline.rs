//! The baseline: the example's two gateways written by hand on axum, the floor of the
//! framework's overhead. It does the work the benchmark measures and nothing more:
//!
//! - on connect, verifies the `Authorization: Bearer` HS256 JWT (`exp` required, 5 s leeway,
//!   as the framework) and reads the entity id from `sub`; a bad token gets HTTP 401, and a
//!   token whose `kind` claim is not the gateway's (`vendor` on `/vendor`; `user` or none on
//!   `/user`), as the example checks, HTTP 403;
//! - registers the socket in a presence map (namespace → socket → entity, entity → sockets)
//!   and removes it when the socket ends;
//! - answers `{"event":"ping","data":x}` with `{"event":"pong","data":x}` (with the `id`, if any);
//! - stores `location.update`s (acking them when asked with an `id`); a vendor's is encoded
//!   once as `vendor.location` and queued to every user socket.
//!
//! One task per socket selects between the client's frames and its send queue (bounded, 256
//! frames, as the framework's). The harness runs it twice: with a 2 KiB read buffer per socket,
//! as the framework's default (the floor, the side every ratio is taken against), and with
//! axum's default WebSocket settings (a 128 KiB read buffer), as most hand-written gateways run.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::Error;

const SEND_QUEUE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Namespace {
    User,
    Vendor,
}

impl Namespace {
    fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Vendor => "vendor",
        }
    }
}

/// The claims both hand-written servers verify (this one and the socketioxide server of
/// `socketio.rs`).
#[derive(Deserialize)]
pub(crate) struct Claims {
    pub(crate) sub: String,
    #[serde(default)]
    pub(crate) kind: Option<String>,
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    id: Option<Value>,
}

#[derive(Serialize)]
struct Outgoing<'a, T> {
    event: &'a str,
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Location {
    lat: f64,
    lng: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VendorLocation<'a> {
    vendor_id: &'a str,
    #[serde(flatten)]
    location: Location,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Default)]
struct NamespacePresence {
    sockets: HashMap<u64, String>,
    entities: HashMap<String, Vec<u64>>,
}

/// Which sockets each entity has, per namespace.
#[derive(Default)]
struct Presence {
    namespaces: Mutex<HashMap<&'static str, NamespacePresence>>,
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, HashMap<&'static str, NamespacePresence>> {
        self.namespaces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `true` when the entity came online.
    fn register(&self, namespace: &'static str, socket: u64, entity: &str) -> bool {
        let mut namespaces = self.lock();
        let presence = namespaces.entry(namespace).or_default();
        presence.sockets.insert(socket, entity.to_owned());
        let sockets = presence.entities.entry(entity.to_owned()).or_default();
        sockets.push(socket);
        sockets.len() == 1
    }

    /// `true` when the entity went offline.
    fn unregister(&self, namespace: &'static str, socket: u64) -> bool {
        let mut namespaces = self.lock();
        let Some(presence) = namespaces.get_mut(namespace) else { return false };
        let Some(entity) = presence.sockets.remove(&socket) else { return false };
        let Some(sockets) = presence.entities.get_mut(&entity) else { return false };
        sockets.retain(|id| *id != socket);
        let offline = sockets.is_empty();
        if offline {
            presence.entities.remove(&entity);
        }
        offline
    }
}

struct Gateway {
    key: DecodingKey,
    validation: Validation,
    presence: Presence,
    /// The send queue of every user socket, for pushing vendor moves.
    users: RwLock<HashMap<u64, mpsc::Sender<Utf8Bytes>>>,
    user_locations: Mutex<HashMap<String, Location>>,
    vendor_locations: Mutex<HashMap<String, Location>>,
    next_socket: AtomicU64,
    read_buffer_size: Option<usize>,
}

/// The baseline's routes, `/user` and `/vendor`, verifying tokens signed with `secret`; each
/// socket reads into a buffer of `read_buffer_size` bytes, or axum's default (128 KiB).
pub fn router(secret: &str, read_buffer_size: Option<usize>) -> Router {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    let gateway = Arc::new(Gateway {
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
        presence: Presence::default(),
        users: RwLock::new(HashMap::new()),
        user_locations: Mutex::new(HashMap::new()),
        vendor_locations: Mutex::new(HashMap::new()),
        next_socket: AtomicU64::new(1),
        read_buffer_size,
    });
    Router::new().route("/user", get(user)).route("/vendor", get(vendor)).with_state(gateway)
}

/// Serves the baseline on `listener` until the process ends.
pub async fn serve(listener: TcpListener, secret: &str, read_buffer_size: Option<usize>) -> Result<(), Error> {
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router(secret, read_buffer_size)).await?;
    Ok(())
}

async fn user(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    connect(gateway, Namespace::User, &headers, upgrade)
}

async fn vendor(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    connect(gateway, Namespace::Vendor, &headers, upgrade)
}

fn connect(gateway: Arc<Gateway>, namespace: Namespace, headers: &HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let Some(claims) = gateway.verify(headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let admitted = matches!(
        (namespace, claims.kind.as_deref()),
        (Namespace::User, None | Some("user")) | (Namespace::Vendor, Some("vendor"))
    );
    if !admitted {
        return StatusCode::FORBIDDEN.into_response();
    }
    let entity = claims.sub;
    let upgrade = match gateway.read_buffer_size {
        Some(size) => upgrade.read_buffer_size(size),
        None => upgrade,
    };
    upgrade.on_upgrade(move |socket| gateway.session(socket, namespace, entity))
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn encode<T: Serialize>(event: &str, data: &T, id: Option<&Value>) -> Utf8Bytes {
    // Serializing these plain structs to a string cannot fail.
    Utf8Bytes::from(serde_json::to_string(&Outgoing { event, data, id }).unwrap_or_default())
}

fn error(code: &str, message: &str, id: Option<&Value>) -> Utf8Bytes {
    encode("error", &ErrorData { code, message }, id)
}

impl Gateway {
    fn verify(&self, headers: &HeaderMap) -> Option<Claims> {
        let token = headers.get(AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).ok()?.claims;
        (!claims.sub.is_empty()).then_some(claims)
    }

    async fn session(self: Arc<Self>, mut socket: WebSocket, namespace: Namespace, entity: String) {
        let id = self.next_socket.fetch_add(1, Ordering::Relaxed);
        let (sender, mut queue) = mpsc::channel(SEND_QUEUE);
        self.presence.register(namespace.name(), id, &entity);
        if namespace == Namespace::User {
            self.users.write().unwrap_or_else(PoisonError::into_inner).insert(id, sender);
        }
        loop {
            let outgoing = tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => match self.handle(namespace, &entity, text.as_str()) {
                        Some(reply) => reply,
                        None => continue,
                    },
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                },
                Some(frame) = queue.recv() => frame,
            };
            if socket.send(Message::Text(outgoing)).await.is_err() {
                break;
            }
        }
        if namespace == Namespace::User {
            self.users.write().unwrap_or_else(PoisonError::into_inner).remove(&id);
        }
        self.presence.unregister(namespace.name(), id);
    }

    /// The reply to one text frame, if any.
    fn handle(&self, namespace: Namespace, entity: &str, text: &str) -> Option<Utf8Bytes> {
        let Ok(envelope) = serde_json::from_str::<Incoming<'_>>(text) else {
            return Some(error("malformed_envelope", "expected {\"event\": .., \"data\": ..}", None));
        };
        let id = envelope.id.as_ref();
        match envelope.event.as_ref() {
            "ping" => Some(encode("pong", &envelope.data, id)),
            "location.update" => {
                let location = match serde_json::from_value::<Location>(envelope.data) {
                    Ok(location)
                        if (-90.0..=90.0).contains(&location.lat) && (-180.0..=180.0).contains(&location.lng) =>
                    {
                        location
                    }
                    _ => return Some(error("invalid_payload", "expected {\"lat\": .., \"lng\": ..}", id)),
                };
                match namespace {
                    Namespace::User => {
                        lock(&self.user_locations).insert(entity.to_owned(), location);
                    }
                    Namespace::Vendor => {
                        lock(&self.vendor_locations).insert(entity.to_owned(), location);
                        self.push_to_users(&VendorLocation { vendor_id: entity, location });
                    }
                }
                id.map(|id| encode("location.update", &location, Some(id)))
            }
            _ => Some(error("unknown_event", "no handler for this event", id)),
        }
    }

    /// Encodes the event once and queues it on every user socket.
    fn push_to_users(&self, update: &VendorLocation<'_>) {
        let frame = encode("vendor.location", update, None);
        for queue in self.users.read().unwrap_or_else(PoisonError::into_inner).values() {
            let _ = queue.try_send(frame.clone());
        }
    }
}
