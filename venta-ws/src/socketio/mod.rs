//! Socket.IO clients (socket.io-client v4: Socket.IO protocol v5 over Engine.IO v4) for every
//! gateway, with no change to its code (feature `socketio`).
//!
//! A gateway's namespace `user` is the Socket.IO namespace `/user`, served at the module's
//! Socket.IO path (`/socket.io/` unless [`path`](crate::WebSocketModuleBuilder::socket_io_path)
//! says otherwise), over HTTP long-polling with the upgrade to WebSocket, WebSocket alone or
//! long-polling alone. Engine.IO itself (polling, upgrade, heartbeat) is engineioxide's; what
//! is here sits on top of it:
//!
//! - `endpoint.rs`: the origin policy and CORS in front of the Engine.IO requests;
//! - `engine.rs`: the Engine.IO handler: one session per client, its namespace sockets, binary
//!   attachments;
//! - `packet.rs`: Socket.IO packets in and out;
//! - `pipe.rs`: one namespace socket as a frame pipe of the connection engine, which serves
//!   it exactly as it serves a plain WebSocket (`connection/socket_io.rs` is the handshake).
//!
//! The mapping (events, acks, errors, close codes) is documented in
//! [`docs::socket_io`](crate::docs::socket_io).

mod endpoint;
mod engine;
mod packet;
mod pipe;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use engineioxide::config::EngineIoConfig;
use engineioxide::service::EngineIoService;

use endpoint::{Endpoint, serve_engine};
use engine::Engine;
pub(crate) use engine::SocketIoGateway;
pub(crate) use pipe::SocketIoPipe;
pub use pipe::{CLOSING_EVENT, EXCEPTION_EVENT};

use crate::config::SocketConfig;
use crate::state::ModuleState;

/// The Socket.IO path of a module unless it names another.
pub const DEFAULT_PATH: &str = "/socket.io";

/// Bytes of Engine.IO framing allowed on top of the largest message: a packet's type,
/// namespace and ack id, and the separators of a long-polling payload.
const FRAMING_ALLOWANCE: usize = 4 * 1024;

/// The router of a module's Socket.IO endpoint at `path` for `gateways`, each under its
/// Socket.IO namespace (`/user`). Engine.IO's heartbeat takes the module's ping interval and
/// timeout; its buffers the largest limits among the gateways.
pub(crate) fn router(
    path: &str,
    gateways: Vec<(&'static str, Arc<dyn SocketIoGateway>, SocketConfig)>,
    state: &Arc<ModuleState>,
) -> Router {
    let module = &state.config;
    let path = path.trim_end_matches('/');
    let largest_message = gateways.iter().map(|(_, _, config)| config.max_message_size).max().unwrap_or(0);
    let largest_queue = gateways.iter().map(|(_, _, config)| config.send_queue_capacity).max().unwrap_or(1);
    let config = EngineIoConfig::builder()
        .req_path(path.to_owned())
        .ping_interval(module.ping_interval)
        .ping_timeout(module.pong_timeout)
        .max_buffer_size(largest_queue)
        .max_payload(u64::try_from(largest_message + FRAMING_ALLOWANCE).unwrap_or(u64::MAX))
        .ws_max_message_size(largest_message + FRAMING_ALLOWANCE)
        .ws_max_frame_size(largest_message + FRAMING_ALLOWANCE)
        .ws_read_buffer_size(module.read_buffer_size)
        .build();
    let by_namespace: HashMap<String, Arc<dyn SocketIoGateway>> =
        gateways.iter().map(|(namespace, gateway, _)| (format!("/{namespace}"), Arc::clone(gateway))).collect();
    let engine = Arc::new(Engine::new(by_namespace, Arc::clone(state)));
    let endpoint = Arc::new(Endpoint {
        service: EngineIoService::with_config(engine, config),
        gateways: gateways.into_iter().map(|(_, gateway, _)| gateway).collect(),
    });
    Router::new().route(path, any(serve_engine)).route(&format!("{path}/"), any(serve_engine)).with_state(endpoint)
}
