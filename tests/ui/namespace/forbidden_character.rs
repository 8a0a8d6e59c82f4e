use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user.location", auth = Jwt)]
struct UserGateway;

fn main() {}
