use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, path = "/ws/{tenant}/user")]
struct UserGateway;

fn main() {}
