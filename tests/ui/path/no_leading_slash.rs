use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, path = "ws/user")]
struct UserGateway;

fn main() {}
