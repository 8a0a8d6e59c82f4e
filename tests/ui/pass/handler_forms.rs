// Every handler signature and reply type `#[subscribe]` accepts.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use venta_ws::prelude::*;
use venta_ws::SocketOf;

#[derive(Deserialize, Serialize)]
struct Location {
    lat: f64,
    lng: f64,
}

/// An application error that converts into a `GatewayError`.
struct StoreDown;

impl From<StoreDown> for GatewayError {
    fn from(_: StoreDown) -> Self {
        GatewayError::new("store_down", "the store is down")
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("nothing")]
    async fn nothing(&self) {}

    #[subscribe("unit")]
    async fn unit(&self, socket: &AuthenticatedSocket) {
        let _ = socket.entity_id();
    }

    #[subscribe("ack")]
    async fn ack(&self) -> Ack {
        Ack(())
    }

    #[subscribe("echo")]
    async fn echo(&self, data: Value) -> Reply<Value> {
        Reply::new("echoed", data)
    }

    #[subscribe("location.update")]
    async fn update(&self, socket: &AuthenticatedSocket<StandardClaims>, location: Location) -> Ack<Location> {
        let _ = socket.claims();
        Ack(location)
    }

    #[subscribe("maybe")]
    async fn maybe(&self, socket: &SocketOf<Self>, data: Option<u32>) -> Result<Ack<u32>, GatewayError> {
        let _ = socket.id();
        data.map(Ack).ok_or_else(|| GatewayError::bad_request("send a number"))
    }

    #[subscribe("store")]
    async fn store(&self) -> Result<(), StoreDown> {
        Err(StoreDown)
    }

    #[subscribe("parse")]
    async fn parse(&self, text: String) -> Result<Reply<u64>, GatewayError> {
        Ok(Reply::new("parsed", text.parse::<u64>().internal()?))
    }

    #[subscribe("type")]
    async fn r#type(&self, list: Vec<Location>) -> Ack<usize> {
        Ack(list.len())
    }

    /// Ordinary methods stay ordinary methods, callable from handlers.
    fn helper(&self) -> u8 {
        1
    }

    #[subscribe("helped")]
    async fn helped(&self) -> Ack<u8> {
        Ack(self.helper())
    }
}

fn main() {
    assert_eq!(
        UserGateway::EVENTS,
        ["nothing", "unit", "ack", "echo", "location.update", "maybe", "store", "parse", "type", "helped"]
    );
    let _builder = WebSocketModule::builder().gateway(UserGateway);
}
