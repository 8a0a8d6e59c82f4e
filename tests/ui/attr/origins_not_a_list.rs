use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, origins = https)]
struct UserGateway;

fn main() {}
