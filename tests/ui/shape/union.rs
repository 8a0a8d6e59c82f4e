use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
union UserGateway {
    id: u64,
    score: f64,
}

fn main() {}
