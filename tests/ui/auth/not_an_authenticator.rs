use venta_ws::prelude::*;

struct SessionCookie;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = SessionCookie)]
struct UserGateway;

fn main() {}
