use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    async fn on_connect(&self, socket: &AuthenticatedSocket) {
        socket.join("riders");
    }
}

fn main() {}
