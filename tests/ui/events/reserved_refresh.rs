use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("auth.refresh")]
    async fn refresh(&self) -> Ack {
        Ack(())
    }
}

fn main() {}
