use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway]
struct UserGateway;

fn main() {}
