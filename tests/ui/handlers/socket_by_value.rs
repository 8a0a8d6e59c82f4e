use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("ping")]
    async fn ping(&self, socket: AuthenticatedSocket) -> Ack {
        let _ = socket;
        Ack(())
    }
}

fn main() {}
