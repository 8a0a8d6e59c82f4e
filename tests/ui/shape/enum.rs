use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
enum UserGateway {
    Riders,
    Drivers,
}

fn main() {}
