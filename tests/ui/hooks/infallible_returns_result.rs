use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    async fn on_disconnect(&self, socket: &AuthenticatedSocket, reason: &DisconnectReason) -> Result<(), GatewayError> {
        let _ = (socket, reason);
        Ok(())
    }
}

fn main() {}
