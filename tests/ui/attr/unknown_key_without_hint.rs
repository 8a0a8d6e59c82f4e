use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, cors = true)]
struct UserGateway;

fn main() {}
