use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "", auth = Jwt)]
struct UserGateway;

fn main() {}
