// An authenticator of the application's own, named in `auth = ...` like `Jwt`.
use venta_ws::auth::{AuthError, Authenticator, ConnectRequest, Identity};
use venta_ws::prelude::*;

struct ApiKey;

impl Authenticator for ApiKey {
    type Claims = String;

    async fn authenticate(&self, request: &ConnectRequest) -> Result<Identity<String>, AuthError> {
        let token = request.token().ok_or(AuthError::MissingToken)?;
        let vendor = token.expose().strip_prefix("key-").ok_or(AuthError::Malformed)?;
        Ok(Identity { entity_id: Some(vendor.to_owned()), claims: vendor.to_owned(), expires_at: None })
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "partner", auth = ApiKey, origins = ["https://partner.example.com"], credentials = true)]
struct PartnerGateway;

#[venta_ws::messages]
impl PartnerGateway {
    #[subscribe("whoami")]
    async fn whoami(&self, socket: &AuthenticatedSocket<String>) -> Ack<String> {
        Ack(socket.claims().clone())
    }
}

fn main() {
    let _builder = WebSocketModule::builder().auth(ApiKey).gateway(PartnerGateway);
}
