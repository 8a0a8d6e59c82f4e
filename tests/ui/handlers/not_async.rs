use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("ping")]
    fn ping(&self) -> Ack {
        Ack(())
    }
}

fn main() {}
