use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namesapce = "user", auth = Jwt)]
struct UserGateway;

fn main() {}
