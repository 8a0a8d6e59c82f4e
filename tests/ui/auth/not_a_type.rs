use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = 42)]
struct UserGateway;

fn main() {}
