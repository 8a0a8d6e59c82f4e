use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, crate = "my app")]
struct UserGateway;

fn main() {}
