use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, origins = ["*"], credentials = true)]
struct UserGateway;

fn main() {}
