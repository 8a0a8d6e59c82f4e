use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

struct Total(u64);

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("count")]
    async fn count(&self) -> Ack<Total> {
        Ack(Total(42))
    }
}

fn main() {}
