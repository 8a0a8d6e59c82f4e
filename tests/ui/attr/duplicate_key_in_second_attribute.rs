use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
#[gateway(auth = Anonymous)]
struct UserGateway;

fn main() {}
