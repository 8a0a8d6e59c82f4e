// One mistake in a handler gives one error; the gateway still plugs into the module.
use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("ping")]
    fn ping(&self, data: serde_json::Value) -> Reply<serde_json::Value> {
        Reply::new("pong", data)
    }

    async fn helper(&self) -> u8 {
        self.ping(serde_json::Value::Null);
        1
    }
}

fn main() {
    let _ = WebSocketModule::builder().jwt(JwtConfig::hs256("a test secret of 32 bytes or more")).gateway(UserGateway).build();
}
