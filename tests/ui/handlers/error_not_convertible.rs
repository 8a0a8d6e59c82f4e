use venta_ws::prelude::*;

#[derive(Debug)]
struct OrderError;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    // No `impl From<OrderError> for GatewayError`: the error says how to add one.
    #[subscribe("order.get")]
    async fn order(&self) -> Result<Ack<u64>, OrderError> {
        Err(OrderError)
    }
}

fn main() {}
