use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

trait Greeter {
    fn greet(&self);
}

#[venta_ws::messages]
impl Greeter for UserGateway {
    fn greet(&self) {}
}

fn main() {}
