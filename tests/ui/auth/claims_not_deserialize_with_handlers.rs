// One error, at `auth`, however many hooks and handlers name the claims.
use venta_ws::prelude::*;

struct RiderClaims {
    sub: String,
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt<RiderClaims>)]
struct RiderGateway;

#[venta_ws::messages]
impl RiderGateway {
    async fn on_connect(&self, socket: &AuthenticatedSocket<RiderClaims>) -> Result<(), GatewayError> {
        let _ = socket.claims().sub.len();
        Ok(())
    }

    #[subscribe("ping")]
    async fn ping(&self, socket: &AuthenticatedSocket<RiderClaims>) -> Ack {
        let _ = socket.entity_id();
        Ack(())
    }
}

fn main() {}
