//! The Engine.IO handler: one Engine.IO session per client connection (engineioxide does the
//! long-polling, the upgrade to WebSocket and the heartbeat), and on it the client's
//! namespace sockets, one per gateway it joined, each served by the connection engine through
//! its own [`SocketIoPipe`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use engineioxide::handler::EngineIoHandler;
use engineioxide::socket::Sid;
use engineioxide::{DisconnectReason, Socket, Str};

use super::packet::{self, Packet};
use super::pipe::{Outlet, SocketIoPipe};
use crate::auth::ConnectRequest;
use crate::close::Closure;
use crate::state::ModuleState;

/// How long a client may hold an Engine.IO session without joining a namespace (Socket.IO's
/// `connectTimeout`): past it the session is closed, within one [`SWEEP_INTERVAL`] more.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// How often the sessions are looked over for one past its connect timeout. One task for all
/// of them, rather than a timer per session: a connect then costs no task and no wake-up.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The most binary attachments one event may announce; more close the socket with 1009, as
/// a message over the size limit would.
pub(crate) const MAX_ATTACHMENTS: usize = 256;

/// How long after shutdown has closed every socket the Engine.IO sessions still open are
/// closed: time for the DISCONNECT packets to reach the clients, which then close their
/// sessions themselves.
const SESSION_GRACE: Duration = Duration::from_secs(1);

/// A gateway as the Socket.IO endpoint reaches it.
pub(crate) trait SocketIoGateway: Send + Sync + 'static {
    /// Authenticates and serves a client's namespace socket, refusing it through its pipe.
    fn connect(self: Arc<Self>, pipe: SocketIoPipe, request: ConnectRequest);
    /// The largest message a client may send, in bytes.
    fn max_message_size(&self) -> usize;
    /// The most bytes of events that may wait for the socket's handlers.
    fn max_waiting_bytes(&self) -> usize;
    /// Whether the gateway's origin policy admits a request with these headers.
    fn admits_origin(&self, headers: &axum::http::HeaderMap) -> bool;
    /// Whether browsers may send cookies to the gateway.
    fn credentials(&self) -> bool;
}

/// A BINARY_EVENT waiting for its attachments.
struct PendingBinary {
    outlet: Arc<Outlet>,
    id: Option<u64>,
    arguments: String,
    expected: usize,
    parts: Vec<Bytes>,
    bytes: usize,
}

#[derive(Default)]
struct SessionState {
    sockets: Vec<Arc<Outlet>>,
    pending: Option<PendingBinary>,
    joined: bool,
}

/// What one Engine.IO session holds: its namespace sockets and a binary event in assembly.
pub(crate) struct Session {
    state: Mutex<SessionState>,
    opened: Instant,
}

impl Default for Session {
    fn default() -> Self {
        Self { state: Mutex::default(), opened: Instant::now() }
    }
}

impl Session {
    /// Whether the session is past its connect timeout at `now` without having joined a
    /// namespace.
    fn overdue(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.opened) >= CONNECT_TIMEOUT && !self.lock().joined
    }

    fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find(&self, namespace: &str) -> Option<Arc<Outlet>> {
        self.lock().sockets.iter().find(|outlet| &**outlet.namespace() == namespace).cloned()
    }

    /// Forgets the namespace socket the client left.
    fn remove(&self, namespace: &str) -> Option<Arc<Outlet>> {
        let mut state = self.lock();
        let index = state.sockets.iter().position(|outlet| &**outlet.namespace() == namespace)?;
        Some(state.sockets.swap_remove(index))
    }

    /// Forgets `closed`, once closed, and only it: the client may already have joined its
    /// namespace again with a new socket, which stays.
    pub(crate) fn forget(&self, closed: &Outlet) {
        let mut state = self.lock();
        if let Some(index) = state.sockets.iter().position(|outlet| std::ptr::eq(&**outlet, closed)) {
            state.sockets.swap_remove(index);
        }
    }
}

