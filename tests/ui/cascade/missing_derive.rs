// `#[messages]` on a type without the derive: rustc says what to add wherever the type is
// used as a gateway.
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {}

fn main() {}
