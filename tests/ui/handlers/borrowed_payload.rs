use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("say")]
    async fn say(&self, text: &str) -> Ack<usize> {
        Ack(text.len())
    }
}

fn main() {}
