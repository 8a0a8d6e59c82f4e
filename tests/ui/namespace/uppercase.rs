use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "UserLocation", auth = Jwt)]
struct UserGateway;

fn main() {}
