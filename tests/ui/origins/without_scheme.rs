use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, origins = ["app.example.com"])]
struct UserGateway;

fn main() {}
