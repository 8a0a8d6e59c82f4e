use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, namespace = "rider")]
struct UserGateway;

fn main() {}
