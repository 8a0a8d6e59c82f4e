// Every lifecycle hook overridden, with the seed's names, including for custom claims.
use serde::Deserialize;
use venta_ws::prelude::*;

#[derive(Deserialize)]
struct RiderClaims {
    sub: String,
    banned: bool,
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "rider", auth = Jwt<RiderClaims>)]
struct RiderGateway;

#[venta_ws::messages]
impl RiderGateway {
    fn get_entity_id(&self, identity: &Identity<RiderClaims>) -> Option<String> {
        Some(identity.claims.sub.clone())
    }

    fn presence_meta(&self, identity: &Identity<RiderClaims>) -> venta_ws::presence::PresenceMeta {
        let mut meta = venta_ws::presence::PresenceMeta::new();
        meta.insert("rider".to_owned(), identity.claims.sub.clone().into());
        meta
    }

    async fn validate_connection(
        &self,
        _request: &ConnectRequest,
        identity: &Identity<RiderClaims>,
    ) -> Result<(), GatewayError> {
        if identity.claims.banned { Err(GatewayError::forbidden("banned")) } else { Ok(()) }
    }

    async fn on_connect(&self, socket: &AuthenticatedSocket<RiderClaims>) -> Result<(), GatewayError> {
        socket.join("riders");
        Ok(())
    }

    async fn on_disconnect(&self, socket: &AuthenticatedSocket<RiderClaims>, reason: &DisconnectReason) {
        let _ = (socket.entity_id(), reason);
    }

    fn handle_connection_error(
        &self,
        socket: &AuthenticatedSocket<RiderClaims>,
        operation: Operation<'_>,
        error: &GatewayError,
    ) {
        venta_ws::logging::connection_error(socket, operation, error);
    }

    fn log_connection_success(&self, socket: &AuthenticatedSocket<RiderClaims>) {
        venta_ws::logging::connection_success(socket);
    }

    fn log_disconnection_success(&self, socket: &AuthenticatedSocket<RiderClaims>, reason: &DisconnectReason) {
        venta_ws::logging::disconnection_success(socket, reason);
    }

    #[subscribe("whoami")]
    async fn whoami(&self, socket: &AuthenticatedSocket<RiderClaims>) -> Ack<String> {
        Ack(socket.claims().sub.clone())
    }
}

fn main() {
    let _builder = WebSocketModule::builder().gateway(RiderGateway);
}
