// Every key of `#[gateway]`, in an unusual order, with a trailing comma.
use serde::Deserialize;
use venta_ws::prelude::*;

#[derive(Deserialize)]
struct RiderClaims {
    sub: String,
}

#[derive(WebSocketGateway)]
#[gateway(
    crate = "venta_ws",
    credentials = true,
    origins = ["https://app.example.com", "http://localhost:3000/", "http://[::1]:8080"],
    path = "/ws/riders",
    entity = "Rider",
    auth = Jwt<RiderClaims>,
    namespace = "api/delivery-rider_v2",
)]
struct RiderGateway;

#[venta_ws::messages]
impl RiderGateway {
    fn get_entity_id(&self, identity: &Identity<RiderClaims>) -> Option<String> {
        Some(identity.claims.sub.clone())
    }
}

fn main() {
    let descriptor = RiderGateway::DESCRIPTOR;
    assert_eq!(descriptor.namespace, "api/delivery-rider_v2");
    assert_eq!(descriptor.path, "/ws/riders");
    assert_eq!(descriptor.entity_type, "Rider");
    assert_eq!(descriptor.origins, Some(&["https://app.example.com", "http://localhost:3000", "http://[::1]:8080"][..]));
    assert!(descriptor.credentials);
    let _builder = WebSocketModule::builder().gateway(RiderGateway);
}
