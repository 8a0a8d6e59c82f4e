use serde::Deserialize;
use venta_ws::prelude::*;

#[derive(Deserialize)]
struct RiderClaims {
    sub: String,
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt<RiderClaims>)]
struct RiderGateway;

#[venta_ws::messages]
impl RiderGateway {
    #[subscribe("ping")]
    async fn ping(&self, socket: &AuthenticatedSocket) -> Ack {
        let _ = socket.entity_id();
        Ack(())
    }
}

fn main() {}
