use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jtw)]
struct UserGateway;

fn main() {}
