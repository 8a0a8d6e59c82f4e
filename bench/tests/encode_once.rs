//! A fan-out serializes its payload once, however many sockets it reaches: a payload that
//! counts its own serializations goes through `Namespace::emit` to 1,000 sockets of the main
//! example's `user` gateway, run by the in-process test harness.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Serialize, Serializer};
use serde_json::json;
use venta_ws::testing;
use venta_ws_examples::{ExampleClaims, Kind, UserLocationGateway};

const SOCKETS: usize = 1_000;

/// Serializes as `{"n": 7}`, counting every time it is serialized.
struct Counted<'a> {
    serializations: &'a AtomicUsize,
}

impl Serialize for Counted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serializations.fetch_add(1, Ordering::SeqCst);
        json!({ "n": 7 }).serialize(serializer)
    }
}

#[tokio::test]
async fn a_fan_out_to_a_thousand_sockets_serializes_its_payload_once() -> Result<(), venta_ws_bench::Error> {
    let module = venta_ws_bench::framework::module(venta_ws_bench::SECRET)?;
    let mut sockets = Vec::with_capacity(SOCKETS);
    for index in 0..SOCKETS {
        let identity = ExampleClaims::identity(&format!("user-{index}"), Kind::User);
        sockets.push(testing::connect::<UserLocationGateway>(&module, identity).await?);
    }
    let users = module.hub().namespace("user").ok_or("the example has a user namespace")?.clone();
    assert_eq!(users.local_socket_count(), SOCKETS);

    let serializations = AtomicUsize::new(0);
    let reached = users.emit("counted", &Counted { serializations: &serializations })?;

    assert_eq!(reached, SOCKETS, "every socket of the namespace is reached");
    assert_eq!(serializations.load(Ordering::SeqCst), 1, "the payload is serialized once, not once per socket");
    for socket in &mut sockets {
        let event = socket.recv().await?;
        assert_eq!((event.event.as_str(), &event.data), ("counted", &json!({ "n": 7 })));
    }
    Ok(())
}
