// A gateway is any struct: with named fields, a tuple struct, or generic over its services.
use std::sync::Arc;

use venta_ws::prelude::*;

trait LocationStore: Send + Sync + 'static {
    fn count(&self) -> usize;
}

struct InMemory;

impl LocationStore for InMemory {
    fn count(&self) -> usize {
        3
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "named", auth = Anonymous)]
struct Named {
    greeting: String,
}

#[venta_ws::messages]
impl Named {
    #[subscribe("greet")]
    async fn greet(&self) -> Ack<String> {
        Ack(self.greeting.clone())
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "tuple", auth = Anonymous)]
struct Tuple(Arc<Vec<String>>);

#[venta_ws::messages]
impl Tuple {
    #[subscribe("list")]
    async fn list(&self) -> Ack<Vec<String>> {
        Ack(self.0.to_vec())
    }
}

#[derive(WebSocketGateway)]
#[gateway(namespace = "generic", auth = Anonymous)]
struct Generic<S, const LIMIT: usize = 8>
where
    S: LocationStore,
{
    store: S,
}

#[venta_ws::messages]
impl<S: LocationStore, const LIMIT: usize> Generic<S, LIMIT> {
    #[subscribe("count")]
    async fn count(&self) -> Ack<usize> {
        Ack(self.store.count().min(LIMIT))
    }
}

fn main() {
    let _builder = WebSocketModule::builder()
        .gateway(Named { greeting: "hi".to_owned() })
        .gateway(Tuple(Arc::default()))
        .gateway(Generic::<_, 2> { store: InMemory });
    assert_eq!(Generic::<InMemory>::EVENTS, ["count"]);
}
