use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "admin", auth = Jwt)]
struct AdminGateway;

#[venta_ws::messages]
impl AdminGateway {
    #[guard(venta_ws::guard::Roles::any(&["admin"]))]
    async fn on_connect(&self, socket: &AuthenticatedSocket) -> Result<(), GatewayError> {
        let _ = socket;
        Ok(())
    }
}

fn main() {}
