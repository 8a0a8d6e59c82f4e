//! A raw echo gateway: every text and binary frame comes back as it was sent. It speaks no
//! envelope protocol of its own (`on_text` and `on_binary`), so it is what the Autobahn
//! WebSocket test suite drives to check the framework's socket handling: framing,
//! fragmentation, UTF-8, control frames and the close handshake.

use venta_ws::prelude::*;
use venta_ws::{Bytes, SocketConfig, Utf8Bytes};

/// Echoes every frame back to its sender.
#[derive(WebSocketGateway)]
#[gateway(namespace = "echo", path = "/", auth = Anonymous)]
pub struct EchoGateway;

#[venta_ws::messages]
impl EchoGateway {
    async fn on_text(&self, socket: &AuthenticatedSocket<()>, text: Utf8Bytes) -> Result<(), GatewayError> {
        Ok(socket.send_text(text)?)
    }

    async fn on_binary(&self, socket: &AuthenticatedSocket<()>, data: Bytes) -> Result<(), GatewayError> {
        Ok(socket.send_binary(data)?)
    }
}

/// The echo gateway's module, with limits that let the suite's largest cases through:
/// messages up to 32 MiB, no rate limit, and room for a burst of echoes.
pub fn echo_module() -> Result<WebSocketModule, venta_ws::ModuleError> {
    let mut config = SocketConfig::default();
    config.max_message_size = 32 * 1024 * 1024;
    config.rate_limit = None;
    config.send_queue_capacity = 4096;
    WebSocketModule::builder().socket_config(config).gateway(EchoGateway).build()
}
