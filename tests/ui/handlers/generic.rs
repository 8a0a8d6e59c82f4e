use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("echo")]
    async fn echo<T: serde::de::DeserializeOwned>(&self, data: T) -> Ack {
        let _ = data;
        Ack(())
    }
}

fn main() {}
