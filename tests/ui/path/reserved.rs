use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "status", auth = Jwt, path = "/metrics")]
struct StatusGateway;

fn main() {}
