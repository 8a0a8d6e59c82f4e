// The other ways to write the attribute: split over several `#[gateway]`, a single origin as a
// plain string, a wildcard without credentials, the default entity of a nested namespace.
use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "api/vendor-admin")]
#[gateway(auth = Anonymous, origins = "https://admin.example.com", credentials = false)]
struct AdminGateway;

#[venta_ws::messages]
impl AdminGateway {}

#[derive(WebSocketGateway)]
#[gateway(namespace = "public", auth = Anonymous, origins = ["*"])]
struct PublicGateway;

#[venta_ws::messages]
impl PublicGateway {}

fn main() {
    assert_eq!(AdminGateway::DESCRIPTOR.entity_type, "VendorAdmin");
    assert_eq!(AdminGateway::DESCRIPTOR.path, "/api/vendor-admin");
    assert_eq!(AdminGateway::DESCRIPTOR.origins, Some(&["https://admin.example.com"][..]));
    assert!(!AdminGateway::DESCRIPTOR.credentials);
    assert_eq!(PublicGateway::DESCRIPTOR.origins, Some(&["*"][..]));
    let _builder = WebSocketModule::builder().gateway(AdminGateway).gateway(PublicGateway);
}