/// The handler of every Engine.IO session of a module.
pub(crate) struct Engine {
    /// Gateways by Socket.IO namespace (`/user`).
    gateways: HashMap<String, Arc<dyn SocketIoGateway>>,
    state: Arc<ModuleState>,
    /// The open sessions, for the connect timeout and shutdown to close.
    sessions: Mutex<HashMap<Sid, Weak<Socket<Session>>>>,
    /// Whether the task that watches the sessions runs.
    watching: AtomicBool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("namespaces", &self.gateways.keys().collect::<Vec<_>>()).finish()
    }
}

impl Engine {
    pub(crate) fn new(gateways: HashMap<String, Arc<dyn SocketIoGateway>>, state: Arc<ModuleState>) -> Self {
        Self { gateways, state, sessions: Mutex::default(), watching: AtomicBool::new(false) }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<Sid, Weak<Socket<Session>>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the sessions past their connect timeout as it finds them; once shutdown has
    /// closed every socket (each client got its `closing` and DISCONNECT), closes the Engine.IO
    /// sessions left open, so that serving can end.
    async fn watch_sessions(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = self.state.shutdown.cancelled() => break,
                () = tokio::time::sleep(SWEEP_INTERVAL) => {}
            }
            let now = Instant::now();
            let overdue: Vec<_> =
                self.sessions().values().filter_map(Weak::upgrade).filter(|socket| socket.data.overdue(now)).collect();
            for socket in overdue {
                tracing::debug!("a Socket.IO session joined no namespace in time; closing it");
                socket.close(DisconnectReason::TransportClose);
            }
        }
        self.state.tasks.wait().await;
        tokio::time::sleep(SESSION_GRACE).await;
        let sessions: Vec<_> = self.sessions().drain().filter_map(|(_, socket)| socket.upgrade()).collect();
        for socket in sessions {
            socket.close(DisconnectReason::ClosingServer);
        }
    }

    fn receive(&self, socket: &Arc<Socket<Session>>, text: &str) {
        let packet = match packet::parse(text) {
            Ok(packet) => packet,
            Err(error) => {
                tracing::debug!(reason = error.0, "unreadable Socket.IO packet; closing the session");
                socket.close(DisconnectReason::PacketParsingError);
                return;
            }
        };
        // A text packet while a binary event waits for attachments breaks the protocol.
        if socket.data.lock().pending.take().is_some() {
            tracing::debug!("a Socket.IO packet arrived before the attachments of the binary event before it");
        }
        match packet {
            Packet::Connect { namespace, auth } => self.join(socket, namespace, auth),
            Packet::Disconnect { namespace } => {
                if let Some(outlet) = socket.data.remove(namespace) {
                    outlet.client_left();
                }
            }
            Packet::Event { namespace, id, arguments, attachments } => {
                let Some(outlet) = socket.data.find(namespace) else {
                    return;
                };
                if attachments == 0 {
                    outlet.receive(id, arguments);
                } else if arguments.len() > outlet.max_message_size() || attachments > MAX_ATTACHMENTS {
                    outlet.fail(Closure::MessageTooBig);
                } else {
                    socket.data.lock().pending = Some(PendingBinary {
                        outlet,
                        id,
                        arguments: arguments.to_owned(),
                        expected: attachments,
                        parts: Vec::new(),
                        bytes: arguments.len(),
                    });
                }
            }
            Packet::Ack { .. } => {}
        }
    }

    fn join(&self, socket: &Arc<Socket<Session>>, namespace: &str, auth: Option<&str>) {
        let Some(gateway) = self.gateways.get(namespace) else {
            let _ = socket.emit(packet::connect_error(namespace, "Invalid namespace", None));
            return;
        };
        if socket.data.find(namespace).is_some() {
            tracing::debug!("a Socket.IO client joined a namespace it is already in");
            return;
        }
        let outlet = Arc::new(Outlet::new(
            Arc::clone(socket),
            Arc::from(namespace),
            gateway.max_message_size(),
            gateway.max_waiting_bytes(),
        ));
        {
            let mut state = socket.data.lock();
            state.sockets.push(Arc::clone(&outlet));
            state.joined = true;
        }
        let token = auth.and_then(packet::auth_token);
        let request = ConnectRequest::socket_io(&socket.req_parts, token);
        Arc::clone(gateway).connect(SocketIoPipe::new(outlet), request);
    }

    fn receive_binary(socket: &Arc<Socket<Session>>, data: Bytes) {
        let mut state = socket.data.lock();
        let Some(pending) = state.pending.as_mut() else {
            tracing::debug!("a binary Socket.IO message that no event announced");
            return;
        };
        pending.bytes = pending.bytes.saturating_add(data.len());
        if pending.bytes > pending.outlet.max_message_size() {
            let pending = state.pending.take();
            drop(state);
            if let Some(pending) = pending {
                pending.outlet.fail(Closure::MessageTooBig);
            }
            return;
        }
        pending.parts.push(data);
        if pending.parts.len() < pending.expected {
            return;
        }
        let Some(pending) = state.pending.take() else { return };
        drop(state);
        match with_attachments(&pending.arguments, &pending.parts) {
            Some(arguments) => pending.outlet.receive(pending.id, &arguments),
            None => pending.outlet.receive(pending.id, "[]"),
        }
    }
}

