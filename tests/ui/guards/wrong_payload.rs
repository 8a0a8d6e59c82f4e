use serde::Deserialize;
use venta_ws::guard::{Guard, GuardContext};
use venta_ws::prelude::*;

#[derive(Deserialize)]
struct JoinOrder {
    order_id: u64,
}

struct OwnsOrder;

impl Guard<StandardClaims, JoinOrder> for OwnsOrder {
    async fn check(&self, ctx: GuardContext<'_, StandardClaims, JoinOrder>) -> Result<(), GatewayError> {
        let _ = ctx.payload().order_id;
        Ok(())
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "customer", auth = Jwt)]
struct CustomerGateway;

#[venta_ws::messages]
impl CustomerGateway {
    // The guard reads a `JoinOrder`; this handler's payload is a `u64`.
    #[subscribe("order.leave")]
    #[guard(OwnsOrder)]
    async fn leave(&self, order_id: u64) -> Ack<u64> {
        Ack(order_id)
    }
}

fn main() {}
