use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt, origins = ["https://app.example.com", "https://APP.example.com/"])]
struct UserGateway;

fn main() {}
