// One mistake in `#[gateway]` gives one error, not another one wherever the gateway is used.
use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "User", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    async fn on_connect(&self, socket: &AuthenticatedSocket) -> Result<(), GatewayError> {
        let _ = socket.claims();
        Ok(())
    }

    #[subscribe("ping")]
    async fn ping(&self, socket: &AuthenticatedSocket, data: serde_json::Value) -> Reply<serde_json::Value> {
        let _ = socket.entity_id();
        Reply::new("pong", data)
    }
}

fn main() {
    let _ = WebSocketModule::builder().jwt(JwtConfig::hs256("a test secret of 32 bytes or more")).gateway(UserGateway).build();
}
