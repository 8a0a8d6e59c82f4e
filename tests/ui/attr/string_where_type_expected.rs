use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = "Jwt")]
struct UserGateway;

fn main() {}
