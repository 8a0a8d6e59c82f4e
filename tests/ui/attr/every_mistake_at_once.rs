// Every mistake of one attribute is reported by one compile, each at its own token.
use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "/user/", auth = "Jwt", entity = "", path = "ws", origins = ["app.example.com"], timeout = 5)]
struct UserGateway;

fn main() {}
