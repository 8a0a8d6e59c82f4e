use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("location.update")]
    async fn update(&self, lat: f64, lng: f64) -> Ack<f64> {
        Ack(lat + lng)
    }
}

fn main() {}
