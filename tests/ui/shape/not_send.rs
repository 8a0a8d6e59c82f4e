use std::rc::Rc;

use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway {
    cache: Rc<Vec<String>>,
}

fn main() {}
