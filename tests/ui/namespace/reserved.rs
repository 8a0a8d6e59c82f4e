use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "health", auth = Jwt)]
struct HealthGateway;

fn main() {}
