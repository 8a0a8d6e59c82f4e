use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    async fn get_entity_id(&self, identity: &Identity<StandardClaims>) -> Option<String> {
        identity.entity_id.clone()
    }
}

fn main() {}
