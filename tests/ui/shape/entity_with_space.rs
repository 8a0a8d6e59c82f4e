use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, entity = "Delivery Rider")]
struct UserGateway;

fn main() {}
