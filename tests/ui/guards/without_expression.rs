use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "admin", auth = Jwt)]
struct AdminGateway;

#[venta_ws::messages]
impl AdminGateway {
    #[subscribe("ban")]
    #[guard]
    async fn ban(&self, entity_id: String) -> Ack<String> {
        Ack(entity_id)
    }
}

fn main() {}
