use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[derive(serde::Deserialize)]
struct RiderClaims {
    sub: String,
}

#[venta_ws::messages]
impl UserGateway {
    fn get_entity_id(&self, identity: &Identity<RiderClaims>) -> Option<String> {
        Some(identity.claims.sub.clone())
    }
}

fn main() {}
