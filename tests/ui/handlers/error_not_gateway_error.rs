use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("count")]
    async fn count(&self) -> Result<Ack<u64>, String> {
        Err("no".to_owned())
    }
}

fn main() {}
