use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(auth = Jwt)]
struct UserGateway;

fn main() {}