/// The argument array with each `{"_placeholder":true,"num":n}` replaced by attachment `n`
/// as an array of byte values, which a `Vec<u8>` field deserializes from.
fn with_attachments(arguments: &str, parts: &[Bytes]) -> Option<String> {
    fn replace(value: &mut serde_json::Value, parts: &[Bytes]) {
        match value {
            serde_json::Value::Object(object) => {
                let placeholder = object.get("_placeholder").and_then(serde_json::Value::as_bool) == Some(true);
                let num = object.get("num").and_then(serde_json::Value::as_u64);
                if placeholder && let Some(part) = num.and_then(|num| parts.get(usize::try_from(num).ok()?)) {
                    *value = serde_json::Value::Array(part.iter().map(|byte| (*byte).into()).collect());
                    return;
                }
                object.values_mut().for_each(|value| replace(value, parts));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|value| replace(value, parts)),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(arguments).ok()?;
    replace(&mut value, parts);
    Some(value.to_string())
}

impl EngineIoHandler for Engine {
    type Data = Session;

    fn on_connect(self: Arc<Self>, socket: Arc<Socket<Session>>) {
        self.sessions().insert(socket.id, Arc::downgrade(&socket));
        if !self.watching.swap(true, Ordering::AcqRel) {
            tokio::spawn(Arc::clone(&self).watch_sessions());
        }
    }

    fn on_disconnect(&self, socket: Arc<Socket<Session>>, _reason: DisconnectReason) {
        self.sessions().remove(&socket.id);
        let sockets = {
            let mut state = socket.data.lock();
            state.pending = None;
            std::mem::take(&mut state.sockets)
        };
        for outlet in sockets {
            outlet.lost();
        }
    }

    fn on_message(self: &Arc<Self>, message: Str, socket: Arc<Socket<Session>>) {
        self.receive(&socket, &message);
    }

    fn on_binary(self: &Arc<Self>, data: Bytes, socket: Arc<Socket<Session>>) {
        Self::receive_binary(&socket, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_overdue_past_its_connect_timeout_unless_it_joined() {
        let session = Session::default();
        assert!(!session.overdue(Instant::now()));
        let later = Instant::now() + CONNECT_TIMEOUT;
        assert!(session.overdue(later));
        session.lock().joined = true;
        assert!(!session.overdue(later));
    }

    #[test]
    fn attachments_replace_their_placeholders() {
        let parts = [Bytes::from_static(&[1, 2, 255])];
        let arguments = r#"["upload",{"name":"a","file":{"_placeholder":true,"num":0}}]"#;
        assert_eq!(with_attachments(arguments, &parts).as_deref(), Some(r#"["upload",{"file":[1,2,255],"name":"a"}]"#));
        let missing = r#"["upload",{"_placeholder":true,"num":3}]"#;
        assert_eq!(with_attachments(missing, &parts).as_deref(), Some(r#"["upload",{"_placeholder":true,"num":3}]"#));
    }
}
