use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "api/user/", auth = Jwt)]
struct UserGateway;

fn main() {}
