use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user")]
struct UserGateway;

fn main() {}
