use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    fn on_connect(&self, socket: &AuthenticatedSocket) -> Result<(), GatewayError> {
        let _ = socket;
        Ok(())
    }
}

fn main() {}
