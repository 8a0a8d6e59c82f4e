use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages(krate = "venta_ws")]
impl UserGateway {}

fn main() {}
