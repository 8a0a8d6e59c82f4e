use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, origins = ["https://app.example.com"], credentials = "true")]
struct UserGateway;

fn main() {}
