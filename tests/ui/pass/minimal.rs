// The least a gateway needs: a namespace and an authenticator. Everything else has a default.
use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {}

fn main() {
    let descriptor = UserGateway::DESCRIPTOR;
    assert_eq!(descriptor.type_name, "UserGateway");
    assert_eq!(descriptor.namespace, "user");
    assert_eq!(descriptor.path, "/user");
    assert_eq!(descriptor.entity_type, "User");
    assert_eq!(descriptor.origins, None);
    assert!(!descriptor.credentials);
    assert!(UserGateway::EVENTS.is_empty());
    let _builder = WebSocketModule::builder().gateway(UserGateway);
}
