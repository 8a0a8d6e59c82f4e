use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
struct UserGateway;

fn main() {}
