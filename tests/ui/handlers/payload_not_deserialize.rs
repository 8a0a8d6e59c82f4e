use venta_ws::prelude::*;

#[derive(WebSocketGateway)]
#[gateway(namespace = "user", auth = Jwt)]
struct UserGateway;

struct Location {
    lat: f64,
    lng: f64,
}

#[venta_ws::messages]
impl UserGateway {
    #[subscribe("location.update")]
    async fn update(&self, location: Location) -> Ack<f64> {
        Ack(location.lat + location.lng)
    }
}

fn main() {}
