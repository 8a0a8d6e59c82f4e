// A gateway without a `#[messages]` block cannot be mounted: rustc says what to add.
use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

fn mount<G: GatewayHandlers>(_gateway: G) {}

fn main() {
    mount(UserGateway);
}
