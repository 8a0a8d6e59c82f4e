use venta_ws::prelude::*;

struct RiderClaims {
    sub: String,
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt<RiderClaims>)]
struct RiderGateway;

fn main() {}
